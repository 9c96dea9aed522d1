/**
 * Gossip validation over real gossipsub: oversized and undecodable messages are rejected before
 * delivery, and the sender loses both app-level and gossipsub score.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { z } from 'zod'
import { createTestnet, type Testnet } from '../src/node/testnet.ts'
import { MAX_OFFER_BYTES } from '../src/node/constants.ts'
import { decode, encode } from '../src/proofs/encoding.ts'
import { parseWith } from '../src/proofs/schema.ts'
import { classifyValidationError } from '../src/node/gossip.ts'
import { GossipValidationError } from '../src/transport.ts'
import { InvalidMessageError, InvalidSignatureError, MessageTooLargeError } from '../src/errors.ts'
import { waitFor } from './helpers.ts'

describe('gossip validation', () => {
  let net: Testnet
  let TOPIC_OFFERS: string
  const delivered: unknown[] = []

  beforeAll(async () => {
    net = await createTestnet({ nodes: 2 })
    TOPIC_OFFERS = net.nodes[1].topics.offers
    // A minimal handler standing in for a topic's real one: size, decode, schema.
    net.nodes[1].registerTopic({
      topic: TOPIC_OFFERS,
      maxBytes: MAX_OFFER_BYTES,
      validate: (data) => parseWith(z.object({ hello: z.string() }).strict(), decode(data, MAX_OFFER_BYTES), 'test message'),
      deliver: (value) => { delivered.push(value) }
    })
    const sender = net.nodes[0].host.services.pubsub
    sender.subscribe(TOPIC_OFFERS)
    await waitFor(() => sender.getSubscribers(TOPIC_OFFERS).some((p) => p.toString() === net.nodes[1].peerId), { what: 'subscription to propagate' })
  })

  afterAll(async () => { await net?.stop() })

  it('accepts a valid message and delivers it once', async () => {
    await net.nodes[0].host.services.pubsub.publish(TOPIC_OFFERS, encode({ hello: 'world' }))
    await waitFor(() => delivered.length === 1, { what: 'delivery' })
    expect(delivered).toEqual([{ hello: 'world' }])
    expect(net.nodes[1].status().gossip[TOPIC_OFFERS].accepted).toBe(1)
  })

  it('rejects undecodable and oversized messages and scores the sender down', async () => {
    const [sender, receiver] = net.nodes
    const pubsub = sender.host.services.pubsub
    await pubsub.publish(TOPIC_OFFERS, Uint8Array.from([0xff, 0xfe, 0x00, 0x13, 0x37]))
    await pubsub.publish(TOPIC_OFFERS, new Uint8Array(MAX_OFFER_BYTES + 1).fill(7))
    await pubsub.publish(TOPIC_OFFERS, encode({ hello: 5 }))
    await waitFor(() => receiver.status().gossip[TOPIC_OFFERS].rejected === 3, { what: 'three rejections' })
    expect(delivered).toHaveLength(1)
    expect(receiver.peerScore.score(sender.peerId)).toBeLessThan(0)
    // getScore is public on the gossipsub class but not part of its exported interface type.
    const gossipScore = (receiver.host.services.pubsub as unknown as { getScore: (peer: string) => number }).getScore.bind(receiver.host.services.pubsub)
    await waitFor(() => gossipScore(sender.peerId) < 0, { what: 'gossipsub score to drop' })
    // The receiver keeps running and still accepts good messages.
    await pubsub.publish(TOPIC_OFFERS, encode({ hello: 'again' }))
    await waitFor(() => delivered.length === 2, { what: 'delivery after rejections' })
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
