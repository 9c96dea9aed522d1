/**
 * One running batch's state on the requester, and the two steps on it that do not depend on the
 * rest of `Batches`: putting a task's verdict into its record and the batch's counters, and
 * writing what finished (outputs, output trees, task records, then the batch record) in bulk.
 */
import type { CID } from 'multiformats/cid'
import { logger } from '@libp2p/logger'
import { cidText, rawCid } from '../../proofs/encoding.ts'
import type { BlobStore } from '../blob-store.ts'
import type { BatchRecord, BatchTaskRecord, JobStore } from '../job-store.ts'
import type { Requirements } from '../task.ts'
import type { BatchHandle, BatchResult } from './batch-handle.ts'
import type { PlacementWait } from './placement.ts'
import { pinOutputTree } from './trees.ts'
import type { InputTreeRef, OutputTree, TaskVerdict } from './types.ts'

const log = logger('depin:requester:batch')

/** The CID of no bytes: most tasks' stderr. */
const EMPTY_CID = rawCid(new Uint8Array(0))

export interface Run {
  record: BatchRecord
  handle: BatchHandle
  result: PromiseWithResolvers<BatchResult>
  requirements: Requirements
  /** The batch's input tree (every task's /in), when it has files. */
  tree?: InputTreeRef
  /**
   * Task records to give to the dispatcher, in order, and the inputs the caller handed us for
   * them; those before `next` are given (an index: `shift()` on an array of 100,000 records
   * moves them all, every task).
   */
  waiting: BatchTaskRecord[]
  next: number
  inputs?: Map<number, Uint8Array>
  inFlight: Map<number, string>
  feeding: boolean
  dirty: BatchTaskRecord[]
  /** Settles (true) once the records in `dirty` are written; false if the node stops first. */
  recorded?: PromiseWithResolvers<boolean>
  /** Finished task records not yet confirmed on disk (readers merge them with the stored ones). */
  unwritten: Map<number, BatchTaskRecord>
  outputs: Array<{ bytes: Uint8Array, cid?: CID }>
  /** Output trees waiting to be pinned with the next flush. */
  trees: OutputTree[]
  flushTimer?: ReturnType<typeof setTimeout>
  flushing: Promise<void>
  /** The wait before the next attempt to write a finished batch whose write failed. */
  writeRetryMs?: number
  cancelled: boolean
  /** Tasks waiting for workers, and why (see placement.ts); the reason the batch's progress last gave. */
  waits: Map<number, PlacementWait>
  waitShown?: string
}

/**
 * Puts a task's verdict into its record and the batch's counters, and queues its stdout and
 * stderr (and output tree) for the next write; returns the verdict's output, if any.
 */
export function recordVerdict (run: Run, task: BatchTaskRecord, verdict: TaskVerdict): TaskVerdict['output'] {
  const output = verdict.output
  // stderr is kept (and referenced by the record, so retention keeps it) like stdout.
  const stderrCid = output != null ? (output.stderr.byteLength === 0 ? EMPTY_CID : rawCid(output.stderr)) : undefined
  Object.assign(task, {
    status: verdict.status,
    verified: verdict.verified,
    workers: verdict.agreeing.length > 0 ? verdict.agreeing : verdict.replicas.map((r) => r.worker),
    cost: verdict.cost,
    ...(output != null ? { outputCid: cidText(output.outputCid), exitCode: output.exitCode, fuel: output.fuel.toString() } : {}),
    ...(stderrCid != null ? { stderrCid: cidText(stderrCid) } : {}),
    ...(output?.trap != null ? { trap: output.trap } : {}),
    ...(output?.files != null ? { filesCid: cidText(output.files.cid) } : {}),
    ...(verdict.error != null ? { error: verdict.error } : {})
  })
  if (output != null) {
    run.outputs.push({ bytes: output.stdout, cid: output.outputCid }, { bytes: output.stderr, cid: stderrCid })
    if (output.files != null) run.trees.push(output.files)
  }
  const r = run.record
  r.done++
  if (verdict.status !== 'completed') r.failed++
  if (verdict.verified) r.verified++
  r.cost += verdict.cost
  return output
}

/**
 * Writes what waits (outputs first, then task records, then the batch's counters; `sync`: to the
 * disk), after the writes under way. False when a write failed: what it held waits again, for
 * the next write (writing a record twice is harmless).
 */
export async function writeRun (run: Run, c: { blobs: BlobStore, records: JobStore }, sync: boolean): Promise<boolean> {
  const dirty = run.dirty.splice(0)
  const outputs = run.outputs.splice(0)
  const trees = run.trees.splice(0)
  const recorded = run.recorded
  run.recorded = undefined
  let written = true
  run.flushing = run.flushing.then(async () => {
    await c.blobs.pinMany(outputs)
    for (const tree of trees) await pinOutputTree(c.blobs, tree)
    await c.records.putBatchTasks(run.record.id, dirty)
    for (const task of dirty) if (run.unwritten.get(task.index) === task) run.unwritten.delete(task.index)
    run.record.updatedAt = Date.now()
    await c.records.putBatch(run.record, { sync })
    recorded?.resolve(true)
  }).catch((err) => {
    log.error('recording batch %s failed: %e', run.record.id, err)
    written = false
    run.dirty.unshift(...dirty)
    run.outputs.unshift(...outputs)
    run.trees.unshift(...trees)
    if (recorded != null) {
      if (run.recorded == null) run.recorded = recorded
      else void run.recorded.promise.then(recorded.resolve)
    }
  })
  await run.flushing
  return written
}
