/**
 * Opening leases: one offer round asks known capable workers directly (and, when too few are
 * known or the last round brought nothing, everyone through gossip) for a lease with the terms a
 * class of tasks needs; bids come back on the offer streams or on streams of their own; the best
 * are accepted (on the stream that brought the bid when it is still open, else a fresh one) and
 * the lease stream to each worker is opened while the accept is on its way.
 */
import { randomBytes } from 'node:crypto'
import { logger } from '@libp2p/logger'
import { leaseId, signLeaseAsRequester, verifyLease, type Lease, type LeaseBody } from '../../proofs/lease.ts'
import type { Signer } from '../../proofs/signing.ts'
import type { CapacityAdvert, FindCapacityQuery } from '../../shared/capacity.ts'
import type { PeerActionName } from '../../shared/peer-actions.ts'
import { InvalidMessageError } from '../../errors.ts'
import type { Channel, ChannelOpener } from '../../transport.ts'
import {
  BID_WINDOW_MS, DIRECT_OFFER_MAX, DIRECT_OFFER_SPARE, LEASE_BUDGET_TASKS_PER_SLOT, LEASE_DURATION_MS, LEASE_IDLE_TIMEOUT_MS,
  LEASE_PROTOCOL, MAX_LEASE_FRAME_BYTES, MAX_NEGOTIATE_FRAME_BYTES, NEGOTIATE_IDLE_TIMEOUT_MS, NEGOTIATE_PROTOCOL, OFFER_TTL_MS
} from '../constants.ts'
import { ProtocolViolationError, type DeclineReason } from '../errors.ts'
import {
  offerId, parseNegotiateResponse, signOffer, verifyBid, verifyDecline,
  type NegotiateResponse, type OfferBody, type SignedBid, type SignedDecline, type SignedOffer
} from '../messages.ts'
import { leaseCap, maxTaskCost, type Requirements } from '../task.ts'
import { rankBids } from './ranking.ts'

const log = logger('depin:requester:negotiate')

/** Slots a lease offer asks for (workers grant at most what they have). */
const OFFER_SLOTS = 16

export interface NegotiatorComponents {
  signer: Signer
  channels: ChannelOpener
  publishOffer: (offer: SignedOffer) => Promise<void>
  knownPeers: () => CapacityAdvert[]
  findPeers: (query: FindCapacityQuery) => Promise<CapacityAdvert[]>
  reportPeer: (peerId: string, action: PeerActionName) => void
  reliability: (peerId: string) => number
  /** A worker's speed to rank by (advertised, checked against delivered; see `Reputation.speed`). */
  speed: (peerId: string, advertised: number) => number
  /** Asks a peer for its capacity record again (it bid above what its record here says). */
  refreshAdvert?: (peerId: string) => void
}

/** Over-advert bids remembered (per peer, the advertised price it was scored for). */
const OVER_ADVERT_MAX = 1024

/** A lease made, with its stream opened. */
export interface OpenedLease {
  lease: Lease
  channel: Channel
}

export interface RoundResult {
  leases: OpenedLease[]
  /** Decline reasons heard this round, by worker. */
  declines: Map<string, DeclineReason>
  /** Whether any worker was asked directly. */
  asked: number
  /** The offer's `maxCredits` (what each lease of this round could cap at). */
  offered?: number
}

interface Collected { bid: SignedBid, latencyMs: number, channel?: Channel }

/** One offer in flight: the answers it collects. */
class OpenOffer {
  readonly offer: SignedOffer
  readonly startedAt = Date.now()
  readonly bids = new Map<string, Collected>()
  readonly declines = new Map<string, DeclineReason>()
  /** Each known worker's advertised price when the round began (from its signed capacity record). */
  readonly advertised: Map<string, number>
  wake?: () => void

  constructor (offer: SignedOffer, advertised: Map<string, number>) {
    this.offer = offer
    this.advertised = advertised
  }
}

export class Negotiator {
  private readonly c: NegotiatorComponents
  private readonly open = new Map<string, OpenOffer>()
  /** Peers scored for an over-advert bid, with the advertised price they were scored against. */
  private readonly overAdvert = new Map<string, number>()

  constructor (components: NegotiatorComponents) {
    this.c = components
  }

  /** Routes a bid or decline that arrived on its own stream; false when no open offer matches. */
  routeAnswer (response: NegotiateResponse, from: string): boolean {
    const id = response.t === 'bid' ? response.bid.body.offerId : response.t === 'decline' ? response.decline.body.offerId : undefined
    const open = id != null ? this.open.get(id.toString()) : undefined
    if (open == null) return false
    this.receive(open, response, from)
    return true
  }

  /**
   * Capable peers to offer a lease to directly: the named ones, else known peers with enough
   * memory at an acceptable price, minus `exclude`, those holding the fewest of our leases first.
   */
  async targets (r: Requirements, need: number, exclude: (peer: string) => boolean, leasesWith: (peer: string) => number): Promise<string[]> {
    const self = this.c.signer.peerId
    if (r.peers != null) return r.peers.filter((p) => p !== self && !exclude(p))
    let known = this.c.knownPeers()
    if (known.length === 0) known = await this.c.findPeers({ minMemoryMiB: r.memoryMiB, maxPrice: r.maxPrice, timeoutMs: 2_000 }).catch(() => [])
    return known
      .filter((a) => a.peerId !== self && !exclude(a.peerId) && a.slots > 0 && a.memoryMiB >= r.memoryMiB && a.pricePerGigafuel <= r.maxPrice)
      .sort((a, b) => leasesWith(a.peerId) - leasesWith(b.peerId) || this.c.reliability(b.peerId) - this.c.reliability(a.peerId) || a.pricePerGigafuel - b.pricePerGigafuel ||
        this.c.speed(b.peerId, b.fuelPerSecond) - this.c.speed(a.peerId, a.fuelPerSecond))
      .slice(0, Math.min(DIRECT_OFFER_MAX, need + DIRECT_OFFER_SPARE))
      .map((a) => a.peerId)
  }

  /**
   * One offer round for `need` leases: direct offers to `targets`, gossip when `gossip`, then
   * accepts of the best bids. `budget`: the most the accepted leases' caps may add up to.
   */
  async round (r: Requirements, need: number, targets: string[], gossip: boolean, budget: number, leasesWith: (peer: string) => number, signal: AbortSignal, exclude: (peer: string) => boolean = () => false, capLimit = Number.MAX_SAFE_INTEGER): Promise<RoundResult> {
    const now = Date.now()
    // Never split the budget below one task's cost at the most this class pays: every worker
    // would decline `funds`. Fewer leases, each able to run a task, instead.
    const affordable = Math.floor(budget / Math.max(1, maxTaskCost(r.fuel, r.maxPrice)))
    need = Math.max(1, Math.min(need, affordable))
    const perLease = Math.floor(budget / need)
    const body: OfferBody = {
      v: 1,
      requester: this.c.signer.peerId,
      nonce: randomBytes(16),
      runtime: 'wasi-p1',
      memoryMiB: r.memoryMiB,
      maxTaskMs: r.timeoutMs,
      maxTaskFuel: r.fuel,
      maxPrice: r.maxPrice,
      slots: OFFER_SLOTS,
      maxCredits: Math.min(perLease, capLimit, maxTaskCost(r.fuel, r.maxPrice) * OFFER_SLOTS * LEASE_BUDGET_TASKS_PER_SLOT),
      durationMs: LEASE_DURATION_MS,
      createdAt: now,
      expiresAt: now + OFFER_TTL_MS,
      ...(r.peers != null ? { peers: r.peers } : {})
    }
    const offer = signOffer(this.c.signer, body)
    const id = offerId(body).toString()
    const open = new OpenOffer(offer, new Map(this.c.knownPeers().map((a) => [a.peerId, a.pricePerGigafuel])))
    this.open.set(id, open)
    try {
      if (gossip && r.peers == null) this.c.publishOffer(offer).catch((err) => { log('publishing offer %s failed: %e', id, err) })
      let pending = targets.length
      for (const peer of targets) void this.offerDirect(open, peer, signal).finally(() => { pending--; open.wake?.() })
      const windowEnd = AbortSignal.any([signal, AbortSignal.timeout(BID_WINDOW_MS)])
      // Bids this round can take: a worker this class already has a lease with answers a
      // gossiped offer too (often first), and counting its bid ended rounds before anyone
      // else's arrived, to drop it below: an empty round.
      const usable = (): number => { let n = 0; for (const worker of open.bids.keys()) if (!exclude(worker)) n++; return n }
      // Decided when every direct offeree answered with enough bids, or once the window passed
      // with at least one bid; direct answers still on their way are waited for.
      while (!signal.aborted) {
        if (targets.length > 0 && pending === 0 && (usable() >= need || r.peers != null)) break
        if (windowEnd.aborted && (pending === 0 || (usable() > 0 && r.peers == null))) break
        await this.nextAnswer(open, windowEnd.aborted ? signal : windowEnd)
      }
      // Bids from workers this class already has a lease with (a gossiped offer reaches them too) are not taken.
      for (const [worker, c] of open.bids) {
        if (!exclude(worker)) continue
        open.bids.delete(worker)
        void c.channel?.close()
      }
      const ranked = rankBids([...open.bids.values()].map((c) => ({
        worker: c.bid.body.worker, price: c.bid.body.price, freeSlots: c.bid.body.freeSlots, latencyMs: c.latencyMs,
        reliability: this.c.reliability(c.bid.body.worker), leases: leasesWith(c.bid.body.worker), collected: c
      })))
      const chosen: Collected[] = []
      for (const candidate of ranked) {
        if (chosen.length >= need) break
        try {
          verifyBid(candidate.collected.bid)
          chosen.push(candidate.collected)
        } catch {
          this.c.reportPeer(candidate.worker, 'InvalidSignature')
        }
      }
      for (const c of open.bids.values()) if (!chosen.includes(c)) void c.channel?.close()
      const settled = await Promise.allSettled(chosen.map(async (c) => await this.accept(open, c, signal)))
      const leases = settled.flatMap((s) => s.status === 'fulfilled' ? [s.value] : [])
      for (const s of settled) if (s.status === 'rejected') log('accept failed: %s', (s.reason as Error).message)
      return { leases, declines: open.declines, asked: targets.length, offered: body.maxCredits }
    } finally {
      this.open.delete(id)
    }
  }

  private receive (open: OpenOffer, response: NegotiateResponse, from: string, channel?: Channel): void {
    if (response.t === 'bid') {
      const b = response.bid.body
      if (b.worker !== from || b.requester !== this.c.signer.peerId || !b.offerId.equals(offerId(open.offer.body))) {
        this.c.reportPeer(from, 'MalformedMessage')
        return
      }
      // A worker is targeted (and ranked) by the price its record advertises; a bid above it is
      // refused, so advertising a low price to be asked first and then bidding high wins nothing.
      const advertised = open.advertised.get(from)
      if (advertised != null && b.price > advertised) {
        log('refused the bid of %s at %d: its capacity record advertises %d', from, b.price, advertised)
        // An honest worker that raised its price bids so until its new record reaches this node:
        // scored once per record price (not once per offer round, which cut it off within
        // seconds), and asked for its record again.
        if (this.overAdvert.get(from) !== advertised) {
          this.overAdvert.delete(from)
          this.overAdvert.set(from, advertised)
          if (this.overAdvert.size > OVER_ADVERT_MAX) this.overAdvert.delete(this.overAdvert.keys().next().value as string)
          this.c.reportPeer(from, 'BidOverAdvert')
        }
        this.c.refreshAdvert?.(from)
        void channel?.close()
        return
      }
      if (b.price > open.offer.body.maxPrice || b.slots > open.offer.body.slots || b.expiresAt <= Date.now() || open.bids.has(from)) {
        void channel?.close()
        return
      }
      open.bids.set(from, { bid: response.bid, latencyMs: Date.now() - open.startedAt, channel })
    } else if (response.t === 'decline') {
      const decline: SignedDecline = response.decline
      try {
        if (decline.body.worker !== from || !decline.body.offerId.equals(offerId(open.offer.body))) throw new ProtocolViolationError('decline for another offer or from another peer')
        verifyDecline(decline)
      } catch {
        this.c.reportPeer(from, 'MalformedMessage')
        return
      }
      open.declines.set(from, decline.body.reason)
    }
    open.wake?.()
  }

  private async nextAnswer (open: OpenOffer, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return
    await new Promise<void>((resolve) => {
      const done = (): void => { signal.removeEventListener('abort', done); open.wake = undefined; resolve() }
      open.wake = done
      signal.addEventListener('abort', done, { once: true })
    })
  }

  private async offerDirect (open: OpenOffer, peer: string, signal: AbortSignal): Promise<void> {
    let channel: Channel | undefined
    try {
      channel = await this.c.channels.open(peer, NEGOTIATE_PROTOCOL, { signal, maxFrameBytes: MAX_NEGOTIATE_FRAME_BYTES, idleTimeoutMs: NEGOTIATE_IDLE_TIMEOUT_MS })
      await channel.send({ t: 'offer', offer: open.offer })
      const response = parseNegotiateResponse(await channel.receive({ signal }))
      if (response.t === 'bid') {
        // Kept open: the accept may follow on this stream.
        this.receive(open, response, peer, channel)
        channel = undefined
      } else {
        this.receive(open, response, peer)
      }
    } catch (err) {
      channel?.abort(err as Error)
      channel = undefined
      if (err instanceof InvalidMessageError) this.c.reportPeer(peer, 'MalformedMessage')
      log('direct offer to %s failed: %s', peer, (err as Error).message)
    } finally {
      if (channel != null) void channel.close()
    }
  }

  /** Accepts a bid: signs the lease, gets the worker's countersignature, opens the lease stream. */
  private async accept (open: OpenOffer, collected: Collected, signal: AbortSignal): Promise<OpenedLease> {
    const bid = collected.bid.body
    const worker = bid.worker
    const offer = open.offer.body
    const now = Date.now()
    const body: LeaseBody = {
      v: 1,
      offerId: bid.offerId,
      requester: this.c.signer.peerId,
      worker,
      price: bid.price,
      slots: bid.slots,
      // The offer's cap, not this round's share of the budget: the worker refuses a lease over it
      // (after a `funds` decline the offer asks for less than the share).
      maxCredits: leaseCap(offer.maxCredits, maxTaskCost(offer.maxTaskFuel, bid.price), bid.slots),
      memoryMiB: offer.memoryMiB,
      maxTaskMs: offer.maxTaskMs,
      maxTaskFuel: offer.maxTaskFuel,
      acceptedAt: now,
      expiresAt: now + offer.durationMs
    }
    const requesterSig = signLeaseAsRequester(this.c.signer, body)
    // The lease stream's protocol negotiation overlaps the accept's round trip.
    const stream = this.c.channels.open(worker, LEASE_PROTOCOL, { signal, maxFrameBytes: MAX_LEASE_FRAME_BYTES, idleTimeoutMs: LEASE_IDLE_TIMEOUT_MS })
    stream.catch(() => {})
    try {
      const lease = await this.exchange(worker, body, requesterSig, collected.channel, signal)
      return { lease, channel: await stream }
    } catch (err) {
      stream.then((c) => { c.abort(err as Error) }, () => {})
      throw err
    }
  }

  private async exchange (worker: string, body: LeaseBody, requesterSig: Uint8Array, kept: Channel | undefined, signal: AbortSignal): Promise<Lease> {
    const once = async (channel: Channel): Promise<Lease> => {
      await channel.send({ t: 'accept', accept: { body, requesterSig } })
      const response = parseNegotiateResponse(await channel.receive({ signal }))
      void channel.close()
      if (response.t === 'error') throw new ProtocolViolationError(`${worker} refused the accept: ${response.message}`, response.code)
      if (response.t !== 'lease') throw new ProtocolViolationError(`expected a lease, got ${response.t}`)
      const lease = response.lease
      if (!leaseId(lease.body).equals(leaseId(body))) throw new ProtocolViolationError('the lease differs from the accept')
      verifyLease({ ...lease, requesterSig })
      return { ...lease, requesterSig }
    }
    if (kept != null) {
      try {
        return await once(kept)
      } catch (err) {
        kept.abort(err as Error)
        // A refusal is final; a kept stream that died meanwhile is replaced by a fresh one.
        if (err instanceof ProtocolViolationError || signal.aborted) throw err
      }
    }
    const channel = await this.c.channels.open(worker, NEGOTIATE_PROTOCOL, { signal, maxFrameBytes: MAX_NEGOTIATE_FRAME_BYTES, idleTimeoutMs: NEGOTIATE_IDLE_TIMEOUT_MS })
    try {
      return await once(channel)
    } catch (err) {
      channel.abort(err as Error)
      throw err
    }
  }
}
