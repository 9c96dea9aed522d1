/** How the CLI words a job: its state (src/job-status.ts), the line `submit` and `job --wait` end with. */
import type { JobDetailView, JobSummaryView } from '../node/api/job-view.ts'
import { describeState, isFinalState } from '../job-status.ts'
import { DepinError } from '../errors.ts'
import { printable, shortPeer } from './output.ts'

/** A job that ended without succeeding; the CLI exits non-zero with its message. */
export class JobFailedError extends DepinError {
  constructor (message: string) {
    super(message, 'ERR_JOB_FAILED')
  }
}

export function stateText (job: Pick<JobSummaryView, 'status' | 'verified' | 'running' | 'reason' | 'role' | 'waiting'>): string {
  // A task run here for a peer: verification is the requester's verdict, not known here. A lease
  // that ended early with every result acknowledged says how it ended.
  if (job.role === 'worker' && job.status === 'completed') return `completed (ran here)${job.reason != null ? ` · ${printable(job.reason)}` : ''}`
  // A lease served now: open, its tasks run here as they come.
  if (job.role === 'worker' && job.status === 'running') return 'serving (lease open)'
  // (the reason may quote what a worker sent: escaped)
  return printable(describeState({ state: job.status, verified: job.verified, running: job.running, reason: job.reason, waiting: job.waiting?.message }, shortPeer))
}

export function isFinished (job: Pick<JobSummaryView, 'status'>): boolean {
  return isFinalState(job.status)
}

/** Throws the error an ended job deserves: anything but `completed` (verified or not) is a failure. */
export function assertSucceeded (job: JobDetailView): void {
  if (job.status === 'completed') return
  if (job.status === 'failed' && job.exitCode != null && job.trap == null && job.exitCode !== 0) {
    throw new JobFailedError(`job ${job.id}: the program exited with code ${job.exitCode}`)
  }
  if (job.status === 'failed' && job.trap != null) throw new JobFailedError(`job ${job.id}: the program stopped: ${job.trap}`)
  if (job.status === 'cancelled') {
    // "job X cancelled: the job was cancelled" said nothing twice; a reason given at cancel stays.
    const why = (job.reason ?? job.error?.message ?? '').replace(/^the (job|batch) was cancelled(: )?/, '')
    throw new JobFailedError(`job ${job.id} was cancelled${why !== '' ? `: ${why}` : ''}`)
  }
  const reasons = job.error?.reasons != null ? ` [${Object.entries(job.error.reasons).map(([r, n]) => `${r}: ${n}`).join(', ')}]` : ''
  throw new JobFailedError(`job ${job.id} ${job.status}: ${job.reason ?? job.error?.message ?? 'unknown error'}${reasons}`)
}
