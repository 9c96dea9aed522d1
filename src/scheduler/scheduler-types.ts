/**
 * The scheduler's options and events: how it is set up (`SchedulerInit`), what a submission may
 * ask for (`SubmitOptions`, `BatchSubmitOptions`) and what it tells its listeners.
 */
import type { JobProgress } from './requester/jobs.ts'
import type { BatchProgress, BatchTaskResult } from './requester/batches.ts'
import type { LeaseInfo } from './requester/service.ts'
import type { LeaseSummary } from './worker/lease-server.ts'
import type { TailClaimed } from './worker/tail-claims.ts'
import type { TailServed } from './requester/tail-server.ts'

export interface SchedulerInit {
  /** Worker-side blob cache budget. @default 512 MiB */
  blobCacheBytes?: number
  /** Directory for large pinned blobs (files rather than store values); see `BlobStoreInit.blobDir`. */
  blobDir?: string
  /**
   * Probability (0..1) that a task this node requested is spot-checked: run here as well, and its
   * workers paid only if they agree with the local run. @default 0
   */
  spotCheckRate?: number
}

export interface SubmitOptions {
  /**
   * Cancels the job when it aborts: the result becomes `cancelled` (ERR_JOB_CANCELLED, the
   * signal's reason in its message); `result()` never rejects. A signal that has already aborted
   * makes `submitJob` reject with its reason, and nothing is recorded.
   */
  signal?: AbortSignal
  onProgress?: (progress: JobProgress) => void
  /** Spot-check this job (true) or not (false) regardless of the node's spot-check rate. */
  spotCheck?: boolean
  /**
   * With a data dir: `submitJob` resolves once the job's record is synced to the disk (it survives
   * a power cut). Off by default: a requester submitting jobs one after the other would wait for
   * the disk once each (the local API asks for it: it answers 202 only after). @default false
   */
  sync?: boolean
}

export interface BatchSubmitOptions {
  /**
   * Cancels the tasks that have not finished when it aborts (ERR_JOB_CANCELLED, the signal's
   * reason in their message). A signal that has already aborted makes `submitBatch` reject with
   * its reason, and nothing is recorded.
   */
  signal?: AbortSignal
  onProgress?: (progress: BatchProgress) => void
  /** Each task's result as it arrives (with its output). */
  onTask?: (task: BatchTaskResult) => void
  spotCheck?: boolean
  /**
   * With a data dir: `submitBatch` resolves once the batch (its record, its tasks', its inputs)
   * is synced to the disk: one synced write per batch, whatever its size. @default true
   */
  sync?: boolean
}

export interface SchedulerEvents {
  'job:progress': CustomEvent<JobProgress>
  'lease:offered': CustomEvent<{ direct: number, gossip: boolean }>
  'lease:opened': CustomEvent<LeaseInfo>
  'lease:closed': CustomEvent<LeaseInfo & { reason: string }>
  /** This node (as a worker) countersigned a lease with a requester; its tasks follow on the lease's stream. */
  'lease:accepted': CustomEvent<{ leaseId: string, requester: string, price: number, slots: number }>
  /** A lease this node served as worker ended. */
  'lease:served': CustomEvent<LeaseSummary>
  /** This node (as a worker) claimed the tail of a lease whose stream died: paid, refused, or given up. */
  'lease:tail-claimed': CustomEvent<TailClaimed>
  /** This node (as requester) was asked for the tail of such a lease: paid it, or refused. */
  'lease:tail-served': CustomEvent<TailServed>
  /** This node (as a worker) started running a task for a peer. */
  'task:started': CustomEvent<{ leaseId: string, taskId: string }>
  /** This node (as a worker) finished a task and sent its result. */
  'task:finished': CustomEvent<{ leaseId: string, taskId: string, exitCode: number, wallMs: number }>
}
