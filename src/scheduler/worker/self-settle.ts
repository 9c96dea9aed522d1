/**
 * A worker settling its leases itself. The requester settles a lease when it ends; if the chain
 * (with its mempool) has not paid a lease what its best acknowledgement says a while after the
 * lease ended, the worker submits that settle itself, and tries again later while its ledger
 * refuses it for now. With a journal (a data dir) this outlives the process: every lease served
 * is journaled from its start and with each better acknowledgement, so a worker that went down
 * (killed, crashed, cut from power, or stopped before its settle was due) settles at its next
 * start what the requester acknowledged, and records the leases it was serving when it went down.
 */
import { logger } from '@libp2p/logger'
import { leaseId, verifyLease, type Lease, type SignedAck, type SignedCheckpoint } from '../../proofs/lease.ts'
import { WORKER_SETTLE_DELAYS_MS } from '../constants.ts'
import type { JobStore, LeaseRecord } from '../job-store.ts'
import type { JournalEntry, LeaseJournal } from './lease-journal.ts'

const log = logger('depin:worker:settle')

/** The `reason` of a lease whose worker went down while serving it (its record is rebuilt from the journal at the next start). */
export const LEASE_INTERRUPTED = 'ERR_INTERRUPTED'

export type Best = { checkpoint: SignedCheckpoint, ack: SignedAck }

export interface SelfSettleComponents {
  records: JobStore
  /** Submits a settle; absent: this worker never settles itself. */
  settle?: (lease: Lease, checkpoint: SignedCheckpoint, ack: SignedAck) => Promise<void>
  /** Credits the chain (and pending settles) already pay under a lease. */
  settled?: (leaseId: string) => Promise<number>
  /** Where leases are journaled; absent: nothing outlives the process. */
  journal?: LeaseJournal
  /** When to check a lease, ms after it ended (or after the start that found it), one per attempt. */
  delaysMs?: number[]
}

export class SelfSettle {
  private readonly c: SelfSettleComponents
  private readonly timers = new Set<ReturnType<typeof setTimeout>>()
  /** The best acknowledgement of each lease whose checks are scheduled (a lease tail may bring a better one). */
  private readonly bests = new Map<string, { best: Best }>()
  private stopped = true

  constructor (components: SelfSettleComponents) {
    this.c = components
  }

  start (): void {
    this.stopped = false
  }

  /** Drops the checks waiting (journaled leases are checked again at the next start). */
  stop (): void {
    this.stopped = true
    for (const timer of this.timers) clearTimeout(timer)
    this.timers.clear()
    this.bests.clear()
  }

  /** A lease's stream opened: journaled, so a worker that goes down now still records it. */
  opened (id: string, lease: Lease, startedAt: number): void {
    this.write(id, { lease, startedAt, at: Date.now() })
  }

  /** A better acknowledgement arrived. */
  acknowledged (id: string, lease: Lease, startedAt: number, best: Best): void {
    this.write(id, { lease, startedAt, at: Date.now(), best })
  }

  /** The lease ended and was recorded: check later that the chain pays what it should. */
  ended (id: string, lease: Lease, best: Best | undefined, record: LeaseRecord): void {
    if (best == null || this.c.settle == null) {
      this.c.journal?.delete(id).catch((err) => { log.error('dropping lease %s from the journal failed: %e', id, err) })
      return
    }
    this.write(id, { lease, startedAt: record.startedAt, at: Date.now(), best, record })
    const state = { best }
    this.bests.set(id, state)
    this.schedule(id, lease, state, record, 0)
  }

  /**
   * A better acknowledgement of a lease that has ended (its tail, acknowledged after its stream
   * died): journaled, recorded (`paid`), and the one the checks settle with from now on.
   */
  tailAcknowledged (id: string, lease: Lease, best: Best, record: LeaseRecord): void {
    // (what it acknowledged counts even when it pays nothing yet: its verdicts may be undecided)
    const paid = best.ack.body.paid > record.paid
    const acknowledged = record.acknowledged != null && best.ack.body.count > record.acknowledged
    if (paid) record.paid = best.ack.body.paid
    if (acknowledged) record.acknowledged = best.ack.body.count
    if (paid || acknowledged) this.c.records.putLease(record).catch((err) => { log.error('recording lease %s failed: %e', id, err) })
    const state = this.bests.get(id)
    if (state == null) return this.ended(id, lease, best, record)
    if (best.ack.body.paid < state.best.ack.body.paid) return
    state.best = best
    this.write(id, { lease, startedAt: record.startedAt, at: Date.now(), best, record })
  }

  /**
   * At start: the journaled leases of earlier runs. One without its record was being served when
   * the node went down: its record is written now (reason ERR_INTERRUPTED, what was acknowledged
   * by then). Each with an acknowledgement is checked, and settled if the chain has not paid it.
   * Returns the records written for leases that were being served.
   */
  async recover (): Promise<LeaseRecord[]> {
    const journal = this.c.journal
    const interrupted: LeaseRecord[] = []
    if (journal == null) return interrupted
    const entries: JournalEntry[] = []
    for await (const entry of journal.all((err) => { log.error('skipping an unreadable journal entry: %e', err) })) entries.push(entry)
    if (entries.length === 0) return interrupted
    // Records a stop wrote while the journal's last write did not land.
    const stored = new Map<string, LeaseRecord>()
    if (entries.some((e) => e.record == null)) for await (const r of this.c.records.allLeases()) stored.set(r.leaseId, r)
    for (const entry of entries) {
      const id = leaseId(entry.lease.body).toString()
      let record = entry.record ?? stored.get(id)
      if (record == null) {
        const ack = entry.best?.ack.body
        const checkpoint = entry.best?.checkpoint.body
        record = { leaseId: id, requester: entry.lease.body.requester, startedAt: entry.startedAt, endedAt: entry.at, tasks: ack?.count ?? 0, refused: ack?.refused ?? 0, fuel: (checkpoint?.fuel ?? 0n).toString(), amount: checkpoint?.amount ?? 0, paid: ack?.paid ?? 0, reason: LEASE_INTERRUPTED }
        // (a record that cannot be written now does not stop the start: the settle goes on)
        await this.c.records.putLease(record).catch((err) => { log.error('recording lease %s failed: %e', id, err) })
        log('lease %s of %s was being served when this node went down: recorded', id, record.requester)
        interrupted.push(record)
      }
      this.ended(id, entry.lease, entry.best, record)
    }
    return interrupted
  }

  private write (id: string, entry: JournalEntry): void {
    this.c.journal?.put(id, entry).catch((err) => { log.error('journaling lease %s failed: %e', id, err) })
  }

  private schedule (id: string, lease: Lease, state: { best: Best }, record: LeaseRecord, attempt: number): void {
    const delays = this.c.delaysMs ?? WORKER_SETTLE_DELAYS_MS
    if (this.stopped) return
    if (attempt >= delays.length) {
      log('giving up settling lease %s', id)
      if (this.bests.get(id) === state) this.bests.delete(id)
      this.c.journal?.delete(id).catch(() => {})
      return
    }
    const wait = delays[attempt] - (attempt > 0 ? delays[attempt - 1] : 0)
    const timer = setTimeout(() => {
      this.timers.delete(timer)
      void this.check(id, lease, state.best, record).then((paid) => {
        if (!paid) return this.schedule(id, lease, state, record, attempt + 1)
        if (this.bests.get(id) === state) this.bests.delete(id)
        this.c.journal?.delete(id).catch(() => {})
      })
    }, Math.max(0, wait))
    timer.unref?.()
    this.timers.add(timer)
  }

  /**
   * Settles unless the chain (with pending settles) already pays as much; true once it does. A
   * settle submitted here is checked again at the next delay (it may not have left this node).
   * When the chain pays more than the best acknowledgement this worker received (the requester's
   * final acknowledgement, signed once every task had its verdict, went only to the chain because
   * the lease's last checkpoint was acknowledged before the verdicts), the lease's record says so.
   */
  private async check (id: string, lease: Lease, best: Best, record: LeaseRecord): Promise<boolean> {
    try {
      const onChain = this.c.settled == null ? 0 : await this.c.settled(id)
      if (onChain > record.paid) {
        record.paid = onChain
        await this.c.records.putLease(record)
      }
      if (onChain >= best.ack.body.paid) return true
      if (this.stopped) return false
      verifyLease(lease)
      await this.c.settle?.(lease, best.checkpoint, best.ack)
      log('settled lease %s myself (%d credits)', id, best.ack.body.paid)
      return this.c.settled == null
    } catch (err) {
      log('settling lease %s myself failed: %s', id, (err as Error).message)
      return false
    }
  }
}
