/**
 * A late joiner's first capable peers. A node that joins with one bootstrap peer asks it for its
 * capacity (and a sample of records) on connect; when it then knows fewer than 3 capable peers,
 * it asks a few sampled candidates directly. Before, it waited for DHT walks to connect it to
 * peers (4–15 s into a 100-node network; bench/joiner.ts).
 *
 * Real nodes on libp2p's memory transport. The bootstrap peer here is a bare libp2p host that
 * speaks the capacity protocol and no DHT, and advertises nothing itself: whatever the joiner
 * finds, it finds through the sample and its direct queries, with no DHT walk at all.
 */
import { describe, it, expect } from 'vitest'
import { createLibp2p } from 'libp2p'
import { memory } from '@libp2p/memory'
import { noise } from '@libp2p/noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { lpStream } from '@libp2p/utils'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Stream } from '@libp2p/interface'
import { createTestnet } from '../src/node/testnet.ts'
import { createComputeNode, type ComputeNode } from '../src/node/compute-node.ts'
import { measureCapacity, signCapacityRecord } from '../src/node/capacity-record.ts'
import { CAPACITY_PROTOCOL, FEW_CAPABLE_PEERS, FEW_PEERS_QUERY_BUDGET } from '../src/node/constants.ts'
import { encode } from '../src/proofs/encoding.ts'
import { waitFor } from './helpers.ts'

/** More workers than the joiner may ask: the sample holds them all, the joiner asks a few. */
const WORKERS = FEW_PEERS_QUERY_BUDGET + 2

describe('a late joiner with one bootstrap peer', () => {
  it('asks the candidates of its bootstrap peer\'s sample directly and knows 3 capable peers, with a bounded number of queries', async () => {
    const net = await createTestnet({ nodes: WORKERS, transport: 'memory', nodeInit: () => ({ capacity: { slots: 1 } }) })
    const bootstrap = await createLibp2p({
      addresses: { listen: [`/memory/bootstrap-${crypto.randomUUID()}`] },
      transports: [memory()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      connectionMonitor: { enabled: false },
      services: { identify: identify(), ping: ping() }
    })
    let joiner: ComputeNode | undefined
    try {
      // The bootstrap peer's answer: no record of its own, a sample of every worker's record.
      const sample = net.nodes.map((w) => signCapacityRecord(w.signer, measureCapacity({ slots: 1 }), { seq: 1, multiaddrs: w.multiaddrs }))
      await bootstrap.handle(CAPACITY_PROTOCOL, async (stream: Stream) => {
        const lp = lpStream(stream, { maxDataLength: 1024 })
        try {
          await lp.read({ signal: AbortSignal.timeout(5_000) })
          await lp.write(encode({ t: 'capacity', sample }), { signal: AbortSignal.timeout(5_000) })
          await stream.close()
        } catch (err) {
          stream.abort(err as Error)
        }
      })

      joiner = createComputeNode({ transport: 'memory', testnet: true, network: net.network, bootstrap: [bootstrap.getMultiaddrs()[0].toString()] })
      await joiner.start()
      const capacity = joiner.services().capacity
      const workerIds = new Set(net.nodes.map((w) => w.peerId))
      const known = await waitFor(() => {
        const ids = capacity.cached().map((a) => a.peerId).filter((id) => workerIds.has(id))
        return ids.length >= FEW_CAPABLE_PEERS ? ids : undefined
      }, { timeoutMs: 30_000, what: `the joiner to know ${FEW_CAPABLE_PEERS} capable peers` })
      expect(known.length).toBeGreaterThanOrEqual(FEW_CAPABLE_PEERS)
      // The bootstrap peer once, then at most the round's budget of candidates: no flood.
      const { queries } = capacity.getStats()
      expect(queries).toBeGreaterThanOrEqual(1 + FEW_CAPABLE_PEERS)
      expect(queries).toBeLessThanOrEqual(1 + FEW_PEERS_QUERY_BUDGET)
      // Each worker it knows answered it itself (a sampled record alone lists no one), over a
      // connection the query opened.
      for (const id of known) expect(joiner.host.getConnections(peerIdFromString(id)).length).toBeGreaterThan(0)
    } finally {
      await joiner?.stop()
      await bootstrap.stop()
      await net.stop()
    }
  }, 60_000)
})
