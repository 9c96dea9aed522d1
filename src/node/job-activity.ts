/**
 * What this node's requested jobs are doing right now, from their progress events: which workers
 * run each job, when it was submitted, and the recent events of each (so a client that subscribes
 * late still sees every stage). On disk a job stays `queued` until it ends; this is the live half
 * the API, the dashboard and the metrics read. Bounded: ended jobs are kept for the last
 * MAX_TRACKED_JOBS of them (oldest forgotten first); jobs still going are kept up to
 * MAX_ACTIVE_JOBS, so `depin_jobs_active` counts every job in flight, however many.
 */
import type { JobProgress } from '../scheduler/requester/jobs.ts'
import { FINAL_STATUSES, type JobStatus } from '../scheduler/job-store.ts'

export const MAX_TRACKED_JOBS = 1024
export const MAX_ACTIVE_JOBS = 1_000_000
export const MAX_EVENTS_PER_JOB = 64

export interface JobLive {
  jobId: string
  /** First event seen (usually `queued`, at submission). */
  since: number
  /** Latest stage. */
  stage: JobProgress['stage']
  /** Workers that accepted the job and have not returned (or failed) yet. */
  running: Set<string>
  /** Replica results received so far. */
  results: number
  events: JobProgress[]
  finished: boolean
}

export class JobActivity {
  /** Jobs still going, in submission order. */
  private readonly active = new Map<string, JobLive>()
  /** Ended jobs, in the order they ended (the last MAX_TRACKED_JOBS). */
  private readonly ended = new Map<string, JobLive>()

  /** Records one progress event. */
  add (progress: JobProgress): JobLive {
    let live = this.active.get(progress.jobId) ?? this.ended.get(progress.jobId)
    if (live == null) {
      live = { jobId: progress.jobId, since: progress.at, stage: progress.stage, running: new Set(), results: 0, events: [], finished: false }
      this.active.set(progress.jobId, live)
      if (this.active.size > MAX_ACTIVE_JOBS) this.active.delete(this.active.keys().next().value as string)
    }
    live.stage = progress.stage
    if (live.events.length < MAX_EVENTS_PER_JOB) live.events.push(progress)
    else if (isFinalStage(progress.stage)) live.events[live.events.length - 1] = progress
    const peer = progress.peerId
    switch (progress.stage) {
      case 'accepted':
      case 'running':
        if (peer != null) live.running.add(peer)
        break
      case 'result':
        if (peer != null) live.running.delete(peer)
        live.results++
        break
      case 'retry':
        if (peer != null) live.running.delete(peer)
        break
      default:
        // Every final stage (the job store's final statuses: completed, unverified, failed,
        // timed-out, cancelled) ends the job: nobody runs it any more.
        if (isFinalStage(progress.stage)) {
          live.running.clear()
          if (!live.finished) {
            live.finished = true
            this.active.delete(live.jobId)
            this.ended.set(live.jobId, live)
            if (this.ended.size > MAX_TRACKED_JOBS) this.ended.delete(this.ended.keys().next().value as string)
          }
        }
        break
    }
    return live
  }

  get (jobId: string): JobLive | undefined {
    return this.active.get(jobId) ?? this.ended.get(jobId)
  }

  /** Recent events of a job (empty when unknown). */
  events (jobId: string): JobProgress[] {
    return this.get(jobId)?.events ?? []
  }

  /** Jobs not finished yet, oldest first. */
  unfinished (): JobLive[] {
    return [...this.active.values()]
  }
}

/** Whether a progress stage is one a job ends with (its final status word). */
export function isFinalStage (stage: string): boolean {
  return FINAL_STATUSES.has(stage as JobStatus)
}
