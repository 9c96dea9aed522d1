/**
 * A requester's book of one lease: the results the worker returned, in order, in the same hash
 * chain the worker commits to; which of them are charged (verified, and agreeing with the
 * quorum), refused, or still undecided; and the checks a checkpoint must pass. Pure: no I/O, no
 * clock, no signatures (the caller verifies the checkpoint's signature first).
 */
import { ResultChain, sameBytes, type CID, type ResultEntry } from '../../proofs/commitment.ts'
import { cidText } from '../../proofs/encoding.ts'
import type { CheckpointBody } from '../../proofs/lease.ts'
import { CheckpointError } from '../errors.ts'
import { creditsFor } from '../task.ts'
import { TAIL_ACCOUNT_BYTES, TAIL_POINT_BYTES, TAIL_RESULT_BYTES } from '../constants.ts'

/** `recording`: to be charged once the record of its verdict is written (undecided until then). */
type Decision = 'pending' | 'recording' | 'charged' | 'refused'

interface Entry { task: CID, fuel: bigint, decision: Decision }

/** The chain state after `count` results: the checkpoint of that length must match it. */
interface Point { count: number, root: Uint8Array, fuel: bigint }

const decided = (d: Decision): boolean => d === 'charged' || d === 'refused'

export class LeaseAccount {
  readonly price: number
  private readonly chain = new ResultChain()
  private fuelTotal = 0n
  /** Results from position `base` on (those before were dropped by `compact`), and their positions by task. */
  private entries: Entry[] = []
  private base = 0
  private byTask = new Map<string, number[]>()
  /** Chain states the next checkpoints may name (trimmed as checkpoints arrive). */
  private points: Point[] = [{ count: 0, root: this.chain.root, fuel: 0n }]
  private last = { seq: 0, count: 0, amount: 0 }
  /** The first `decidedCount` results are decided; `…Before[i]`: charged fuel and refusals of the first `base + i`. */
  private decidedCount = 0
  private chargedFuelBefore: bigint[] = [0n]
  private refusedBefore: number[] = [0]

  constructor (price: number) {
    this.price = price
  }

  /** Results received. */
  get count (): number { return this.chain.count }

  /** The head of the chain of everything received so far. */
  get root (): Uint8Array { return this.chain.root }

  /** Fuel of everything received so far. */
  get fuel (): bigint { return this.fuelTotal }

  /** Credits the worker may claim for everything received so far. */
  get claimable (): number { return creditsFor(this.price, this.fuelTotal) }

  /**
   * About how many bytes this book holds (an estimate from measured sizes: see TAIL_RESULT_BYTES):
   * the results it keeps (every result of the lease until `compact`), and the chain states since
   * the last accepted checkpoint.
   */
  get retainedBytes (): number {
    return TAIL_ACCOUNT_BYTES + this.entries.length * TAIL_RESULT_BYTES + this.points.length * TAIL_POINT_BYTES
  }

  /** Results this book still holds (all of them until `compact`). */
  get held (): number { return this.entries.length }

  /** The last checkpoint accepted. */
  get lastCheckpoint (): { seq: number, count: number, amount: number } { return this.last }

  /** Adds a received result (in the order received). */
  add (entry: ResultEntry): void {
    this.chain.add(entry)
    this.fuelTotal += entry.fuel
    const task = cidText(entry.task)
    const positions = this.byTask.get(task) ?? []
    positions.push(this.base + this.entries.length)
    this.byTask.set(task, positions)
    this.entries.push({ task: entry.task, fuel: entry.fuel, decision: 'pending' })
    this.points.push({ count: this.chain.count, root: this.chain.root, fuel: this.fuelTotal })
  }

  /** Records whether a task's result on this lease is paid for. */
  decide (task: string, charged: boolean): void {
    for (const i of this.byTask.get(task) ?? []) {
      const e = this.at(i)
      if (e.decision === 'pending') e.decision = charged ? 'charged' : 'refused'
    }
  }

  /**
   * A task's result is to be charged once its verdict is recorded: its undecided results wait
   * (they count as undecided); returns their positions, for `record`.
   */
  charging (task: string): number[] {
    const positions: number[] = []
    for (const i of this.byTask.get(task) ?? []) {
      const e = this.at(i)
      if (e.decision !== 'pending') continue
      e.decision = 'recording'
      positions.push(i)
    }
    return positions
  }

  /** Results `charging` held: charged once their verdict's record is written (`written`), else refused. */
  recorded (positions: number[], written: boolean): void {
    for (const i of positions) {
      const e = this.at(i)
      if (e.decision === 'recording') e.decision = written ? 'charged' : 'refused'
    }
  }

  /** Tasks among the first `count` still undecided. */
  pendingThrough (count: number): number {
    this.advance()
    let n = 0
    for (let i = this.decidedCount; i < count; i++) if (!decided(this.at(i).decision)) n++
    return n
  }

  /**
   * What the requester pays through result `count`: its charged tasks' fuel at the price,
   * rounded up once; how many are refused; and the refused tasks from result `since` on.
   */
  paidThrough (count: number, since = 0): { paid: number, refused: number, refusedTasks: CID[] } {
    this.advance()
    const from = Math.min(this.decidedCount, count)
    let fuel = this.chargedFuelBefore[from - this.base]
    let refused = this.refusedBefore[from - this.base]
    for (let i = from; i < count; i++) {
      const e = this.at(i)
      if (e.decision === 'charged') fuel += e.fuel
      else if (e.decision === 'refused') refused++
    }
    const refusedTasks: CID[] = []
    // (results dropped by `compact` were refused, if at all, before an acknowledgement that listed them)
    for (let i = Math.max(since, this.base); i < count; i++) {
      const e = this.at(i)
      if (e.decision === 'refused') refusedTasks.push(e.task)
    }
    return { paid: creditsFor(this.price, fuel), refused, refusedTasks }
  }

  /**
   * Extends the decided head of the book (decisions never change once made) with its running
   * sums, so that a checkpoint costs the results since the last one, not the whole lease: a
   * lease of a million tasks has thousands of checkpoints.
   */
  private advance (): void {
    while (this.decidedCount < this.base + this.entries.length && decided(this.at(this.decidedCount).decision)) {
      const e = this.at(this.decidedCount++)
      const k = this.decidedCount - 1 - this.base
      this.chargedFuelBefore.push(this.chargedFuelBefore[k] + (e.decision === 'charged' ? e.fuel : 0n))
      this.refusedBefore.push(this.refusedBefore[k] + (e.decision === 'refused' ? 1 : 0))
    }
  }

  /**
   * Drops the results an acknowledgement can no longer need: those decided (their sums are kept)
   * before `acknowledged`, the count of the last acknowledged checkpoint (the next one lists the
   * tasks refused since). What is left is what a lease tail's acknowledgement needs: the results
   * since that checkpoint and those still waiting for a verdict. `paidThrough(count, since)` is
   * then asked with `count` ≥ `acknowledged` (the settlement's acknowledgements only go forward).
   */
  compact (acknowledged: number): void {
    this.advance()
    const cut = Math.min(this.decidedCount, acknowledged)
    if (cut <= this.base) return
    const drop = cut - this.base
    this.entries = this.entries.slice(drop)
    this.chargedFuelBefore = this.chargedFuelBefore.slice(drop)
    this.refusedBefore = this.refusedBefore.slice(drop)
    this.base = cut
    // The dropped results are decided: no verdict can change them, so the index forgets them.
    this.byTask = new Map()
    for (let j = 0; j < this.entries.length; j++) {
      const task = cidText(this.entries[j].task)
      const positions = this.byTask.get(task) ?? []
      positions.push(this.base + j)
      this.byTask.set(task, positions)
    }
  }

  /** The result at position `i` (not dropped). */
  private at (i: number): Entry {
    return this.entries[i - this.base]
  }

  /**
   * Checks a checkpoint (already signature-checked, for this lease and worker) against what was
   * received; throws `CheckpointError` with the way it is wrong, else records it.
   */
  accept (cp: CheckpointBody): void {
    if (cp.seq !== this.last.seq + 1) throw new CheckpointError(`checkpoint ${cp.seq} after ${this.last.seq}`, 'ERR_CHECKPOINT_SEQ')
    if (cp.count < this.last.count || cp.amount < this.last.amount) {
      throw new CheckpointError(`checkpoint ${cp.seq} claims ${cp.count} results and ${cp.amount} credits, after ${this.last.count} and ${this.last.amount}`, 'ERR_CHECKPOINT_REGRESSED')
    }
    const point = this.points.find((p) => p.count === cp.count)
    if (point == null || !sameBytes(point.root, cp.root)) {
      throw new CheckpointError(`checkpoint ${cp.seq} commits to results this requester did not receive`, 'ERR_CHECKPOINT_MISMATCH')
    }
    if (cp.fuel !== point.fuel) throw new CheckpointError(`checkpoint ${cp.seq} claims ${cp.fuel} fuel, the results used ${point.fuel}`, 'ERR_CHECKPOINT_MISMATCH')
    const due = creditsFor(this.price, point.fuel)
    if (cp.amount !== due) throw new CheckpointError(`checkpoint ${cp.seq} claims ${cp.amount} credits, the results are worth ${due}`, 'ERR_CHECKPOINT_MISMATCH')
    this.last = { seq: cp.seq, count: cp.count, amount: cp.amount }
    this.points = this.points.filter((p) => p.count >= cp.count)
  }
}
