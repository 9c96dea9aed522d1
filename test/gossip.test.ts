/**
 * Gossip over real gossipsub: the size bound, the arrival precheck and the validators reject
 * what they must, the sender loses app-level and gossipsub score and is cut off after a few
 * invalid messages while other peers are still heard; offers must be gossiped by their own
 * requester; a publish that reaches nobody is reported and sent once a peer subscribes.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { z } from 'zod'
import { createTestnet, type Testnet } from '../src/node/testnet.ts'
import { createComputeNode, type ComputeNode } from '../src/node/compute-node.ts'
import { MAX_OFFER_BYTES } from '../src/node/constants.ts'
import { decode, encode } from '../src/proofs/encoding.ts'
import { parseWith } from '../src/proofs/schema.ts'
import { classifyValidationError } from '../src/node/gossip.ts'
import { GossipValidationError, NoSubscribersError } from '../src/transport.ts'
import { InvalidMessageError, InvalidSignatureError, MessageTooLargeError } from '../src/errors.ts'
import { PeerAction } from '../src/node/peer-score.ts'
import { leaseOffer } from './flood-helpers.ts'
import { publishUntilSent, waitFor } from './helpers.ts'

/** A job no worker will run (it names a peer that does not exist): offers of it cause no traffic. */
const NOBODY = '12D3KooWSUabNcdHDSvX4UgB2ZUeyfe7S5KUPJEnbvkdWPZE7oyt'

describe('gossip validation', () => {
  let net: Testnet
  let TOPIC: string
  const delivered: unknown[] = []

  beforeAll(async () => {
    net = await createTestnet({ nodes: 3 })
    TOPIC = net.nodes[1].topics.offers
    // A minimal handler standing in for a topic's real one: size, decode, schema.
    net.nodes[1].registerTopic({
      topic: TOPIC,
      maxBytes: MAX_OFFER_BYTES,
      precheck: (data) => parseWith(z.object({ hello: z.string() }).strict(), decode(data, MAX_OFFER_BYTES), 'test message'),
      validate: (_data, _from, value) => value,
      deliver: (value) => { delivered.push(value) }
    })
    for (const node of [net.nodes[0], net.nodes[2]]) {
      node.host.services.pubsub.subscribe(TOPIC)
      await waitFor(() => node.host.services.pubsub.getSubscribers(TOPIC).some((p) => p.toString() === net.nodes[1].peerId), { what: 'subscription to propagate' })
    }
  })

  afterAll(async () => { await net?.stop() })

  it('accepts a valid message and delivers it once', async () => {
    await publishUntilSent(net.nodes[0].host.services.pubsub, TOPIC, encode({ hello: 'world' }), { to: net.nodes[1].peerId })
    await waitFor(() => delivered.length === 1, { what: 'delivery' })
    expect(delivered).toEqual([{ hello: 'world' }])
    expect(net.nodes[1].status().gossip[TOPIC].accepted).toBe(1)
  })

  it('rejects undecodable, oversized and schema-invalid messages at once, cuts the sender off, still hears others', async () => {
    const [sender, receiver, other] = net.nodes
    const penalised: Array<{ peerId: string, banned: boolean }> = []
    receiver.addEventListener('peer:penalised', (evt) => { penalised.push(evt.detail) })
    const pubsub = sender.host.services.pubsub
    await publishUntilSent(pubsub, TOPIC, Uint8Array.from([0xff, 0xfe, 0x00, 0x13, 0x37]), { to: receiver.peerId })
    await waitFor(() => receiver.status().gossip[TOPIC].rejected === 1, { what: 'the first rejection' })
    // The rejection costs gossipsub score too. Checked while the sender is still connected (after
    // a disconnect gossipsub may forget the peer).
    // getScore is public on the gossipsub class but not part of its exported interface type.
    const gossipScore = (receiver.host.services.pubsub as unknown as { getScore: (peer: string) => number }).getScore.bind(receiver.host.services.pubsub)
    await waitFor(() => gossipScore(sender.peerId) < 0, { what: 'gossipsub score to drop' })
    await publishUntilSent(pubsub, TOPIC, new Uint8Array(MAX_OFFER_BYTES + 1).fill(7), { to: receiver.peerId })
    await publishUntilSent(pubsub, TOPIC, encode({ hello: 5 }), { to: receiver.peerId })
    await waitFor(() => receiver.status().gossip[TOPIC].rejected === 3, { what: 'three rejections' })
    expect(delivered).toHaveLength(1)
    expect(receiver.peerScore.score(sender.peerId)).toBeCloseTo(3 * PeerAction.MalformedMessage, 0)
    // Three malformed messages pass the disconnect threshold: the sender is cut off.
    await waitFor(() => penalised.some((p) => p.peerId === sender.peerId), { what: 'the sender to be penalised' })
    await waitFor(() => receiver.host.getConnections().every((c) => c.remotePeer.toString() !== sender.peerId), { what: 'the sender to be disconnected' })
    // The receiver keeps running and hears other peers.
    await publishUntilSent(other.host.services.pubsub, TOPIC, encode({ hello: 'again' }), { to: receiver.peerId })
    await waitFor(() => delivered.length === 2, { what: 'delivery from another peer' })
    expect(delivered[1]).toEqual({ hello: 'again' })
  })

  it('maps errors to gossip results in one place', () => {
    expect(classifyValidationError(new InvalidMessageError('x'))).toEqual({ action: 'reject', peerAction: 'MalformedMessage' })
    expect(classifyValidationError(new MessageTooLargeError('x', 1))).toEqual({ action: 'reject', peerAction: 'MalformedMessage' })
    expect(classifyValidationError(new InvalidSignatureError())).toEqual({ action: 'reject', peerAction: 'InvalidSignature' })
    expect(classifyValidationError(new GossipValidationError('ignore', 'duplicate'))).toEqual({ action: 'ignore' })
    expect(classifyValidationError(Object.assign(new Error('bad block'), { action: 'reject' }))).toEqual({ action: 'reject', peerAction: 'InvalidBlock' })
    expect(classifyValidationError(new Error('our own bug'))).toEqual({ action: 'ignore' })
  })
})

describe('offers on gossip', () => {
  let net: Testnet

  beforeAll(async () => {
    net = await createTestnet({ nodes: 3 })
    for (const node of net.nodes) {
      const pubsub = node.host.services.pubsub
      await waitFor(() => pubsub.getSubscribers(node.topics.offers).length >= 1, { what: 'offer subscriptions' })
    }
  })

  afterAll(async () => { await net?.stop() })

  it('rejects an offer with a valid signature gossiped by a peer that is not its requester', async () => {
    const [relayer, requester, receiver] = net.nodes
    const topic = receiver.topics.offers
    const before = receiver.status().gossip[topic]
    // The requester's own offer, from the requester: accepted.
    const own = leaseOffer(requester.signer, { peers: [NOBODY] })
    await publishUntilSent(requester.host.services.pubsub, topic, encode(own), { to: receiver.peerId })
    await waitFor(() => receiver.status().gossip[topic].accepted === before.accepted + 1, { what: 'the requester\'s own offer' })
    // The same kind of offer, correctly signed by the requester, but gossiped by someone else.
    const replayed = leaseOffer(requester.signer, { peers: [NOBODY] })
    await publishUntilSent(relayer.host.services.pubsub, topic, encode(replayed), { to: receiver.peerId })
    await waitFor(() => receiver.status().gossip[topic].rejected === before.rejected + 1, { what: 'the replayed offer to be rejected' })
    expect(receiver.peerScore.score(relayer.peerId)).toBeCloseTo(PeerAction.InvalidSignature, 0)
    expect(receiver.peerScore.score(requester.peerId)).toBe(0)
  })
})

describe('publishing to nobody', () => {
  const nodes: ComputeNode[] = []
  afterAll(async () => { await Promise.all(nodes.map(async (n) => { await n.stop() })) })

  it('is reported, and the message goes out once a peer subscribes', async () => {
    const network = (await createTestnet({ nodes: 1 }))
    nodes.push(...network.nodes)
    const [lonely] = network.nodes
    const topic = lonely.topics.offers
    const offer = leaseOffer(lonely.signer, { peers: [NOBODY] })
    const err = await lonely.services().gossip.publish(topic, encode(offer)).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(NoSubscribersError)
    expect(err).toMatchObject({ code: 'ERR_NO_SUBSCRIBERS', topic, retrying: true })
    expect(lonely.status().gossip[topic]).toMatchObject({ published: 0, waiting: 1 })
    // A caller that sends it another way can ask for it not to be kept.
    const direct = leaseOffer(lonely.signer, { peers: [NOBODY] })
    const notKept = await lonely.services().gossip.publish(topic, encode(direct), { retryForMs: 0 }).catch((e: unknown) => e)
    expect(notKept).toMatchObject({ code: 'ERR_NO_SUBSCRIBERS', retrying: false })
    expect(lonely.status().gossip[topic]).toMatchObject({ waiting: 1 })

    const late = createComputeNode({ listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, testnet: true, network: network.network, bootstrap: [lonely.multiaddrs[0]] })
    nodes.push(late)
    await late.start()
    await waitFor(() => late.status().gossip[topic].accepted === 1, { what: 'the waiting offer to arrive' })
    expect(lonely.status().gossip[topic]).toMatchObject({ waiting: 0, retried: 1, unsent: 0 })
    // With a subscriber, a publish goes straight out.
    const next = leaseOffer(lonely.signer, { peers: [NOBODY] })
    expect(await waitFor(async () => await lonely.services().gossip.publish(topic, encode(next)).then((r) => r.recipients, () => undefined), { what: 'a direct publish' })).toBe(1)
  })
})
