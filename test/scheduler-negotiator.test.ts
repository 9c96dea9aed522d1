/**
 * The requester's Negotiator against the real WorkerService, over an in-memory wire on which
 * every frame is encoded and decoded as DAG-CBOR (no libp2p): what one side signs, the other
 * accepts.
 */
import { describe, it, expect, afterEach } from 'vitest'
import { makeSigners } from './fixtures/ledger/helpers.ts'
import { decode, encode } from '../src/proofs/encoding.ts'
import type { Channel, ChannelOpener } from '../src/transport.ts'
import { Negotiator } from '../src/scheduler/requester/negotiator.ts'
import { WorkerService } from '../src/scheduler/worker/service.ts'
import { offerId, parseNegotiateRequest, parseSignedOffer, signBid, type OfferBody, type SignedOffer } from '../src/scheduler/messages.ts'
import type { LeaseBody } from '../src/proofs/lease.ts'
import type { WasiExecutor } from '../src/scheduler/executor/index.ts'
import type { BlobStore } from '../src/scheduler/blob-store.ts'
import type { JobStore } from '../src/scheduler/job-store.ts'

const wire = (value: unknown): unknown => decode(encode(value), 1 << 20)

describe('Negotiator with a real WorkerService', () => {
  const stops: Array<() => void> = []
  afterEach(() => { for (const stop of stops.splice(0)) stop() })

  async function pair (): Promise<{ negotiator: Negotiator, worker: string, offers: OfferBody[], accepts: LeaseBody[] }> {
    const [requester, workerSigner] = await makeSigners(2)
    const service = new WorkerService({
      signer: workerSigner,
      executor: {} as unknown as WasiExecutor,
      blobs: {} as unknown as BlobStore,
      records: {} as unknown as JobStore,
      channels: { open: async () => { throw new Error('no network in this test') } },
      capacity: () => ({ cores: 4, memoryMiB: 4096, slots: 16, pricePerGigafuel: 10, fuelPerSecond: 0, runtimes: ['wasi-p1'] }),
      canPay: async () => true,
      reportPeer: () => {}
    })
    service.start()
    stops.push(() => { service.stop() })
    const offers: OfferBody[] = []
    const accepts: LeaseBody[] = []
    /** The worker's side of a negotiate stream, answering as the node's negotiate handler does. */
    const negotiate = (): Channel => {
      const inbox: unknown[] = []
      return {
        remotePeer: workerSigner.peerId,
        send: async (frame: unknown) => {
          const request = parseNegotiateRequest(wire(frame))
          try {
            if (request.t === 'offer') {
              const offer = parseSignedOffer(request.offer)
              offers.push(offer.body)
              inbox.push(wire((await service.answerOffer(offer, offerId(offer.body), true))?.response))
            } else if (request.t === 'accept') {
              accepts.push(request.accept.body)
              inbox.push(wire({ t: 'lease', lease: await service.accept(request.accept, requester.peerId) }))
            }
          } catch (err) {
            inbox.push({ t: 'error', code: (err as { code?: string }).code ?? 'ERR_UNKNOWN', message: (err as Error).message.slice(0, 200) })
          }
        },
        receive: async () => inbox.shift(),
        close: async () => {},
        abort: () => {}
      } as unknown as Channel
    }
    /** A lease stream that opens and stays silent (this test ends at the lease). */
    const leaseStream = (): Channel => ({
      remotePeer: workerSigner.peerId,
      send: async () => {},
      receive: async () => await new Promise(() => {}),
      close: async () => {},
      abort: () => {}
    } as unknown as Channel)
    const channels: ChannelOpener = { open: async (_peer: string, protocol: string) => protocol.includes('lease') ? leaseStream() : negotiate() } as unknown as ChannelOpener
    const negotiator = new Negotiator({
      signer: requester,
      channels,
      publishOffer: async () => {},
      knownPeers: () => [],
      findPeers: async () => [],
      reportPeer: () => {},
      reliability: () => 0.5,
      speed: () => 0
    })
    return { negotiator, worker: workerSigner.peerId, offers, accepts }
  }

  const needs = { memoryMiB: 64, timeoutMs: 1_000, fuel: 1_000_000_000n, maxPrice: 10 }

  it('a lease takes the offer\'s cap: after a funds decline (a lower cap than the budget\'s share) the worker still accepts', async () => {
    const { negotiator, worker, offers, accepts } = await pair()
    const first = await negotiator.round(needs, 1, [worker], false, 1_000_000, () => 0, AbortSignal.timeout(10_000))
    expect(first.leases).toHaveLength(1)
    expect(accepts[0].maxCredits).toBeLessThanOrEqual(offers[0].maxCredits)

    // The lease pool's next round after a `funds` decline: a quarter of the last offer's cap.
    const capLimit = Math.floor(offers[0].maxCredits / 4)
    const second = await negotiator.round(needs, 1, [worker], false, 1_000_000, () => 0, AbortSignal.timeout(10_000), () => false, capLimit)
    expect(offers[1].maxCredits).toBe(capLimit)
    expect(accepts[1].maxCredits).toBe(capLimit)
    expect(second.leases).toHaveLength(1)
    expect(second.leases[0].lease.body.maxCredits).toBe(capLimit)
  })
})

describe('an offer round with gossip', () => {
  // Seen at scale (20 of 30 nodes gone, a job of 2 replicas with one lease already open): the
  // direct offers went to peers that had left and failed at once, the worker that already held
  // this class's lease answered the gossiped offer first, and the round ended on its bid
  // (enough bids, no direct offer pending), then dropped it as excluded: an empty round. Bids of
  // the other workers came after the offer had closed, round after round, for 50 s.
  it('a bid from an excluded worker does not end the round: other workers\' bids are still taken', async () => {
    const [requester, excluded, other, gone] = await makeSigners(4)
    const routed: boolean[] = []
    const bid = (worker: typeof excluded, offer: SignedOffer) => ({
      t: 'bid' as const,
      bid: signBid(worker, { v: 1, offerId: offerId(offer.body), worker: worker.peerId, requester: requester.peerId, price: 10, slots: 1, freeSlots: 1, expiresAt: offer.body.expiresAt })
    })
    const negotiator: Negotiator = new Negotiator({
      signer: requester,
      // Every direct offer fails at once (its peer left); accepts fail too (this test ends at the bids).
      channels: { open: async () => { throw new Error('no listener') } } as unknown as ChannelOpener,
      publishOffer: async (offer) => {
        // The excluded worker answers at once; another one a moment later, well within the window.
        routed.push(negotiator.routeAnswer(bid(excluded, offer), excluded.peerId))
        setTimeout(() => { routed.push(negotiator.routeAnswer(bid(other, offer), other.peerId)) }, 20)
      },
      knownPeers: () => [],
      findPeers: async () => [],
      reportPeer: () => {},
      reliability: () => 0.5,
      speed: () => 0
    })
    const needs = { memoryMiB: 64, timeoutMs: 1_000, fuel: 1_000_000_000n, maxPrice: 10 }
    await negotiator.round(needs, 1, [gone.peerId], true, 1_000_000, () => 0, AbortSignal.timeout(10_000), (peer) => peer === excluded.peerId)
    // Both bids reached an open offer: the round waited for a bid it could take.
    expect(routed).toEqual([true, true])
  })
})

