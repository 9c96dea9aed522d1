/**
 * The worker's book of one lease: the hash chain over every result it returned (the commitment
 * its checkpoints sign), the checkpoints it sent and which of them the requester acknowledged,
 * and the best acknowledgement (the one it settles with). A checkpoint is due every
 * CHECKPOINT_EVERY_RESULTS results or CHECKPOINT_EVERY_MS after the first uncommitted one.
 */
import { ResultChain, sameBytes } from '../../proofs/commitment.ts'
import { leaseId, signCheckpoint, verifyAck, type Lease, type SignedAck, type SignedCheckpoint } from '../../proofs/lease.ts'
import type { Signer } from '../../proofs/signing.ts'
import { CHECKPOINT_EVERY_MS, CHECKPOINT_EVERY_RESULTS, TAIL_POINTS_MAX } from '../constants.ts'
import { AckRejectedError, TailError } from '../errors.ts'
import type { ResultFrame } from '../lease-frames.ts'
import { creditsFor } from '../task.ts'

export class WorkerCheckpoints {
  private readonly lease: Lease
  private readonly idText: string
  private readonly signer: Signer
  private readonly chain = new ResultChain()
  private fuelTotal = 0n
  private readonly sent = new Map<number, SignedCheckpoint>()
  /** Checkpoints waiting for their acknowledgement; `at`: when the frame left (undefined: still queued). */
  private readonly unacked: Array<{ seq: number, at?: number }> = []
  private last = { seq: 0, count: 0 }
  private firstUncommittedAt = 0
  private bestAck?: SignedAck
  /** The checkpoint acknowledged with the most results (a lease tail starts after it). */
  private acked = { seq: 0, count: 0 }
  /**
   * Chain states after each result since that checkpoint, oldest first: a tail checkpoint is
   * signed at the count the requester received (at most TAIL_POINTS_MAX: the oldest go first).
   */
  private points: Array<{ count: number, root: Uint8Array, fuel: bigint }> = []

  constructor (lease: Lease, idText: string, signer: Signer) {
    this.lease = lease
    this.idText = idText
    this.signer = signer
  }

  /** Results committed to. */
  get count (): number { return this.chain.count }
  /** Fuel of those results. */
  get fuel (): bigint { return this.fuelTotal }
  /** Credits claimed for them. */
  get amount (): number { return creditsFor(this.lease.body.price, this.fuelTotal) }
  /** Credits the best acknowledgement pays. */
  get paid (): number { return this.bestAck?.body.paid ?? 0 }
  /** Results the acknowledgements received cover. */
  get acknowledged (): number { return this.acked.count }
  /** Every checkpoint sent has its acknowledgement. */
  get allAcked (): boolean { return this.unacked.length === 0 }
  /** Results went out after the last acknowledged checkpoint (a lease tail). */
  get hasTail (): boolean { return this.chain.count > this.acked.count }

  /**
   * How long the oldest unacknowledged checkpoint has waited since it left (0: none waits, or it
   * has not left yet: output ahead of it on a slow stream is not the requester's delay).
   */
  oldestUnackedMs (now: number): number {
    const at = this.unacked[0]?.at
    return at == null ? 0 : now - at
  }

  /** Checkpoint `seq` left at `at` (the stream took it): its acknowledgement is due from then. */
  sentAt (seq: number, at: number): void {
    const entry = this.unacked.find((u) => u.seq === seq)
    if (entry != null) entry.at = at
  }

  /** Adds a result to the chain, in the order results are sent. */
  commit (frame: ResultFrame): void {
    if (this.chain.count === this.last.count) this.firstUncommittedAt = Date.now()
    this.chain.add({ task: frame.task, out: frame.out, exit: frame.exit, fuel: frame.fuel, ...(frame.files != null ? { files: frame.files } : {}) })
    this.fuelTotal += frame.fuel
    this.points.push({ count: this.chain.count, root: this.chain.root, fuel: this.fuelTotal })
    // (halved rather than shifted one by one: amortised O(1) per result)
    if (this.points.length > TAIL_POINTS_MAX) this.points = this.points.slice(-TAIL_POINTS_MAX / 2)
  }

  /**
   * A checkpoint of a lease tail (the lease has ended, its stream died): at the `count` results
   * its requester received, whose chain head it says is `root`, with the `seq` it expects. Throws
   * TailError (ERR_TAIL_MISMATCH, final) when this worker's chain has another root at that count,
   * no longer holds it, or `seq`/`count` are not past the last acknowledged checkpoint.
   */
  tailCheckpoint (seq: number, count: number, root: Uint8Array): SignedCheckpoint {
    if (seq <= this.acked.seq || count <= this.acked.count || count > this.chain.count) {
      throw new TailError(`the requester asks for checkpoint ${seq} at ${count} results; this worker's chain has ${this.chain.count}, acknowledged ${this.acked.count} through checkpoint ${this.acked.seq}`, 'ERR_TAIL_MISMATCH', true)
    }
    const point = this.points.find((p) => p.count === count)
    if (point == null || !sameBytes(point.root, root)) throw new TailError(`this worker's chain at ${count} results is not the requester's`, 'ERR_TAIL_MISMATCH', true)
    const checkpoint = signCheckpoint(this.signer, {
      v: 1,
      lease: leaseId(this.lease.body),
      worker: this.signer.peerId,
      seq,
      count,
      root: point.root,
      fuel: point.fuel,
      amount: creditsFor(this.lease.body.price, point.fuel),
      at: Date.now()
    })
    this.sent.set(seq, checkpoint)
    return checkpoint
  }

  /** A signed checkpoint when one is due (or `force` and anything is uncommitted); else undefined. */
  next (force: boolean): SignedCheckpoint | undefined {
    const uncommitted = this.chain.count - this.last.count
    if (uncommitted === 0) return undefined
    if (!force && uncommitted < CHECKPOINT_EVERY_RESULTS && Date.now() - this.firstUncommittedAt < CHECKPOINT_EVERY_MS) return undefined
    const seq = this.last.seq + 1
    const checkpoint = signCheckpoint(this.signer, {
      v: 1,
      lease: leaseId(this.lease.body),
      worker: this.signer.peerId,
      seq,
      count: this.chain.count,
      root: this.chain.root,
      fuel: this.fuelTotal,
      amount: this.amount,
      at: Date.now()
    })
    this.last = { seq, count: this.chain.count }
    this.sent.set(seq, checkpoint)
    this.unacked.push({ seq })
    return checkpoint
  }

  /**
   * Checks an acknowledgement (the requester's fault when it fails: AckRejectedError, or
   * InvalidSignatureError). Returns the checkpoint and ack when this ack is the best so far.
   */
  acknowledge (ack: SignedAck): { checkpoint: SignedCheckpoint, ack: SignedAck } | undefined {
    const a = ack.body
    if (a.requester !== this.lease.body.requester || a.lease.toString() !== this.idText) throw new AckRejectedError('acknowledgement for another lease')
    verifyAck(ack)
    const checkpoint = this.sent.get(a.seq)
    if (checkpoint == null || checkpoint.body.count !== a.count || !sameBytes(checkpoint.body.root, a.root)) {
      throw new AckRejectedError(`acknowledgement of a checkpoint this worker did not send (seq ${a.seq})`)
    }
    if (a.paid > checkpoint.body.amount) throw new AckRejectedError('acknowledgement paying more than the checkpoint claims')
    // What the chain would refuse in a settle is refused here, not kept as the best acknowledgement.
    if (a.refused > a.count) throw new AckRejectedError('acknowledgement refusing more results than it covers')
    if (a.paid > this.lease.body.maxCredits) throw new AckRejectedError('acknowledgement paying more than the lease\'s cap')
    while (this.unacked.length > 0 && this.unacked[0].seq <= a.seq) this.unacked.shift()
    if (a.count > this.acked.count) {
      this.acked = { seq: a.seq, count: a.count }
      this.points = this.points.filter((p) => p.count > a.count)
    }
    // Older checkpoints are not needed any more (settles use the acknowledged one).
    for (const seq of this.sent.keys()) if (seq < a.seq) this.sent.delete(seq)
    if (this.bestAck != null && a.paid < this.bestAck.body.paid) return undefined
    this.bestAck = ack
    return { checkpoint, ack }
  }
}
