/**
 * The node's retention component (src/scheduler/retention/) wired to its scheduler: a job or
 * batch is live while the requester places it, and a deleted job's module name (job-labels.ts)
 * goes with it.
 */
import type { Scheduler } from '../scheduler/scheduler.ts'
import { Retention, type RetentionInit } from '../scheduler/retention/index.ts'
import type { OperatorLog } from '../shared/log.ts'
import { JobLabels } from './job-labels.ts'
import type { Store } from './storage.ts'

export function createNodeRetention (scheduler: Scheduler, store: Store, log: OperatorLog, init: RetentionInit = {}): Retention {
  const labels = new JobLabels(store)
  return new Retention({
    records: scheduler.records,
    blobs: scheduler.blobs,
    isLive: (id) => scheduler.requester.jobs.liveRecord(id) != null || scheduler.requester.batches.liveRecord(id) != null,
    onRemoved: async (ids) => { await labels.deleteMany(ids) },
    log
  }, init)
}
