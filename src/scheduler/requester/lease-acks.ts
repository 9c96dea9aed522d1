/**
 * Write before you answer, for one lease: a result is charged only once the record of its
 * task's verdict is written, and an acknowledgement waits, in order, for the record writes under
 * way when its checkpoint arrived, so that it pays them (a requester that goes down before never
 * pays for a task it will run again at its next start). The same wait serves a checkpoint on the
 * lease stream and one of a lease tail (tail-server.ts). Kept apart from lease-client.ts, which
 * reads the stream.
 */
import { CheckpointError } from '../errors.ts'
import type { Lease, SignedAck, SignedCheckpoint } from '../../proofs/lease.ts'
import type { LeaseAccount } from './accounting.ts'
import type { LeaseSettlement } from './lease-settlement.ts'

export class LeaseAcks {
  private readonly lease: Lease
  private readonly account: LeaseAccount
  private readonly settlement: LeaseSettlement
  /** Whether the lease has ended (then every decision may complete its final settle). */
  private readonly closed: () => boolean
  /** Paid results waiting for the record of their verdict, by the promise of its write: their positions in the account. */
  private readonly recording = new Map<Promise<boolean>, number[]>()
  /** The acknowledgement waiting for records, if any (later ones follow it). */
  private acking?: Promise<void>

  constructor (lease: Lease, account: LeaseAccount, settlement: LeaseSettlement, closed: () => boolean) {
    this.lease = lease
    this.account = account
    this.settlement = settlement
    this.closed = closed
  }

  /** Settles once no acknowledgement waits for records. */
  get waiting (): Promise<void> {
    return this.acking?.catch(() => {}) ?? Promise.resolve()
  }

  /**
   * Whether a task's result on this lease is paid for (called once the task has its verdict).
   * `recorded`: the promise of the verdict's record (true once written). A paid result is
   * acknowledged as paid only once it is recorded. (One promise per record write, shared by the
   * tasks it holds: one wait per write, not per task.)
   */
  decide (task: string, charged: boolean, recorded?: Promise<boolean>): void {
    if (!charged || recorded == null) {
      this.account.decide(task, charged)
      if (this.closed()) this.settlement.settleWhenDecided()
      return
    }
    const positions = this.account.charging(task)
    const waiting = this.recording.get(recorded)
    if (waiting != null) {
      for (const p of positions) waiting.push(p)
      return
    }
    this.recording.set(recorded, positions)
    recorded.catch(() => false).then((written) => {
      const held = this.recording.get(recorded) ?? []
      this.recording.delete(recorded)
      this.account.recorded(held, written)
      if (this.closed()) this.settlement.settleWhenDecided()
    }, () => {})
  }

  /**
   * Runs `then` once the record writes under way now complete, after earlier acknowledgements:
   * at once when none waits, else after about FLUSH_MS of a batch's results.
   */
  afterRecords (then: () => void): void {
    if (this.recording.size === 0 && this.acking == null) return then()
    const writes = [...this.recording.keys()]
    const acking: Promise<void> = (this.acking ?? Promise.resolve())
      .then(async () => { await Promise.allSettled(writes) })
      .then(then)
      .finally(() => { if (this.acking === acking) this.acking = undefined })
    this.acking = acking
  }

  /**
   * A lease tail's checkpoint (the lease has ended): checked as one on the stream, and for
   * exactly the `count` results received and within the lease's cap; acknowledged once the paid
   * results it covers are recorded, then settled like the lease's last checkpoint (at once when
   * every result has its verdict). Throws CheckpointError.
   */
  async settleTail (checkpoint: SignedCheckpoint, count: number): Promise<SignedAck> {
    const cp = checkpoint.body
    if (cp.count !== count) throw new CheckpointError(`tail checkpoint for ${cp.count} results, ${count} were received`, 'ERR_CHECKPOINT_COUNT')
    if (cp.amount > this.lease.body.maxCredits) throw new CheckpointError(`tail checkpoint claims ${cp.amount} credits, over the lease's cap of ${this.lease.body.maxCredits}`, 'ERR_CHECKPOINT_CAP')
    this.settlement.check(checkpoint)
    const acked = Promise.withResolvers<SignedAck>()
    this.afterRecords(() => {
      try {
        acked.resolve(this.settlement.acknowledge(checkpoint).ack)
        this.settlement.settleWhenDecided()
      } catch (err) {
        acked.reject(err)
      }
    })
    return await acked.promise
  }
}
