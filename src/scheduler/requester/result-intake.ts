/**
 * The results a lease's worker returns, as they arrive: each entry is matched to a task the lease
 * carried, checked (lease-results.ts) and committed to in the lease's account in arrival order
 * (the order of the worker's chain); its output is taken inline or gathered from the `data`
 * frames that follow it (incoming-result.ts), and handed on whole. Kept apart from
 * lease-client.ts, which decides what a delivered result means for the task and the lease.
 */
import type { CID } from 'multiformats/cid'
import { cidText } from '../../proofs/encoding.ts'
import type { MarketMetrics } from '../../shared/metrics.ts'
import { BadResultError, ProtocolViolationError } from '../errors.ts'
import type { ResultFrame } from '../lease-frames.ts'
import type { LeaseAccount } from './accounting.ts'
import { IncomingResult, type DataKind } from './incoming-result.ts'
import { checkResultEntry, plausibleFuel } from './lease-results.ts'
import type { OutputTreeReceiver } from './output-tree.ts'
import type { OutstandingTasks, WithdrawnTasks } from './outstanding-tasks.ts'
import type { TaskWork } from './types.ts'

/** Weight of the newest result in the moving average of run times. */
const RUN_TIME_WEIGHT = 0.1

/** A result whose output has all arrived (its stdout not yet checked against the committed CID). */
export type DeliverResult = (task: TaskWork, r: ResultFrame, stdout: Uint8Array, stderr: Uint8Array, tree?: OutputTreeReceiver) => void

export interface ResultIntakeComponents {
  /** The lease's worker (named in errors). */
  worker: string
  /** The lease's slots (how many tasks it runs at once: the fuel bound of the whole lease). */
  slots: number
  outstanding: OutstandingTasks
  withdrawn: WithdrawnTasks
  account: LeaseAccount
  metrics?: Pick<MarketMetrics, 'bytesTransferred'>
  deliver: DeliverResult
}

export class ResultIntake {
  private readonly c: ResultIntakeComponents
  /** A large result whose output is still arriving in `data` frames. */
  private incoming?: IncomingResult
  /** Moving average of the wall time of this lease's runs, ms (undefined before the first result). */
  runMs?: number
  /** `performance.now()` when the lease's first task was sent (the fuel bound of the whole lease runs from then). */
  private firstSentAt?: number
  /** Σ fuel of the results committed to. */
  private fuelTotal = 0n

  constructor (components: ResultIntakeComponents) {
    this.c = components
  }

  /** A task frame left (the first one starts the lease's fuel bound). */
  sent (): void {
    this.firstSentAt ??= performance.now()
  }

  /** A result's output is still arriving: the next frame must be its `data`. */
  get awaitingData (): boolean { return this.incoming != null }

  /** The task (id text) whose output is still arriving, if any. */
  get incomingTask (): string | undefined { return this.incoming?.task.idText }

  /** Takes one entry of a `results` frame. Throws (the worker's fault) for one that breaks the rules. */
  result (r: ResultFrame): void {
    const id = cidText(r.task)
    const o = this.c.outstanding.get(id)
    const task = o?.task ?? this.c.withdrawn.get(id)
    // [blame] a result for a task this lease never carried (or already answered)
    if (task == null) throw new BadResultError(`a result for task ${r.task.toString()}, which was not given to ${this.c.worker}`)
    if (o != null) this.runMs = this.runMs == null ? r.wallMs : this.runMs * (1 - RUN_TIME_WEIGHT) + r.wallMs * RUN_TIME_WEIGHT
    // (a monotonic clock: a wall clock stepped back would shrink the time allowed)
    const now = performance.now()
    const inline = checkResultEntry(r, task, o != null ? now - o.sentClock : undefined)
    // [blame] more fuel than the lease's slots could run since its first task was sent
    this.fuelTotal += r.fuel
    if (this.firstSentAt != null && this.fuelTotal > plausibleFuel(now - this.firstSentAt, this.c.slots)) {
      throw new BadResultError(`results claiming ${this.fuelTotal} fuel in all ${Math.round(now - this.firstSentAt)} ms after the lease's first task: more than ${this.c.slots} slot(s) run`)
    }
    // Committed in arrival order, the order the worker committed to.
    this.c.account.add({ task: r.task, out: r.out, exit: r.exit, fuel: r.fuel, ...(r.files != null ? { files: r.files } : {}) })
    if (inline) {
      if (r.stdout?.byteLength !== r.outBytes || r.stderr?.byteLength !== r.errBytes) throw new BadResultError('inline output of another length than announced')
      this.c.metrics?.bytesTransferred('received', 'output', r.outBytes + r.errBytes)
      this.c.deliver(task, r, r.stdout, r.stderr)
      return
    }
    this.incoming = new IncomingResult(task, r)
    this.finishIncoming()
  }

  /** Takes one `data` frame of the result whose output is arriving. */
  data (task: CID, which: DataKind, data: Uint8Array): void {
    if (this.incoming == null) throw new ProtocolViolationError('output data for no announced result')
    this.c.outstanding.transferred(Date.now())
    this.c.metrics?.bytesTransferred('received', 'output', data.byteLength)
    this.incoming.data(task, which, data)
    this.finishIncoming()
  }

  private finishIncoming (): void {
    const inc = this.incoming
    if (inc == null || !inc.complete) return
    this.incoming = undefined
    this.c.deliver(inc.task, inc.frame, inc.stdout, inc.stderr, inc.tree)
  }
}
