/**
 * The records of the leases this node served as worker, with their index by start time, so that
 * a page of the jobs list (`GET /v1/jobs?limit=N`, `depin jobs`) reads the lease records it
 * shows, not every one kept. Key spaces (sublevels of `jobs`, beside JobStore's):
 *
 *   `leases`     utf8(lease id)                              → DAG-CBOR LeaseRecord
 *   `leases-at`  startedAt (8 bytes, BE) ‖ utf8(lease id)    → utf8(reason) [‖ 0x00 ‖ utf8(decimal unacknowledged)]   (time-index.ts)
 *   `meta`       `leases-at` → [1] once the index holds every record (built once on an older
 *                store, when the scheduler starts)
 *
 * The digest is what a list filters on (it gives the lease's state: served-lease-state.ts): the
 * lease's end reason and, when its record says how many results were acknowledged, how many were
 * not (an entry written before that was recorded has the reason alone). An entry is written with
 * its record (same batch) and deleted with it; a lease's start time and end reason never change
 * once it is stored (a later write raises what it was paid, and what was acknowledged when a
 * lease-tail claim got its tail acknowledged).
 */
import { decode, encode } from '../proofs/encoding.ts'
import type { Store } from '../shared/store.ts'
import { stripUndefined } from './strip-undefined.ts'
import { IndexBuild, parseTimeKey, timeKey, type IndexChanges, type IndexEntry } from './time-index.ts'

type Sub = ReturnType<Store['sublevel']>

/** The `reason` of a lease that has not ended: served now (listed from memory, never stored). */
export const OPEN_LEASE = 'open'

/** A lease this node served as worker. */
export interface LeaseRecord {
  leaseId: string
  requester: string
  startedAt: number
  endedAt: number
  tasks: number
  refused: number
  /** Fuel of the results returned (decimal). */
  fuel?: string
  amount: number
  /** Credits the requester acknowledged, or what the chain paid for the lease when that is more. */
  paid: number
  /**
   * Results its acknowledgements cover (the lease stream's best, or a lease-tail claim's). Absent
   * when not known: records of earlier versions, and of leases this node was serving when it went
   * down (rebuilt from the journal at the next start).
   */
  acknowledged?: number
  reason: string
}

/** What a listing knows of a served lease without reading its record. */
export interface LeaseDigest {
  id: string
  startedAt: number
  /** Why it ended (`open` while it is served). */
  reason: string
  /** Results it returned that no acknowledgement covers (absent: its record does not say). */
  unacknowledged?: number
}

/** Results a served lease returned that no acknowledgement covers (undefined: its record does not say). */
export function unacknowledgedResults (record: Pick<LeaseRecord, 'tasks' | 'acknowledged'>): number | undefined {
  return record.acknowledged == null ? undefined : Math.max(0, record.tasks - record.acknowledged)
}

const MAX_RECORD_BYTES = 4 * 1024 * 1024
/** An end reason is an error code; anything longer is cut in the index (the record keeps it whole). */
const MAX_DIGEST_BYTES = 256
const INDEX_NAME = 'leases-at'
const enc = new TextEncoder()
const dec = new TextDecoder()

function entryOf (record: LeaseRecord): IndexEntry {
  // (a NUL in a reason would end it early in the digest: none of the codes has one)
  const reason = record.reason.slice(0, MAX_DIGEST_BYTES).replaceAll('\0', ' ')
  const unacknowledged = unacknowledgedResults(record)
  return [record.leaseId, timeKey(record.leaseId, record.startedAt), enc.encode(unacknowledged == null ? reason : `${reason}\0${unacknowledged}`)]
}

/** An index entry's digest: the reason, and the unacknowledged results when it has them. */
export function parseLeaseDigest (text: string): { reason: string, unacknowledged?: number } {
  const nul = text.indexOf('\0')
  if (nul < 0) return { reason: text }
  const count = Number(text.slice(nul + 1))
  const reason = text.slice(0, nul)
  return Number.isSafeInteger(count) && count >= 0 ? { reason, unacknowledged: count } : { reason }
}

export class LeaseStore {
  private readonly root: Sub
  private readonly records: Sub
  private readonly at: Sub
  private readonly build: IndexBuild
  private readonly onDecode: () => void
  private readonly onIndexRead: () => void
  private readonly changes?: IndexChanges

  /**
   * `root`: the `jobs` sublevel (one batch writes a record and its entry); `onDecode`,
   * `onIndexRead`: told of each record decoded and index entry read; `changes`: told of the
   * index entries each landed write changed.
   */
  constructor (root: Sub, meta: Sub, seams: { onDecode?: () => void, onIndexRead?: () => void, changes?: IndexChanges } = {}) {
    const sub = (name: string): Sub => root.sublevel(name, { keyEncoding: 'view', valueEncoding: 'view' }) as unknown as Sub
    this.root = root
    this.records = sub('leases')
    this.at = sub(INDEX_NAME)
    this.onDecode = seams.onDecode ?? (() => {})
    this.onIndexRead = seams.onIndexRead ?? (() => {})
    this.changes = seams.changes
    this.build = new IndexBuild({ meta, name: INDEX_NAME, index: this.at, entries: () => this.storedEntries() })
  }

  async put (record: LeaseRecord): Promise<void> {
    this.build.touch(record.leaseId)
    const [, key, digest] = entryOf(record)
    await this.root.batch([
      { type: 'put', sublevel: this.records, key: enc.encode(record.leaseId), value: encode(stripUndefined(record)) },
      { type: 'put', sublevel: this.at, key, value: digest }
    ] as any)
    this.changes?.landed([key])
  }

  async get (id: string): Promise<LeaseRecord | undefined> {
    const bytes = await this.records.get(enc.encode(id))
    return bytes == null ? undefined : this.decode(bytes as Uint8Array)
  }

  async * all (): AsyncGenerator<LeaseRecord> {
    for await (const value of this.records.values()) yield this.decode(value as Uint8Array)
  }

  /** Every stored lease's id, start and end reason, newest first, without reading the records. */
  async * newestFirst (): AsyncGenerator<LeaseDigest> {
    await this.build.ensure()
    for await (const [key, value] of this.at.iterator({ reverse: true })) {
      this.onIndexRead()
      const { id, at } = parseTimeKey(key as Uint8Array)
      yield { id, startedAt: at, ...parseLeaseDigest(dec.decode(value as Uint8Array)) }
    }
  }

  /** Deletes lease records and their index entries (one write). */
  async delete (ids: string[]): Promise<void> {
    if (ids.length === 0) return
    const keys: Uint8Array[] = []
    for (const id of ids) {
      this.build.touch(id)
      const stored = await this.records.get(enc.encode(id))
      if (stored != null) keys.push(timeKey(id, (decode(stored as Uint8Array, MAX_RECORD_BYTES, 'lease record') as LeaseRecord).startedAt))
    }
    await this.root.batch([
      ...ids.map((id) => ({ type: 'del' as const, sublevel: this.records, key: enc.encode(id) })),
      ...keys.map((key) => ({ type: 'del' as const, sublevel: this.at, key }))
    ] as any)
    this.changes?.landed(keys)
  }

  /** Indexes the records of a store written before the index existed (once). */
  async ensureIndex (): Promise<void> {
    await this.build.ensure()
  }

  private async * storedEntries (): AsyncGenerator<IndexEntry> {
    for await (const record of this.all()) yield entryOf(record)
  }

  private decode (bytes: Uint8Array): LeaseRecord {
    this.onDecode()
    return decode(bytes, MAX_RECORD_BYTES, 'lease record') as LeaseRecord
  }
}
