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
  notice?: ReturnType<typeof setTimeout>
}

export class LeaseTasks {
  private readonly byId = new Map<string, Task>()
  private runningCount = 0
  private reserved = 0n

  /** Tasks held (running, or waiting for blobs or a slot). */
  get size (): number { return this.byId.size }
  /** Of those, the ones that have their slot. */
  get running (): number { return this.runningCount }
  /** Σ fuel limits of the tasks held: what they could still cost. */
  get reservedFuel (): bigint { return this.reserved }

  get (idText: string): Task | undefined {
    return this.byId.get(idText)
  }

  has (idText: string): boolean {
    return this.byId.has(idText)
  }

  add (task: Task): void {
    this.byId.set(task.idText, task)
    this.reserved += task.frame.spec.fuel
  }

  /** The task got its slot and runs. */
  started (task: Task): void {
    task.running = true
    this.runningCount++
  }

  /** The task is answered (a result or a task error): it is held no more. */
  finish (task: Task): void {
    if (this.byId.get(task.idText) !== task) return
    this.byId.delete(task.idText)
    if (task.running) this.runningCount--
    this.reserved -= task.frame.spec.fuel
  }

  abortAll (err: Error): void {
    for (const task of this.byId.values()) task.controller.abort(err)
  }

  /** Gives up the tasks that have not started, each with an error of its own. */
  abortWaiting (reason: () => Error): void {
    for (const task of this.byId.values()) if (!task.running) task.controller.abort(reason())
  }
}
