/**
 * The ledger's key spaces in the sublevel the node hands it. Every key starts with one byte that
 * names its space; numeric key parts are big-endian so range scans come back in order. A retired
 * prefix is never reused. Keys and values are bytes (`view` encoding on every operation).
 *
 * | prefix | space                 | key after the prefix                         | value (DAG-CBOR)                                  |
 * |--------|-----------------------|----------------------------------------------|---------------------------------------------------|
 * | 0x01   | blocks                | block hash (32)                              | the encoded block, as received                    |
 * | 0x02   | block index           | block hash (32)                              | { header, work: chain work (bytes, big-endian), seq, txs } |
 * | 0x03   | canonical chain       | height (8, big-endian)                       | block hash (raw 32 bytes)                         |
 * | 0x04   | accounts              | utf8 peer id                                 | [balance, nonce]                                  |
 * | 0x05   | receipts              | lease id (CID bytes)                         | receipt record (the lease's latest settle)        |
 * | 0x06   | receipts by worker    | utf8 worker (52) ‖ height (8) ‖ lease id      | empty                                             |
 * | 0x07   | receipts by requester | utf8 requester (52) ‖ height (8) ‖ lease id   | empty                                             |
 * | 0x08   | undo data             | block hash (32)                              | { accounts: [[peer, balance, nonce]], receipts: [[lease id, previous record or null]] } |
 * | 0x09   | meta                  | utf8 name: `version`, `genesis`, `tip`, `seq` | version: uint, genesis/tip: hash, seq: uint       |
 * | 0x0a   | side blocks           | block hash (32)                              | empty (set of stored non-canonical blocks)        |
 * | 0x0b   | receipts by height    | height (8) ‖ lease id                        | empty                                             |
 */
import type { AbstractLevel } from 'abstract-level'
import { CID } from 'multiformats/cid'
import { decode, encode } from '../proofs/encoding.ts'
import { bigintToBytes, bytesToBigint, targetFromBytes } from '../proofs/pow.ts'
import type { BlockHeader } from './block.ts'
import { toHex } from './hex.ts'

/** The key-value store the ledger writes to: a sublevel (or a whole db) of the node's LevelDB. Keys and values are bytes. */
export type LedgerStore = AbstractLevel<any, any, any>

/** 2: receipts are per lease (cumulative settles), undo records keep a receipt's previous value. */
export const SCHEMA_VERSION = 2

export const PREFIX = {
  BLOCK: 0x01,
  ENTRY: 0x02,
  CANONICAL: 0x03,
  ACCOUNT: 0x04,
  RECEIPT: 0x05,
  RECEIPT_BY_WORKER: 0x06,
  RECEIPT_BY_REQUESTER: 0x07,
  UNDO: 0x08,
  META: 0x09,
  SIDE: 0x0a,
  RECEIPT_BY_HEIGHT: 0x0b
} as const

export const BYTES = { keyEncoding: 'view', valueEncoding: 'view' } as const

const utf8 = new TextEncoder()
const MAX_VALUE = 64 * 1024 * 1024

export function key (prefix: number, ...parts: Uint8Array[]): Uint8Array {
  let length = 1
  for (const p of parts) length += p.byteLength
  const out = new Uint8Array(length)
  out[0] = prefix
  let at = 1
  for (const p of parts) { out.set(p, at); at += p.byteLength }
  return out
}

export function heightBytes (height: number): Uint8Array {
  const out = new Uint8Array(8)
  new DataView(out.buffer).setBigUint64(0, BigInt(height))
  return out
}

export function readHeight (bytes: Uint8Array, offset = 0): number {
  return Number(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(offset))
}

export const keys = {
  block: (hash: Uint8Array) => key(PREFIX.BLOCK, hash),
  entry: (hash: Uint8Array) => key(PREFIX.ENTRY, hash),
  canonical: (height: number) => key(PREFIX.CANONICAL, heightBytes(height)),
  account: (peer: string) => key(PREFIX.ACCOUNT, utf8.encode(peer)),
  receipt: (id: Uint8Array) => key(PREFIX.RECEIPT, id),
  byWorker: (worker: string, height: number, id: Uint8Array) => key(PREFIX.RECEIPT_BY_WORKER, utf8.encode(worker), heightBytes(height), id),
  byRequester: (requester: string, height: number, id: Uint8Array) => key(PREFIX.RECEIPT_BY_REQUESTER, utf8.encode(requester), heightBytes(height), id),
  byHeight: (height: number, id: Uint8Array) => key(PREFIX.RECEIPT_BY_HEIGHT, heightBytes(height), id),
  receiptIndexPrefix: (prefix: number, peer: string) => key(prefix, utf8.encode(peer)),
  undo: (hash: Uint8Array) => key(PREFIX.UNDO, hash),
  meta: (name: 'version' | 'genesis' | 'tip' | 'seq') => key(PREFIX.META, utf8.encode(name)),
  side: (hash: Uint8Array) => key(PREFIX.SIDE, hash)
}

/** The exclusive upper bound of the range of keys that start with `prefix` (its lexicographic successor). */
export function prefixEnd (prefix: Uint8Array): Uint8Array {
  const out = new Uint8Array(prefix)
  for (let i = out.byteLength - 1; i >= 0; i--) {
    if (out[i] < 0xff) {
      out[i]++
      return out.subarray(0, i + 1)
    }
  }
  throw new RangeError('a prefix of only 0xff bytes has no successor')
}

/** A block index entry: the header plus what fork choice needs. */
export interface Entry {
  hash: Uint8Array
  hashHex: string
  header: BlockHeader
  height: number
  parentHex: string
  timestamp: number
  target: bigint
  /** Sum of the work of every block from genesis through this one. */
  chainWork: bigint
  /** Order in which this node first stored the block. */
  seq: number
  /** Number of transactions in the block (coinbase included). */
  txCount: number
}

export function makeEntry (hash: Uint8Array, header: BlockHeader, chainWork: bigint, seq: number, txCount: number): Entry {
  return {
    hash,
    hashHex: toHex(hash),
    header,
    height: header.height,
    parentHex: toHex(header.parent),
    timestamp: header.timestamp,
    target: targetFromBytes(header.target),
    chainWork,
    seq,
    txCount
  }
}

export function encodeEntry (entry: Entry): Uint8Array {
  return encode({ header: entry.header, work: bigintToMinBytes(entry.chainWork), seq: entry.seq, txs: entry.txCount })
}

export function decodeEntry (hash: Uint8Array, bytes: Uint8Array): Entry {
  const value = decode(bytes, MAX_VALUE, 'block index entry') as { header: BlockHeader, work: Uint8Array, seq: number, txs: number }
  return makeEntry(hash, value.header, bytesToBigint(value.work), value.seq, value.txs)
}

export function bigintToMinBytes (value: bigint): Uint8Array {
  let length = 1
  while ((value >> BigInt(length * 8)) > 0n) length++
  return bigintToBytes(value, length)
}

export interface Account {
  balance: number
  nonce: number
}

export const EMPTY_ACCOUNT: Readonly<Account> = Object.freeze({ balance: 0, nonce: 0 })

export function encodeAccount (account: Account): Uint8Array {
  return encode([account.balance, account.nonce])
}

export function decodeAccount (bytes: Uint8Array): Account {
  const [balance, nonce] = decode(bytes, MAX_VALUE, 'account') as [number, number]
  return { balance, nonce }
}

/** A lease's settlement as stored: its latest settle on this chain. */
export interface ReceiptRecord {
  leaseId: CID
  requester: string
  worker: string
  /** Credits paid under the lease so far (cumulative over its settles). */
  paid: number
  /** The checkpoint settled last: its seq and how many task results it commits to. */
  seq: number
  tasks: number
  /** Fuel of those task results (the checkpoint's, cumulative). */
  fuel: bigint
  /** Block the latest settle is in. */
  block: Uint8Array
  height: number
  /** Hash of the latest settle transaction. */
  tx: Uint8Array
}

export function encodeReceipt (r: ReceiptRecord): Uint8Array {
  return encode(r)
}

export function decodeReceipt (bytes: Uint8Array): ReceiptRecord {
  return decode(bytes, MAX_VALUE, 'receipt') as ReceiptRecord
}

/**
 * What it takes to undo a block: the accounts it touched as they were before, and each lease
 * receipt it wrote with the record it replaced (null: the block created it).
 */
export interface UndoRecord {
  accounts: Array<[string, number, number]>
  receipts: Array<[Uint8Array, Uint8Array | null]>
}

export function encodeUndo (undo: UndoRecord): Uint8Array {
  return encode(undo)
}

export function decodeUndo (bytes: Uint8Array): UndoRecord {
  return decode(bytes, MAX_VALUE, 'undo record') as UndoRecord
}

export type BatchOp = { type: 'put', key: Uint8Array, value: Uint8Array } | { type: 'del', key: Uint8Array }

/** Reads one key, undefined when absent. */
export async function getBytes (db: LedgerStore, k: Uint8Array): Promise<Uint8Array | undefined> {
  const v = await db.get(k, BYTES) as Uint8Array | undefined
  return v ?? undefined
}

/**
 * Pending state changes over the store: reads see the pending writes first. Everything a block
 * (or a reorg, or a run of blocks) changes goes through one overlay and is written as ONE batch.
 */
export class Overlay {
  private readonly db: LedgerStore
  readonly accounts = new Map<string, Account>()
  private readonly receiptPuts = new Map<string, ReceiptRecord>()
  private readonly receiptDels = new Map<string, ReceiptRecord>()
  readonly canonical = new Map<number, Uint8Array | null>()
  readonly ops: BatchOp[] = []

  constructor (db: LedgerStore) {
    this.db = db
  }

  async account (peer: string): Promise<Account> {
    const pending = this.accounts.get(peer)
    if (pending != null) return pending
    const bytes = await getBytes(this.db, keys.account(peer))
    return bytes == null ? { ...EMPTY_ACCOUNT } : decodeAccount(bytes)
  }

  setAccount (peer: string, account: Account): void {
    this.accounts.set(peer, account)
  }

  async receipt (id: CID): Promise<ReceiptRecord | undefined> {
    const s = id.toString()
    const put = this.receiptPuts.get(s)
    if (put != null) return put
    if (this.receiptDels.has(s)) return undefined
    const bytes = await getBytes(this.db, keys.receipt(id.bytes))
    return bytes == null ? undefined : decodeReceipt(bytes)
  }

  putReceipt (record: ReceiptRecord): void {
    this.receiptPuts.set(record.leaseId.toString(), record)
  }

  /** Removes a receipt; `existing` is its current record (for its index keys). */
  delReceipt (existing: ReceiptRecord): void {
    const s = existing.leaseId.toString()
    if (this.receiptPuts.has(s)) {
      this.receiptPuts.delete(s)
    } else {
      this.receiptDels.set(s, existing)
    }
  }

  async canonicalHash (height: number): Promise<Uint8Array | undefined> {
    if (this.canonical.has(height)) return this.canonical.get(height) ?? undefined
    return await getBytes(this.db, keys.canonical(height))
  }

  put (k: Uint8Array, value: Uint8Array): void {
    this.ops.push({ type: 'put', key: k, value })
  }

  del (k: Uint8Array): void {
    this.ops.push({ type: 'del', key: k })
  }

  /** The batch: direct ops first, then receipts (deletes before puts), canonical heights and accounts. */
  toBatch (): BatchOp[] {
    const out = [...this.ops]
    for (const r of this.receiptDels.values()) {
      const id = r.leaseId.bytes
      out.push({ type: 'del', key: keys.receipt(id) })
      out.push({ type: 'del', key: keys.byWorker(r.worker, r.height, id) })
      out.push({ type: 'del', key: keys.byRequester(r.requester, r.height, id) })
      out.push({ type: 'del', key: keys.byHeight(r.height, id) })
    }
    for (const r of this.receiptPuts.values()) {
      const id = r.leaseId.bytes
      out.push({ type: 'put', key: keys.receipt(id), value: encodeReceipt(r) })
      out.push({ type: 'put', key: keys.byWorker(r.worker, r.height, id), value: new Uint8Array(0) })
      out.push({ type: 'put', key: keys.byRequester(r.requester, r.height, id), value: new Uint8Array(0) })
      out.push({ type: 'put', key: keys.byHeight(r.height, id), value: new Uint8Array(0) })
    }
    for (const [height, hash] of this.canonical) {
      out.push(hash == null ? { type: 'del', key: keys.canonical(height) } : { type: 'put', key: keys.canonical(height), value: hash })
    }
    for (const [peer, account] of this.accounts) {
      out.push(account.balance === 0 && account.nonce === 0
        ? { type: 'del', key: keys.account(peer) }
        : { type: 'put', key: keys.account(peer), value: encodeAccount(account) })
    }
    return out
  }

  /** Writes everything in one atomic batch, synced to disk. */
  async commit (): Promise<void> {
    await this.db.batch(this.toBatch() as any, { ...BYTES, sync: true } as any)
  }
}

export { CID }
