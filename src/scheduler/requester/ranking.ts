/**
 * The requester's choices as pure functions: which bids to accept, which lease a task goes on,
 * how many tasks a lease holds. Inputs are plain numbers so tests can call them with made-up values.
 */
import type { LeaseBody } from '../../proofs/lease.ts'
import { LEASE_MIN_WINDOW_PER_SLOT, LEASE_PIPELINE_MS, LEASE_WINDOW_PER_SLOT, TASK_RUN_GRACE_MS } from '../constants.ts'
import { leaseFuelCap, type Requirements } from '../task.ts'

export interface BidCandidate {
  worker: string
  /** Credits per gigafuel (10^9 fuel). */
  price: number
  /** Tasks the worker could start at once when it bid. */
  freeSlots: number
  /** How long its answer took. */
  latencyMs: number
  /** Observed reliability in (0, 1). */
  reliability: number
  /** Leases this requester already holds with the worker. */
  leases: number
}

function compare (a: number[], b: number[]): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] - b[i]
  return 0
}

/**
 * Bids best first: a worker we hold no lease with (spreading work and replicas), one that can
 * start now, the lower price, the better observed reliability, the quicker answer.
 */
export function rankBids<T extends BidCandidate> (bids: T[]): T[] {
  const key = (b: T): number[] => [Math.min(b.leases, 1), b.freeSlots > 0 ? 0 : 1, b.price, -b.reliability, b.latencyMs]
  return [...bids].sort((a, b) => compare(key(a), key(b)))
}

export interface LeaseCandidate {
  worker: string
  price: number
  /** Tasks sent on the lease and not answered yet, and how many it may hold. */
  outstanding: number
  window: number
  reliability: number
}

/** The lease a task goes on: the least loaded for its size, then the cheapest, then the most reliable. */
export function pickLease<T extends LeaseCandidate> (leases: T[]): T | undefined {
  let best: { lease: T, key: number[] } | undefined
  for (const lease of leases) {
    if (lease.outstanding >= lease.window) continue
    const key = [lease.outstanding / lease.window, lease.price, -lease.reliability]
    if (best == null || compare(key, best.key) < 0) best = { lease, key }
  }
  return best?.lease
}

/**
 * How many more leases a queue of tasks wants: enough windows for the queued tasks, at least as
 * many distinct workers as the widest replica count still unplaced, within the caps.
 */
export function leasesWanted (input: { queued: number, window: number, usable: number, opening: number, distinctWorkersNeeded: number, max: number }): number {
  if (input.queued === 0) return 0
  const forVolume = Math.ceil(input.queued / Math.max(1, input.window))
  const forReplicas = input.distinctWorkersNeeded - input.usable
  const want = Math.max(forReplicas, forVolume - input.usable, input.usable === 0 ? 1 : 0) - input.opening
  return Math.max(0, Math.min(want, input.max - input.usable - input.opening))
}

/**
 * How many tasks a requester keeps outstanding on a lease: `LEASE_MIN_WINDOW_PER_SLOT` per slot
 * until it knows how long the lease's tasks take (`runMs`, a moving average), then enough for
 * about `LEASE_PIPELINE_MS` of work per slot, at most what the worker accepts
 * (`LEASE_WINDOW_PER_SLOT`). Short tasks then travel many to a frame, and long ones do not pile
 * up on one worker while others could take them.
 */
export function leaseWindow (slots: number, runMs: number | undefined): number {
  if (runMs == null) return slots * LEASE_MIN_WINDOW_PER_SLOT
  const perSlot = Math.ceil(LEASE_PIPELINE_MS / Math.max(runMs, 0.1))
  return slots * Math.min(LEASE_WINDOW_PER_SLOT, Math.max(LEASE_MIN_WINDOW_PER_SLOT, perSlot))
}

/**
 * Whether a task fits a lease's terms, time and remaining budget: `committedFuel` is the fuel of
 * every result returned on the lease plus every task outstanding at its limit (the worker checks
 * the same before it takes a task). `fuelCap` is `leaseFuelCap(terms)`, passed by a caller that
 * asks for every task placed (the same answer without BigInt division each time).
 */
export function taskFitsLease (terms: LeaseBody, r: Requirements, committedFuel: bigint, now: number, fuelCap = leaseFuelCap(terms)): boolean {
  if (r.memoryMiB > terms.memoryMiB || r.timeoutMs > terms.maxTaskMs || r.fuel > terms.maxTaskFuel || terms.price > r.maxPrice) return false
  if (r.peers != null && !r.peers.includes(terms.worker)) return false
  if (now + r.timeoutMs + TASK_RUN_GRACE_MS > terms.expiresAt) return false
  return committedFuel + r.fuel <= fuelCap
}


/** Whether a lease's remaining budget or time cannot fit a task of its full size any more. */
export function leaseExhausted (terms: LeaseBody, returnedFuel: bigint, now: number): boolean {
  return returnedFuel + terms.maxTaskFuel > leaseFuelCap(terms) || now + terms.maxTaskMs > terms.expiresAt
}
