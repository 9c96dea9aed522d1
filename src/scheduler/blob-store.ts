/**
 * Content-addressed blobs (modules, inputs, outputs) in the node's store.
 *
 * Key spaces (sublevels of `blobs`):
 *   `pinned`  CID bytes → bytes   blobs of this node's own jobs; kept
 *   `cache`   CID bytes → bytes   blobs fetched to run other peers' tasks; evicted oldest first
 *                                  past the cache budget
 * A small in-memory LRU keeps hot blobs (the module of a job run many times) off the disk path.
 */
import type { CID } from 'multiformats/cid'
import { bytesMatchCid, rawCid } from '../proofs/encoding.ts'
import type { Store } from '../shared/store.ts'
import { DEFAULT_BLOB_CACHE_BYTES } from './constants.ts'
import { BlobMismatchError } from './errors.ts'

type Sub = ReturnType<Store['sublevel']>

const HOT_BYTES = 64 * 1024 * 1024

export interface BlobStoreInit {
  /** Budget of the worker-side cache in bytes. @default 512 MiB */
  cacheBytes?: number
}

export class BlobStore {
  private readonly pinned: Sub
  private readonly cache: Sub
  private readonly cacheBudget: number
  private readonly cacheIndex = new Map<string, number>() // insertion order = eviction order
  private cacheSize = 0
  private readonly hot = new Map<string, Uint8Array>()
  private hotSize = 0

  constructor (db: Store, init: BlobStoreInit = {}) {
    const root = db.sublevel('blobs', { keyEncoding: 'view', valueEncoding: 'view' })
    this.pinned = root.sublevel('pinned', { keyEncoding: 'view', valueEncoding: 'view' }) as unknown as Sub
    this.cache = root.sublevel('cache', { keyEncoding: 'view', valueEncoding: 'view' }) as unknown as Sub
    this.cacheBudget = init.cacheBytes ?? DEFAULT_BLOB_CACHE_BYTES
  }

  /** Loads the cache index (sizes) so eviction knows what is there. */
  async start (): Promise<void> {
    this.cacheIndex.clear()
    this.cacheSize = 0
    for await (const [key, value] of this.cache.iterator()) {
      const id = Buffer.from(key as Uint8Array).toString('base64url')
      this.cacheIndex.set(id, (value as Uint8Array).byteLength)
      this.cacheSize += (value as Uint8Array).byteLength
    }
  }

  /** Stores bytes of this node's own job (never evicted) and returns their CID. */
  async pin (bytes: Uint8Array, known?: CID): Promise<CID> {
    // A caller that already hashed the bytes (the job spec names them by CID) passes the CID.
    const cid = known ?? rawCid(bytes)
    if (await this.pinned.has(cid.bytes) !== true) await this.pinned.put(cid.bytes, bytes)
    this.remember(cid, bytes)
    return cid
  }

  /**
   * Pins many blobs in one write (a batch's inputs or outputs); returns their CIDs in order.
   * Blobs already pinned are simply written again (same bytes under the same key).
   */
  async pinMany (items: Array<{ bytes: Uint8Array, cid?: CID }>): Promise<CID[]> {
    const cids = items.map((item) => item.cid ?? rawCid(item.bytes))
    if (items.length === 0) return cids
    // Equal blobs (say, the empty stderr of every task) are written once.
    const unique = new Map<string, { key: Uint8Array, value: Uint8Array }>()
    for (const [i, item] of items.entries()) unique.set(cids[i].toString(), { key: cids[i].bytes, value: item.bytes })
    await this.pinned.batch([...unique.values()].map(({ key, value }) => ({ type: 'put' as const, key, value })))
    for (const [i, item] of items.entries()) this.remember(cids[i], item.bytes)
    return cids
  }

  /** Stores bytes fetched for a task after checking them against `cid`. */
  async cacheVerified (cid: CID, bytes: Uint8Array): Promise<void> {
    if (!bytesMatchCid(bytes, cid)) throw new BlobMismatchError(`bytes do not match ${cid.toString()}`)
    this.remember(cid, bytes)
    if (await this.has(cid)) return
    const id = Buffer.from(cid.bytes).toString('base64url')
    await this.cache.put(cid.bytes, bytes)
    this.cacheIndex.set(id, bytes.byteLength)
    this.cacheSize += bytes.byteLength
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
    return this.hot.get(cid.toString())
  }

  async has (cid: CID): Promise<boolean> {
    if (this.hot.has(cid.toString())) return true
    return await this.pinned.has(cid.bytes) === true || await this.cache.has(cid.bytes) === true
  }

  async get (cid: CID): Promise<Uint8Array | undefined> {
    const hot = this.hot.get(cid.toString())
    if (hot != null) {
      // Refresh LRU position.
      this.hot.delete(cid.toString())
      this.hot.set(cid.toString(), hot)
      return hot
    }
    const bytes = (await this.pinned.get(cid.bytes)) ?? (await this.cache.get(cid.bytes))
    if (bytes == null) return undefined
    this.remember(cid, bytes as Uint8Array)
    return bytes as Uint8Array
  }

  private remember (cid: CID, bytes: Uint8Array): void {
    if (bytes.byteLength > HOT_BYTES / 4) return
    const key = cid.toString()
    if (this.hot.has(key)) return
    this.hot.set(key, bytes)
    this.hotSize += bytes.byteLength
    while (this.hotSize > HOT_BYTES) {
      const [oldest, value] = this.hot.entries().next().value as [string, Uint8Array]
      this.hot.delete(oldest)
      this.hotSize -= value.byteLength
    }
  }
}
