/**
 * A worker's decisions about lease offers and accepts, as pure functions of what it knows: its
 * capacity, its load, the clock. The worker service adds the one asynchronous check (can the
 * requester pay the lease's cap) and signs what these decide.
 */
import type { LeaseBody } from '../../proofs/lease.ts'
import type { Capacity } from '../../shared/capacity.ts'
import { BID_TTL_MS, MAX_WORKER_LEASES, WORKER_QUEUE_MIN_MS, WORKER_QUEUE_PER_SLOT } from '../constants.ts'
import { ProtocolViolationError, type DeclineReason } from '../errors.ts'
import type { BidBody, OfferBody } from '../messages.ts'
import { leaseCap, maxTaskCost } from '../task.ts'

/** Clock skew tolerated on times a peer states. */
export const MAX_SKEW_MS = 5 * 60 * 1000

export interface OfferContext {
  /** This node's peer id. */
  self: string
  capacity: Capacity
  now: number
  /** Leases this node serves now. */
  leases: number
  /** Tasks waiting here for a slot. */
  queued: number
  /**
   * How long those would keep each slot busy at the recent average run time, ms (absent: not
   * known yet, no run has finished).
   */
  queuedMs?: number
}

/**
 * Whether to bid: undefined to bid, a decline reason, or `silent` for an offer this node does not
 * answer at all (its own). An offer that names other peers is declined `not-targeted` (the
 * caller answers that on a direct offer only; a gossiped one gets silence).
 */
export function judgeOffer (offer: OfferBody, ctx: OfferContext): DeclineReason | 'silent' | undefined {
  const c = ctx.capacity
  if (offer.requester === ctx.self) return 'silent'
  if (offer.peers != null && !offer.peers.includes(ctx.self)) return 'not-targeted'
  if (offer.expiresAt <= ctx.now) return 'expired'
  if (!c.runtimes.includes(offer.runtime)) return 'runtime'
  if (offer.memoryMiB > c.memoryMiB) return 'memory'
  if (c.pricePerGigafuel > offer.maxPrice) return 'price'
  // A cap that does not cover one task at our price: the requester cannot afford a lease here.
  if (maxTaskCost(offer.maxTaskFuel, c.pricePerGigafuel) > offer.maxCredits) return 'funds'
  if (c.slots === 0 || ctx.leases >= MAX_WORKER_LEASES) return 'busy'
  // A deep queue of short tasks (a lease keeps up to 32 per slot of those) is a few ms of work, not a reason to turn requesters away.
  if (ctx.queued >= c.slots * WORKER_QUEUE_PER_SLOT && (ctx.queuedMs == null || ctx.queuedMs >= WORKER_QUEUE_MIN_MS)) return 'busy'
  return undefined
}

/** The terms of a bid on an offer this node takes. */
export function bidTerms (offer: OfferBody, capacity: Capacity, running: number, now: number): Pick<BidBody, 'price' | 'slots' | 'freeSlots' | 'expiresAt'> {
  return {
    price: capacity.pricePerGigafuel,
    slots: Math.max(1, Math.min(offer.slots, capacity.slots)),
    freeSlots: Math.max(0, Math.min(4096, capacity.slots - running)),
    expiresAt: Math.min(now + BID_TTL_MS, offer.expiresAt)
  }
}

/**
 * The cap a lease from this offer will have at the worker's terms, as requesters choose it
 * (`leaseCap` with the offer's maxCredits as the ceiling). The requester's funds are checked
 * against this when the worker bids: an offer's maxCredits is a ceiling priced at its maxPrice
 * and can be the requester's whole balance, which a worker whose view of the chain lags a block
 * behind would refuse although the lease itself is affordable. The accept is checked again with
 * the cap it carries.
 */
export function expectedLeaseCap (offer: OfferBody, terms: Pick<BidBody, 'price' | 'slots'>): number {
  return leaseCap(offer.maxCredits, maxTaskCost(offer.maxTaskFuel, terms.price), terms.slots)
}

/** Throws `ProtocolViolationError` unless an accept's lease body matches the offer and the bid. */
export function checkAccept (body: LeaseBody, offer: OfferBody, bid: BidBody, now: number): void {
  // A lease answers its own requester's offer (the bid was made to that requester).
  if (body.requester !== offer.requester) throw new ProtocolViolationError('accept by another requester than the offer\'s')
  if (body.price !== bid.price) throw new ProtocolViolationError(`accept at price ${body.price}, the bid was ${bid.price}`)
  if (body.slots > bid.slots) throw new ProtocolViolationError(`accept for ${body.slots} slots, the bid granted ${bid.slots}`)
  if (body.memoryMiB !== offer.memoryMiB || body.maxTaskMs !== offer.maxTaskMs || body.maxTaskFuel !== offer.maxTaskFuel) throw new ProtocolViolationError('accept with other task limits than the offer')
  if (body.maxCredits > offer.maxCredits) throw new ProtocolViolationError(`accept with a cap of ${body.maxCredits}, over the offer's ${offer.maxCredits}`)
  if (body.maxCredits < maxTaskCost(body.maxTaskFuel, body.price)) throw new ProtocolViolationError('accept with a cap below the cost of one task')
  if (Math.abs(body.acceptedAt - now) > MAX_SKEW_MS) throw new ProtocolViolationError('accept with a time far from ours')
  if (body.expiresAt <= now) throw new ProtocolViolationError('accept of a lease that has already expired')
  if (body.expiresAt > body.acceptedAt + offer.durationMs) throw new ProtocolViolationError('accept of a lease longer than offered')
}
