/**
 * Hostile peers on the offers topic and the negotiation protocol, against real nodes on a real
 * testnet. W is the worker under attack, R an honest requester whose jobs (aimed at W) must keep
 * completing, M1/M2 are funded peers driven by hand, and fresh attacker nodes join for the gossip
 * cases (so each starts with a clean score).
 */
import { randomBytes } from 'node:crypto'
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { peerIdFromString } from '@libp2p/peer-id'
import { lpStream } from '@libp2p/utils'
import type { Stream } from '@libp2p/interface'
import { createTestnet, type Testnet } from '../src/node/testnet.ts'
import { createComputeNode, type ComputeNode } from '../src/node/compute-node.ts'
import { decode, encode, valueCid } from '../src/proofs/encoding.ts'
import { verifyLease } from '../src/proofs/lease.ts'
import { parseNegotiateResponse, signBid, type NegotiateResponse } from '../src/scheduler/messages.ts'
import { MAX_NEGOTIATE_FRAME_BYTES, NEGOTIATE_MAX_INBOUND_STREAMS, NEGOTIATE_PROTOCOL } from '../src/scheduler/constants.ts'
import { acceptOf, example, leaseOffer, text, utf8, varint, waitForOfferMesh } from './jobs-helpers.ts'
import { waitFor } from './helpers.ts'

/** Reads one frame of a raw stream: the decoded value, or how the stream ended. */
async function readOutcome (stream: Stream, timeoutMs = 30_000): Promise<{ frame?: NegotiateResponse, ended?: string }> {
  const lp = lpStream(stream, { maxDataLength: 1 << 20 })
  try {
    const bytes = await lp.read({ signal: AbortSignal.timeout(timeoutMs) })
    return { frame: parseNegotiateResponse(decode(bytes.subarray(), 1 << 20)) }
  } catch (err) {
    return { ended: (err as Error).name }
  }
}

describe('negotiation and offers under attack', () => {
  let net: Testnet
  let W: ComputeNode
  let R: ComputeNode
  let M1: ComputeNode
  let M2: ComputeNode
  const joined: ComputeNode[] = []

  beforeAll(async () => {
    net = await createTestnet({ nodes: 4 })
    ;[W, R, M1, M2] = net.nodes
    await waitForOfferMesh(R, [W.peerId])
  })

  afterAll(async () => {
    await Promise.all(joined.map(async (n) => { await n.stop() }))
    await net?.stop()
  })

  /** R runs an echo job on W: W is up and serving. */
  async function honestJobOnW (): Promise<void> {
    const input = utf8(`honest ${randomBytes(6).toString('hex')}`)
    const result = await (await R.submitJob({ module: example('echo'), input, peers: [W.peerId] })).result()
    expect(result.error).toBeUndefined()
    expect(result.status).toBe('completed')
    expect(text(result.stdout)).toBe(text(input))
  }

  /** A new (unfunded) node connected to W that can publish to W on the offers topic. */
  async function joinAttacker (): Promise<ComputeNode> {
    const node = createComputeNode({ listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, testnet: true, network: net.network, bootstrap: [W.multiaddrs[0]], advertise: false })
    joined.push(node)
    await node.start()
    await waitForOfferMesh(node, [W.peerId])
    return node
  }

  const offersStats = (): { accepted: number, ignored: number, rejected: number } => W.status().gossip[W.topics.offers]
  const gossipScore = (node: ComputeNode, peer: string): number =>
    (node.host.services.pubsub as unknown as { getScore: (p: string) => number }).getScore(peer)

  it('a lease offer with a bad signature on gossip is rejected: the sender loses app and gossipsub score', async () => {
    const M = await joinAttacker()
    const offer = leaseOffer(M.signer)
    const sig = Uint8Array.from(offer.sig)
    sig[0] ^= 0xff
    const before = offersStats()
    await M.host.services.pubsub.publish(M.topics.offers, encode({ body: offer.body, sig }))
    await waitFor(() => offersStats().rejected > before.rejected, { what: 'W to reject the offer' })
    expect(offersStats().accepted).toBe(before.accepted)
    expect(W.peerScore.score(M.peerId)).toBeLessThan(0)
    await waitFor(() => gossipScore(W, M.peerId) < 0, { what: 'gossipsub score to drop' })
  })

  it('a lease offer past its expiry on gossip is ignored: no penalty', async () => {
    const M = await joinAttacker()
    const past = Date.now() - 120_000
    const offer = leaseOffer(M.signer, { createdAt: past, expiresAt: past + 5_000 })
    const before = offersStats()
    await M.host.services.pubsub.publish(M.topics.offers, encode(offer))
    await waitFor(() => offersStats().ignored > before.ignored, { what: 'W to ignore the offer' })
    expect(offersStats().rejected).toBe(before.rejected)
    expect(offersStats().accepted).toBe(before.accepted)
    expect(W.peerScore.score(M.peerId)).toBe(0)
    expect(gossipScore(W, M.peerId)).toBeGreaterThanOrEqual(0)
  })

  it('a bid for an unknown offer is answered ERR_UNKNOWN_OFFER', async () => {
    const bid = signBid(M1.signer, { v: 1, offerId: valueCid(randomBytes(32)), worker: M1.peerId, requester: R.peerId, price: 1, slots: 1, expiresAt: Date.now() + 10_000, freeSlots: 1 })
    const channel = await M1.services().channels.open(R.peerId, NEGOTIATE_PROTOCOL)
    await channel.send({ t: 'bid', bid })
    const response = parseNegotiateResponse(await channel.receive())
    await channel.close()
    expect(response).toMatchObject({ t: 'error', code: 'ERR_UNKNOWN_OFFER' })
  })

  it('an offer of a runtime this worker does not run (one a later version may add) is declined, and costs its sender nothing', async () => {
    const before = W.peerScore.score(M1.peerId)
    const channel = await M1.services().channels.open(W.peerId, NEGOTIATE_PROTOCOL)
    await channel.send({ t: 'offer', offer: leaseOffer(M1.signer, { runtime: 'wasi-p2', peers: [W.peerId] }) })
    const response = parseNegotiateResponse(await channel.receive())
    await channel.close()
    expect(response).toMatchObject({ t: 'decline', decline: { body: { reason: 'runtime' } } })
    expect(W.peerScore.score(M1.peerId)).toBeGreaterThanOrEqual(before) // (an older penalty may decay meanwhile)
  })

  it('an accept replayed twice: the first makes a lease, the second gets ERR_ACCEPT_REPLAYED', async () => {
    const offer = leaseOffer(M1.signer, { peers: [W.peerId] })
    const ask = async (request: unknown): Promise<NegotiateResponse> => {
      const channel = await M1.services().channels.open(W.peerId, NEGOTIATE_PROTOCOL)
      await channel.send(request)
      const response = parseNegotiateResponse(await channel.receive())
      await channel.close()
      return response
    }
    const bid = await ask({ t: 'offer', offer })
    if (bid.t !== 'bid') throw new Error(`expected a bid, got ${JSON.stringify(bid)}`)
    const accept = acceptOf(M1.signer, offer, bid.bid)
    const first = await ask(accept)
    expect(first.t).toBe('lease')
    if (first.t === 'lease') verifyLease(first.lease)
    const second = await ask(accept)
    expect(second).toMatchObject({ t: 'error', code: 'ERR_ACCEPT_REPLAYED' })
  })

  it('after a bid, the same stream takes an accept (and only an accept)', async () => {
    const offerOn = async (channel: Awaited<ReturnType<ReturnType<ComputeNode['services']>['channels']['open']>>) => {
      const offer = leaseOffer(M1.signer, { peers: [W.peerId] })
      await channel.send({ t: 'offer', offer })
      const bid = parseNegotiateResponse(await channel.receive())
      if (bid.t !== 'bid') throw new Error(`expected a bid, got ${JSON.stringify(bid)}`)
      return acceptOf(M1.signer, offer, bid.bid)
    }
    // The accept on the offer's own stream makes the lease.
    const first = await M1.services().channels.open(W.peerId, NEGOTIATE_PROTOCOL)
    await first.send(await offerOn(first))
    const made = parseNegotiateResponse(await first.receive())
    await first.close()
    expect(made.t).toBe('lease')
    if (made.t === 'lease') verifyLease(made.lease)
    // Anything else after a bid is refused with a protocol error.
    const second = await M1.services().channels.open(W.peerId, NEGOTIATE_PROTOCOL)
    await offerOn(second)
    await second.send({ t: 'bid', bid: signBid(M1.signer, { v: 1, offerId: valueCid(randomBytes(32)), worker: M1.peerId, requester: W.peerId, price: 1, slots: 1, expiresAt: Date.now() + 10_000, freeSlots: 1 }) })
    const refused = parseNegotiateResponse(await second.receive())
    await second.close()
    expect(refused).toMatchObject({ t: 'error', code: 'ERR_PROTOCOL_VIOLATION' })
    await honestJobOnW()
  })

  it('a negotiation frame over the size limit: refused before its body is read, the sender scored down, W up', async () => {
    const before = W.peerScore.score(M1.peerId)
    const stream = await M1.host.dialProtocol(peerIdFromString(W.peerId), NEGOTIATE_PROTOCOL)
    // A length prefix one byte over the limit and a few bytes of "body": W must not wait for the rest.
    stream.send(Uint8Array.from([...varint(MAX_NEGOTIATE_FRAME_BYTES + 1), 1, 2, 3]))
    const outcome = await readOutcome(stream)
    expect(outcome.frame ?? outcome.ended).toMatchObject({ t: 'error', code: 'ERR_MESSAGE_TOO_LARGE' })
    expect(W.peerScore.score(M1.peerId)).toBeLessThan(before)
    await honestJobOnW()
  })

  it('many negotiation streams that never write: bounded per connection, closed at the idle deadline, W keeps serving', async () => {
    const target = peerIdFromString(W.peerId)
    const inboundFromM2 = (): number => W.host.getConnections(peerIdFromString(M2.peerId))
      .flatMap((c) => c.streams)
      .filter((s) => s.protocol === NEGOTIATE_PROTOCOL && s.direction === 'inbound').length
    let peak = 0
    const sampler = setInterval(() => { peak = Math.max(peak, inboundFromM2()) }, 10)
    try {
      const opened = await Promise.all(Array.from({ length: 100 }, async () => {
        try {
          return await M2.host.dialProtocol(target, NEGOTIATE_PROTOCOL)
        } catch (err) {
          return err as Error
        }
      }))
      const streams = opened.filter((s): s is Stream => !(s instanceof Error))
      const outcomes = Promise.all(streams.map(async (s) => await readOutcome(s)))
      // Meanwhile an honest requester's job on W completes.
      await honestJobOnW()
      const ended = await outcomes
      const timedOut = ended.filter((o) => o.frame?.t === 'error' && o.frame.code === 'ERR_DEADLINE_EXCEEDED')
      const refused = ended.filter((o) => o.frame == null)
      // Every stream ended: the ones W admitted at its idle deadline, the rest refused at once.
      expect(timedOut.length + refused.length + (opened.length - streams.length)).toBe(100)
      expect(timedOut.length).toBeGreaterThan(0)
      expect(timedOut.length).toBeLessThanOrEqual(NEGOTIATE_MAX_INBOUND_STREAMS)
      expect(peak).toBeLessThanOrEqual(NEGOTIATE_MAX_INBOUND_STREAMS)
      await waitFor(() => inboundFromM2() === 0, { what: 'W to release every stream' })
    } finally {
      clearInterval(sampler)
    }
    // Holding streams open is not misbehaviour worth a penalty; W still serves M2's peers.
    await honestJobOnW()
  })
  it('a worker that stopped taking leases answers a direct offer ERR_BUSY (ERR_OWN_OFFER is only for its own offers)', async () => {
    const S = await joinAttacker()
    S.scheduler.worker.stop()
    const channel = await M1.services().channels.open(S.peerId, NEGOTIATE_PROTOCOL)
    await channel.send({ t: 'offer', offer: leaseOffer(M1.signer, { peers: [S.peerId] }) })
    const response = parseNegotiateResponse(await channel.receive())
    await channel.close()
    expect(response).toMatchObject({ t: 'error', code: 'ERR_BUSY' })
  })
})
