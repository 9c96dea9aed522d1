/**
 * Placement and verification of tasks. Tasks wait in a queue per class of requirements; each
 * replica goes on the least loaded open lease that fits it, with a distinct worker (and host) per
 * replica; while tasks wait, the lease pool is asked for more leases (replica-placement.ts).
 * When a task has all its replicas' results, the quorum decides (a tie gets one more replica);
 * spot checks re-run it here; every replica's lease is told whether its result is paid for; the
 * task's owner gets the verdict. Failed replicas go elsewhere until the task's deadline. A task
 * that cannot get all its replicas from the workers known says why while it waits
 * (`placement.ts`), and ends with that reason if its deadline comes first.
 */
import { logger } from '@libp2p/logger'
import { cidText } from '../../proofs/encoding.ts'
import type { PeerActionName } from '../../shared/peer-actions.ts'
import type { MarketMetrics } from '../../shared/metrics.ts'
import { TIE_BREAK_REPLICAS } from '../constants.ts'
import type { JobError } from '../job-store.ts'
import type { Reputation } from '../reputation.ts'
import type { TaskOutcome } from '../run-task.ts'
import { decide, type Vote } from './quorum.ts'
import type { LeaseClient } from './lease-client.ts'
import { lostOn, replicasOf, taskState, type TaskState } from './task-state.ts'
import type { LeasePool } from './lease-pool.ts'
import { deadlineVerdict, keyOfOutcome, keyOfResult as keyOf, verdictOf } from './verdict.ts'
import type { ReplicaResult, TaskFailure, TaskWork } from './types.ts'
import { ReplicaPlacement } from './replica-placement.ts'
import { knownWorkers, placementWait, type ClassWorkers, type KnownWorker, type PlacementWait } from './placement.ts'

const log = logger('depin:requester:dispatch')

/** How often task deadlines are checked. */
const DEADLINE_SWEEP_MS = 500

/** What one review pass knows per task class: its known workers, and the wait of its never-placed tasks by replica count. */
type ReviewCache = Map<string, { workers: ClassWorkers, fresh: Map<number, PlacementWait | undefined> }>

export interface DispatcherComponents {
  pool: LeasePool
  reputation: Reputation
  reportPeer: (peerId: string, action: PeerActionName) => void
  /** Runs a task here (a spot check); throws for reasons that are not the task's own (busy, stopping, blob missing). */
  runLocally?: (work: TaskWork) => Promise<TaskOutcome>
  /** Workers known from their capacity records, to say why tasks wait. Absent: they wait without a reason. */
  knownWorkers?: () => KnownWorker[]
  /** This node's peer id (never a worker of its own tasks). */
  self?: string
  /**
   * Where every replica's end is counted (`depin_tasks_finished_total{role="requester"}` and the
   * execution time the worker reported), for jobs' and batches' tasks alike. @default none
   */
  metrics?: Pick<MarketMetrics, 'taskFinished'>
}

export class Dispatcher {
  private readonly c: DispatcherComponents
  private readonly placement: ReplicaPlacement
  private readonly tasks = new Map<string, TaskState>()
  private sweep?: ReturnType<typeof setInterval>

  constructor (components: DispatcherComponents) {
    this.c = components
    this.placement = new ReplicaPlacement(components.pool, components.reputation)
  }

  start (): void {
    this.sweep = setInterval(() => { this.checkDeadlines() }, DEADLINE_SWEEP_MS)
    this.sweep.unref?.()
  }

  stop (): void {
    clearInterval(this.sweep)
  }

  /** Tasks waiting for a lease, and placed and unanswered. */
  stats (): { queued: number, running: number, tasks: number } {
    let running = 0
    for (const t of this.tasks.values()) running += t.running.size
    return { queued: this.placement.queued, running, tasks: this.tasks.size }
  }

  /** Places a task; its owner hears of it through the task's callbacks. */
  submit (work: TaskWork): void {
    if (this.tasks.has(work.idText)) throw new Error(`task ${work.idText} is already being placed`)
    const state = taskState(work)
    this.tasks.set(work.idText, state)
    this.placement.enqueue(state, false)
    this.placement.pump()
  }

  /** Gives up a task (its owner was cancelled): withdrawn from leases, verdict `cancelled`. */
  cancel (idText: string, error: JobError = { code: 'ERR_JOB_CANCELLED', message: 'the job was cancelled' }): void {
    const state = this.tasks.get(idText)
    if (state == null) return
    // Being decided (its spot check runs): the decision, once in, gives way to the cancel.
    if (state.done) {
      state.cancelled ??= error
      return
    }
    this.finalize(state, { status: 'cancelled', verified: false, replicas: state.records, agreeing: [], cost: 0, error })
  }

  /** Places what can be placed now, and asks for leases for the rest. */
  pump (): void {
    this.placement.pump()
  }

  // Events from leases -------------------------------------------------------------------------

  onRunning (work: TaskWork, worker: string): void {
    const state = this.tasks.get(work.idText)
    if (state == null || state.done) return
    const record = state.records.findLast((r) => r.worker === worker)
    if (record != null) record.status = 'running'
    work.onEvent({ stage: 'running', worker })
  }

  onResult (work: TaskWork, result: ReplicaResult): void {
    const state = this.tasks.get(work.idText)
    const lease = state?.running.get(result.worker)
    if (state == null || state.done || lease == null) {
      // A late result of a task already decided: nothing more to pay for it.
      this.c.pool.leases.get(result.leaseId)?.decide(work.idText, false)
      return
    }
    state.running.delete(result.worker)
    state.results.push({ lease, result })
    this.c.metrics?.taskFinished('requester', result.exitCode === 0 && result.trap == null ? 'completed' : 'failed', result.wallMs / 1000)
    const record = state.records.findLast((r) => r.worker === result.worker)
    if (record != null) Object.assign(record, { status: 'done', outputCid: cidText(result.outputCid), exitCode: result.exitCode, trap: result.trap, fuel: result.fuel.toString(), ...(result.files != null ? { filesCid: cidText(result.files.cid) } : {}), cpuMs: result.cpuMs, wallMs: result.wallMs })
    work.onEvent({ stage: 'result', worker: result.worker, exitCode: result.exitCode })
    void this.judge(state)
  }

  onTaskFailed (work: TaskWork, worker: string, failure: TaskFailure): void {
    const state = this.tasks.get(work.idText)
    if (state == null || state.done || !state.running.has(worker)) return
    state.running.delete(worker)
    this.c.metrics?.taskFinished('requester', failure.kind === 'refused' ? 'rejected' : failure.blame === 'Timeout' ? 'timed-out' : 'failed')
    const record = state.records.findLast((r) => r.worker === worker)
    if (failure.kind === 'refused') {
      // The lease could not take it now: not the worker's doing, nor about this task; it may take it again.
      if (record != null) state.records.splice(state.records.indexOf(record), 1)
      state.excluded.delete(worker)
    } else {
      if (record != null) Object.assign(record, { status: 'failed', error: failure.reason })
      if (failure.kind === 'blamed' && failure.blame != null) {
        this.c.reputation.record(worker, failure.blame === 'Timeout' ? 'timeout' : 'failure')
        this.c.reportPeer(worker, failure.blame)
      } else if (failure.kind === 'lost') {
        // Evidence for ranking, not a penalty (a worker that goes away). It may come back (a
        // restart): on a lease opened after this, it may take the task once more (not when the
        // lease broke by its fault: `blame`, reported once by the lease).
        this.c.reputation.record(worker, 'failure')
        if (failure.blame == null) lostOn(state, worker)
      }
    }
    work.onEvent({ stage: 'retry', worker, reason: failure.reason })
    this.placement.enqueue(state, true)
    this.placement.pump()
  }

  // Verification -------------------------------------------------------------------------------

  /** Decides a task whose replicas are in; `atDeadline`: with the results in hand, no more replicas. */
  private async judge (state: TaskState, atDeadline = false, wait?: PlacementWait): Promise<void> {
    const work = state.work
    const votes: Vote[] = state.results.map(({ result }) => ({ worker: result.worker, host: result.host, key: keyOf(result) }))
    const verdict = atDeadline
      ? decide({ replicas: votes.length, quorum: work.quorum, votes, outstanding: 0, extra: 0, maxExtra: 0 })
      : decide({ replicas: work.replicas, quorum: work.quorum, votes, outstanding: state.running.size, extra: state.extra, maxExtra: TIE_BREAK_REPLICAS })
    if (verdict.kind === 'wait') {
      this.placement.enqueue(state, true)
      this.placement.pump()
      return
    }
    if (verdict.kind === 'more') {
      state.extra += verdict.replicas
      this.placement.enqueue(state, true)
      this.placement.pump()
      return
    }
    state.done = true // no more placements; the spot check (if any) decides the rest
    this.placement.dequeue(state)
    // What is paid: the quorum's output. What is shown: that, or the one output all replicas
    // agree on when there were too few of them for the quorum (labelled unverified).
    let paidKey = verdict.kind === 'verified' ? verdict.key : undefined
    let outputKey = paidKey ?? (verdict.kind === 'unverified' && verdict.keys.length === 1 ? verdict.keys[0] : undefined)
    let local: TaskOutcome | undefined
    let spotCheck: 'passed' | 'failed' | 'not-checked' | undefined
    if (work.spotCheck && this.c.runLocally != null) {
      work.onEvent({ stage: 'spot-check' })
      try {
        local = await this.c.runLocally(work)
        const localKey = keyOfOutcome(local)
        spotCheck = localKey === outputKey ? 'passed' : 'failed'
        // The local run is the truth: a majority that disagrees with it is not paid.
        if (spotCheck === 'failed') paidKey = outputKey = localKey
      } catch (err) {
        // The local run failed for a local reason (busy, stopping, blob gone): not a check at all.
        log('spot check of %s not run: %s', work.idText, (err as Error).message)
        spotCheck = 'not-checked'
        local = undefined
      }
    }
    if (state.cancelled != null) {
      // Cancelled while the spot check ran: nobody is paid, as for any cancelled task.
      this.finalize(state, { status: 'cancelled', verified: false, replicas: state.records, agreeing: [], cost: 0, error: state.cancelled })
      return
    }
    const paid = this.settleReplicas(state, paidKey)
    this.finalize(state, verdictOf({ work, verdict, outputKey, paidKey, results: state.results.map((r) => r.result), records: state.records, spotCheck, local, wait }), paid)
  }

  /** Marks which replicas' results are paid (their leases hear it with the verdict); scores the ones that disagreed. */
  private settleReplicas (state: TaskState, accepted: string | undefined): Set<LeaseClient> {
    const paid = new Set<LeaseClient>()
    for (const { lease, result } of state.results) {
      const agrees = accepted != null && keyOf(result) === accepted
      const record = state.records.findLast((r) => r.worker === result.worker && r.status === 'done')
      if (record != null) {
        record.agreed = agrees
        record.cost = agrees ? result.cost : 0
      }
      if (agrees) paid.add(lease)
      if (agrees) {
        this.c.reputation.record(result.worker, 'success')
        this.c.reputation.observeSpeed(result.worker, result.fuel, result.observedMs)
      }
      else if (accepted != null) {
        // Outvoted, or caught by the spot check: not paid, and it costs the worker.
        this.c.reputation.record(result.worker, 'mismatch')
        this.c.reportPeer(result.worker, 'WrongResult')
      }
    }
    return paid
  }

  /**
   * Ends a task with its verdict; the leases of its results hear whether each is paid (`paid`:
   * those that are; none when it ended without a decision, cancelled say), with the promise of
   * the verdict's record: a lease acknowledges a result as paid only once it is recorded.
   */
  private finalize (state: TaskState, verdict: ReturnType<typeof verdictOf>, paid?: Set<LeaseClient>): void {
    state.done = true
    this.tasks.delete(state.work.idText)
    this.placement.dequeue(state)
    for (const lease of state.running.values()) this.withdraw(state, lease)
    state.running.clear()
    let recorded: Promise<boolean> | undefined
    try {
      recorded = state.work.onVerdict(verdict) ?? undefined
    } catch (err) {
      log.error('verdict handler of %s failed: %e', state.work.idText, err)
    }
    for (const { lease } of state.results) lease.decide(state.work.idText, paid?.has(lease) === true, recorded)
  }

  /** Withdraws a replica still running: it ends here as cancelled. */
  private withdraw (state: TaskState, lease: LeaseClient): void {
    this.c.metrics?.taskFinished('requester', 'cancelled')
    lease.cancel(state.work)
  }

  /**
   * Says why waiting tasks wait (each task's owner hears when the reason changes), and ends tasks
   * past their deadline with what they have: the reason they waited, when it was the workers.
   */
  private checkDeadlines (): void {
    const now = Date.now()
    const classes: ReviewCache = new Map()
    for (const state of [...this.tasks.values()]) {
      if (state.done) continue
      const wait = this.review(state, classes)
      if (state.work.deadline > now) continue
      if (state.results.length > 0) {
        // Decide with the results in hand; unanswered replicas are withdrawn.
        for (const lease of state.running.values()) this.withdraw(state, lease)
        state.running.clear()
        void this.judge(state, true, wait)
        continue
      }
      // Nothing runs it and no worker known could: that is why it has no result, not slowness.
      this.finalize(state, deadlineVerdict(state.records, state.running.size === 0 ? wait : undefined))
    }
  }

  /** Why a task cannot get all its replicas from the workers known now (undefined: it can, or it needs none); its owner hears of a change. */
  private review (state: TaskState, classes: ReviewCache): PlacementWait | undefined {
    const known = this.c.knownWorkers
    let wait: PlacementWait | undefined
    if (state.queued && known != null) {
      const classKey = state.work.classKey
      let review = classes.get(classKey)
      if (review == null) {
        review = { workers: knownWorkers(state.work.requirements, known(), this.c.pool.declinesOf(classKey), this.c.self), fresh: new Map() }
        classes.set(classKey, review)
      }
      // A task never placed nor failed anywhere (most queued tasks, e.g. 100,000 jobs submitted at
      // once) waits for the same reason as every other such task of its class and replica count:
      // decided once per sweep, not once per task.
      if (state.running.size === 0 && state.results.length === 0 && state.excluded.size === 0) {
        const replicas = state.work.replicas + state.extra
        if (review.fresh.has(replicas)) wait = review.fresh.get(replicas)
        else review.fresh.set(replicas, wait = placementWait(review.workers, replicasOf(state)))
      } else {
        wait = placementWait(review.workers, replicasOf(state))
      }
    }
    if (wait?.message !== state.wait?.message) {
      state.wait = wait
      state.work.onEvent({ stage: 'waiting', wait })
    }
    return wait
  }

  /** Fails the waiting tasks of a class nobody will take (only permanent refusals came back). */
  noBids (classKey: string, reasons: Record<string, number>): void {
    const waiting = this.placement.waiting(classKey)
    if (waiting == null) return
    const counts = Object.entries(reasons).map(([r, n]) => `${n} × ${r}`).join(', ')
    const classes: ReviewCache = new Map()
    for (const state of waiting) {
      if (state.results.length > 0 || state.running.size > 0) continue
      const wait = this.review(state, classes)
      const message = `no peer bid on a lease for the task; declines: ${counts}${wait != null ? `; ${wait.message}` : ''}`
      this.finalize(state, { status: 'failed', verified: false, replicas: state.records, agreeing: [], cost: 0, error: { code: 'ERR_NO_BIDS', message, reasons } })
    }
  }

  /** Stops everything: waiting and running tasks end as cancelled (the owners decide what that means). */
  cancelAll (error: JobError): void {
    for (const state of [...this.tasks.values()]) this.cancel(state.work.idText, error)
  }
}
