/**
 * The tasks a worker holds on one lease, from admission until they are answered: by id, how many
 * have their slot, and the fuel they could still cost (what the lease's credit cap is checked
 * against). Aborting one goes through its controller; its run (lease-server.ts) then answers it.
 */
import type { CID } from 'multiformats/cid'
import type { TaskFrame } from '../lease-frames.ts'

export interface Task {
  id: CID
  idText: string
  frame: TaskFrame
  controller: AbortController
  running: boolean
  /**
   * When the executor started running it (ms since the epoch): its time limit counts from then,
   * and its `running` notice is due from then. 0 while it waits (for blobs, a slot, or an
   * executor thread: one killed by a cancel or a timeout is replaced by a new one, which takes
   * long to start on a loaded machine).
   */
  startedAt: number
  /** Its `running` notice is sent (or due to be). */
  noticed: boolean
}

export class LeaseTasks {
  private readonly byId = new Map<string, Task>()
  private readonly runningSet = new Set<Task>()
  private runningCount = 0
  private reserved = 0n
  private inline = 0

  /** Tasks held (running, or waiting for blobs or a slot). */
  get size (): number { return this.byId.size }
  /** Of those, the ones that have their slot. */
  get running (): number { return this.runningCount }
  /** Σ fuel limits of the tasks held: what they could still cost. */
  get reservedFuel (): bigint { return this.reserved }
  /** Σ bytes of their inline stdin (held until they are answered). */
  get inlineBytes (): number { return this.inline }

  get (idText: string): Task | undefined {
    return this.byId.get(idText)
  }

  has (idText: string): boolean {
    return this.byId.has(idText)
  }

  add (task: Task): void {
    this.byId.set(task.idText, task)
    this.reserved += task.frame.spec.fuel
    this.inline += task.frame.stdin?.byteLength ?? 0
  }

  /** The task got its slot and runs (in the executor once `startedAt` is set). */
  started (task: Task): void {
    task.running = true
    this.runningCount++
    this.runningSet.add(task)
  }

  /** The tasks that have their slot now (a few: at most the lease's slots). */
  runningNow (): Iterable<Task> {
    return this.runningSet
  }

  /** The task is answered (a result or a task error): it is held no more. */
  finish (task: Task): void {
    if (this.byId.get(task.idText) !== task) return
    this.byId.delete(task.idText)
    if (task.running) {
      this.runningCount--
      this.runningSet.delete(task)
    }
    this.reserved -= task.frame.spec.fuel
    this.inline -= task.frame.stdin?.byteLength ?? 0
  }

  abortAll (err: Error): void {
    for (const task of this.byId.values()) task.controller.abort(err)
  }

  /** Gives up the tasks that have not started, each with an error of its own. */
  abortWaiting (reason: () => Error): void {
    for (const task of this.byId.values()) if (!task.running) task.controller.abort(reason())
  }
}
