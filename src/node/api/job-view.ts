/**
 * What the API (and so the CLI and the dashboard) shows of a job: its state in words that do not
 * lie (see src/job-status.ts), who runs it now, the module's name, what it cost.
 *
 * The scheduler records a job's outcome (`completed` only for a verified result, `unverified`,
 * `failed`, `timed-out`, `cancelled`); this file adds what operators read from it: a program that
 * exited non-zero reads `failed` with its exit code, an unverified one `completed` with
 * `verified: false` (shown `unverified`), a running one who runs it.
 */
import type { LeaseRecord, RequestedJob } from '../../scheduler/job-store.ts'
import { servedLeaseState, unacknowledgedResults } from '../../scheduler/served-lease-state.ts'
import type { JobResult, WorkerOutcome } from '../../scheduler/requester/jobs.ts'
import type { OutputFileInfo } from '../../scheduler/requester/trees.ts'
import type { JobState } from '../../job-status.ts'
import type { PlacementWait } from '../../scheduler/requester/placement.ts'
import type { JobLive } from '../job-activity.ts'
import type { JobLabel } from '../job-labels.ts'
import type { RequestedDigest } from '../../scheduler/requested-index.ts'

/** One line of the jobs list. */
export interface JobSummaryView {
  id: string
  role: 'requester' | 'worker'
  status: JobState
  verified: boolean
  /**
   * Why it failed, timed out or was cancelled; a lease served here (role `worker`) that completed
   * other than by being closed or expiring: how it ended (`the lease ended early: CODE`).
   */
  reason?: string
  /**
   * While it is queued or running: why it waits for workers (no capable worker known, or fewer
   * than its replicas): `code` is the error it ends with if its deadline comes first
   * (`ERR_NO_CAPABLE_WORKERS`, `ERR_NOT_ENOUGH_WORKERS`), `message` the reason in words,
   * `reasons` the known workers that cannot take it by why, `since` when it began to wait.
   */
  waiting?: PlacementWait
  /** Workers running it now (requester role). */
  running: string[]
  /** Workers that returned a result (requester role). */
  workers: string[]
  /** The requester (worker role: who this node ran it for). */
  requester: string
  /** The module's file name when submitted here, else its CID. */
  module: string
  exitCode?: number
  /** Fuel the accepted run used (decimal; worker role: the lease's tasks together). */
  fuel?: string
  cost?: number
  createdAt: number
  updatedAt?: number
}

/** One job in full (GET /v1/jobs/:id): the summary plus the result without the output bytes. */
export interface JobDetailView extends Omit<JobSummaryView, 'workers'> {
  /** Every worker that took the job, with its outcome. */
  workers: WorkerOutcome[]
  moduleCid: string
  moduleBytes: number
  inputBytes: number
  replicas: number
  quorum: number
  deadline: number
  trap?: string
  /** The fuel limit of each run (decimal). */
  fuelLimit?: string
  /** The job's input tree (/in): its manifest's CID and the files' total bytes. */
  inFiles?: { cid: string, bytes: number }
  outputCid?: string
  outputBytes: number
  /** CID of the manifest of the files the accepted run left in /out. */
  filesCid?: string
  /** Those files, in manifest order (bytes: GET /v1/jobs/:id/files/<path>). */
  files?: OutputFileInfo[]
  stderr: string
  spotCheck?: 'passed' | 'failed' | 'not-checked'
  error?: { code: string, message: string, reasons?: Record<string, number> }
}

/** The state of a job this node requested, from its record and what is happening now. */
export function requestedState (record: RequestedJob, live?: JobLive): { status: JobState, reason?: string, running: string[] } {
  switch (record.status) {
    case 'cancelled': {
      // "cancelled: the job was cancelled" says nothing twice.
      const reason = record.error?.message === 'the job was cancelled' ? undefined : record.error?.message
      return { status: 'cancelled', ...(reason != null ? { reason } : {}), running: [] }
    }
    case 'failed':
    case 'timed-out':
      return { status: record.status, ...(record.error != null ? { reason: record.error.message } : {}), running: [] }
    case 'unverified':
      return { status: 'completed', ...(record.error != null ? { reason: record.error.message } : {}), running: [] }
    case 'completed':
      if (record.trap != null) return { status: 'failed', reason: `the program stopped: ${record.trap}`, running: [] }
      if (record.exitCode !== 0) return { status: 'failed', reason: `the program exited with code ${record.exitCode ?? '?'}`, running: [] }
      return { status: 'completed', running: [] }
    default: {
      // Unfinished: running once a worker took it, queued until then.
      const running = record.replicas.filter((r) => r.status === 'running').map((r) => r.worker)
      const fromEvents = live != null && !live.finished ? [...live.running] : []
      const all = [...new Set([...running, ...fromEvents])]
      return all.length > 0 ? { status: 'running', running: all } : { status: 'queued', running: [] }
    }
  }
}

/** The state of a job that ended, from its index digest alone (as `requestedState` gives it from the record). */
export function digestState (d: RequestedDigest): { status: JobState, verified: boolean } {
  const status: JobState = d.status === 'unverified' ? 'completed' : d.status === 'completed' && !d.ok ? 'failed' : d.status === 'queued' || d.status === 'running' ? 'queued' : d.status
  return { status, verified: d.verified }
}

export function requestedSummary (record: RequestedJob, live: JobLive | undefined, label: JobLabel): JobSummaryView {
  const { status, reason, running } = requestedState(record, live)
  return {
    id: record.id,
    role: 'requester',
    status,
    verified: record.verified === true,
    ...(reason != null ? { reason } : {}),
    ...(record.waiting != null && (status === 'queued' || status === 'running') ? { waiting: record.waiting } : {}),
    running,
    workers: record.replicas.filter((r) => r.status === 'done').map((r) => r.worker),
    requester: record.body.requester,
    module: label.module ?? record.body.module.toString(),
    exitCode: record.exitCode,
    ...(record.fuel != null ? { fuel: record.fuel } : {}),
    cost: record.cost ?? 0,
    createdAt: record.createdAt,
    updatedAt: record.updatedAt
  }
}

/**
 * A lease this node serves or served for a peer: its tasks run here. `running` while it is open,
 * then `completed` or `failed` as served-lease-state.ts decides (by the results left
 * unacknowledged, not by how the stream ended). `cost` is what the requester acknowledged
 * (earned), or what the chain paid for the lease when that is more (recorded a minute after it
 * ended).
 */
export function leaseSummaryView (lease: LeaseRecord): JobSummaryView {
  const { status, verified, reason } = leaseState(lease.reason, unacknowledgedResults(lease))
  return {
    id: lease.leaseId,
    role: 'worker',
    status,
    verified,
    ...(reason != null ? { reason } : {}),
    running: [],
    workers: [],
    requester: lease.requester,
    module: `lease (${lease.tasks} task${lease.tasks === 1 ? '' : 's'})`,
    ...(lease.fuel != null ? { fuel: lease.fuel } : {}),
    cost: lease.paid,
    createdAt: lease.startedAt,
    updatedAt: lease.endedAt
  }
}

/**
 * The state of a lease served here, from its end reason (`open` while it is served) and the
 * results it left unacknowledged (undefined: its record does not say): the same from its record
 * as from its index digest, which the list filters on.
 */
export function leaseState (endReason: string, unacknowledged?: number): { status: JobState, verified: boolean, reason?: string } {
  const { status, reason } = servedLeaseState(endReason, unacknowledged)
  // Verification is the requester's verdict; the worker does not know it.
  return { status, verified: false, ...(reason != null ? { reason } : {}) }
}

export function requestedDetail (record: RequestedJob, result: JobResult, live: JobLive | undefined, label: JobLabel): JobDetailView {
  const body = record.body
  const summary = requestedSummary(record, live, label)
  // A job that ended leaves no worker running it, whatever its record last said of the replica.
  const ended = summary.status !== 'queued' && summary.status !== 'running'
  const workers = result.workers.map((w) => ended && w.status === 'running'
    ? { ...w, status: 'failed' as const, error: w.error ?? `stopped: the job ${summary.status === 'cancelled' ? 'was cancelled' : `ended (${summary.status})`}` }
    : w)
  return {
    ...summary,
    moduleCid: body.module.toString(),
    moduleBytes: body.moduleBytes,
    inputBytes: body.inputBytes,
    replicas: body.replicas,
    quorum: body.quorum,
    deadline: body.deadline,
    ...(result.trap != null ? { trap: result.trap } : {}),
    // The body holds bigints: only their decimal text goes into a view.
    fuelLimit: body.fuel.toString(),
    ...(body.files != null ? { inFiles: { cid: body.files.cid.toString(), bytes: body.files.size } } : {}),
    ...(result.outputCid != null ? { outputCid: result.outputCid } : {}),
    outputBytes: result.stdout.byteLength,
    ...(result.filesCid != null ? { filesCid: result.filesCid } : {}),
    ...(result.files != null ? { files: result.files } : {}),
    stderr: new TextDecoder().decode(result.stderr.subarray(0, 64 * 1024)),
    workers,
    ...(result.spotCheck != null ? { spotCheck: result.spotCheck } : {}),
    ...(result.error != null ? { error: result.error } : {})
  }
}
