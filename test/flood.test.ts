/**
 * A gossip flood from throwaway identities against a real testnet (libp2p over TCP on
 * loopback): malformed, oversized, forged and replayed offers, blocks and transactions. Honest
 * jobs still complete, every flooding identity is cut off by every node it reached after a
 * handful of invalid messages, and it cannot come back.
 */
import { describe, it, expect, afterAll } from 'vitest'
import { createTestnet, type Testnet } from '../src/node/testnet.ts'
import { createFlooder, connectFlooders, flood, honestOffer, type Flooder } from './flood-helpers.ts'
import { example, text, utf8 } from './jobs-helpers.ts'
import { waitFor } from './helpers.ts'

const IDENTITIES = 6
/** Most invalid messages one identity can get validated by one node: 3 malformed messages pass the disconnect threshold; up to GOSSIP_VALIDATION_CONCURRENCY more may be in validation already. */
const MAX_REJECTED_PER_IDENTITY = 3 + 4

describe('a gossip flood from rotating identities', () => {
  let net: Testnet
  const flooders: Flooder[] = []

  afterAll(async () => {
    await Promise.all(flooders.map(async (f) => { await f.host.stop() }))
    await net?.stop()
  })

  it('honest jobs complete, and every flooding identity is cut off by every node and stays out', async () => {
    net = await createTestnet({ nodes: 3, nodeInit: (i) => (i === 0 ? { capacity: { slots: 0 } } : {}) })
    const [requester] = net.nodes
    const addresses = net.nodes.map((n) => n.multiaddrs[0])
    await waitFor(async () => (await requester.findCapacity()).length >= 2, { what: 'the workers\' capacity' })

    flooders.push(...await Promise.all(Array.from({ length: IDENTITIES }, async () => await createFlooder(net.network.networkId))))
    await connectFlooders(flooders, addresses)
    for (const f of flooders) {
      await waitFor(() => Object.values(net.nodes[0].topics).every((t) => f.host.services.pubsub.getSubscribers(t).length === net.nodes.length), { what: 'the flooder to see every node\'s subscriptions' })
    }
    // Connections to the honest nodes only: flooders find each other through the DHT too.
    const honest = new Set(net.nodes.map((n) => n.peerId))
    const connectedTo = (f: Flooder): number => f.host.getConnections().filter((c) => honest.has(c.remotePeer.toString())).length
    const before = net.nodes.map((n) => Object.values(n.status().gossip).reduce((sum, s) => sum + s.rejected, 0))

    // Honest jobs run while the flood goes on, until every identity is cut off everywhere.
    const jobs = Promise.all([0, 1, 2].map(async (i) => await (await requester.submitJob({ module: example('echo'), input: utf8(`honest ${i}`) })).result()))
    const report = await flood({
      flooders,
      target: { networkId: net.network.networkId, addresses, honestOffer: honestOffer(requester.signer) },
      messages: IDENTITIES * 2000,
      ratePerSecond: 600,
      until: () => flooders.every((f) => connectedTo(f) === 0)
    })
    const results = await jobs
    for (const [i, result] of results.entries()) {
      expect(result.status).toBe('completed')
      expect(text(result.stdout)).toBe(`honest ${i}`)
    }

    // A refused reconnection (the flooders' own hosts redial) may show for a moment: wait it out.
    await waitFor(() => flooders.every((f) => connectedTo(f) === 0), { what: 'every flooder to be disconnected' }).catch((err: Error) => {
      // Say who is still connected, and what each node thinks of it.
      const left = flooders.filter((f) => connectedTo(f) > 0).map((f) => ({
        flooder: f.peerId,
        to: f.host.getConnections().map((c) => `${c.remotePeer.toString()} ${c.direction} ${c.status}`),
        scores: net.nodes.map((n) => n.peerScore.score(f.peerId).toFixed(1)),
        gossipScores: net.nodes.map((n) => (n.host.services.pubsub as unknown as { getScore: (p: string) => number }).getScore(f.peerId).toFixed(1)),
        sent: report.sent.get(f.peerId),
        reached: [...(report.reached.get(f.peerId) ?? new Map()).entries()]
      }))
      throw new Error(`${err.message}: ${JSON.stringify(left)} (nodes ${net.nodes.map((n) => n.peerId).join(', ')})`)
    })
    for (const f of flooders) {
      for (const node of net.nodes) expect(node.peerScore.isPenalised(f.peerId)).toBe(true)
      expect(report.sent.get(f.peerId) ?? 0).toBeGreaterThan(0)
    }
    // Each node validated only a handful of invalid messages per identity.
    for (const [i, node] of net.nodes.entries()) {
      const rejected = Object.values(node.status().gossip).reduce((sum, s) => sum + s.rejected, 0) - before[i]
      expect(rejected).toBeGreaterThanOrEqual(IDENTITIES)
      expect(rejected).toBeLessThanOrEqual(IDENTITIES * MAX_REJECTED_PER_IDENTITY)
    }
    // Cut-off identities cannot come back.
    await connectFlooders(flooders, addresses)
    await waitFor(() => flooders.every((f) => connectedTo(f) === 0), { what: 'refused reconnections to close' })
    // The network still works.
    const after = await (await requester.submitJob({ module: example('echo'), input: utf8('after the flood') })).result()
    expect(text(after.stdout)).toBe('after the flood')
  })
})
