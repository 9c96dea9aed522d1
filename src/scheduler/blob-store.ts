/**
 * Content-addressed blobs (modules, inputs, outputs) in the node's store.
 *
 * Key spaces (sublevels of `blobs`):
 *   `pinned`  CID bytes → bytes   blobs of this node's own jobs; kept
 *   `files`   CID bytes → size    pinned blobs over LARGE_BLOB_BYTES, whose bytes are a file
 *                                  `<blobDir>/<CID>` (when the node has a data directory)
 *   `cache`   CID bytes → bytes   blobs fetched to run other peers' tasks; evicted oldest first
 *                                  past the cache budget
 * A small in-memory LRU keeps hot blobs (the module of a job run many times) off the disk path.
 *
 * Large blobs (a job's 100 MiB input file, or the file it wrote) are plain files rather than
 * LevelDB values: a value is copied into the write-ahead log, the memtable and every compaction,
 * and read back whole through more copies; a file is written once and read into one buffer. The
 * file is written under a temporary name, flushed to the disk and renamed before its key is
 * recorded, so a recorded key always has its whole file (a crash can leave only an unrecorded
 * temporary file, removed at start). A power cut can still leave a file shorter or other than it
 * was (a file system that lost its data but kept its name): a file is checked against its CID
 * when read, and one that does not match is no blob (reads answer as for a missing one).
 *
 * Pinned blobs are removed only by retention (src/scheduler/retention/): it deletes those no kept
 * record references. A blob is pinned before the record that references it is written, so the
 * store remembers when each blob was last pinned (in memory, for PIN_PROTECT_MS) and
 * `deletePinned` skips a blob pinned since the caller's mark began: pin and delete exclude each
 * other (a pin waits while a delete batch is written), so a blob is never deleted between its pin
 * and its record.
 */
import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { logger } from '@libp2p/logger'
import { CID } from 'multiformats/cid'
import { bytesMatchCid, cidText, rawCid } from '../proofs/encoding.ts'
import type { Store } from '../shared/store.ts'
import { DEFAULT_BLOB_CACHE_BYTES, PIN_PROTECT_MS } from './constants.ts'
import { BlobMismatchError } from './errors.ts'
import { TurnBatch } from '../shared/turn-batch.ts'

type Sub = ReturnType<Store['sublevel']>

const log = logger('depin:blobs')

const HOT_BYTES = 64 * 1024 * 1024
/** What an entry of the in-memory LRU costs besides its bytes (key, map slot): counted, so that tiny blobs cannot fill it by the million. */
const HOT_ENTRY_BYTES = 256
/** Pinned blobs larger than this are files in `blobDir` (when there is one). */
export const LARGE_BLOB_BYTES = 4 * 1024 * 1024

export interface BlobStoreInit {
  /** Budget of the worker-side cache in bytes. @default 512 MiB */
  cacheBytes?: number
  /**
   * Directory for pinned blobs over LARGE_BLOB_BYTES (created at start). Without one (a node
   * without a data directory) every blob is a value in the store.
   */
  blobDir?: string
}

/** How often expired pin times are swept (a walk of every pin time). */
const PIN_SWEEP_MS = 60_000

export class BlobStore {
  private readonly pinned: Sub
  private readonly files: Sub
  private readonly blobDir?: string
  private readonly cache: Sub
  private readonly cacheBudget: number
  private readonly cacheIndex = new Map<string, number>() // insertion order = eviction order
  private cacheSize = 0
  private readonly hot = new Map<string, Uint8Array>()
  private hotSize = 0
  /**
   * When each blob was last pinned (latin1 of its CID bytes → ms); see `pinnedSince`. Entries
   * older than PIN_PROTECT_MS are swept every PIN_SWEEP_MS (unless a mark holds them), so its
   * size is the pins of the last ten minutes or so: a 100,000-task batch, ~10 MB.
   */
  private readonly pinTimes = new Map<string, number>()
  /** When expired pin times are next swept (ms): see `pinning`. */
  private sweepPinsAfter = 0
  /** Pin times at or after any of these are kept even when older than PIN_PROTECT_MS (marks in progress). */
  private readonly pinFloors = new Set<{ since: number }>()
  /** Set while a delete batch is being written; pins wait for it. */
  private deleting?: Promise<void>
  /** Small blobs waiting for their batch write (`putPinned`), by their CID bytes (latin1). */
  private readonly pinWrites = new TurnBatch<string, { key: Uint8Array, value: Uint8Array }>(async (entries) => {
    await this.pinned.batch(entries.map(([, { key, value }]) => ({ type: 'put' as const, key, value })))
  })

  constructor (db: Store, init: BlobStoreInit = {}) {
    const root = db.sublevel('blobs', { keyEncoding: 'view', valueEncoding: 'view' })
    this.pinned = root.sublevel('pinned', { keyEncoding: 'view', valueEncoding: 'view' }) as unknown as Sub
    this.files = root.sublevel('files', { keyEncoding: 'view', valueEncoding: 'view' }) as unknown as Sub
    this.cache = root.sublevel('cache', { keyEncoding: 'view', valueEncoding: 'view' }) as unknown as Sub
    this.cacheBudget = init.cacheBytes ?? DEFAULT_BLOB_CACHE_BYTES
    this.blobDir = init.blobDir
  }

  /** Loads the cache index (sizes) so eviction knows what is there; prepares the blob directory. */
  async start (): Promise<void> {
    if (this.blobDir != null) {
      await mkdir(this.blobDir, { recursive: true })
      for (const name of await readdir(this.blobDir)) {
        // Temporary files of writes a crash cut short: never recorded, so nothing refers to them.
        if (name.endsWith('.tmp')) {
          await rm(join(this.blobDir, name), { force: true })
          continue
        }
        // A blob file without its key: a crash between a pin's rename and its key, or between a
        // delete's key and its file. Nothing reads it and no prune lists it: it goes now.
        let cid: CID
        try {
          cid = CID.parse(name)
        } catch {
          continue // not ours
        }
        if (await this.files.has(cid.bytes) !== true) await rm(join(this.blobDir, name), { force: true })
      }
    }
    this.cacheIndex.clear()
    this.cacheSize = 0
    for await (const [key, value] of this.cache.iterator()) {
      const id = Buffer.from(key as Uint8Array).toString('base64url')
      this.cacheIndex.set(id, (value as Uint8Array).byteLength)
      this.cacheSize += (value as Uint8Array).byteLength
    }
    // The budget may have been lowered since the cache was filled.
    await this.evictCache()
  }

  /** Bytes in the worker-side cache now, and its budget. */
  cacheUsage (): { bytes: number, blobs: number, budget: number } {
    return { bytes: this.cacheSize, blobs: this.cacheIndex.size, budget: this.cacheBudget }
  }

  /** Stores bytes of this node's own job (never evicted) and returns their CID. */
  async pin (bytes: Uint8Array, known?: CID): Promise<CID> {
    // A caller that already hashed the bytes (the job spec names them by CID) passes the CID.
    const cid = known ?? rawCid(bytes)
    await this.pinning([cid])
    if (this.isLarge(bytes)) await this.pinFile(cid, bytes)
    else await this.putPinned([{ cid, value: bytes }])
    this.remember(cid, bytes)
    return cid
  }

  /**
   * Writes small pinned blobs: those pinned in the same turn of the event loop in one batch
   * (`TurnBatch`). A blob already there is written again (the same bytes under the same key).
   */
  private async putPinned (blobs: Array<{ cid: CID, value: Uint8Array }>): Promise<void> {
    await this.pinWrites.put(blobs.map(({ cid, value }) => [latin1(cid.bytes), { key: cid.bytes, value }]))
  }

  /**
   * Pins many blobs in one write (a batch's inputs or outputs); returns their CIDs in order.
   * Blobs already pinned are simply written again (same bytes under the same key).
   */
  async pinMany (items: Array<{ bytes: Uint8Array, cid?: CID }>): Promise<CID[]> {
    const cids = items.map((item) => item.cid ?? rawCid(item.bytes))
    if (items.length === 0) return cids
    // Equal blobs (say, the empty stderr of every task) are pinned once; large ones as files.
    const unique = new Map<string, { cid: CID, value: Uint8Array }>()
    for (let i = 0; i < items.length; i++) {
      const key = cidText(cids[i])
      if (!unique.has(key)) unique.set(key, { cid: cids[i], value: items[i].bytes })
    }
    const blobs = [...unique.values()]
    await this.pinning(blobs.map(({ cid }) => cid))
    const small = blobs.filter(({ value }) => !this.isLarge(value))
    for (const { cid, value } of blobs) if (this.isLarge(value)) await this.pinFile(cid, value)
    if (small.length > 0) await this.putPinned(small)
    for (const [key, { value }] of unique) this.rememberAs(key, value)
    return cids
  }

  /** Stores bytes fetched for a task after checking them against `cid`. */
  async cacheVerified (cid: CID, bytes: Uint8Array): Promise<void> {
    if (!bytesMatchCid(bytes, cid)) throw new BlobMismatchError(`bytes do not match ${cid.toString()}`)
    this.remember(cid, bytes)
    // On disk already? (Not `has`: the bytes were just remembered in memory.)
    if (await this.pinned.has(cid.bytes) === true || await this.files.has(cid.bytes) === true || await this.cache.has(cid.bytes) === true) return
    const id = Buffer.from(cid.bytes).toString('base64url')
    await this.cache.put(cid.bytes, bytes)
    this.cacheIndex.set(id, bytes.byteLength)
    this.cacheSize += bytes.byteLength
    await this.evictCache()
  }

  /** Evicts the oldest cached blobs until the cache fits its budget (the newest always stays). */
  private async evictCache (): Promise<void> {
    while (this.cacheSize > this.cacheBudget && this.cacheIndex.size > 1) {
      const [oldest, size] = this.cacheIndex.entries().next().value as [string, number]
      this.cacheIndex.delete(oldest)
      this.cacheSize -= size
      await this.cache.del(Buffer.from(oldest, 'base64url'))
    }
  }

  /** Checks bytes against `cid` and keeps them in memory only (for one-off task inputs). */
  holdVerified (cid: CID, bytes: Uint8Array): void {
    if (!bytesMatchCid(bytes, cid)) throw new BlobMismatchError(`bytes do not match ${cid.toString()}`)
    this.remember(cid, bytes)
  }

  /** Bytes of `cid` if they are in memory (no disk read). */
  getHot (cid: CID): Uint8Array | undefined {
    return this.hot.get(cidText(cid))
  }

  async has (cid: CID): Promise<boolean> {
    if (this.hot.has(cidText(cid))) return true
    return await this.pinned.has(cid.bytes) === true || await this.files.has(cid.bytes) === true || await this.cache.has(cid.bytes) === true
  }

  async get (cid: CID): Promise<Uint8Array | undefined> {
    const key = cidText(cid)
    const hot = this.hot.get(key)
    if (hot != null) {
      // Refresh LRU position.
      this.hot.delete(key)
      this.hot.set(key, hot)
      return hot
    }
    const bytes = (await this.pinned.get(cid.bytes)) ?? (await this.readFile(cid)) ?? (await this.cache.get(cid.bytes))
    if (bytes == null) return undefined
    this.remember(cid, bytes as Uint8Array)
    return bytes as Uint8Array
  }

  /** Every pinned blob's key (its CID's bytes): those in the store, then those in files; reads no values. */
  async * pinnedKeys (): AsyncGenerator<Uint8Array> {
    for await (const key of this.pinned.keys()) yield key as Uint8Array
    for await (const key of this.files.keys()) yield key as Uint8Array
  }

  /**
   * Keeps pin times from `since` on, however old, until the returned release is called: a mark
   * that began at `since + PIN_PROTECT_MS` can then ask `pinnedSince(…, since)` whatever it lasts.
   */
  holdPinTimes (since: number): () => void {
    const hold = { since }
    this.pinFloors.add(hold)
    return () => { this.pinFloors.delete(hold) }
  }

  /** Whether the blob was pinned at or after `since` (by this process). */
  pinnedSince (key: Uint8Array, since: number): boolean {
    const at = this.pinTimes.get(latin1(key))
    return at != null && at >= since
  }

  /**
   * Deletes pinned blobs by key, except those pinned at or after `protectSince`; returns how many
   * were deleted and their bytes. Sizes are read first (one blob in memory at a time), then the
   * deletes are written in one batch while pins wait.
   */
  async deletePinned (keys: Uint8Array[], protectSince: number): Promise<{ blobs: number, bytes: number }> {
    const sizes = new Map<string, { key: Uint8Array, size: number, file: boolean }>()
    for (const key of keys) {
      const value = await this.pinned.get(key) as Uint8Array | undefined
      if (value != null) sizes.set(Buffer.from(key).toString('latin1'), { key, size: value.byteLength, file: false })
      const file = await this.files.get(key) as Uint8Array | undefined
      if (file != null) sizes.set(Buffer.from(key).toString('latin1'), { key, size: decodeSize(file), file: true })
    }
    while (this.deleting != null) await this.deleting
    // From here to the batch being written no pin can record a time (see `pinning`), so the
    // check below and the delete see the same pins.
    const doomed = [...sizes.entries()].filter(([id]) => !((this.pinTimes.get(id) ?? -Infinity) >= protectSince))
    if (doomed.length === 0) return { blobs: 0, bytes: 0 }
    const done = Promise.withResolvers<void>()
    this.deleting = done.promise
    try {
      await this.pinned.batch(doomed.filter(([, d]) => !d.file).map(([, { key }]) => ({ type: 'del' as const, key })))
      const files = doomed.filter(([, d]) => d.file)
      if (files.length > 0) {
        // The key goes first: a file without a key is never read, a key without its file would be.
        await this.files.batch(files.map(([, { key }]) => ({ type: 'del' as const, key })))
        for (const [, { key }] of files) await rm(this.filePath(CID.decode(key)), { force: true })
      }
      for (const [, { key }] of doomed) this.forget(key)
    } finally {
      this.deleting = undefined
      done.resolve()
    }
    return { blobs: doomed.length, bytes: doomed.reduce((sum, [, { size }]) => sum + size, 0) }
  }

  private isLarge (bytes: Uint8Array): boolean {
    return this.blobDir != null && bytes.byteLength > LARGE_BLOB_BYTES
  }

  private filePath (cid: CID): string {
    return join(this.blobDir as string, cid.toString())
  }

  /** Writes a large pinned blob's file (temporary name, then rename), then records its key. */
  private async pinFile (cid: CID, bytes: Uint8Array): Promise<void> {
    if (await this.files.has(cid.bytes) === true) return
    const path = this.filePath(cid)
    const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`
    // On the disk before its name and key: a power cut must not leave a recorded name without its bytes.
    const handle = await open(tmp, 'w')
    try {
      await handle.writeFile(bytes)
      await handle.sync()
    } finally {
      await handle.close()
    }
    await rename(tmp, path)
    await this.files.put(cid.bytes, encodeSize(bytes.byteLength))
  }

  /** A large pinned blob's bytes, or undefined when it has none. */
  private async readFile (cid: CID): Promise<Uint8Array | undefined> {
    if (this.blobDir == null || await this.files.has(cid.bytes) !== true) return undefined
    try {
      const buffer = await readFile(this.filePath(cid))
      const bytes = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength)
      if (!bytesMatchCid(bytes, cid)) {
        log.error('blob file %s does not match its CID (%d bytes): a crash or power cut damaged it; treated as missing', cid, bytes.byteLength)
        return undefined
      }
      return bytes
    } catch (err) {
      if ((err as { code?: string }).code === 'ENOENT') return undefined
      throw err
    }
  }

  /** Records that `cids` are being pinned now (after any delete batch being written). */
  private async pinning (cids: CID[]): Promise<void> {
    while (this.deleting != null) await this.deleting
    const now = Date.now()
    // Updated in place. (Deleted and inserted again, a blob pinned over and over, like every
    // job's empty stderr, left a deleted entry in its hash bucket each time, which V8's Map walks
    // on every lookup until it rehashes: ~20 µs a pin after thousands of jobs.)
    for (const cid of cids) this.pinTimes.set(latin1(cid.bytes), now)
    // Expired times are dropped by a sweep of the whole map now and then, not at every pin:
    // dropping later only keeps times longer (more protection, not less).
    if (now < this.sweepPinsAfter) return
    this.sweepPinsAfter = now + PIN_SWEEP_MS
    let expired = now - PIN_PROTECT_MS
    for (const hold of this.pinFloors) expired = Math.min(expired, hold.since)
    for (const [id, at] of this.pinTimes) if (at < expired) this.pinTimes.delete(id)
  }

  private forget (key: Uint8Array): void {
    const cid = cidText(CID.decode(key))
    const bytes = this.hot.get(cid)
    if (bytes == null) return
    this.hot.delete(cid)
    this.hotSize -= bytes.byteLength + HOT_ENTRY_BYTES
  }

  private remember (cid: CID, bytes: Uint8Array): void {
    this.rememberAs(cidText(cid), bytes)
  }

  private rememberAs (key: string, bytes: Uint8Array): void {
    if (bytes.byteLength > HOT_BYTES / 4 || this.hot.has(key)) return
    this.hot.set(key, bytes)
    this.hotSize += bytes.byteLength + HOT_ENTRY_BYTES
    while (this.hotSize > HOT_BYTES) {
      const [oldest, value] = this.hot.entries().next().value as [string, Uint8Array]
      this.hot.delete(oldest)
      this.hotSize -= value.byteLength + HOT_ENTRY_BYTES
    }
  }
}

/** A file blob's size as its key's value: 8 bytes, big-endian. */
function encodeSize (size: number): Uint8Array {
  const out = new Uint8Array(8)
  new DataView(out.buffer).setBigUint64(0, BigInt(size))
  return out
}

function decodeSize (bytes: Uint8Array): number {
  return bytes.byteLength === 8 ? Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0)) : 0
}

/** The bytes as a latin1 string (one char per byte, no copy): a cheap map key. */
function latin1 (bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1')
}
