/**
 * Batches: one module over many inputs, each input a task with the batch's replicas, limits and
 * price cap. Inputs are pinned and every task recorded when the batch is submitted; tasks are fed
 * to the dispatcher a few thousand at a time (memory stays bounded whatever the batch size);
 * results are recorded in bulk as they arrive, and reported per task and as progress.
 */
import { cidText } from '../../proofs/encoding.ts'
import { CID } from 'multiformats/cid'
import { logger } from '@libp2p/logger'
import type { BlobStore } from '../blob-store.ts'
import { INLINE_BYTES } from '../constants.ts'
import { cancelMessage } from '../errors.ts'
import { batchTaskSpec, requirementsOf, type BatchBody, type BatchTaskInit } from '../job.ts'
import { FINAL_STATUSES, type BatchRecord, type BatchTaskRecord, type JobStore } from '../job-store.ts'
import { requirementsKey, taskId } from '../task.ts'
import type { Dispatcher } from './dispatcher.ts'
import { NodeStoppedError } from '../errors.ts'
import { loadInputTreeRef } from './trees.ts'
import type { InputTreeRef, TaskVerdict, TaskWork } from './types.ts'
import { recordVerdict, writeRun, type Run } from './batch-run.ts'

import { BatchHandle, summary, type BatchProgress, type BatchResult } from './batch-handle.ts'
import type { PlacementWait } from './placement.ts'

export { BatchHandle, summary, type BatchHandleEvents, type BatchProgress, type BatchResult, type BatchTaskResult } from './batch-handle.ts'

const log = logger('depin:requester:batch')

/** Tasks of one batch in the dispatcher at once. */
const MAX_IN_FLIGHT = 4096
/** Task records and outputs are written at least this often, or once this many are waiting. */
const FLUSH_MS = 100
const FLUSH_RECORDS = 512
/** A finished batch whose records could not be written tries again after this, doubling to WRITE_RETRY_MAX_MS. */
const WRITE_RETRY_MS = 1_000
const WRITE_RETRY_MAX_MS = 60_000
/** Inputs pinned per write when a batch is submitted. */
const PIN_CHUNK = 1000


export interface BatchesComponents {
  blobs: BlobStore
  records: JobStore
  dispatcher: Dispatcher
  spotCheckRate: number
  /** The records outlive a stop (a data dir): unfinished batches resume at the next start. @default true */
  resumes?: boolean
}

/** The record of a verdict that is not written (the node stops). */
const NOT_RECORDED = Promise.resolve(false)

export class Batches {
  private readonly c: BatchesComponents
  private readonly runs = new Map<string, Run>()
  private stopping = false

  constructor (components: BatchesComponents) {
    this.c = components
  }

  /** Pins the inputs, records the batch and its tasks (`sync`: on the disk before this resolves), and starts placing them. */
  async submit (body: BatchBody, id: CID, tasks: BatchTaskInit[], options: { spotCheck?: boolean, tree?: InputTreeRef, sync?: boolean } = {}): Promise<BatchHandle> {
    const records: BatchTaskRecord[] = []
    const inputs = new Map<number, Uint8Array>()
    for (let start = 0; start < tasks.length; start += PIN_CHUNK) {
      const chunk = tasks.slice(start, start + PIN_CHUNK)
      const cids = await this.c.blobs.pinMany(chunk.map((t) => ({ bytes: t.input })))
      for (const [j, task] of chunk.entries()) {
        const index = start + j
        records.push({
          index,
          ...(task.name != null ? { name: task.name } : {}),
          input: cids[j],
          inputBytes: task.input.byteLength,
          ...(task.args != null ? { args: task.args } : {}),
          ...(task.env != null ? { env: task.env } : {}),
          status: 'queued'
        })
        inputs.set(index, task.input)
      }
      await this.c.records.putBatchTasks(id.toString(), records.slice(start))
    }
    const now = Date.now()
    const record: BatchRecord = { id: id.toString(), body, status: 'running', createdAt: now, updatedAt: now, done: 0, failed: 0, verified: 0, cost: 0, ...(options.spotCheck != null ? { spotCheck: options.spotCheck } : {}) }
    // The batch's record last: with `sync`, one synced write puts everything before it on the disk too.
    await this.c.records.putBatch(record, { sync: options.sync })
    return this.start(record, records, inputs, options.tree)
  }

  /** Resumes the batches a previous run left unfinished. */
  async resume (): Promise<void> {
    this.stopping = false
    for await (const record of this.c.records.allBatches()) {
      if (record.status !== 'running') continue
      const waiting: BatchTaskRecord[] = []
      // The counters are what the task records say: a stop or crash can come between writing
      // the task records and the batch record, either way round.
      Object.assign(record, { done: 0, failed: 0, verified: 0, cost: 0 })
      for await (const task of this.c.records.batchTasksOf(record.id)) {
        if (!FINAL_STATUSES.has(task.status)) {
          waiting.push(task)
          continue
        }
        record.done++
        if (task.status !== 'completed') record.failed++
        if (task.verified === true) record.verified++
        record.cost += task.cost ?? 0
      }
      // (input files that are gone fail the tasks when they are fed)
      const tree = record.body.files != null ? await loadInputTreeRef(this.c.blobs, record.body.files).catch(() => undefined) : undefined
      const run = this.open(record, waiting, undefined, tree)
      if (waiting.length === 0) void this.complete(run)
      else if (record.cancelled === true) {
        // Cancelled (and answered) before the node went down, with tasks still being cancelled.
        run.cancelled = true
        run.next = waiting.length
        for (const task of waiting) void this.finish(run, task, { status: 'cancelled', verified: false, replicas: [], agreeing: [], cost: 0, error: { code: 'ERR_JOB_CANCELLED', message: 'the batch was cancelled' } })
      } else if (record.body.deadline <= Date.now()) {
        // As for jobs: tasks of a batch whose deadline passed while the node was down are not placed.
        run.next = waiting.length
        for (const task of waiting) void this.finish(run, task, { status: 'timed-out', verified: false, replicas: [], agreeing: [], cost: 0, error: { code: 'ERR_JOB_TIMEOUT', message: 'the node was down until after the batch\'s deadline' } })
      } else void this.feed(run)
    }
  }

  handle (id: string): BatchHandle | undefined {
    return this.runs.get(id)?.handle
  }

  /** A running batch's record (counters current), if it runs here. */
  liveRecord (id: string): BatchRecord | undefined {
    return this.runs.get(id)?.record
  }

  /** Finished task records of a running batch that are not on disk yet. */
  unwritten (id: string): BatchTaskRecord[] {
    return [...(this.runs.get(id)?.unwritten.values() ?? [])]
  }

  /**
   * Writes what a running batch has finished but not yet written (outputs first, then records:
   * finished tasks are written in bulk), and waits for writes under way. A reader that saw a
   * task's event then finds the task's output and files in the blob store.
   */
  async flushed (id: string): Promise<void> {
    const run = this.runs.get(id)
    if (run == null) return
    if (run.dirty.length > 0) await this.flush(run)
    else await run.flushing
  }

  /**
   * Cancels a batch of this run (`reason` goes into the error's message); resolves with false
   * when it is not running here, else with true once the cancel is on the disk (synced): the
   * batch's record says so, with its tasks cancelled by then, so a restart does not place it again.
   */
  async cancel (id: string, reason?: unknown): Promise<boolean> {
    const run = this.runs.get(id)
    if (run == null) return false
    if (!run.cancelled) {
      run.cancelled = true
      run.record.cancelled = true
      const error = { code: 'ERR_JOB_CANCELLED', message: cancelMessage('the batch was cancelled', reason) }
      const unplaced = run.waiting.slice(run.next)
      run.next = run.waiting.length
      for (const task of unplaced) void this.finish(run, task, { status: 'cancelled', verified: false, replicas: [], agreeing: [], cost: 0, error })
      for (const taskText of [...run.inFlight.values()]) this.c.dispatcher.cancel(taskText, error)
    }
    if (!await this.flush(run, true)) log.error('recording the cancel of batch %s failed', id)
    return true
  }

  /**
   * The node is stopping: handles resolve with ERR_NODE_STOPPED (not a cancel), records stay
   * unfinished for the next start; what finished before the stop is written first (the next
   * start would run it again otherwise).
   */
  async stop (): Promise<void> {
    this.stopping = true
    const runs = [...this.runs.values()]
    this.runs.clear()
    for (const run of runs) {
      const error = new NodeStoppedError(`batch ${run.record.id}`, this.c.resumes ?? true)
      run.result.resolve({ ...summary(run.record), error: { code: error.code, message: error.message } })
    }
    await Promise.all(runs.map(async (run) => {
      await this.flush(run)
      // (what could not be written runs again at the next start: not paid now)
      run.recorded?.resolve(false)
    }))
  }

  private start (record: BatchRecord, waiting: BatchTaskRecord[], inputs?: Map<number, Uint8Array>, tree?: InputTreeRef): BatchHandle {
    const run = this.open(record, waiting, inputs, tree)
    if (waiting.length === 0) void this.complete(run)
    else void this.feed(run)
    return run.handle
  }

  /** A batch's run, registered (nothing placed yet). */
  private open (record: BatchRecord, waiting: BatchTaskRecord[], inputs?: Map<number, Uint8Array>, tree?: InputTreeRef): Run {
    const result = Promise.withResolvers<BatchResult>()
    const handle = new BatchHandle(record.id, record.body.tasks, result.promise, (reason) => { void this.cancel(record.id, reason) })
    const run: Run = {
      record, handle, result, requirements: requirementsOf(record.body), ...(tree != null ? { tree } : {}), waiting, next: 0, inputs, inFlight: new Map(), feeding: false,
      dirty: [], unwritten: new Map(), outputs: [], trees: [], flushing: Promise.resolve(), cancelled: false, waits: new Map()
    }
    this.runs.set(record.id, run)
    return run
  }

  /** Gives waiting tasks to the dispatcher while fewer than MAX_IN_FLIGHT are there. */
  private async feed (run: Run): Promise<void> {
    if (run.feeding) return
    run.feeding = true
    try {
      const id = CID.parse(run.record.id)
      const body = run.record.body
      const classKey = requirementsKey(run.requirements)
      while (run.next < run.waiting.length && run.inFlight.size < MAX_IN_FLIGHT && !run.cancelled && !this.stopping) {
        const task = run.waiting[run.next++]
        if (body.files != null && run.tree == null) {
          this.finish(run, task, { status: 'failed', verified: false, replicas: [], agreeing: [], cost: 0, error: { code: 'ERR_BLOB_MISSING', message: 'the batch\'s input files are no longer here' } })
          continue
        }
        const spec = batchTaskSpec(id, body, task.index, task)
        const tid = taskId(spec)
        let stdin: Uint8Array | undefined
        if (task.inputBytes <= INLINE_BYTES) {
          stdin = run.inputs?.get(task.index) ?? await this.c.blobs.get(task.input)
          // (the batch may have been cancelled, or the node stopped, while its input was read)
          if (run.cancelled || this.stopping) {
            if (run.cancelled) this.finish(run, task, { status: 'cancelled', verified: false, replicas: [], agreeing: [], cost: 0, error: { code: 'ERR_JOB_CANCELLED', message: 'the batch was cancelled' } })
            break
          }
          if (stdin == null) {
            this.finish(run, task, { status: 'failed', verified: false, replicas: [], agreeing: [], cost: 0, error: { code: 'ERR_BLOB_MISSING', message: 'the task\'s input is no longer here' } })
            continue
          }
        }
        run.inputs?.delete(task.index)
        // (no conditional spreads: this runs for every task of a batch)
        const work: TaskWork = {
          id: tid,
          idText: cidText(tid),
          spec,
          stdin,
          inputTree: run.tree,
          requirements: run.requirements,
          classKey,
          replicas: body.replicas,
          quorum: body.quorum,
          deadline: body.deadline,
          spotCheck: run.record.spotCheck ?? (Math.random() < this.c.spotCheckRate),
          onEvent: (event) => { if (event.stage === 'waiting') this.waiting(run, task.index, event.wait) },
          onVerdict: (verdict) => {
            run.inFlight.delete(task.index)
            const recorded = this.finish(run, task, verdict)
            void this.feed(run)
            return recorded
          }
        }
        run.inFlight.set(task.index, work.idText)
        this.c.dispatcher.submit(work)
      }
    } catch (err) {
      log.error('feeding batch %s failed: %e', run.record.id, err)
    } finally {
      run.feeding = false
    }
  }

  /** Why a running batch's tasks wait for workers: how many do, and the first one's reason. */
  waitOf (id: string): (PlacementWait & { tasks: number }) | undefined {
    const run = this.runs.get(id)
    const first = run?.waits.values().next().value
    return run != null && first != null ? { ...first, tasks: run.waits.size } : undefined
  }

  /** A task waits for workers (or no longer does): the batch's progress says so when its first waiting task's reason changes. */
  private waiting (run: Run, index: number, wait: PlacementWait | undefined): void {
    if (wait == null) run.waits.delete(index)
    else run.waits.set(index, { ...wait, since: run.waits.get(index)?.since ?? Date.now() })
    const shown = run.waits.values().next().value?.message
    if (shown === run.waitShown) return
    run.waitShown = shown
    if (run.handle.listenerCount('progress') > 0) run.handle.safeDispatchEvent('progress', { detail: this.progressOf(run) })
  }

  private progressOf (run: Run): BatchProgress {
    const r = run.record
    return { batchId: r.id, total: r.body.tasks, done: r.done, failed: r.failed, verified: r.verified, at: Date.now(), ...(run.waitShown != null ? { waiting: run.waitShown } : {}) }
  }

  /**
   * Records a task's verdict (written in bulk) and reports it. Returns the promise of its record:
   * true once written (shared by the records of one write), false if the node stops first.
   */
  private finish (run: Run, task: BatchTaskRecord, verdict: TaskVerdict): Promise<boolean> {
    if (this.stopping || this.runs.get(run.record.id) !== run) return NOT_RECORDED
    if (run.waits.delete(task.index)) run.waitShown = run.waits.values().next().value?.message
    const output = recordVerdict(run, task, verdict)
    const r = run.record
    run.dirty.push(task)
    run.unwritten.set(task.index, task)
    const recorded = (run.recorded ??= Promise.withResolvers<boolean>()).promise
    // (no event objects for a handle nobody listens to)
    if (run.handle.listenerCount('task') > 0) run.handle.safeDispatchEvent('task', {
      detail: {
        batchId: r.id, index: task.index, name: task.name, status: verdict.status, exitCode: output?.exitCode, trap: output?.trap,
        outputCid: task.outputCid, fuel: task.fuel, filesCid: task.filesCid,
        files: output?.files?.manifest.files.map((f) => ({ path: f.path, size: f.size, cid: f.cid.toString() })) ?? [],
        verified: verdict.verified, workers: task.workers ?? [], cost: verdict.cost, error: verdict.error,
        stdout: output?.stdout ?? new Uint8Array(0), stderr: output?.stderr ?? new Uint8Array(0)
      }
    })
    if (run.handle.listenerCount('progress') > 0) run.handle.safeDispatchEvent('progress', { detail: this.progressOf(run) })
    if (r.done >= r.body.tasks) void this.complete(run)
    else if (run.dirty.length >= FLUSH_RECORDS) void this.flush(run)
    else if (run.flushTimer == null) {
      run.flushTimer = setTimeout(() => { void this.flush(run) }, FLUSH_MS)
      run.flushTimer.unref?.()
    }
    return recorded
  }

  /** Writes what waits (task records, outputs, the batch's counters); false when a write failed (what it held waits again, for the next flush). `sync`: to the disk. */
  private async flush (run: Run, sync = false): Promise<boolean> {
    clearTimeout(run.flushTimer)
    run.flushTimer = undefined
    return await writeRun(run, this.c, sync)
  }

  private async complete (run: Run): Promise<void> {
    run.record.status = run.cancelled ? 'cancelled' : 'done'
    const written = await this.flush(run)
    // Its submitter hears now; the records follow (on disk the batch stays `running` until its
    // tasks are written, so a restart would resume what was not written instead of losing it).
    run.result.resolve(summary(run.record))
    if (!written && !this.stopping && this.runs.get(run.record.id) === run) {
      run.writeRetryMs = Math.min(WRITE_RETRY_MAX_MS, (run.writeRetryMs ?? WRITE_RETRY_MS / 2) * 2)
      run.flushTimer = setTimeout(() => { void this.complete(run) }, run.writeRetryMs)
      run.flushTimer.unref?.()
      return
    }
    this.runs.delete(run.record.id)
  }
}
