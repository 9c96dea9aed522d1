/**
 * What a worker reports on one lease, and when: `running` notices for tasks that have run
 * RUNNING_NOTICE_MS, finished results (sent now or batched, batching.ts; framed by
 * result-frames.ts, each committed to in the book as it goes) and the checkpoints that sign those
 * commitments. Kept apart from lease-server.ts, which decides which tasks run and when the lease
 * ends; this only holds what waits to go out and the timers that send it.
 */
import type { CID } from 'multiformats/cid'
import { cidText } from '../../proofs/encoding.ts'
import type { MarketMetrics } from '../../shared/metrics.ts'
import { RESULT_BATCH_MS, RUNNING_NOTICE_MS } from '../constants.ts'
import { MAX_FRAME_ITEMS } from '../lease-frames.ts'
import { resultsDue } from './batching.ts'
import { doneBytes, sendResults, type Done, type ResultSink } from './result-frames.ts'
import type { WorkerCheckpoints } from './checkpoints.ts'
import type { FrameOutbox } from './frame-outbox.ts'
import type { LeaseTasks, Task } from './lease-tasks.ts'

export class LeaseReports {
  private readonly tasks: LeaseTasks
  private readonly book: WorkerCheckpoints
  private readonly outbox: FrameOutbox
  private readonly metrics?: Pick<MarketMetrics, 'bytesTransferred'>
  /** Runs after every flush (the lease may end once nothing waits). */
  private readonly afterFlush: () => void
  private readonly done: Done[] = []
  private readonly notices: CID[] = []
  /** One timer for the running notices of every task of the lease (not one per task). */
  private noticeTimer?: ReturnType<typeof setTimeout>
  private flushScheduled = false
  private flushTimer?: ReturnType<typeof setTimeout>
  /** Where flushed results go: committed to in the book as they are sent. */
  private readonly resultSink: ResultSink = {
    commit: (frame) => { this.book.commit(frame) },
    send: (frame) => { this.outbox.send(frame) }
  }

  constructor (tasks: LeaseTasks, book: WorkerCheckpoints, outbox: FrameOutbox, metrics: Pick<MarketMetrics, 'bytesTransferred'> | undefined, afterFlush: () => void) {
    this.tasks = tasks
    this.book = book
    this.outbox = outbox
    this.metrics = metrics
    this.afterFlush = afterFlush
  }

  /** Results waiting, or a flush about to send them: the lease does not end before they leave. */
  get pending (): boolean {
    return this.done.length > 0 || this.flushScheduled
  }

  /** The executor runs the task: its running notice is due RUNNING_NOTICE_MS from now. */
  started (task: Task): void {
    task.startedAt = Date.now()
    this.noticeTimer ??= setTimeout(() => { this.noticeRunning() }, RUNNING_NOTICE_MS)
  }

  /** A finished result: its bytes count as held output until it is sent. */
  add (done: Done): void {
    this.outbox.holdPending(doneBytes(done))
    this.done.push(done)
    this.resultReady()
  }

  /** A task was answered without a result: the results waiting may be due now. */
  taskGone (): void {
    if (this.done.length > 0) this.resultReady()
  }

  /** Sends a checkpoint when one is due (or when forced and anything is uncommitted). */
  checkpoint (force: boolean): void {
    const checkpoint = this.book.next(force)
    if (checkpoint != null) this.outbox.send({ t: 'checkpoint', checkpoint }, (at) => { this.book.sentAt(checkpoint.body.seq, at) })
  }

  /** The lease is over: no timer fires any more. */
  stop (): void {
    clearTimeout(this.flushTimer)
    clearTimeout(this.noticeTimer)
  }

  /**
   * Running notices: for each task that has run RUNNING_NOTICE_MS without its result going out;
   * then again when the next running task is due.
   */
  private noticeRunning (): void {
    this.noticeTimer = undefined
    const now = Date.now()
    let nextDue = Infinity
    for (const task of this.tasks.runningNow()) {
      if (task.noticed || task.startedAt === 0) continue
      const due = task.startedAt + RUNNING_NOTICE_MS
      if (due <= now) {
        task.noticed = true
        this.notices.push(task.id)
      } else nextDue = Math.min(nextDue, due)
    }
    if (this.notices.length > 0) this.scheduleFlush()
    if (nextDue !== Infinity) this.noticeTimer = setTimeout(() => { this.noticeRunning() }, nextDue - now)
  }

  /** A result is ready: sent now or with the next ones, at most RESULT_BATCH_MS later (batching.ts). */
  private resultReady (): void {
    if (resultsDue({ waiting: this.done.length, outstanding: this.tasks.size, running: this.tasks.running })) {
      this.scheduleFlush()
    } else if (this.flushTimer == null && !this.flushScheduled) {
      this.flushTimer = setTimeout(() => { this.flushTimer = undefined; this.scheduleFlush() }, RESULT_BATCH_MS)
    }
  }

  private scheduleFlush (): void {
    if (this.flushScheduled) return
    this.flushScheduled = true
    setImmediate(() => { this.flush() })
  }

  /** Sends waiting running notices and results (batched), committing to each result as it goes. */
  private flush (): void {
    this.flushScheduled = false
    clearTimeout(this.flushTimer)
    this.flushTimer = undefined
    const started = this.notices.splice(0).filter((id) => this.tasks.has(cidText(id)))
    for (let i = 0; i < started.length; i += MAX_FRAME_ITEMS) this.outbox.send({ t: 'running', tasks: started.slice(i, i + MAX_FRAME_ITEMS) })
    const results = this.done.splice(0)
    const bytes = results.reduce((sum, done) => sum + doneBytes(done), 0)
    this.outbox.holdPending(-bytes)
    if (bytes > 0) this.metrics?.bytesTransferred('sent', 'output', bytes)
    sendResults(results, this.resultSink)
    this.checkpoint(false)
    this.afterFlush()
  }
}
