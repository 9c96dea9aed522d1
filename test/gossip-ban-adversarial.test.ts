/**
 * Bans for gossip senders, with real nodes on loopback. A peer that sends a burst of malformed
 * messages is cut off at the disconnect threshold (−50) after three of them; the ones that
 * arrive while it is being cut off still fail the arrival checks and still cost it score, so it
 * reaches the ban threshold (−100) instead of stopping at −60 and coming back, under the same
 * identity, as soon as its score has decayed above −50. (The re-offence rule, a second disconnect
 * soon after the first is a ban, is in peer-score.test.ts with an injected clock.)
 */
import { it, expect, afterAll } from 'vitest'
import { createLibp2p, type Libp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@libp2p/noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { gossipsub } from '@libp2p/gossipsub'
import { multiaddr } from '@multiformats/multiaddr'
import { createComputeNode } from '../src/node/compute-node.ts'
import { createGenesisConfig } from '../src/ledger/index.ts'
import { offersTopic } from '../src/node/constants.ts'
import { waitFor } from './helpers.ts'

const stops: Array<() => Promise<unknown>> = []
afterAll(async () => { for (const s of stops.reverse()) await s().catch(() => {}) })

it('a burst of malformed gossip gets its sender banned, not only disconnected', { timeout: 60_000 }, async () => {
  const network = createGenesisConfig({ networkId: 'gossip-ban', peers: [] })
  const topic = offersTopic(network.networkId)
  const V = createComputeNode({ listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, testnet: true, network, fuelPerSecond: 0 })
  await V.start()
  stops.push(async () => await V.stop())
  const m: Libp2p<any> = await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify(), pubsub: gossipsub({ allowPublishToZeroTopicPeers: true, floodPublish: true }) }
  })
  stops.push(async () => await m.stop())
  const attacker = m.peerId.toString()
  m.services.pubsub.subscribe(topic)
  await m.dial(multiaddr(V.multiaddrs[0]))
  await waitFor(() => m.services.pubsub.getSubscribers(topic).length > 0, { what: 'V to subscribe' })
  // Twenty undecodable messages at once (each a distinct gossip message).
  await Promise.all(Array.from({ length: 20 }, async (_, i) => await m.services.pubsub.publish(topic, Uint8Array.from([0xff, i])).catch(() => {})))
  // The outcome is settled once V has hung up on the attacker.
  await waitFor(() => V.host.getConnections().every((c) => c.remotePeer.toString() !== attacker) && V.peerScore.isPenalised(attacker), { what: 'V to cut the attacker off' })
  const stats = V.status().gossip[topic]
  expect(stats.accepted).toBe(0)
  expect(V.peerScore.score(attacker)).toBeLessThanOrEqual(-100)
  expect(V.peerScore.isBanned(attacker)).toBe(true)
})
