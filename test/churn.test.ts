/**
 * Networks whose peers come and go (memory transport, in one process): a peer that left without
 * a word is dropped from a requester's capacity view as soon as a dial to it fails (it stayed
 * listed, and offered every placement, for the 5 minutes a closed connection keeps a peer
 * reachable).
 */
import { describe, it, expect } from 'vitest'
import { createTestnet } from '../src/node/testnet.ts'
import { NEGOTIATE_PROTOCOL } from '../src/scheduler/constants.ts'
import { waitFor } from './helpers.ts'

describe('peers that leave', () => {
  it('a peer that cannot be dialled is listed no longer, and findCapacity skips it', async () => {
    const net = await createTestnet({ nodes: 5, transport: 'memory' })
    try {
      const requester = net.nodes[4]
      const capacity = requester.services().capacity
      const listed = (peer: string): boolean => capacity.cached().some((a) => a.peerId === peer)
      await waitFor(() => capacity.cached().length === 4, { timeoutMs: 30_000, what: 'the requester to know the 4 others' })
      const gone = net.nodes[0]
      await gone.stop()
      await waitFor(() => !requester.host.getPeers().some((p) => p.toString() === gone.peerId), { timeoutMs: 10_000, what: 'the connection to close' })
      // A closed connection is not a dead peer (connections are trimmed): still listed.
      expect(listed(gone.peerId)).toBe(true)
      // What a placement does: a direct offer. Its dial fails.
      await expect(requester.services().channels.open(gone.peerId, NEGOTIATE_PROTOCOL)).rejects.toThrow()
      expect(listed(gone.peerId)).toBe(false)
      const found = await requester.findCapacity({ timeoutMs: 5_000 })
      expect(found.map((a) => a.peerId).sort()).toEqual(net.nodes.slice(1, 4).map((n) => n.peerId).sort())
    } finally {
      await net.stop()
    }
  }, 60_000)
})
