/**
 * Mark and sweep over the requester's records and pinned blobs.
 *
 * 1. Records stream past one at a time. A job or batch that ended (final status, not being placed
 *    here) before the cutoff is deleted; every other one marks the blobs it references (see
 *    references.ts). Served-lease records that ended before the cutoff are deleted (they reference
 *    no blob).
 * 2. Pinned blobs stream past by key; one that no kept record marked is deleted, unless it was
 *    pinned since the mark began less PIN_PROTECT_MS (a submission pins its blobs before it
 *    writes the record that references them; the blob store's pins and deletes exclude each
 *    other, see blob-store.ts).
 *
 * Records go first and blobs after, so a crash in between leaves only unreferenced blobs, which
 * the next prune removes. Task records of a batch with no batch record are a submission under way
 * (their inputs were just pinned) or one a crash cut short: the first are kept, the second deleted.
 */
import { logger } from '@libp2p/logger'
import type { CID } from 'multiformats/cid'
import { PIN_PROTECT_MS } from '../constants.ts'
import type { BlobStore } from '../blob-store.ts'
import { BatchNotFoundError, JobNotFoundError } from '../errors.ts'
import { FINAL_STATUSES, type BatchRecord, type JobStore, type RequestedJob } from '../job-store.ts'
import { DELETE_CHUNK, SWEEP_CHUNK } from './constants.ts'
import { JobRunningError } from './errors.ts'
import { LiveSet } from './live-set.ts'
import { batchBlobs, batchTaskBlobs, jobBlobs } from './references.ts'

const log = logger('depin:retention')

export interface PruneComponents {
  records: JobStore
  blobs: BlobStore
  /** Whether this node is placing the job or batch now (its stored record may lag behind). */
  isLive: (id: string) => boolean
  /** Told the ids of the job and batch records deleted (to drop what is kept beside them). */
  onRemoved?: (ids: string[]) => Promise<void> | void
}

/** What a prune or a delete removed. */
export interface PruneReport {
  /** Records deleted: requested jobs, batches, batch tasks, served leases. */
  jobs: number
  batches: number
  tasks: number
  leases: number
  /** Pinned blobs deleted, and their bytes. */
  blobs: number
  bytes: number
  /** The age past which ended records were deleted; null: none were (retention `forever`, or one delete). */
  olderThanMs: number | null
  tookMs: number
}

function emptyReport (olderThanMs: number | null): PruneReport {
  return { jobs: 0, batches: 0, tasks: 0, leases: 0, blobs: 0, bytes: 0, olderThanMs, tookMs: 0 }
}

/**
 * Deletes jobs, batches and served-lease records that ended more than `olderThanMs` ago
 * (Infinity: none), then every pinned blob no kept record references.
 */
export async function prune (c: PruneComponents, olderThanMs: number, signal?: AbortSignal): Promise<PruneReport> {
  const started = Date.now()
  const cutoff = started - olderThanMs
  const report = emptyReport(Number.isFinite(olderThanMs) ? olderThanMs : null)
  const protectSince = started - PIN_PROTECT_MS
  const release = c.blobs.holdPinTimes(protectSince)
  try {
    const live = new LiveSet(async (cid) => await c.blobs.get(cid))
    const ended = (job: RequestedJob): boolean => job.updatedAt < cutoff && FINAL_STATUSES.has(job.status) && !c.isLive(job.id)

    // Jobs.
    const doomedJobs: string[] = []
    const dropJobs = async (): Promise<void> => {
      const ids = doomedJobs.splice(0)
      await c.records.deleteRequested(ids)
      report.jobs += ids.length
      await c.onRemoved?.(ids)
    }
    for await (const job of c.records.allRequested()) {
      signal?.throwIfAborted()
      if (ended(job)) {
        doomedJobs.push(job.id)
        if (doomedJobs.length >= DELETE_CHUNK) await dropJobs()
      } else {
        await live.add(jobBlobs(job))
      }
    }
    await dropJobs()

    // Batches: decided first, so their tasks can be told apart from a submission's under way.
    const keptBatches = new Set<string>()
    const doomedBatches: BatchRecord[] = []
    for await (const batch of c.records.allBatches()) {
      signal?.throwIfAborted()
      // A batch's status is running until it ends, then done or cancelled.
      if (batch.status !== 'running' && batch.updatedAt < cutoff && !c.isLive(batch.id)) doomedBatches.push(batch)
      else {
        keptBatches.add(batch.id)
        await live.add(batchBlobs(batch))
      }
    }
    for (const batch of doomedBatches) {
      signal?.throwIfAborted()
      await c.records.deleteBatch(batch.id)
      report.batches++
      report.tasks += batch.body.tasks
      await c.onRemoved?.([batch.id])
    }

    // Batch tasks (the deleted batches' tasks are gone: this iterator starts after them).
    let orphan: { batchId: string, refs: CID[], tasks: number } | undefined
    const closeOrphan = async (): Promise<void> => {
      if (orphan == null) return
      const { batchId, refs, tasks } = orphan
      orphan = undefined
      const underWay = c.isLive(batchId) || await c.records.getBatch(batchId) != null || refs.some((cid) => c.blobs.pinnedSince(cid.bytes, protectSince))
      if (underWay) {
        await live.add(refs)
        return
      }
      log('deleting %d task records of batch %s, whose submission never finished', tasks, batchId)
      await c.records.deleteBatchTasks(batchId)
      report.tasks += tasks
    }
    for await (const { batchId, task } of c.records.allBatchTasks()) {
      signal?.throwIfAborted()
      if (keptBatches.has(batchId)) {
        await live.add(batchTaskBlobs(task))
        continue
      }
      if (orphan?.batchId !== batchId) {
        await closeOrphan()
        orphan = { batchId, refs: [], tasks: 0 }
      }
      orphan.refs.push(...batchTaskBlobs(task))
      orphan.tasks++
    }
    await closeOrphan()

    // Served leases (worker side).
    const doomedLeases: string[] = []
    for await (const lease of c.records.allLeases()) {
      signal?.throwIfAborted()
      if (lease.endedAt < cutoff) doomedLeases.push(lease.leaseId)
      if (doomedLeases.length >= DELETE_CHUNK) {
        report.leases += doomedLeases.length
        await c.records.deleteLeases(doomedLeases.splice(0))
      }
    }
    report.leases += doomedLeases.length
    await c.records.deleteLeases(doomedLeases)

    await sweep(c.blobs, live, undefined, protectSince, report, signal)
  } finally {
    release()
  }
  report.tookMs = Date.now() - started
  return report
}

/** Deletes one ended job and the pinned blobs no other record references. */
export async function deleteJob (c: PruneComponents, id: string): Promise<PruneReport> {
  const record = await c.records.getRequested(id)
  if (record == null) throw new JobNotFoundError(id)
  if (!FINAL_STATUSES.has(record.status) || c.isLive(id)) throw new JobRunningError('job', id, record.status)
  return await deleteOne(c, jobBlobs(record), async (report) => {
    await c.records.deleteRequested([id])
    report.jobs = 1
    await c.onRemoved?.([id])
  })
}

/** Deletes one ended batch, its tasks, and the pinned blobs no other record references. */
export async function deleteBatch (c: PruneComponents, id: string): Promise<PruneReport> {
  const record = await c.records.getBatch(id)
  if (record == null) throw new BatchNotFoundError(id)
  if (record.status === 'running' || c.isLive(id)) throw new JobRunningError('batch', id, record.status)
  const refs = batchBlobs(record)
  let tasks = 0
  for await (const task of c.records.batchTasksOf(id)) {
    refs.push(...batchTaskBlobs(task))
    tasks++
  }
  return await deleteOne(c, refs, async (report) => {
    await c.records.deleteBatch(id)
    report.batches = 1
    report.tasks = tasks
    await c.onRemoved?.([id])
  })
}

/** Deletes a record (`drop`), then those of `refs` that no remaining record references. */
async function deleteOne (c: PruneComponents, refs: CID[], drop: (report: PruneReport) => Promise<void>): Promise<PruneReport> {
  const started = Date.now()
  const report = emptyReport(null)
  const protectSince = started - PIN_PROTECT_MS
  const release = c.blobs.holdPinTimes(protectSince)
  try {
    // The candidates: the record's blobs and, for manifests among them, their files.
    const candidates = new LiveSet(async (cid) => await c.blobs.get(cid))
    await candidates.add(refs)
    const only = candidates.keySet()
    await drop(report)
    const live = new LiveSet(async (cid) => await c.blobs.get(cid), only)
    for await (const job of c.records.allRequested()) await live.add(jobBlobs(job))
    for await (const batch of c.records.allBatches()) await live.add(batchBlobs(batch))
    for await (const { task } of c.records.allBatchTasks()) await live.add(batchTaskBlobs(task))
    await sweep(c.blobs, live, [...only].map((key) => Buffer.from(key, 'latin1')), protectSince, report)
  } finally {
    release()
  }
  report.tookMs = Date.now() - started
  return report
}

/**
 * Deletes pinned blobs the live set does not hold: all of them, or only `candidates`, in chunks of
 * SWEEP_CHUNK.
 */
async function sweep (blobs: BlobStore, live: LiveSet, candidates: Uint8Array[] | undefined, protectSince: number, report: PruneReport, signal?: AbortSignal): Promise<void> {
  let chunk: Uint8Array[] = []
  const flush = async (): Promise<void> => {
    const { blobs: n, bytes } = await blobs.deletePinned(chunk, protectSince)
    chunk = []
    report.blobs += n
    report.bytes += bytes
  }
  const keys: AsyncIterable<Uint8Array> | Iterable<Uint8Array> = candidates ?? blobs.pinnedKeys()
  for await (const key of keys) {
    signal?.throwIfAborted()
    if (live.has(key)) continue
    chunk.push(key)
    if (chunk.length >= SWEEP_CHUNK) await flush()
  }
  if (chunk.length > 0) await flush()
}
