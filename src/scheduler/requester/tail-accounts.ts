/**
 * The requester's lease tails: leases whose stream died (a lost connection, a NAT timeout; not a
 * lease this node ended itself, nor one its worker broke) with results received after the last
 * checkpoint it acknowledged. Their worker may come back on `/depin/lease-tail/1.0.0` to have
 * that tail acknowledged (tail-server.ts), so each lease's account is kept here for a bounded
 * time, a bounded number of leases and a bounded number of bytes (the oldest dropped first; the
 * bytes are estimated, ~1 KB per result an account still holds: see LeaseAccount.compact).
 * Memory only: a requester that restarts has none, and a tail kept here is gone at `stop()`.
 */
import { logger } from '@libp2p/logger'
import type { SignedAck, SignedCheckpoint } from '../../proofs/lease.ts'
import { TAIL_RETAIN_BYTES, TAIL_RETAIN_MAX, TAIL_RETAIN_MS } from '../constants.ts'

const log = logger('depin:requester:tail')

/** What the requester received on a lease: the checkpoint its worker is to sign. */
export interface TailPoint {
  /** The `seq` the checkpoint must carry (the one after the last accepted). */
  seq: number
  /** Results received, and the head of their chain. */
  count: number
  root: Uint8Array
  /** Credits the lease's last acknowledgement paid (what a tail's acknowledgement adds to). */
  paid: number
}

/** A lease's account, as the tail exchange needs it (LeaseClient). */
export interface TailPayer {
  readonly worker: string
  /** About how many bytes keeping the account costs (fixed once the lease has ended). */
  readonly retainedBytes: number
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
  /** `payer.retainedBytes` when it was kept. */
  bytes: number
  /** An exchange of this lease is under way. */
  busy: boolean
}

export interface TailAccountsInit {
  /** @default TAIL_RETAIN_MS */
  retainMs?: number
  /** @default TAIL_RETAIN_MAX */
  max?: number
  /** @default TAIL_RETAIN_BYTES */
  maxBytes?: number
  /** The clock (tests). @default Date.now */
  now?: () => number
}

export class TailAccounts {
  private readonly retainMs: number
  private readonly max: number
  private readonly maxBytes: number
  private total = 0
  private readonly now: () => number
  /** In insertion order: the first is the oldest. */
  private readonly entries = new Map<string, TailEntry>()

  constructor (init: TailAccountsInit = {}) {
    this.retainMs = init.retainMs ?? TAIL_RETAIN_MS
    this.max = init.max ?? TAIL_RETAIN_MAX
    this.maxBytes = init.maxBytes ?? TAIL_RETAIN_BYTES
    this.now = init.now ?? Date.now
  }

  get size (): number { return this.entries.size }

  /** The estimated bytes of the accounts kept. */
  get bytes (): number { return this.total }

  /**
   * Keeps a lease's account (replacing one kept under that id); the oldest go past the bounds.
   * False when the account alone is over the byte bound: it is not kept (its worker's claim is
   * answered ERR_UNKNOWN_LEASE, and its self-settle pays what was acknowledged on the stream).
   */
  keep (leaseId: string, payer: TailPayer): boolean {
    this.prune()
    this.drop(leaseId)
    const bytes = payer.retainedBytes
    if (!(bytes <= this.maxBytes)) {
      log('the account of lease %s (about %d bytes) is over the bound of %d: its tail is not kept', leaseId, bytes, this.maxBytes)
      return false
    }
    this.entries.set(leaseId, { payer, expiresAt: this.now() + this.retainMs, busy: false, bytes })
    this.total += bytes
    while (this.entries.size > this.max || this.total > this.maxBytes) this.drop(this.entries.keys().next().value as string)
    return true
  }

  /** The account kept for a lease, unless it expired. */
  get (leaseId: string): TailEntry | undefined {
    this.prune()
    return this.entries.get(leaseId)
  }

  /** Forgets a lease (its worker broke the exchange). */
  drop (leaseId: string): void {
    const entry = this.entries.get(leaseId)
    if (entry == null) return
    this.entries.delete(leaseId)
    this.total -= entry.bytes
  }

  /** Forgets every lease. */
  stop (): void {
    this.entries.clear()
    this.total = 0
  }

  /** Expired entries are the oldest (one retention time for all): drop from the front. */
  private prune (): void {
    const now = this.now()
    for (const [id, entry] of this.entries) {
      if (entry.expiresAt > now) break
      this.drop(id)
    }
  }
}
