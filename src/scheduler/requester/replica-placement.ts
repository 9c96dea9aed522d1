/**
 * Where the dispatcher's tasks go: they wait in a queue per class of requirements, and each
 * replica goes on the least loaded open lease that fits it, with a distinct worker (and host) per
 * replica; while tasks wait, the lease pool is asked for more leases. Kept apart from
 * dispatcher.ts, which follows each task from its replicas' results to its verdict and decides
 * when a task waits here again.
 */
import type { Reputation } from '../reputation.ts'
import type { LeaseClient } from './lease-client.ts'
import type { LeasePool } from './lease-pool.ts'
import { leasesWanted, pickLease } from './ranking.ts'
import { TaskQueue } from './task-queue.ts'
import { barred, hostsOf, mayTake, type TaskState } from './task-state.ts'

/** How far past the head of a queue placement looks for a task a lease can take. */
const SCAN_AHEAD = 64

export class ReplicaPlacement {
  private readonly pool: LeasePool
  private readonly reputation: Reputation
  private readonly queues = new Map<string, TaskQueue<TaskState>>()
  private pumping = false
  private pumpAgain = false

  constructor (pool: LeasePool, reputation: Reputation) {
    this.pool = pool
    this.reputation = reputation
  }

  /** Tasks waiting for a lease, in all queues. */
  get queued (): number {
    let queued = 0
    for (const q of this.queues.values()) queued += q.size
    return queued
  }

  /** The tasks of a class waiting for a lease, in their order (undefined: none queued there). */
  waiting (classKey: string): TaskState[] | undefined {
    const queue = this.queues.get(classKey)
    return queue == null ? undefined : [...queue.values()]
  }

  /** Places what can be placed now, and asks for leases for the rest. */
  pump (): void {
    if (this.pumping) { this.pumpAgain = true; return }
    this.pumping = true
    try {
      do {
        this.pumpAgain = false
        const now = Date.now()
        for (const [classKey, queue] of this.queues) {
          if (queue.size === 0) { this.queues.delete(classKey); continue }
          this.fill(queue, now)
          if (queue.size > 0) this.askForLeases(classKey, queue)
        }
      } while (this.pumpAgain)
    } finally {
      this.pumping = false
    }
  }

  /** Queues a task that has replicas to place (`front`: a replica to place again goes first). */
  enqueue (state: TaskState, front: boolean): void {
    if (state.queued || state.done || this.needed(state) <= 0) return
    let queue = this.queues.get(state.work.classKey)
    if (queue == null) {
      queue = new TaskQueue<TaskState>()
      this.queues.set(state.work.classKey, queue)
    }
    if (front) queue.unshift(state)
    else queue.push(state)
    state.queued = true
  }

  dequeue (state: TaskState): void {
    if (!state.queued) return
    this.queues.get(state.work.classKey)?.remove(state)
    state.queued = false
  }

  private fill (queue: TaskQueue<TaskState>, now: number): void {
    const head = queue.at(0)
    if (head == null) return
    const leases = this.pool.usableFor(head.work, now)
    if (leases.length === 0) return
    const candidates = leases.map((lease) => ({ lease, worker: lease.worker, price: lease.lease.body.price, outstanding: lease.load, window: lease.window, reliability: this.reputation.reliability(lease.worker) }))
    let i = 0
    while (i < Math.min(queue.size, SCAN_AHEAD)) {
      const state = queue.at(i) as TaskState
      const hosts = hostsOf(state)
      const open = candidates.filter((c) => mayTake(state, c.worker, c.lease.openedAt) && !state.running.has(c.worker) && (c.lease.host == null || hosts == null || !hosts.has(c.lease.host)) && c.lease.fits(state.work, now))
      const choice = pickLease(open)
      if (choice == null) {
        if (candidates.every((c) => c.outstanding >= c.window)) return
        i++
        continue
      }
      this.place(state, choice.lease)
      choice.outstanding = choice.lease.load
      if (this.needed(state) <= 0) {
        queue.removeAt(i)
        state.queued = false
      }
    }
  }

  private place (state: TaskState, lease: LeaseClient): void {
    state.running.set(lease.worker, lease)
    state.excluded.add(lease.worker)
    state.lostAt?.set(lease.worker, Infinity) // (its one more chance, if it had one)
    state.records.push({ worker: lease.worker, leaseId: lease.idText, status: 'running' })
    state.work.onEvent({ stage: 'assigned', worker: lease.worker, leaseId: lease.idText, warm: lease.openedAt <= state.since })
    lease.assign(state.work)
  }

  /** Replicas still to be placed. */
  private needed (state: TaskState): number {
    return state.work.replicas + state.extra - state.results.length - state.running.size
  }

  private askForLeases (classKey: string, queue: TaskQueue<TaskState>): void {
    const head = queue.at(0) as TaskState
    // The widest replica count near the head says how many distinct workers are needed now.
    let widest = 0
    // Workers none of these tasks may go to (a worker only the head excludes may take the rest).
    let exclude = new Set<string>([...head.excluded].filter((w) => barred(head, w)))
    for (let i = 0; i < Math.min(queue.size, SCAN_AHEAD); i++) {
      const state = queue.at(i) as TaskState
      widest = Math.max(widest, state.work.replicas + state.extra)
      if (exclude.size > 0) exclude = new Set([...exclude].filter((w) => barred(state, w)))
    }
    const usable = this.pool.usableFor(head.work, Date.now())
    const window = usable[0]?.window ?? 8
    const count = leasesWanted({ queued: queue.size, window, usable: usable.length, opening: 0, distinctWorkersNeeded: widest, max: 16 })
    this.pool.want(classKey, head.work.requirements, Math.max(count, usable.every((l) => l.load >= l.window) ? 1 : 0), exclude)
  }
}
