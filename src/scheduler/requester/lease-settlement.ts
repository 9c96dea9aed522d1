/**
 * The paying side of one lease on the requester: checks each signed checkpoint against the
 * lease's book (`LeaseAccount`), signs the acknowledgement (what is paid through it, which tasks
 * are refused), and hands the latest checkpoint and acknowledgement to the ledger: every
 * SETTLE_PERIOD_MS while the lease runs, and once more with the final amount when every committed
 * task has its verdict. A later settle of the same lease pays only the difference on the chain.
 */
import { logger } from '@libp2p/logger'
import type { CID } from 'multiformats/cid'
import { signAck, verifyCheckpoint, type Lease, type SignedAck, type SignedCheckpoint } from '../../proofs/lease.ts'
import type { Signer } from '../../proofs/signing.ts'
import { ACCOUNT_COMPACT_AFTER, SETTLE_PERIOD_MS } from '../constants.ts'
import { CheckpointError } from '../errors.ts'
import { MAX_FRAME_ITEMS } from '../lease-frames.ts'
import type { LeaseAccount } from './accounting.ts'

const log = logger('depin:requester:lease')

export type SettleHook = (lease: Lease, checkpoint: SignedCheckpoint, ack: SignedAck) => Promise<void>

export class LeaseSettlement {
  private readonly lease: Lease
  private readonly idText: string
  private readonly account: LeaseAccount
  private readonly signer: Signer
  private readonly settleHook?: SettleHook
  private latest?: { checkpoint: SignedCheckpoint, ack: SignedAck }
  private settledPaid = 0
  private lastSettleAt = Date.now()

  constructor (lease: Lease, idText: string, account: LeaseAccount, signer: Signer, settle?: SettleHook) {
    this.lease = lease
    this.idText = idText
    this.account = account
    this.signer = signer
    this.settleHook = settle
  }

  /** Credits the last acknowledgement pays (cumulative; 0 before the first). */
  get paid (): number { return this.latest?.ack.body.paid ?? 0 }

  /** The count of the last acknowledged checkpoint (0 before the first): later ones list the refusals since. */
  get acknowledgedCount (): number { return this.latest?.checkpoint.body.count ?? 0 }

  /**
   * Checks a checkpoint from the lease's worker against the book. Throws CheckpointError (the
   * worker's fault) for a checkpoint of another signer or lease, a bad signature, or one the
   * book does not match. Acknowledge it next (`acknowledge`).
   */
  check (checkpoint: SignedCheckpoint): void {
    const cp = checkpoint.body
    if (cp.worker !== this.lease.body.worker) throw new CheckpointError(`checkpoint signed for ${cp.worker}`, 'ERR_CHECKPOINT_SIGNATURE')
    if (cp.lease.toString() !== this.idText) throw new CheckpointError('checkpoint for another lease', 'ERR_CHECKPOINT_LEASE')
    try {
      verifyCheckpoint(checkpoint)
    } catch {
      throw new CheckpointError('checkpoint signature does not verify', 'ERR_CHECKPOINT_SIGNATURE')
    }
    this.account.accept(cp)
  }

  /**
   * The `ack` frame of a checked checkpoint (checkpoints are acknowledged in order): it pays the
   * results charged by now, i.e. those whose verdicts are recorded.
   */
  acknowledge (checkpoint: SignedCheckpoint): { t: 'ack', ack: SignedAck, refused: CID[] } {
    const ack = this.ackOf(checkpoint)
    this.latest = { checkpoint, ack: ack.ack }
    // What this acknowledgement settled no later one needs: a long lease's book stays bounded
    // (it kept every result, ~1 KB each: a lease of a million tasks held about 1 GB).
    if (this.account.held > ACCOUNT_COMPACT_AFTER) this.account.compact(this.acknowledgedCount)
    if (Date.now() - this.lastSettleAt > SETTLE_PERIOD_MS) void this.settle()
    return { t: 'ack', ack: ack.ack, refused: ack.refusedTasks }
  }

  /** Once every committed task has its verdict, settles the last checkpoint with the final amount. */
  settleWhenDecided (): void {
    const last = this.latest
    if (last == null || this.account.pendingThrough(last.checkpoint.body.count) > 0) return
    const final = this.ackOf(last.checkpoint).ack
    this.latest = { checkpoint: last.checkpoint, ack: final }
    void this.settle()
  }

  /** The acknowledgement of a checkpoint: what is paid through it, and the tasks refused since the previous one. */
  private ackOf (checkpoint: SignedCheckpoint): { ack: SignedAck, refusedTasks: CID[] } {
    const cp = checkpoint.body
    const since = this.latest?.checkpoint.body.count ?? 0
    const { paid, refused, refusedTasks } = this.account.paidThrough(cp.count, since)
    const ack = signAck(this.signer, { v: 1, lease: cp.lease, requester: this.signer.peerId, seq: cp.seq, count: cp.count, root: cp.root, paid: Math.min(paid, cp.amount), refused })
    return { ack, refusedTasks: refusedTasks.slice(-MAX_FRAME_ITEMS) }
  }

  private async settle (): Promise<void> {
    const latest = this.latest
    if (latest == null || this.settleHook == null || latest.ack.body.paid <= this.settledPaid) return
    this.settledPaid = latest.ack.body.paid
    this.lastSettleAt = Date.now()
    try {
      await this.settleHook(this.lease, latest.checkpoint, latest.ack)
    } catch (err) {
      log('settling lease %s failed: %s', this.idText, (err as Error).message)
    }
  }
}
