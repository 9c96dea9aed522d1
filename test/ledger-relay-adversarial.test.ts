/**
 * Framing an honest relay, with real nodes on loopback: an attacker mines a block X on the tip's
 * parent that overdraws (found only when X is applied). It sends X to B, whose tip is X's parent:
 * B applies X, finds it invalid and remembers it. It sends X to A, which already has the honest
 * block T on that parent: there X is a side block (state unchecked). Were A to relay X, B would
 * reject it as known invalid and charge A `InvalidBlock` (−40 a round: cut off after 2 rounds,
 * banned after 3). A relays only blocks it has fully validated, so B never charges it; the
 * attacker's own connection to B pays.
 */
import { it, expect, afterAll } from 'vitest'
import { createLibp2p, type Libp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@libp2p/noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { gossipsub } from '@libp2p/gossipsub'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { peerIdFromString } from '@libp2p/peer-id'
import { createComputeNode, type ComputeNode } from '../src/node/compute-node.ts'
import { createGenesisConfig } from '../src/ledger/index.ts'
import { blockTopic } from '../src/ledger/constants.ts'
import { createTransfer } from '../src/ledger/tx.ts'
import { createSigner } from '../src/proofs/signing.ts'
import { buildBlock, infoOf, encodeBlock, EASY_TARGET, type ParentInfo } from './fixtures/ledger/helpers.ts'
import { waitFor } from './helpers.ts'

const stops: Array<() => Promise<unknown>> = []
afterAll(async () => { for (const s of stops.reverse()) await s().catch(() => {}) })

/** A bare gossipsub peer (no depin validation) subscribed to `topic`, connected to `victim`. */
async function attacker (topic: string, victim: ComputeNode): Promise<Libp2p<any>> {
  const m = await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify(), pubsub: gossipsub({ allowPublishToZeroTopicPeers: true, floodPublish: true, emitSelf: false }) }
  })
  stops.push(async () => await m.stop())
  m.services.pubsub.subscribe(topic)
  await m.dial(multiaddr(victim.multiaddrs[0]))
  await waitFor(() => m.services.pubsub.getSubscribers(topic).some((p) => p.toString() === victim.peerId), { what: 'the victim to subscribe' })
  return m
}

it('a node does not relay a side block, so a neighbour that found it invalid never charges the honest relay', { timeout: 120_000 }, async () => {
  const keyA = await generateKeyPair('Ed25519')
  const keyB = await generateKeyPair('Ed25519')
  const poor = createSigner(await generateKeyPair('Ed25519'))
  const network = createGenesisConfig({
    networkId: 'relay-framing', peers: [keyA.publicKey.toString(), keyB.publicKey.toString()], allocation: 1000, initialTarget: EASY_TARGET, blockIntervalMs: 1000, retargetInterval: 1_000_000
  })
  const topic = blockTopic(network.networkId)
  const mk = (key: typeof keyA, bootstrap: string[]): ComputeNode => createComputeNode({ privateKey: key, listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, testnet: true, network, bootstrap, fuelPerSecond: 0 })
  const A = mk(keyA, [])
  await A.start()
  stops.push(async () => await A.stop())
  const B = mk(keyB, [A.multiaddrs[0]])
  await B.start()
  stops.push(async () => await B.stop())
  const MA = await attacker(topic, A)
  const MB = await attacker(topic, B)
  // A must have B in its blocks mesh, or nothing A accepts would reach B and the test shows nothing.
  await waitFor(() => (A.host.services.pubsub as any).getMeshPeers(topic).map(String).includes(B.peerId), { what: 'B in A\'s blocks mesh' })

  const t0 = Date.now() - 50_000
  let parent: ParentInfo = { hash: A.ledger.genesisHash, height: 0, timestamp: t0 - 10_000 }
  // Two rounds: enough, before the fix, to cut A off from B (−80).
  const ROUNDS = 2
  for (let round = 1; round <= ROUNDS; round++) {
    // The honest block T on `parent`: A has it, B not yet.
    const T = buildBlock({ genesis: network, parent, miner: A.peerId, timestamp: t0 + round * 10_000 })
    await A.ledger.addBlock(encodeBlock(T))
    // The attacker's X on the same parent: well-formed and signed, but it overdraws.
    const X = buildBlock({
      genesis: network, parent, miner: MA.peerId.toString(), timestamp: t0 + round * 10_000 + 1,
      txs: [createTransfer(poor, { network: network.networkId, to: A.peerId, amount: 5000, nonce: 0 })]
    })
    const xBytes = encodeBlock(X)
    // 1. X to B, whose tip is X's parent: applied, invalid, remembered as invalid.
    await MB.services.pubsub.publish(topic, xBytes)
    await waitFor(() => B.status().gossip[topic].rejected >= round, { what: `B to reject X (round ${round})` })
    // 2. X to A: a side block there. Stored, and ignored for gossip: not relayed to B.
    await MA.services.pubsub.publish(topic, xBytes)
    await waitFor(() => A.status().gossip[topic].ignored + A.status().gossip[topic].accepted >= round, { what: `A to validate X (round ${round})` })
    expect(A.status().gossip[topic]).toMatchObject({ accepted: 0, ignored: round })
    // B catches up with T (as it would by sync from A).
    await B.ledger.addBlock(encodeBlock(T))
    parent = infoOf(T)
  }
  expect(A.ledger.tip().height).toBe(ROUNDS)
  // B charged only the attacker that sent it X, never A; A and B stay connected.
  expect(B.status().gossip[topic].rejected).toBe(ROUNDS)
  expect(B.peerScore.score(A.peerId)).toBe(0)
  expect(B.peerScore.isPenalised(A.peerId)).toBe(false)
  expect(B.peerScore.isPenalised(MB.peerId.toString())).toBe(true)
  expect(A.host.getConnections(peerIdFromString(B.peerId)).length).toBeGreaterThan(0)
})
