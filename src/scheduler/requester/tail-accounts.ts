/**
 * The requester's lease tails: leases whose stream died (a lost connection, a NAT timeout; not a
 * lease this node ended itself, nor one its worker broke) with results received after the last
 * checkpoint it acknowledged. Their worker may come back on `/depin/lease-tail/1.0.0` to have
 * that tail acknowledged (tail-server.ts), so each lease's account is kept here for a bounded
 * time and a bounded number of leases (the oldest dropped first). Memory only: a requester that
 * restarts has none, and a tail kept here is gone at `stop()`.
 */
import type { SignedAck, SignedCheckpoint } from '../../proofs/lease.ts'
import { TAIL_RETAIN_MAX, TAIL_RETAIN_MS } from '../constants.ts'

/** What the requester received on a lease: the checkpoint its worker is to sign. */
export interface TailPoint {
  /** The `seq` the checkpoint must carry (the one after the last accepted). */
  seq: number
  /** Results received, and the head of their chain. */
  count: number
  root: Uint8Array
}

/** A lease's account, as the tail exchange needs it (LeaseClient). */
export interface TailPayer {
  readonly worker: string
  /** What was received (at most one exchange of a lease at a time). */
  tailPoint: () => TailPoint
  /**
   * Checks a tail checkpoint as an in-stream one (and that it is at `count`) and resolves with
   * its acknowledgement once the paid results it covers are recorded. Throws CheckpointError.
   */
  settleTail: (checkpoint: SignedCheckpoint, count: number) => Promise<SignedAck>
}

export interface TailEntry {
  payer: TailPayer
  expiresAt: number
  /** An exchange of this lease is under way. */
  busy: boolean
}

export interface TailAccountsInit {
  /** @default TAIL_RETAIN_MS */
  retainMs?: number
  /** @default TAIL_RETAIN_MAX */
  max?: number
  /** The clock (tests). @default Date.now */
  now?: () => number
}

export class TailAccounts {
  private readonly retainMs: number
  private readonly max: number
  private readonly now: () => number
  /** In insertion order: the first is the oldest. */
  private readonly entries = new Map<string, TailEntry>()

  constructor (init: TailAccountsInit = {}) {
    this.retainMs = init.retainMs ?? TAIL_RETAIN_MS
    this.max = init.max ?? TAIL_RETAIN_MAX
    this.now = init.now ?? Date.now
  }

  get size (): number { return this.entries.size }

  /** Keeps a lease's account (replacing one kept under that id); the oldest goes past the bound. */
  keep (leaseId: string, payer: TailPayer): void {
    this.prune()
    this.entries.delete(leaseId)
    this.entries.set(leaseId, { payer, expiresAt: this.now() + this.retainMs, busy: false })
    while (this.entries.size > this.max) this.entries.delete(this.entries.keys().next().value as string)
  }

  /** The account kept for a lease, unless it expired. */
  get (leaseId: string): TailEntry | undefined {
    this.prune()
    return this.entries.get(leaseId)
  }

  /** Forgets a lease (its worker broke the exchange). */
  drop (leaseId: string): void {
    this.entries.delete(leaseId)
  }

  /** Forgets every lease. */
  stop (): void {
    this.entries.clear()
  }

  /** Expired entries are the oldest (one retention time for all): drop from the front. */
  private prune (): void {
    const now = this.now()
    for (const [id, entry] of this.entries) {
      if (entry.expiresAt > now) break
      this.entries.delete(id)
    }
  }
}
