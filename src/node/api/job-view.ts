/**
 * What the API (and so the CLI and the dashboard) shows of a job: its state in words that do not
 * lie (see src/job-status.ts), who runs it now, the module's name, what it cost.
 *
 * Today's records keep a job `queued` on disk until it ends and call a job that ran but timed out
 * or trapped `completed`; this file turns them into the states the scheduler is moving to
 * (`queued`, `running`, `completed`, `failed`, `timed-out`, `cancelled`, with `verified` apart).
 * When the scheduler records those states itself, `requestedState` reads them directly.
 */
import type { RanTask, RequestedJob } from '../../scheduler/job-store.ts'
import type { JobResult, WorkerOutcome } from '../../scheduler/requester-service.ts'
import type { JobState } from '../../job-status.ts'
import type { JobLive } from '../job-activity.ts'
import type { JobLabel } from '../job-labels.ts'

/** One line of the jobs list. */
export interface JobSummaryView {
  id: string
  role: 'requester' | 'worker'
  status: JobState
  verified: boolean
  /** Why it failed, timed out or was cancelled. */
  reason?: string
  /** Workers running it now (requester role). */
  running: string[]
  /** Workers that returned a result (requester role). */
  workers: string[]
  /** The requester (worker role: who this node ran it for). */
  requester: string
  /** The module's file name when submitted here, else its CID. */
  module: string
  exitCode?: number
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
  outputCid?: string
  outputBytes: number
  stderr: string
  spotCheck?: 'passed' | 'failed'
  error?: { code: string, message: string, reasons?: Record<string, number> }
}

const TIMEOUT_CODES = new Set(['ERR_JOB_TIMEOUT', 'ERR_DEADLINE_EXCEEDED'])

/** The state of a job this node requested, from its record and what is happening now. */
export function requestedState (record: RequestedJob, live?: JobLive): { status: JobState, reason?: string, running: string[] } {
  if (record.status === 'failed') {
    const code = record.error?.code
    const status: JobState = code === 'ERR_JOB_CANCELLED' ? 'cancelled' : code != null && TIMEOUT_CODES.has(code) ? 'timed-out' : 'failed'
    // "cancelled: the job was cancelled" says nothing twice.
    const reason = status === 'cancelled' && record.error?.message === 'the job was cancelled' ? undefined : record.error?.message
    return { status, ...(reason != null ? { reason } : {}), running: [] }
  }
  if (record.status === 'completed') {
    if (record.trap === 'timeout') return { status: 'timed-out', reason: `the program ran past its time limit of ${record.job.body.timeoutMs / 1000} s`, running: [] }
    if (record.trap != null) return { status: 'failed', reason: `the program stopped: ${record.trap}`, running: [] }
    if (record.exitCode !== 0) return { status: 'failed', reason: `the program exited with code ${record.exitCode ?? '?'}`, running: [] }
    return { status: 'completed', running: [] }
  }
  // Unfinished: running once a worker took it, queued until then.
  const running = live != null && !live.finished ? [...live.running] : []
  return running.length > 0 ? { status: 'running', running } : { status: 'queued', running: [] }
}

export function requestedSummary (record: RequestedJob, live: JobLive | undefined, label: JobLabel): JobSummaryView {
  const { status, reason, running } = requestedState(record, live)
  return {
    id: record.id,
    role: 'requester',
    status,
    verified: record.status === 'completed' && record.verified === true,
    ...(reason != null ? { reason } : {}),
    running,
    workers: record.replicas.filter((r) => r.status === 'done').map((r) => r.worker),
    requester: record.job.body.requester,
    module: label.module ?? record.job.body.module.toString(),
    exitCode: record.exitCode,
    cost: record.cost ?? 0,
    createdAt: record.createdAt,
    updatedAt: record.updatedAt
  }
}

/** A task this node ran for a peer. Worker-side records know the exit code, not the trap. */
export function ranSummary (task: RanTask): JobSummaryView {
  const status: JobState = task.status === 'running' ? 'running' : task.status === 'failed' || (task.exitCode ?? 0) !== 0 ? 'failed' : 'completed'
  return {
    id: task.jobId,
    role: 'worker',
    status,
    // Verification is the requester's verdict; the worker does not know it.
    verified: false,
    ...(task.error != null ? { reason: task.error } : task.exitCode != null && task.exitCode !== 0 ? { reason: `the program exited with code ${task.exitCode}` } : {}),
    running: [],
    workers: [],
    requester: task.requester,
    module: '-',
    exitCode: task.exitCode,
    createdAt: task.startedAt,
    updatedAt: task.finishedAt
  }
}

export function requestedDetail (record: RequestedJob, result: JobResult, live: JobLive | undefined, label: JobLabel): JobDetailView {
  const body = record.job.body
  const summary = requestedSummary(record, live, label)
  // A job that ended leaves no worker running it, whatever its record last said of the replica.
  const ended = summary.status !== 'queued' && summary.status !== 'running'
  const workers = result.workers.map((w) => ended && (w.status === 'accepted' || w.status === 'running')
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
    ...(result.outputCid != null ? { outputCid: result.outputCid } : {}),
    outputBytes: result.stdout.byteLength,
    stderr: new TextDecoder().decode(result.stderr.subarray(0, 64 * 1024)),
    workers,
    ...(result.spotCheck != null ? { spotCheck: result.spotCheck } : {}),
    ...(result.error != null ? { error: result.error } : {})
  }
}
