/**
 * The tasks a requester sent on one lease and has not had answered: when each must be reported
 * running and, once running, answered (the deadlines past which a silent worker is blamed), when
 * its `running` notice came (the run's time as this node observes it), and the fuel they could
 * still cost (what the lease's remaining budget is checked with).
 */
import { RUNNING_NOTICE_MS, TASK_RUN_GRACE_MS, TASK_START_GRACE_MS, TRANSFER_GAP_MS } from '../constants.ts'
import type { TaskWork } from './types.ts'

export interface Outstanding {
  task: TaskWork
  sentAt: number
  /** `performance.now()` when it was sent: the time the fuel bound allows (a wall clock may step back). */
  sentClock: number
  /** Must be reported running (or answered) by then. */
  startBy: number
  /** Must be answered by then, once running. */
  finishBy?: number
  /** When the worker said it started it (its `running` notice arrived). */
  runningAt?: number
  /** The lease's transfer time (`OutstandingTasks.transferMs`) when its current deadline was set. */
  transferAt: number
}

export class OutstandingTasks {
  private readonly byId = new Map<string, Outstanding>()
  private readonly slots: number
  private readonly maxTaskMs: number
  private reserved = 0n
  private inline = 0
  private transfer = 0
  private lastTransferAt?: number

  /** For a lease of `slots` slots whose tasks may each run `maxTaskMs`. */
  constructor (slots: number, maxTaskMs: number) {
    this.slots = slots
    this.maxTaskMs = maxTaskMs
  }

  get size (): number { return this.byId.size }
  /** Σ fuel limits of the outstanding tasks. */
  get reservedFuel (): bigint { return this.reserved }
  /** Σ bytes of their inline input (stdin sent in the task frame). */
  get inlineBytes (): number { return this.inline }

  /**
   * Time spent moving bulk data on the lease (blob chunks sent, output data received), ms: it
   * does not count against any task's deadline. A task waits for its blobs before it can start,
   * and a result queues behind other results' output on the one stream: on a slow link neither
   * is the worker being silent.
   */
  get transferMs (): number { return this.transfer }

  /** Bulk data moved at `now`; the time since the previous move counts when it is under TRANSFER_GAP_MS. */
  transferred (now: number): void {
    if (this.lastTransferAt != null && now - this.lastTransferAt <= TRANSFER_GAP_MS) this.transfer += Math.max(0, now - this.lastTransferAt)
    this.lastTransferAt = now
  }

  get (idText: string): Outstanding | undefined {
    return this.byId.get(idText)
  }

  /** A task sent at `now`: its turn comes after the work ahead of it, spread over the lease's slots. */
  add (task: TaskWork, now: number): void {
    const startBy = now + TASK_START_GRACE_MS + Math.ceil((this.byId.size + 1) / this.slots) * this.maxTaskMs
    this.byId.set(task.idText, { task, sentAt: now, sentClock: performance.now(), startBy, transferAt: this.transfer })
    this.reserved += task.spec.fuel
    this.inline += task.stdin?.byteLength ?? 0
  }

  /**
   * The worker reported the task running at `now`: from then it must be answered within its
   * timeout and grace. Returns it when that is news (undefined: not outstanding, or known).
   */
  running (idText: string, now: number): Outstanding | undefined {
    const o = this.byId.get(idText)
    if (o == null || o.finishBy != null) return undefined
    o.runningAt = now
    o.transferAt = this.transfer
    o.finishBy = now + o.task.requirements.timeoutMs + TASK_RUN_GRACE_MS + Math.ceil(o.task.requirements.timeoutMs / 10)
    return o
  }

  /** Forgets an outstanding task; false when it was not outstanding. */
  forget (idText: string): boolean {
    const o = this.byId.get(idText)
    if (o == null) return false
    this.byId.delete(idText)
    this.reserved -= o.task.spec.fuel
    this.inline -= o.task.stdin?.byteLength ?? 0
    return true
  }

  /** The outstanding tasks now (a copy: they may be forgotten while it is walked). */
  all (): Outstanding[] {
    return [...this.byId.values()]
  }

  /** The outstanding tasks' work (for the blobs a worker may ask for). */
  tasks (): TaskWork[] {
    return [...this.byId.values()].map((o) => o.task)
  }
}

/**
 * Whether a task is past its deadline: to be reported running, or, once running, to be answered;
 * `transferMs`: the lease's transfer time now (what of it passed since the deadline was set is
 * added to the deadline).
 */
export function isLate (o: Outstanding, now: number, transferMs = o.transferAt): boolean {
  const at = now - (transferMs - o.transferAt)
  return o.finishBy != null ? at > o.finishBy : at > o.startBy
}

/**
 * The run's time as this node saw it, ms: from the running notice (sent RUNNING_NOTICE_MS after
 * the start), or from sending the task when none came (queueing included); 0 for a task no
 * longer outstanding.
 */
export function observedMs (o: Outstanding | undefined, now: number): number {
  return o == null ? 0 : now - (o.runningAt != null ? o.runningAt - RUNNING_NOTICE_MS : o.sentAt)
}

/**
 * Tasks withdrawn from a lease (`cancel` sent) that the worker has not answered yet: its result
 * or task-error may already be on its way. Oldest first, at most `limit` (the oldest is forgotten).
 */
export class WithdrawnTasks {
  private readonly byId = new Map<string, TaskWork>()
  private readonly limit: number

  constructor (limit: number) {
    this.limit = limit
  }

  add (task: TaskWork): void {
    this.byId.set(task.idText, task)
    if (this.byId.size > this.limit) {
      const oldest = this.byId.keys().next().value
      if (oldest != null) this.byId.delete(oldest)
    }
  }

  get (idText: string): TaskWork | undefined { return this.byId.get(idText) }
  delete (idText: string): boolean { return this.byId.delete(idText) }
  values (): IterableIterator<TaskWork> { return this.byId.values() }
  clear (): void { this.byId.clear() }
}
