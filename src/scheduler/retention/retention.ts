/**
 * Retention: the component that keeps a node's records and pinned blobs from growing without
 * bound. It prunes once when started and then every `intervalMs` (records that ended more than
 * `retentionMs` ago, then every pinned blob no kept record references; see prune.ts), and deletes
 * single ended jobs and batches on request. One prune or delete runs at a time.
 */
import { logger } from '@libp2p/logger'
import { silentLog, type OperatorLog } from '../../shared/log.ts'
import { DEFAULT_RETENTION_MS, PRUNE_INTERVAL_MS } from './constants.ts'
import { deleteBatch, deleteJob, prune, type PruneComponents, type PruneReport } from './prune.ts'

const log = logger('depin:retention')

export interface RetentionComponents extends PruneComponents {
  /** Where automatic prunes that removed something are reported. @default silent */
  log?: OperatorLog
}

export interface RetentionInit {
  /**
   * How long ended jobs, batches and served-lease records are kept, and with them the blobs only
   * they reference; `Infinity` keeps them forever (unreferenced blobs are still removed).
   * @default 30 days
   */
  retentionMs?: number
  /** How often to prune while running; 0: only when asked (no automatic prune, not even at start). @default 1 hour */
  intervalMs?: number
}

export class Retention {
  readonly retentionMs: number
  readonly intervalMs: number
  private readonly c: RetentionComponents
  private readonly log: OperatorLog
  /** The prune or delete running now; the next one waits for it. */
  private queue: Promise<unknown> = Promise.resolve()
  private timer?: ReturnType<typeof setTimeout>
  private abort?: AbortController
  /** Aborted by stop(): prunes asked for by callers end too (the store is about to close). */
  private closing = new AbortController()
  private running?: Promise<void>
  private lastReport?: PruneReport & { at: number }

  constructor (components: RetentionComponents, init: RetentionInit = {}) {
    this.c = components
    this.log = components.log ?? silentLog
    this.retentionMs = init.retentionMs ?? DEFAULT_RETENTION_MS
    this.intervalMs = init.intervalMs ?? PRUNE_INTERVAL_MS
  }

  /** Starts automatic pruning: one prune now (in the background), then one every interval. */
  start (): void {
    if (this.closing.signal.aborted) this.closing = new AbortController()
    if (this.abort != null || this.intervalMs <= 0) return
    this.abort = new AbortController()
    this.schedule(0)
  }

  /**
   * Stops automatic pruning; a prune in progress is abandoned at its next record (what it deleted
   * stays deleted, the rest waits for the next one). Resolves when no prune or delete runs.
   */
  async stop (): Promise<void> {
    clearTimeout(this.timer)
    this.timer = undefined
    this.abort?.abort()
    this.abort = undefined
    this.closing.abort()
    await this.running
    await this.queue
  }

  /** The last automatic prune's report, when there was one. */
  get last (): (PruneReport & { at: number }) | undefined {
    return this.lastReport
  }

  /** Prunes now: records that ended more than `olderThanMs` ago (default: the retention), then unreferenced blobs. */
  async prune (options: { olderThanMs?: number, signal?: AbortSignal } = {}): Promise<PruneReport> {
    const signal = options.signal != null ? AbortSignal.any([options.signal, this.closing.signal]) : this.closing.signal
    return await this.exclusive(async () => await prune(this.c, options.olderThanMs ?? this.retentionMs, signal))
  }

  /** Deletes one ended job and the blobs only it referenced (JobNotFoundError, JobRunningError). */
  async deleteJob (id: string): Promise<PruneReport> {
    return await this.exclusive(async () => await deleteJob(this.c, id))
  }

  /** Deletes one ended batch, its tasks and the blobs only they referenced (BatchNotFoundError, JobRunningError). */
  async deleteBatch (id: string): Promise<PruneReport> {
    return await this.exclusive(async () => await deleteBatch(this.c, id))
  }

  private async exclusive<T> (fn: () => Promise<T>): Promise<T> {
    const result = this.queue.then(fn)
    this.queue = result.catch(() => {})
    return await result
  }

  private schedule (delayMs: number): void {
    const abort = this.abort
    if (abort == null) return
    this.timer = setTimeout(() => {
      this.running = this.automatic(abort.signal).finally(() => {
        this.running = undefined
        if (this.abort === abort) this.schedule(this.intervalMs)
      })
    }, delayMs)
    this.timer.unref?.()
  }

  private async automatic (signal: AbortSignal): Promise<void> {
    try {
      const report = await this.prune({ signal })
      this.lastReport = { ...report, at: Date.now() }
      if (report.jobs + report.batches + report.tasks + report.leases + report.blobs > 0) {
        this.log.info({ jobs: report.jobs, batches: report.batches, tasks: report.tasks, leases: report.leases, blobs: report.blobs, bytes: report.bytes }, 'pruned old jobs and their blobs')
      }
    } catch (err) {
      if (signal.aborted) return
      log.error('automatic prune failed: %e', err)
      this.log.warn({ error: (err as Error).message }, 'automatic prune failed')
    }
  }
}
