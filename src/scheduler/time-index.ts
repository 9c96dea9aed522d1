/**
 * Indexes by time of records kept by id, so that a list of the newest N reads N records, not
 * every record kept: the requested jobs' (`requested-at`, see requested-index.ts) and the served
 * leases' (`leases-at`, see lease-store.ts). An index key is
 *
 *   time (ms since the epoch, 8 bytes, BE) ‖ utf8(id)  →  a short digest of what a list filters on
 *
 * so a reverse scan gives the newest first. Each entry is written and deleted with its record in
 * one batch; `IndexBuild` builds an index once for a store written before it existed.
 */
import type { Store } from '../shared/store.ts'

type Sub = ReturnType<Store['sublevel']>

const enc = new TextEncoder()
const dec = new TextDecoder()

export function timeKey (id: string, at: number): Uint8Array {
  const idBytes = enc.encode(id)
  const key = new Uint8Array(8 + idBytes.byteLength)
  new DataView(key.buffer).setBigUint64(0, BigInt(Math.max(0, Math.floor(at))))
  key.set(idBytes, 8)
  return key
}

export function parseTimeKey (key: Uint8Array): { id: string, at: number } {
  const view = new DataView(key.buffer, key.byteOffset, key.byteLength)
  return { id: dec.decode(key.subarray(8)), at: Number(view.getBigUint64(0)) }
}

/** One entry of an index: its record's id, its key and its digest. */
export type IndexEntry = [id: string, key: Uint8Array, digest: Uint8Array]

export interface IndexBuildInit {
  /** Where the marker of a built index is kept. */
  meta: Sub
  /** The marker's key in `meta` (the index's name: a retired name is never reused). */
  name: string
  index: Sub
  /** The entries of every stored record (read once, streamed). */
  entries: () => AsyncIterable<IndexEntry>
}

/** How many entries a build writes at once. */
const BUILD_CHUNK = 1000

/**
 * Builds an index once for a store written before it existed, then marks it built (a new store
 * is marked before it holds any record: the scheduler's start builds its indexes). Records
 * written or deleted while it builds are `touch`ed: their writers keep their index entries, and
 * the build leaves them alone.
 */
export class IndexBuild {
  private readonly init: IndexBuildInit
  private built?: Promise<void>
  private touched?: Set<string>

  constructor (init: IndexBuildInit) {
    this.init = init
  }

  /** A record is written or deleted now (with its index entry). */
  touch (id: string): void {
    this.touched?.add(id)
  }

  /** Resolves once the index holds every record (building it the first time on an older store). */
  async ensure (): Promise<void> {
    this.built ??= this.build()
    this.built.catch(() => { this.built = undefined })
    await this.built
  }

  private async build (): Promise<void> {
    const { meta, index } = this.init
    const marker = enc.encode(this.init.name)
    if (await meta.get(marker) != null) return
    const touched = this.touched = new Set()
    let chunk: IndexEntry[] = []
    const flush = async (): Promise<void> => {
      const entries = chunk.filter(([id]) => !touched.has(id))
      chunk = []
      if (entries.length > 0) await index.batch(entries.map(([, key, value]) => ({ type: 'put' as const, key, value })))
    }
    try {
      for await (const entry of this.init.entries()) {
        chunk.push(entry)
        if (chunk.length >= BUILD_CHUNK) await flush()
      }
      await flush()
      await meta.put(marker, new Uint8Array([1]))
    } finally {
      this.touched = undefined
    }
  }
}

/**
 * Tells listeners, once a write has landed, the time of each index entry it wrote or deleted: a
 * count kept for entries older than some time (the jobs list's `total`, node/api/jobs-count.ts)
 * knows from it when that count no longer holds. Told after the write, never before: a count
 * taken from a scan that began before the write landed is then always told.
 */
export class IndexChanges {
  private readonly listeners = new Set<(at: number) => void>()

  on (listener: (at: number) => void): void { this.listeners.add(listener) }
  off (listener: (at: number) => void): void { this.listeners.delete(listener) }

  /** Index entries (their keys) written or deleted by a write that landed. */
  landed (keys: Iterable<Uint8Array>): void {
    if (this.listeners.size === 0) return
    for (const key of keys) {
      const { at } = parseTimeKey(key)
      for (const listener of this.listeners) listener(at)
    }
  }
}
