/**
 * Records on disk, so a requester that restarts still knows what it submitted and a worker
 * remembers the leases it served. Key spaces (sublevels of `jobs`; the retired `ran` space of
 * per-task worker records is never reused):
 *   `requested`    utf8(job id)                   → DAG-CBOR RequestedJob
 *   `batches`      utf8(batch id)                 → DAG-CBOR BatchRecord
 *   `batch-tasks`  utf8(batch id) ‖ index (4, BE) → DAG-CBOR BatchTaskRecord
 *   `requested-at` createdAt ‖ utf8(job id)        → digest (see requested-index.ts)
 *   `meta`         index name                     → [1] once that index is built (time-index.ts)
 *   `leases`, `leases-at`                          the worker's served leases (see lease-store.ts)
 */
import { decode, encode } from '../proofs/encoding.ts'
import type { CID } from 'multiformats/cid'
import type { Store } from '../shared/store.ts'
import type { BatchBody, JobBody } from './job.ts'
import { defaultFuel } from './task.ts'
import { TurnBatch } from '../shared/turn-batch.ts'
import type { PlacementWait } from './requester/placement.ts'
import { digestOf, indexKey, parseIndexEntry, type RequestedDigest } from './requested-index.ts'
import { LeaseStore, type LeaseDigest, type LeaseRecord } from './lease-store.ts'
import { stripUndefined } from './strip-undefined.ts'
import { IndexBuild, IndexChanges, type IndexEntry } from './time-index.ts'

export { OPEN_LEASE, type LeaseDigest, type LeaseRecord } from './lease-store.ts'

type Sub = ReturnType<Store['sublevel']>

/**
 * What became of a job or task. `completed`: a result that met its quorum (whatever its exit
 * code); `unverified`: results came back but did not agree (or a spot check disagreed);
 * `timed-out`: the program ran past its time limit, or no result came before the deadline;
 * `failed`: the module could not run, or nobody would run it; `cancelled` by the requester.
 */
export type JobStatus = 'queued' | 'running' | 'completed' | 'unverified' | 'failed' | 'timed-out' | 'cancelled'

export const FINAL_STATUSES: ReadonlySet<JobStatus> = new Set(['completed', 'unverified', 'failed', 'timed-out', 'cancelled'])

export interface ReplicaRecord {
  worker: string
  leaseId?: string
  status: 'running' | 'done' | 'failed'
  outputCid?: string
  exitCode?: number
  trap?: string
  /** Fuel the run used (decimal). */
  fuel?: string
  /** CID of the manifest of the files the run left in /out. */
  filesCid?: string
  cpuMs?: number
  wallMs?: number
  /** Whether this worker's output matched the accepted one. */
  agreed?: boolean
  /** Credits owed for this replica (agreeing replicas of verified tasks only). */
  cost?: number
  error?: string
}

export interface JobError { code: string, message: string, reasons?: Record<string, number> }

export interface RequestedJob {
  id: string
  body: JobBody
  status: JobStatus
  createdAt: number
  updatedAt: number
  replicas: ReplicaRecord[]
  outputCid?: string
  stderrCid?: string
  exitCode?: number
  trap?: string
  /** Fuel the accepted run used (decimal). */
  fuel?: string
  /** CID of the manifest of the files the accepted run left in /out (pinned with them). */
  filesCid?: string
  verified?: boolean
  cost?: number
  /** Spot-check this job (re-run it locally); absent: the node's spot-check rate decides. */
  spotCheck?: boolean
  /** What the spot check found, when there was one. */
  spotCheckResult?: 'passed' | 'failed' | 'not-checked'
  error?: JobError
  /**
   * Why it waits for workers (see requester/placement.ts): only on the record of a job placed
   * now, in memory; never stored (a job that ends drops it).
   */
  waiting?: PlacementWait
}

export interface BatchRecord {
  id: string
  body: BatchBody
  status: 'running' | 'done' | 'cancelled'
  createdAt: number
  updatedAt: number
  /** Tasks with a final status, of which failed (any status but completed) and verified. */
  done: number
  failed: number
  verified: number
  cost: number
  spotCheck?: boolean
  /**
   * Cancelled while `running` (its tasks still being cancelled): a restart cancels its unfinished
   * tasks instead of placing them.
   */
  cancelled?: boolean
}

export interface BatchTaskRecord {
  index: number
  /** The task's name (e.g. its input file's name). */
  name?: string
  input: CID
  inputBytes: number
  args?: string[]
  env?: Record<string, string>
  status: JobStatus
  outputCid?: string
  stderrCid?: string
  exitCode?: number
  trap?: string
  /** Fuel the accepted run used (decimal). */
  fuel?: string
  /** CID of the manifest of the files the accepted run left in /out (pinned with them). */
  filesCid?: string
  verified?: boolean
  workers?: string[]
  cost?: number
  error?: JobError
}

const MAX_RECORD_BYTES = 4 * 1024 * 1024
const enc = new TextEncoder()
const dec = new TextDecoder()

function taskKey (batchId: string, index: number): Uint8Array {
  const id = enc.encode(batchId)
  const out = new Uint8Array(id.byteLength + 4)
  out.set(id, 0)
  new DataView(out.buffer).setUint32(id.byteLength, index)
  return out
}

interface RequestedWrite { bytes: Uint8Array, at: Uint8Array, digest: Uint8Array, sync: boolean }

/** `sync`: the write returns once it is on the disk (it survives a power cut, with every write before it). */
export interface WriteOptions { sync?: boolean }

export class JobStore {
  private readonly root: Sub
  private readonly requested: Sub
  private readonly requestedAt: Sub
  private readonly meta: Sub
  private readonly batches: Sub
  private readonly batchTasks: Sub
  private readonly leases: LeaseStore
  /** Job and lease records decoded so far (a seam for tests: a listing reads only what it shows). */
  recordsDecoded = 0
  /** Index entries of requested jobs and served leases read so far (a seam for tests, as above). */
  indexEntriesRead = 0
  /** The times of the index entries (requested jobs', served leases') each landed write changed. */
  readonly indexChanges = new IndexChanges()
  /** Job records waiting for their batch write (`putRequested`), by id, with their index entry. */
  private readonly requestedWrites = new TurnBatch<string, RequestedWrite>(async (entries) => {
    // One atomic write: a record and its index entry land together.
    await this.root.batch(entries.flatMap(([id, w]) => [
      { type: 'put' as const, sublevel: this.requested, key: enc.encode(id), value: w.bytes },
      { type: 'put' as const, sublevel: this.requestedAt, key: w.at, value: w.digest }
    ]) as any, syncOption(entries.some(([, w]) => w.sync)))
    this.indexChanges.landed(entries.map(([, w]) => w.at))
  })
  private readonly requestedIndex: IndexBuild

  constructor (db: Store) {
    const root = this.root = db.sublevel('jobs', { keyEncoding: 'view', valueEncoding: 'view' }) as unknown as Sub
    const sub = (name: string): Sub => root.sublevel(name, { keyEncoding: 'view', valueEncoding: 'view' }) as unknown as Sub
    this.requested = sub('requested')
    this.requestedAt = sub('requested-at')
    this.meta = sub('meta')
    this.batches = sub('batches')
    this.batchTasks = sub('batch-tasks')
    this.leases = new LeaseStore(root, this.meta, {
      onDecode: () => { this.recordsDecoded++ },
      onIndexRead: () => { this.indexEntriesRead++ },
      changes: this.indexChanges
    })
    this.requestedIndex = new IndexBuild({
      meta: this.meta,
      name: 'requested-at',
      index: this.requestedAt,
      entries: () => this.requestedEntries()
    })
  }

  /**
   * Writes a job record. Records written in the same turn of the event loop go in one batch
   * (a requester submitting thousands of jobs writes each twice: one write each cost more than
   * the rest of its bookkeeping); the promise settles once the batch is written.
   */
  async putRequested (record: RequestedJob, options: WriteOptions = {}): Promise<void> {
    this.requestedIndex.touch(record.id)
    // (a synced write waiting for the batch stays synced when a later write of the record replaces it)
    const sync = options.sync === true || this.requestedWrites.waiting(record.id)?.sync === true
    await this.requestedWrites.put([[record.id, { bytes: encode(stripUndefined(record)), at: indexKey(record.id, record.createdAt), digest: digestOf(record), sync }]])
  }

  async getRequested (id: string): Promise<RequestedJob | undefined> {
    const bytes = this.requestedWrites.waiting(id)?.bytes ?? await this.requested.get(enc.encode(id))
    return bytes == null ? undefined : this.decodeRequested(bytes as Uint8Array)
  }

  async * allRequested (): AsyncGenerator<RequestedJob> {
    for await (const value of this.requested.values()) yield this.decodeRequested(value as Uint8Array)
  }

  /**
   * What a listing needs of every stored job, newest first (by creation time), without reading
   * the records: their ids, creation times and digests. Read the records of those shown with
   * `getRequested`.
   */
  async * requestedNewestFirst (): AsyncGenerator<RequestedDigest> {
    await this.requestedIndex.ensure()
    for await (const [key, value] of this.requestedAt.iterator({ reverse: true })) {
      this.indexEntriesRead++
      const entry = parseIndexEntry(key as Uint8Array, value as Uint8Array)
      const waiting = this.requestedWrites.waiting(entry.id)
      yield waiting != null ? parseIndexEntry(key as Uint8Array, waiting.digest) : entry
    }
  }

  private async * requestedEntries (): AsyncGenerator<IndexEntry> {
    for await (const record of this.allRequested()) yield [record.id, indexKey(record.id, record.createdAt), digestOf(record)]
  }

  private decodeRequested (bytes: Uint8Array): RequestedJob {
    this.recordsDecoded++
    return withFuel(decode(bytes, MAX_RECORD_BYTES, 'job record') as RequestedJob)
  }

  /**
   * Indexes the records (requested jobs, served leases) of a store written before their indexes
   * existed (once: the scheduler's start calls it, so a new store is marked indexed before it
   * holds any record).
   */
  async ensureIndex (): Promise<void> {
    await this.requestedIndex.ensure()
    await this.leases.ensureIndex()
  }

  async putBatch (record: BatchRecord, options: WriteOptions = {}): Promise<void> {
    await this.batches.put(enc.encode(record.id), encode(stripUndefined(record)), syncOption(options.sync === true))
  }

  async getBatch (id: string): Promise<BatchRecord | undefined> {
    const bytes = await this.batches.get(enc.encode(id))
    return bytes == null ? undefined : withFuel(decode(bytes as Uint8Array, MAX_RECORD_BYTES, 'batch record') as BatchRecord)
  }

  async * allBatches (): AsyncGenerator<BatchRecord> {
    for await (const value of this.batches.values()) yield withFuel(decode(value as Uint8Array, MAX_RECORD_BYTES, 'batch record') as BatchRecord)
  }

  /** Writes task records of a batch in one batch write. */
  async putBatchTasks (batchId: string, records: BatchTaskRecord[]): Promise<void> {
    if (records.length === 0) return
    await this.batchTasks.batch(records.map((r) => ({ type: 'put' as const, key: taskKey(batchId, r.index), value: encode(stripUndefined(r)) })))
  }

  async getBatchTask (batchId: string, index: number): Promise<BatchTaskRecord | undefined> {
    const bytes = await this.batchTasks.get(taskKey(batchId, index))
    return bytes == null ? undefined : decode(bytes as Uint8Array, MAX_RECORD_BYTES, 'batch task record') as BatchTaskRecord
  }

  /** A batch's task records in index order. */
  async * batchTasksOf (batchId: string): AsyncGenerator<BatchTaskRecord> {
    for await (const value of this.batchTasks.values(taskRange(batchId))) yield decode(value as Uint8Array, MAX_RECORD_BYTES, 'batch task record') as BatchTaskRecord
  }

  /** Writes a served lease's record (with its index entry). */
  async putLease (record: LeaseRecord): Promise<void> {
    await this.leases.put(record)
  }

  async getLease (id: string): Promise<LeaseRecord | undefined> {
    return await this.leases.get(id)
  }

  allLeases (): AsyncGenerator<LeaseRecord> {
    return this.leases.all()
  }

  /**
   * What a listing needs of every stored lease, newest first (by start), without reading the
   * records: their ids, starts and end reasons. Read the records of those shown with `getLease`.
   */
  leasesNewestFirst (): AsyncGenerator<LeaseDigest> {
    return this.leases.newestFirst()
  }

  /**
   * Every batch's task records, batch by batch in key order (so the tasks of one batch come
   * together), each with its batch id. Streams: one record in memory at a time.
   */
  async * allBatchTasks (): AsyncGenerator<{ batchId: string, task: BatchTaskRecord }> {
    for await (const [key, value] of this.batchTasks.iterator()) {
      const k = key as Uint8Array
      yield { batchId: dec.decode(k.subarray(0, k.byteLength - 4)), task: decode(value as Uint8Array, MAX_RECORD_BYTES, 'batch task record') as BatchTaskRecord }
    }
  }

  /** Deletes job records (one write). */
  async deleteRequested (ids: string[]): Promise<void> {
    if (ids.length === 0) return
    const at: Uint8Array[] = []
    for (const id of ids) {
      this.requestedIndex.touch(id)
      const waiting = this.requestedWrites.waiting(id)
      this.requestedWrites.drop(id)
      if (waiting != null) at.push(waiting.at)
      const stored = await this.requested.get(enc.encode(id))
      if (stored != null) at.push(indexKey(id, (decode(stored as Uint8Array, MAX_RECORD_BYTES, 'job record') as RequestedJob).createdAt))
    }
    await this.root.batch([
      ...ids.map((id) => ({ type: 'del' as const, sublevel: this.requested, key: enc.encode(id) })),
      ...at.map((key) => ({ type: 'del' as const, sublevel: this.requestedAt, key }))
    ] as any)
    this.indexChanges.landed(at)
  }

  /** Deletes a batch's record and all its task records. */
  async deleteBatch (id: string): Promise<void> {
    // Tasks first: a crash in between leaves a batch record without tasks (shown, and pruned
    // again next time), never task records without their batch.
    await this.batchTasks.clear(taskRange(id))
    await this.batches.del(enc.encode(id))
  }

  /** Deletes the task records of a batch that has no batch record (a submission cut short). */
  async deleteBatchTasks (id: string): Promise<void> {
    await this.batchTasks.clear(taskRange(id))
  }

  /** Deletes lease records (one write). */
  async deleteLeases (ids: string[]): Promise<void> {
    await this.leases.delete(ids)
  }
}

/** classic-level's `sync` write option (abstract-level's types do not name it; sublevels pass it on to the root). */
function syncOption (sync: boolean): any {
  return { sync }
}

/** The key range of one batch's tasks. */
function taskRange (batchId: string): { gte: Uint8Array, lt: Uint8Array } {
  const prefix = enc.encode(batchId)
  const lt = new Uint8Array(prefix.byteLength + 1)
  lt.set(prefix, 0)
  lt[prefix.byteLength] = 0xff
  return { gte: taskKey(batchId, 0), lt }
}

/**
 * A stored job's or batch's fuel limit as a bigint: DAG-CBOR gives back an integer that fits a
 * safe number as a number. (A record from before fuel existed gets the default limit.)
 */
function withFuel<T extends { body: { fuel: bigint, timeoutMs: number } }> (record: T): T {
  const fuel = record.body.fuel as bigint | number | undefined
  record.body.fuel = fuel == null ? defaultFuel(record.body.timeoutMs) : BigInt(fuel)
  return record
}
