/**
 * Submits lease settles, and submits again one the ledger refused for now (its mempool full,
 * this node's pending transactions at their bound, a balance not yet there): a worker is paid
 * only through a settle, and the requester's final acknowledgement is the one that pays
 * everything decided, so one failed submission must not lose it. A newer settle of the same lease
 * replaces a retry still waiting; after the last delay the settle is given up (the worker can
 * still settle with the acknowledgement it holds).
 */
import { logger } from '@libp2p/logger'
import type { Lease, SignedAck, SignedCheckpoint } from '../../proofs/lease.ts'
import type { SettleHook } from './lease-settlement.ts'

const log = logger('depin:requester:settle')

/** Waits before each further attempt, ms (about four minutes in all). */
export const SETTLE_RETRY_DELAYS_MS = [5_000, 15_000, 30_000, 60_000, 120_000]

export class SettleRetries {
  private readonly submit: SettleHook
  private readonly delays: number[]
  private readonly waiting = new Map<string, ReturnType<typeof setTimeout>>()
  private stopped = false

  constructor (submit: SettleHook, delays: number[] = SETTLE_RETRY_DELAYS_MS) {
    this.submit = submit
    this.delays = delays
  }

  /** Retries waiting now (one per lease at most). */
  get pending (): number { return this.waiting.size }

  /** Submits a settle; throws what the first attempt threw (a retry is then scheduled). */
  readonly settle: SettleHook = async (lease, checkpoint, ack) => { await this.attempt(lease, checkpoint, ack, 0) }

  start (): void {
    this.stopped = false
  }

  /** Drops every retry waiting. */
  stop (): void {
    this.stopped = true
    for (const timer of this.waiting.values()) clearTimeout(timer)
    this.waiting.clear()
  }

  private async attempt (lease: Lease, checkpoint: SignedCheckpoint, ack: SignedAck, n: number): Promise<void> {
    const id = ack.body.lease.toString()
    clearTimeout(this.waiting.get(id))
    this.waiting.delete(id)
    try {
      await this.submit(lease, checkpoint, ack)
    } catch (err) {
      if (this.stopped || n >= this.delays.length) throw err
      const timer = setTimeout(() => {
        if (this.waiting.get(id) !== timer) return
        this.waiting.delete(id)
        this.attempt(lease, checkpoint, ack, n + 1).catch((e: Error) => { log('settling lease %s failed again: %s', id, e.message) })
      }, this.delays[n])
      timer.unref?.()
      this.waiting.set(id, timer)
      throw err
    }
  }
}
