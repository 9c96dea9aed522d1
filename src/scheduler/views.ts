/**
 * What a requester can look up about the jobs and batches it submitted and the leases it served:
 * summaries, results, task records and output files, from the records on disk merged with what
 * is still running (whose newest state is in memory).
 */
import { CID } from 'multiformats/cid'
import type { BlobStore } from './blob-store.ts'
import { BatchNotFoundError, BatchTaskNotFoundError, JobNotFoundError, OutputFileNotFoundError } from './errors.ts'
import { servedLeaseState, unacknowledgedResults } from './served-lease-state.ts'
import { FINAL_STATUSES, type BatchTaskRecord, type JobStore, type LeaseDigest, type LeaseRecord, type RequestedJob } from './job-store.ts'
import { mergeNewestFirst } from '../shared/newest-first.ts'
import type { Batches, BatchResult } from './requester/batches.ts'
import { summary } from './requester/batches.ts'
import { toResult, type Jobs, type JobResult } from './requester/jobs.ts'
import { outputFile, outputFileList, type OutputFileInfo } from './requester/trees.ts'

export interface JobSummary {
  id: string
  /** requester: this node submitted the job or batch; worker: a lease this node served. */
  role: 'requester' | 'worker'
  kind: 'job' | 'batch' | 'lease'
  /**
   * A job's `JobStatus`; a batch's `running`, `done` or `cancelled`; a lease's `running` while it
   * is open, `done` once it ended with every result it returned acknowledged (however it ended:
   * closed, expired, its requester gone), else why it ended (the error code it broke on, or
   * `closed`, `ERR_LEASE_EXPIRED`… with results unacknowledged: `unacknowledged` says how many).
   */
  status: string
  createdAt: number
  updatedAt?: number
  requester: string
  workers: string[]
  exitCode?: number
  verified?: boolean
  cost?: number
  error?: string
  /** Batches: tasks, and how many ended; leases: tasks run. */
  tasks?: number
  done?: number
  /** Worker role: credits claimed and acknowledged on the lease. */
  earned?: number
  /** Worker role: results the lease returned that no acknowledgement covers (unpaid unless a lease-tail claim gets them acknowledged). */
  unacknowledged?: number
  /** Requester role, while it runs: why it (a batch: some of its tasks) waits for workers (see `PlacementWait`). */
  waiting?: string
}

/** A lease served now or before, as a listing first sees it: with its record when it is open (from memory). */
export interface ServedLeaseDigest extends LeaseDigest {
  record?: LeaseRecord
}

export interface JobViewsComponents {
  records: JobStore
  blobs: BlobStore
  jobs: Jobs
  batches: Batches
  /** Leases served now (the worker's; `reason` is `open`). */
  openLeases?: () => LeaseRecord[]
}

export class JobViews {
  private readonly c: JobViewsComponents

  constructor (components: JobViewsComponents) {
    this.c = components
  }

  /** Jobs and batches this node requested and leases it served, newest first. */
  async jobs (): Promise<JobSummary[]> {
    const out: JobSummary[] = []
    for await (const stored of this.c.records.allRequested()) {
      const r = this.c.jobs.liveRecord(stored.id) ?? stored
      out.push(requestedSummary(r))
    }
    for await (const b of this.c.records.allBatches()) {
      const waiting = this.c.batches.waitOf(b.id)
      out.push({
        id: b.id, role: 'requester', kind: 'batch', status: b.status, createdAt: b.createdAt, updatedAt: b.updatedAt, requester: b.body.requester,
        workers: [], cost: b.cost, tasks: b.body.tasks, done: b.done, ...(b.failed > 0 ? { error: `${b.failed} task(s) not completed` } : {}),
        ...(waiting != null ? { waiting: `${waiting.tasks} task${waiting.tasks === 1 ? '' : 's'} waiting: ${waiting.message}` } : {})
      })
    }
    for (const l of await this.servedLeases()) out.push(leaseSummary(l))
    return out.sort((a, b) => b.createdAt - a.createdAt)
  }

  /** Leases this node serves now (`reason` `open`), then those it served, each once. */
  async servedLeases (): Promise<LeaseRecord[]> {
    const out = this.c.openLeases?.() ?? []
    const open = new Set(out.map((l) => l.leaseId))
    for await (const l of this.c.records.allLeases()) if (!open.has(l.leaseId)) out.push(l)
    return out
  }

  /**
   * Leases this node serves now and those it served, each once, newest first (by start), without
   * reading the stored records (read those shown with `servedLease`): the open ones from memory
   * with their records, the others from the store's time index.
   */
  servedLeasesNewestFirst (): AsyncGenerator<ServedLeaseDigest> {
    const open = (this.c.openLeases?.() ?? []).sort((a, b) => b.startedAt - a.startedAt)
    const openIds = new Set(open.map((l) => l.leaseId))
    const opened = open.map((record): ServedLeaseDigest => ({ id: record.leaseId, startedAt: record.startedAt, reason: record.reason, record }))
    const stored = async function * (records: JobStore): AsyncGenerator<ServedLeaseDigest> {
      for await (const digest of records.leasesNewestFirst()) if (!openIds.has(digest.id)) yield digest
    }
    return mergeNewestFirst([opened, stored(this.c.records)], (l) => l.startedAt)
  }

  /** A lease this node serves now (`reason` `open`) or served. */
  async servedLease (id: string): Promise<LeaseRecord | undefined> {
    return this.c.openLeases?.().find((l) => l.leaseId === id) ?? await this.c.records.getLease(id)
  }

  /** One requested job's result as far as known (output loaded from the blob store). */
  async job (id: string): Promise<JobResult> {
    const record = this.c.jobs.liveRecord(id) ?? await this.c.records.getRequested(id)
    if (record == null) throw new JobNotFoundError(id)
    const stdout = record.outputCid != null ? (await this.c.blobs.get(CID.parse(record.outputCid))) ?? new Uint8Array(0) : new Uint8Array(0)
    const stderr = record.stderrCid != null ? (await this.c.blobs.get(CID.parse(record.stderrCid))) ?? new Uint8Array(0) : new Uint8Array(0)
    const files = record.filesCid != null ? await outputFileList(this.c.blobs, record.filesCid).catch(() => undefined) : undefined
    return toResult(record, stdout, stderr, undefined, files)
  }

  /** The raw record of a requested job (for the API's details). */
  async record (id: string): Promise<RequestedJob> {
    const record = this.c.jobs.liveRecord(id) ?? await this.c.records.getRequested(id)
    if (record == null) throw new JobNotFoundError(id)
    return record
  }

  /** A batch's summary. */
  async batch (id: string): Promise<BatchResult> {
    const record = this.c.batches.liveRecord(id) ?? await this.c.records.getBatch(id)
    if (record == null) throw new BatchNotFoundError(id)
    const waiting = this.c.batches.waitOf(id)
    return { ...summary(record), ...(waiting != null ? { waiting } : {}) }
  }

  /**
   * A batch's task records in index order, from `from` on, at most `limit`, as current as the
   * batch (finished tasks not yet written to disk included).
   */
  async batchTasks (id: string, from = 0, limit = 1000): Promise<BatchTaskRecord[]> {
    if (this.c.batches.liveRecord(id) == null && await this.c.records.getBatch(id) == null) throw new BatchNotFoundError(id)
    const recent = new Map(this.c.batches.unwritten(id).map((t) => [t.index, t]))
    const out: BatchTaskRecord[] = []
    for await (const task of this.c.records.batchTasksOf(id)) {
      if (task.index < from) continue
      out.push(recent.get(task.index) ?? task)
      if (out.length >= limit) break
    }
    return out
  }

  /** Whether a job or batch has ended (false while it runs here, or was left unfinished). */
  async isFinal (id: string): Promise<boolean> {
    const job = await this.c.records.getRequested(id)
    if (job != null) return FINAL_STATUSES.has(job.status)
    const batch = await this.c.records.getBatch(id)
    if (batch == null) throw new JobNotFoundError(id)
    return batch.status !== 'running'
  }

  /**
   * One output file of a job, by its path under /out: its entry (size, CID) and bytes. Throws
   * `JobNotFoundError`, or `OutputFileNotFoundError` when the job left no such file (or its
   * files were deleted).
   */
  async jobFile (id: string, path: string): Promise<{ info: OutputFileInfo, bytes: Uint8Array }> {
    const record = await this.record(id)
    const file = record.filesCid != null ? await outputFile(this.c.blobs, record.filesCid, path) : undefined
    if (file == null) throw new OutputFileNotFoundError(id, path)
    return file
  }

  /**
   * Task `index` of a batch with its outputs in the blob store (undefined: no such task). A
   * running batch writes finished tasks in bulk, after their events: this writes them first.
   */
  async batchTaskStored (id: string, index: number): Promise<BatchTaskRecord | undefined> {
    await this.c.batches.flushed(id)
    const [task] = await this.batchTasks(id, index, 1)
    return task?.index === index ? task : undefined
  }

  /**
   * One output file of task `index` of a batch (as `jobFile`; `BatchNotFoundError` for an unknown
   * batch, `BatchTaskNotFoundError` for a task it does not have).
   */
  async batchTaskFile (id: string, index: number, path: string): Promise<{ info: OutputFileInfo, bytes: Uint8Array }> {
    const task = await this.batchTaskStored(id, index)
    if (task == null) throw new BatchTaskNotFoundError(id, index)
    const file = task.filesCid != null ? await outputFile(this.c.blobs, task.filesCid, path) : undefined
    if (file == null) throw new OutputFileNotFoundError(`${id}/${index}`, path, `task ${index} of batch ${id}`)
    return file
  }
}

function requestedSummary (r: RequestedJob): JobSummary {
  return {
    id: r.id,
    role: 'requester',
    kind: 'job',
    status: r.status,
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
    requester: r.body.requester,
    workers: r.replicas.filter((x) => x.status !== 'failed').map((x) => x.worker),
    exitCode: r.exitCode,
    verified: r.verified,
    cost: r.cost,
    error: r.error?.message,
    ...(r.waiting != null ? { waiting: r.waiting.message } : {})
  }
}

function leaseSummary (l: LeaseRecord): JobSummary {
  // As the API lists it (served-lease-state.ts): done unless it left results unacknowledged.
  const unacknowledged = unacknowledgedResults(l)
  const { status } = servedLeaseState(l.reason, unacknowledged)
  return {
    id: l.leaseId,
    role: 'worker',
    kind: 'lease',
    status: status === 'running' ? 'running' : status === 'completed' ? 'done' : l.reason,
    ...(unacknowledged != null && unacknowledged > 0 ? { unacknowledged } : {}),
    createdAt: l.startedAt,
    updatedAt: l.endedAt,
    requester: l.requester,
    workers: [],
    tasks: l.tasks,
    earned: l.paid
  }
}
