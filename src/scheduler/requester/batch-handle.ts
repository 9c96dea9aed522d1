/**
 * What a batch's submitter holds: its handle (progress and per-task events, the final summary)
 * and the shapes those carry. The batch's running is `batches.ts`.
 */
import { TypedEventEmitter } from 'main-event'
import type { BatchRecord, JobError, JobStatus } from '../job-store.ts'
import type { OutputFileInfo } from './trees.ts'
import type { PlacementWait } from './placement.ts'

export interface BatchProgress {
  batchId: string
  total: number
  /** Tasks with a final status; `failed`: any status but completed; `verified`: met their quorum. */
  done: number
  failed: number
  verified: number
  at: number
  /** Why tasks of the batch wait for workers (one waiting task's reason; see `PlacementWait`); absent: none waits for that. */
  waiting?: string
}

export interface BatchTaskResult {
  batchId: string
  index: number
  name?: string
  status: JobStatus
  exitCode?: number
  trap?: string
  outputCid?: string
  /** Fuel the accepted run used (decimal). */
  fuel?: string
  /** CID of the manifest of the files the accepted run left in /out (absent: none). */
  filesCid?: string
  /** Those files (bytes: `node.batchTaskFile(batchId, index, path)`). */
  files?: OutputFileInfo[]
  verified: boolean
  workers: string[]
  cost: number
  error?: JobError
  stdout: Uint8Array
  stderr: Uint8Array
}

export interface BatchResult {
  id: string
  status: BatchRecord['status']
  tasks: number
  completed: number
  failed: number
  verified: number
  /** Credits owed for the batch's tasks. */
  cost: number
  seconds: number
  /**
   * Set when the node stopped before the batch ended: ERR_NODE_STOPPED, `status` still
   * `running`. The batch was not cancelled: with a data dir it resumes at the node's next start.
   */
  error?: JobError
  /**
   * While it runs: how many of its tasks wait for workers, and why the first of them does (as a
   * job's `waiting`: the code its tasks' errors will have if the deadline comes first).
   */
  waiting?: PlacementWait & { tasks: number }
}

export interface BatchHandleEvents {
  progress: CustomEvent<BatchProgress>
  task: CustomEvent<BatchTaskResult>
}

/** A submitted batch: progress, per-task results as they arrive, and the summary at the end. */
export class BatchHandle extends TypedEventEmitter<BatchHandleEvents> {
  readonly id: string
  readonly total: number
  private readonly done: Promise<BatchResult>
  private readonly onCancel: (reason?: unknown) => void

  constructor (id: string, total: number, done: Promise<BatchResult>, onCancel: (reason?: unknown) => void) {
    super()
    this.id = id
    this.total = total
    this.done = done
    this.onCancel = onCancel
  }

  /**
   * Resolves when every task has a final status (never rejects), or when the node stopped first
   * (`error.code` ERR_NODE_STOPPED: not cancelled; with a data dir it resumes at the next start).
   */
  async result (): Promise<BatchResult> {
    return await this.done
  }

  /** Cancels the tasks that have not finished; `reason` (an abort signal's reason, say) is added to their error's message. */
  cancel (reason?: unknown): void {
    this.onCancel(reason)
  }
}

/** The summary of a batch record. */
export function summary (record: BatchRecord): BatchResult {
  return {
    id: record.id,
    status: record.status,
    tasks: record.body.tasks,
    completed: record.done - record.failed,
    failed: record.failed,
    verified: record.verified,
    cost: record.cost,
    seconds: (record.updatedAt - record.createdAt) / 1000
  }
}
