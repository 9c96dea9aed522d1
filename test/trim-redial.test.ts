/**
 * A peer that closes a connection (its trimmer, over its bound) is not dialled straight back.
 * kad-dht tags its closest peers keep-alive and libp2p redials a keep-alive peer whenever its
 * connection closes, so the side that had the trimming peer among its kad closest dialled it
 * again at once, and the trimming peer closed it again: a trim-then-redial cycle (bench/redial.ts).
 */
import { describe, it, expect } from 'vitest'
import { peerIdFromString } from '@libp2p/peer-id'
import { createTestnet } from '../src/node/testnet.ts'
import { KAD_KEEP_ALIVE_TAG } from '../src/node/kad-keep-alive.ts'
import { waitFor } from './helpers.ts'

/** kad-dht's tag on its closest peers (with the keep-alive tag, before). */
const KAD_CLOSE_TAG = 'kad-close'
/**
 * How long the closed side is watched for a dial back. libp2p's reconnect came within a few
 * milliseconds of the disconnect on loopback; a loaded machine only makes a dial later, which can
 * only let this test pass without the change, never fail with it.
 */
const WATCH_MS = 3_000

describe('a connection the other side closed', () => {
  it('is not redialled because kad-dht counts that peer among its closest (TCP loopback)', async () => {
    const net = await createTestnet({ nodes: 2 })
    try {
      const [trimming, closed] = net.nodes
      const trimmingId = peerIdFromString(trimming.peerId)
      const closedId = peerIdFromString(closed.peerId)
      // Once kad-dht counts the trimming peer among the closed side's closest peers (and its tag,
      // if it is to be taken off, is gone: a bounded wait, the outcome is asserted below) ...
      const tagsAt = async (): Promise<Map<string, unknown>> => (await closed.host.peerStore.get(trimmingId)).tags
      await waitFor(async () => (await tagsAt()).has(KAD_CLOSE_TAG), { timeoutMs: 30_000, what: 'kad-dht to count the trimming peer among its closest' })
      const settled = Date.now() + 2_000
      await waitFor(async () => !(await tagsAt()).has(KAD_KEEP_ALIVE_TAG) || Date.now() > settled, { timeoutMs: 10_000, what: 'the tags to settle' })

      // ... the trimming peer closes the connection, as its trimmer does.
      let redials = 0
      trimming.host.addEventListener('connection:open', (evt) => { if (evt.detail.remotePeer.equals(closedId)) redials++ })
      await trimming.host.hangUp(closedId)
      await waitFor(() => closed.host.getConnections(trimmingId).length === 0, { timeoutMs: 10_000, what: 'the closed side to see the connection close' })
      const deadline = Date.now() + WATCH_MS
      await waitFor(() => redials > 0 || Date.now() > deadline, { timeoutMs: WATCH_MS + 5_000, what: 'the watch to end' })
      expect(redials).toBe(0)
      expect(closed.host.getConnections(trimmingId)).toHaveLength(0)
      expect((await tagsAt()).has(KAD_CLOSE_TAG)).toBe(true)
      expect((await tagsAt()).has(KAD_KEEP_ALIVE_TAG)).toBe(false)

      // Only kad-dht's keep-alive tag goes: an embedder's own stays.
      await closed.host.peerStore.merge(trimmingId, { tags: { [KAD_KEEP_ALIVE_TAG]: { value: 1 }, 'keep-alive-embedder': { value: 1 } } })
      await waitFor(async () => !(await tagsAt()).has(KAD_KEEP_ALIVE_TAG), { timeoutMs: 5_000, what: 'kad-dht\'s keep-alive tag to be taken off again' })
      expect((await tagsAt()).has('keep-alive-embedder')).toBe(true)
    } finally {
      await net.stop()
    }
  }, 60_000)
})
