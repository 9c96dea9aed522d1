/**
 * A task as the dispatcher places it: its replicas running and returned, the workers it must not
 * go to again, and what derives from them (the hosts it is on, its replicas as `placement.ts`
 * sees them).
 */
import type { JobError, ReplicaRecord } from '../job-store.ts'
import type { LeaseClient } from './lease-client.ts'
import type { TaskReplicas, PlacementWait } from './placement.ts'
import type { ReplicaResult, TaskWork } from './types.ts'

export interface TaskState {
  work: TaskWork
  results: Array<{ lease: LeaseClient, result: ReplicaResult }>
  running: Map<string, LeaseClient>
  /** Workers not to use again for this task (they failed it or already ran it). */
  excluded: Set<string>
  /**
   * Workers that lost a replica of it (the lease's stream died, the worker stopped or crashed),
   * by when: such a worker stays in `excluded` but may take it once more on a lease opened after
   * the loss (it is back, e.g. restarted); Infinity once that chance is used.
   */
  lostAt?: Map<string, number>
  records: ReplicaRecord[]
  /** Tie-break replicas added. */
  extra: number
  queued: boolean
  done: boolean
  /** Cancelled while its spot check ran (it is `done`, not finalized): the verdict is this cancel. */
  cancelled?: JobError
  /** Why it cannot get all its replicas from the workers known, as last reviewed. */
  wait?: PlacementWait
  /** When it was submitted (a lease open by then is a warm one for it). */
  since: number
}

export function taskState (work: TaskWork, now = Date.now()): TaskState {
  return { work, results: [], running: new Map(), excluded: new Set(), records: [], extra: 0, queued: false, done: false, since: now }
}

/** The hosts a task's replicas run or ran on (undefined for a task not placed yet: most of them). */
export function hostsOf (state: TaskState): Set<string> | undefined {
  if (state.running.size === 0 && state.results.length === 0) return undefined
  return new Set([...state.running.values(), ...state.results.map((r) => r.lease)].map((l) => l.host).filter((h) => h != null))
}

/** The replicas it wants, the workers they run or ran on, and the workers that failed it. */
export function replicasOf (state: TaskState): TaskReplicas {
  const placed = [...state.running.values(), ...state.results.map((r) => r.lease)].map((l) => ({ peerId: l.worker, ...(l.host != null ? { host: l.host } : {}) }))
  const on = new Set(placed.map((p) => p.peerId))
  return { replicas: state.work.replicas + state.extra, placed, failed: [...state.excluded].filter((w) => !on.has(w)) }
}

/** Whether a lease with `worker`, opened at `openedAt`, may take the task (see `lostAt`). */
export function mayTake (state: TaskState, worker: string, openedAt: number): boolean {
  return !state.excluded.has(worker) || (state.lostAt?.get(worker) ?? Infinity) < openedAt
}

/** Whether no new lease with `worker` could take the task (a worker that only lost it may come back). */
export function barred (state: TaskState, worker: string): boolean {
  return state.excluded.has(worker) && !((state.lostAt?.get(worker) ?? Infinity) < Infinity)
}

/** A replica on `worker` was lost: the first loss leaves it one more chance (`lostAt`). */
export function lostOn (state: TaskState, worker: string): void {
  state.lostAt ??= new Map()
  state.lostAt.set(worker, state.lostAt.has(worker) ? Infinity : Date.now())
}
