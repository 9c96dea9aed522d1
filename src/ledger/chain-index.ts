/**
 * The chain's block index and state reads: block entries by hash (and the set of stored
 * non-canonical "side" blocks), canonical hashes by height, ancestry, stored bodies, accounts,
 * receipts and undo records, with LRU caches in front of the store.
 *
 * Everyone reads it; only the Chain changes it, and only after the batch that changed the store
 * is written, so a read never sees a block, tip or side set that a crash could take back.
 */
import { CID } from 'multiformats/cid'
import { ENTRY_CACHE } from './constants.ts'
import type { AncestorLookup } from './difficulty.ts'
import { SchemaVersionError } from './errors.ts'
import { fromHex, toHex } from './hex.ts'
import { LruMap } from './lru.ts'
import {
  BYTES, PREFIX, decodeAccount, decodeEntry, decodeReceipt, decodeUndo, getBytes, keys, prefixEnd,
  type Account, type Entry, type LedgerStore, type ReceiptRecord, type UndoRecord
} from './store.ts'

export class ChainIndex {
  private readonly db: LedgerStore
  private genesisEntry?: Entry
  private tipEntry?: Entry
  private side = new Map<string, Entry>()
  private readonly entries = new LruMap<string, Entry>(ENTRY_CACHE)
  private readonly canonicalCache = new LruMap<number, string>(ENTRY_CACHE)

  constructor (db: LedgerStore) {
    this.db = db
  }

  get genesis (): Entry {
    if (this.genesisEntry == null) throw new Error('chain not open')
    return this.genesisEntry
  }

  get tip (): Entry {
    if (this.tipEntry == null) throw new Error('chain not open')
    return this.tipEntry
  }

  /** Number of stored non-canonical blocks. */
  get sideBlockCount (): number {
    return this.side.size
  }

  /** The stored non-canonical blocks, by hex hash. */
  get sideBlocks (): ReadonlyMap<string, Entry> {
    return this.side
  }

  /** Loads the tip and the side set of an opened store. */
  async load (genesis: Entry): Promise<void> {
    this.genesisEntry = genesis
    this.entries.set(genesis.hashHex, genesis)
    const tipHash = await getBytes(this.db, keys.meta('tip')) as Uint8Array
    const tip = await this.getEntry(tipHash)
    if (tip == null) throw new SchemaVersionError('the ledger store has a tip without a block index entry')
    this.tipEntry = tip
    this.side = new Map()
    const sidePrefix = Uint8Array.of(PREFIX.SIDE)
    for await (const k of this.db.keys({ ...BYTES, gte: sidePrefix, lt: prefixEnd(sidePrefix) }) as AsyncIterable<Uint8Array>) {
      const entry = await this.getEntry(k.subarray(1))
      if (entry != null) this.side.set(entry.hashHex, entry)
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Reads

  async getEntry (hash: Uint8Array | string): Promise<Entry | undefined> {
    const hex = typeof hash === 'string' ? hash : toHex(hash)
    const cached = this.side.get(hex) ?? this.entries.get(hex)
    if (cached != null) return cached
    const bytes = typeof hash === 'string' ? fromHex(hash) : hash
    if (bytes == null || bytes.byteLength !== 32) return undefined
    const value = await getBytes(this.db, keys.entry(bytes))
    if (value == null) return undefined
    const entry = decodeEntry(bytes, value)
    this.entries.set(hex, entry)
    return entry
  }

  async canonicalHashHex (height: number): Promise<string | undefined> {
    if (height < 0 || height > this.tip.height) return undefined
    const cached = this.canonicalCache.get(height)
    if (cached != null) return cached
    const hash = await getBytes(this.db, keys.canonical(height))
    if (hash == null) return undefined
    const hex = toHex(hash)
    this.canonicalCache.set(height, hex)
    return hex
  }

  async canonicalEntry (height: number): Promise<Entry | undefined> {
    const hex = await this.canonicalHashHex(height)
    return hex == null ? undefined : await this.getEntry(hex)
  }

  async isCanonical (entry: Entry): Promise<boolean> {
    return (await this.canonicalHashHex(entry.height)) === entry.hashHex
  }

  /** The ancestor of `start` at `height` (start itself when heights are equal). */
  async ancestorAt (start: Entry, height: number): Promise<Entry> {
    let cur = start
    while (cur.height > height) {
      if (cur.height - height > 16 && await this.isCanonical(cur)) {
        const e = await this.canonicalEntry(height)
        if (e != null) return e
      }
      const parent = await this.getEntry(cur.parentHex)
      if (parent == null) throw new Error(`block index is missing ${cur.parentHex}`)
      cur = parent
    }
    return cur
  }

  /** Lookup function over the branch ending at `start`. */
  ancestry (start: Entry): AncestorLookup {
    return async (height) => await this.ancestorAt(start, height)
  }

  async blockBytes (hash: Uint8Array | string): Promise<Uint8Array | undefined> {
    const bytes = typeof hash === 'string' ? fromHex(hash) : hash
    if (bytes == null || bytes.byteLength !== 32) return undefined
    return await getBytes(this.db, keys.block(bytes))
  }

  async account (peer: string): Promise<Account> {
    const bytes = await getBytes(this.db, keys.account(peer))
    return bytes == null ? { balance: 0, nonce: 0 } : decodeAccount(bytes)
  }

  /** The undo record of a canonical block in the reorg window (what its settles replaced), if kept. */
  async undoRecord (hash: Uint8Array): Promise<UndoRecord | undefined> {
    const bytes = await getBytes(this.db, keys.undo(hash))
    return bytes == null ? undefined : decodeUndo(bytes)
  }

  async receipt (id: CID): Promise<ReceiptRecord | undefined> {
    const bytes = await getBytes(this.db, keys.receipt(id.bytes))
    return bytes == null ? undefined : decodeReceipt(bytes)
  }

  /** Receipts by worker or requester (newest first), or the newest receipts of all. */
  async receipts (query: { worker?: string, requester?: string, limit: number }): Promise<ReceiptRecord[]> {
    const out: ReceiptRecord[] = []
    const byWorker = query.worker != null
    const prefix = query.worker == null && query.requester == null
      ? Uint8Array.of(PREFIX.RECEIPT_BY_HEIGHT)
      : keys.receiptIndexPrefix(byWorker ? PREFIX.RECEIPT_BY_WORKER : PREFIX.RECEIPT_BY_REQUESTER, (byWorker ? query.worker : query.requester) as string)
    // Index keys: prefix ‖ height (8) ‖ agreement id, newest first.
    for await (const k of this.db.keys({ ...BYTES, gte: prefix, lt: prefixEnd(prefix), reverse: true }) as AsyncIterable<Uint8Array>) {
      if (k.byteLength < prefix.byteLength + 8) continue
      const id = CID.decode(k.subarray(prefix.byteLength + 8))
      const record = await this.receipt(id)
      if (record == null) continue
      if (byWorker && query.requester != null && record.requester !== query.requester) continue
      out.push(record)
      if (out.length >= query.limit) break
    }
    return out
  }

  // ---------------------------------------------------------------------------------------------
  // Updates, by the Chain, after its batch is written

  /** Caches an entry just written. */
  remember (entry: Entry): void {
    this.entries.set(entry.hashHex, entry)
  }

  /** Takes the side set a batch left, forgetting the entries of blocks it deleted. */
  replaceSide (side: Map<string, Entry>, deleted: Iterable<string>): void {
    this.side = side
    for (const hex of deleted) this.entries.delete(hex)
  }

  /** Drops the cached canonical hashes of heights `from` to `to` (a reorg rewrote them). */
  forgetCanonical (from: number, to: number): void {
    for (let h = from; h <= to; h++) this.canonicalCache.delete(h)
  }

  /** Takes a new tip and the canonical heights its batch set (a hash) or cleared (null). */
  tipMoved (tip: Entry, canonical: ReadonlyMap<number, Uint8Array | null>): void {
    for (const [height, hash] of canonical) {
      if (hash == null) this.canonicalCache.delete(height)
      else this.canonicalCache.set(height, toHex(hash))
    }
    this.entries.set(tip.hashHex, tip)
    this.tipEntry = tip
  }
}
