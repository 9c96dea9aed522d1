/**
 * The chain: block validation, storage, fork choice and reorgs over the ledger's key spaces.
 *
 * Fork choice: the chain with the most cumulative work wins; a competing chain replaces the
 * current one only with strictly more work, so on equal work the block seen first stays (the
 * tip is persisted, so this holds across restarts too).
 *
 * Bounded storage: blocks that fork from below `tip.height - maxReorgDepth` are ignored; at most
 * `maxSideBlocks` non-canonical blocks are kept (over it, the lowest-work leaf goes); side blocks
 * and undo records that fall below the reorg window are deleted as the tip advances.
 *
 * Atomicity: a block, the state it produces, its undo record and the tip move are ONE batch
 * written with `sync: true`; a reorg (undo + redo + tip) is also one batch. A crash leaves the
 * old tip or the new one, never half a block.
 *
 * Not safe for concurrent mutation: the Ledger serialises calls to `addBlock`.
 */
import { logger } from '@libp2p/logger'
import { CID } from 'multiformats/cid'
import { encode, decode } from '../proofs/encoding.ts'
import { hashMeetsTarget, targetFromBytes, workOf } from '../proofs/pow.ts'
import { MAX_FUTURE_BLOCK_MS, MAX_INVALID_CACHE, ENTRY_CACHE } from './constants.ts'
import { decodeStoredBlock, encodeBlock, headerHash, parseBlockTransactions, type BlockHeader, type DecodedBlock } from './block.ts'
import { expectedTarget, medianTimePast, type AncestorLookup } from './difficulty.ts'
import {
  BadCoinbaseError, BadHeightError, BadTargetError, BadTimestampError, BelowFinalityError, BodyMismatchError,
  DuplicateError, FutureBlockError, GenesisMismatchError, InvalidPowError, KnownInvalidError, SchemaVersionError,
  TargetTooEasyError, TxRootMismatchError, UnknownParentError, WrongNetworkError
} from './errors.ts'
import { genesisHeader, type NetworkParams } from './genesis.ts'
import { fromHex, toHex } from './hex.ts'
import { LruMap } from './lru.ts'
import { applyBlock, undoBlock } from './state.ts'
import {
  BYTES, Overlay, PREFIX, SCHEMA_VERSION, decodeAccount, decodeEntry, decodeReceipt, decodeUndo,
  encodeEntry, encodeUndo, getBytes, keys, makeEntry, prefixEnd,
  type Account, type Entry, type LedgerStore, type ReceiptRecord, type UndoRecord
} from './store.ts'
import { verifyTransaction, type TxInfo, type VerifiedTxCache } from './tx.ts'

const log = logger('depin:ledger:chain')
const EMPTY = new Uint8Array(0)

export interface ChainInit {
  store: LedgerStore
  params: NetworkParams
  maxReorgDepth: number
  maxSideBlocks: number
  now: () => number
  verified: VerifiedTxCache
}

/** A block connected to (or disconnected from) the canonical chain. */
export interface ConnectedBlock {
  entry: Entry
  txs: TxInfo[]
}

export interface AddBlockOutcome {
  /** `connected`: extends the tip; `reorg`: became the tip through a reorg; `side`: stored on a side chain. */
  status: 'connected' | 'reorg' | 'side'
  entry: Entry
  /** Blocks added to the canonical chain, lowest first. */
  applied: ConnectedBlock[]
  /** Blocks removed from the canonical chain, highest first. */
  undone: ConnectedBlock[]
}

/** The chain context a header is checked against. */
export interface HeaderParent {
  height: number
  target: bigint
}

/** Checks a header's target and timestamp against its ancestry. [REJECT] on failure. */
export async function checkHeaderContext (header: BlockHeader, parent: HeaderParent, params: NetworkParams, ancestorAt: AncestorLookup): Promise<void> {
  const expected = await expectedTarget(header.height, parent.target, params, ancestorAt)
  // [REJECT] the target must follow the difficulty rule
  if (targetFromBytes(header.target) !== expected) {
    throw new BadTargetError(`block at height ${header.height} has target ${toHex(header.target)}, expected ${expected.toString(16).padStart(64, '0')}`)
  }
  const mtp = await medianTimePast(header.height, ancestorAt)
  // [REJECT] timestamps move forward
  if (header.timestamp <= mtp) throw new BadTimestampError(`timestamp ${header.timestamp} is not after the median of the previous blocks (${mtp})`)
}

/**
 * The checks on a header alone, without its ancestry: network, height, minimum difficulty, PoW.
 * [REJECT] on failure. Cheap (one comparison of 32 bytes each), so gossip runs them as a block
 * arrives, before it waits for full validation.
 */
export function checkHeaderSelf (header: BlockHeader, hash: Uint8Array, params: Pick<NetworkParams, 'networkId' | 'initialTarget'>): void {
  // [REJECT] another network
  if (header.network !== params.networkId) throw new WrongNetworkError(`block is for network ${header.network}, not ${params.networkId}`)
  // [REJECT] only the genesis block, which nobody sends, has height 0 and no miner
  if (header.height === 0) throw new BadHeightError('height 0 is the genesis block')
  if (header.miner === '') throw new BadCoinbaseError('block without a miner')
  // [REJECT] easier than the network's minimum difficulty: less work than any valid block
  if (targetFromBytes(header.target) > params.initialTarget) {
    throw new TargetTooEasyError(`block target ${toHex(header.target)} is easier than the network's minimum ${params.initialTarget.toString(16).padStart(64, '0')}`)
  }
  // [REJECT] proof of work
  if (!hashMeetsTarget(hash, header.target)) throw new InvalidPowError()
}

export class Chain {
  private readonly db: LedgerStore
  readonly params: NetworkParams
  private readonly maxReorgDepth: number
  private readonly maxSideBlocks: number
  private readonly now: () => number
  private readonly verified: VerifiedTxCache
  private genesisEntry?: Entry
  private tipEntry?: Entry
  private seq = 0
  private side = new Map<string, Entry>()
  private readonly entries = new LruMap<string, Entry>(ENTRY_CACHE)
  private readonly canonicalCache = new LruMap<number, string>(ENTRY_CACHE)
  private readonly invalid = new LruMap<string, true>(MAX_INVALID_CACHE)

  constructor (init: ChainInit) {
    this.db = init.store
    this.params = init.params
    this.maxReorgDepth = init.maxReorgDepth
    this.maxSideBlocks = init.maxSideBlocks
    this.now = init.now
    this.verified = init.verified
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

  /** Opens the store: initialises it with the genesis state, or checks its schema version and genesis. */
  async open (): Promise<void> {
    const header = genesisHeader(this.params)
    const genesisBlock = encodeBlock({ header, txs: [] })
    const hash = new Uint8Array(headerHash(header))
    const genesis = makeEntry(hash, header, workOf(this.params.initialTarget), 0, 0)
    const version = await getBytes(this.db, keys.meta('version'))
    if (version == null) {
      for await (const _ of this.db.keys({ ...BYTES, limit: 1 })) {
        throw new SchemaVersionError('the ledger store holds data but no schema version')
      }
      const overlay = new Overlay(this.db)
      overlay.put(keys.block(hash), genesisBlock)
      overlay.put(keys.entry(hash), encodeEntry(genesis))
      overlay.canonical.set(0, hash)
      for (const [peer, balance] of Object.entries(this.params.allocations)) {
        if (balance > 0) overlay.setAccount(peer, { balance, nonce: 0 })
      }
      overlay.put(keys.meta('version'), encode(SCHEMA_VERSION))
      overlay.put(keys.meta('genesis'), hash)
      overlay.put(keys.meta('tip'), hash)
      overlay.put(keys.meta('seq'), encode(1))
      await overlay.commit()
      log('initialised ledger store for network %s, genesis %s', this.params.networkId, genesis.hashHex)
    } else {
      const v = decode(version, 64, 'schema version')
      if (v !== SCHEMA_VERSION) throw new SchemaVersionError(`the ledger store has schema version ${String(v)}, this build reads ${SCHEMA_VERSION}`)
      const stored = await getBytes(this.db, keys.meta('genesis'))
      if (stored == null || toHex(stored) !== genesis.hashHex) {
        throw new GenesisMismatchError(`the ledger store belongs to genesis ${stored == null ? 'none' : toHex(stored)}, the config gives ${genesis.hashHex} (another network: use another data dir, or move its db/ away to start this network's chain afresh)`)
      }
    }
    this.genesisEntry = genesis
    this.entries.set(genesis.hashHex, genesis)
    const tipHash = await getBytes(this.db, keys.meta('tip')) as Uint8Array
    const tip = await this.getEntry(tipHash)
    if (tip == null) throw new SchemaVersionError('the ledger store has a tip without a block index entry')
    this.tipEntry = tip
    const seq = await getBytes(this.db, keys.meta('seq'))
    this.seq = seq == null ? 1 : decode(seq, 64, 'seq') as number
    this.side = new Map()
    const sidePrefix = Uint8Array.of(PREFIX.SIDE)
    for await (const k of this.db.keys({ ...BYTES, gte: sidePrefix, lt: prefixEnd(sidePrefix) }) as AsyncIterable<Uint8Array>) {
      const entry = await this.getEntry(k.subarray(1))
      if (entry != null) this.side.set(entry.hashHex, entry)
    }
    log('opened ledger at height %d (%s), %d side blocks', tip.height, tip.hashHex, this.side.size)
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

  /** The canonical ancestor of a block (the block itself when canonical); undefined when its branch is incomplete or too deep. */
  async forkPoint (entry: Entry): Promise<Entry | undefined> {
    let cur: Entry | undefined = entry
    for (let steps = 0; cur != null && steps <= this.maxReorgDepth + this.maxSideBlocks; steps++) {
      if (await this.isCanonical(cur)) return cur
      cur = await this.getEntry(cur.parentHex)
    }
    return undefined
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
  // Validation and fork choice

  private markInvalid (hashHex: string): void {
    this.invalid.set(hashHex, true)
  }

  /** Coinbase rules and every transaction's stateless checks (signatures). [REJECT] on failure. */
  checkTransactions (header: BlockHeader, txs: TxInfo[]): void {
    const first = txs[0]?.tx.body
    // [REJECT] exactly one coinbase, first, minting the reward to the header's miner
    if (first == null || first.type !== 'coinbase') throw new BadCoinbaseError('the first transaction must be the coinbase')
    if (first.network !== this.params.networkId || first.height !== header.height || first.miner !== header.miner) {
      throw new BadCoinbaseError('the coinbase does not match the block (network, height or miner)')
    }
    if (first.amount !== this.params.reward) throw new BadCoinbaseError(`the coinbase mints ${first.amount}, the reward is ${this.params.reward}`)
    for (let i = 1; i < txs.length; i++) {
      if (txs[i].tx.body.type === 'coinbase') throw new BadCoinbaseError('more than one coinbase')
      // [REJECT] signatures and settle composition
      verifyTransaction(txs[i], this.params.networkId, this.verified)
    }
  }

  /**
   * Validates a block and stores it: connects it to the tip, stores it on a side chain, or
   * reorgs to its chain when that has more work. Throws a LedgerError (with its action) when
   * the block is refused. Cheap checks first: duplicate, PoW, structure, then signatures, then state.
   */
  async addBlock (block: DecodedBlock): Promise<AddBlockOutcome> {
    const hashHex = block.hashHex
    // [REJECT] already found invalid
    if (this.invalid.has(hashHex)) throw new KnownInvalidError()
    const known = hashHex === this.genesis.hashHex ? this.genesis : await this.getEntry(hashHex)
    if (known != null) {
      if (known !== this.genesis) {
        try {
          parseBlockTransactions(block)
        } catch (err) {
          // [REJECT] a known header with another body
          if (err instanceof TxRootMismatchError) throw new BodyMismatchError()
          throw err
        }
      }
      // [IGNORE] duplicate
      throw new DuplicateError(`block ${hashHex} is already known`)
    }
    const header = block.header
    checkHeaderSelf(header, block.hash, this.params)
    // [REJECT] count bound, sizes, txRoot
    const txs = parseBlockTransactions(block)
    // From here the header commits to this exact body: a [REJECT] below condemns the block hash itself.
    try {
      return await this.addCommittedBlock(block, txs)
    } catch (err) {
      if ((err as { action?: unknown }).action === 'reject') this.markInvalid(hashHex)
      throw err
    }
  }

  private async addCommittedBlock (block: DecodedBlock, txs: TxInfo[]): Promise<AddBlockOutcome> {
    const header = block.header
    const hashHex = block.hashHex
    // [IGNORE] too far in the future: may become valid later, so not stored and not penalised
    const now = this.now()
    if (header.timestamp > now + MAX_FUTURE_BLOCK_MS) {
      throw new FutureBlockError(`block timestamp ${header.timestamp} is more than ${MAX_FUTURE_BLOCK_MS} ms ahead of ${now}`)
    }
    const parentHex = toHex(header.parent)
    // [REJECT] child of an invalid block
    if (this.invalid.has(parentHex)) {
      this.markInvalid(hashHex)
      throw new KnownInvalidError('block builds on a block known to be invalid')
    }
    const parent = await this.getEntry(parentHex)
    // [IGNORE] orphan: the caller may fetch the chain from the sender
    if (parent == null) throw new UnknownParentError(parentHex, header.height)
    // [REJECT] height
    if (header.height !== parent.height + 1) throw new BadHeightError(`block at height ${header.height} on a parent at height ${parent.height}`)
    // [IGNORE] forks from below the finality window
    const fork = parent === this.tip ? parent : await this.forkPoint(parent)
    if (fork == null || fork.height < this.tip.height - this.maxReorgDepth) {
      throw new BelowFinalityError(`block at height ${header.height} forks from below the reorg window (tip ${this.tip.height}, depth ${this.maxReorgDepth})`)
    }
    // [REJECT] target and timestamp against the ancestry
    await checkHeaderContext(header, parent, this.params, this.ancestry(parent))
    // [REJECT] coinbase and signatures
    this.checkTransactions(header, txs)

    const entry = makeEntry(block.hash, header, parent.chainWork + workOf(targetFromBytes(header.target)), this.seq++, txs.length)
    const overlay = new Overlay(this.db)
    overlay.put(keys.block(entry.hash), block.bytes)
    overlay.put(keys.entry(entry.hash), encodeEntry(entry))
    if (parent.hashHex === this.tip.hashHex) return await this.connect(overlay, entry, txs)
    overlay.put(keys.side(entry.hash), EMPTY)
    if (entry.chainWork > this.tip.chainWork) return await this.reorg(overlay, entry, txs)
    const side = new Map(this.side)
    side.set(entry.hashHex, entry)
    const evicted = this.evict(overlay, side, this.tip)
    overlay.put(keys.meta('seq'), encode(this.seq))
    await overlay.commit()
    this.side = side
    this.forget(evicted)
    this.entries.set(entry.hashHex, entry)
    log('stored side block %d %s (work %s <= tip %s)', entry.height, entry.hashHex, entry.chainWork, this.tip.chainWork)
    return { status: 'side', entry, applied: [], undone: [] }
  }

  private async connect (overlay: Overlay, entry: Entry, txs: TxInfo[]): Promise<AddBlockOutcome> {
    let undo
    try {
      undo = await applyBlock(overlay, entry.hash, entry.height, entry.timestamp, txs)
    } catch (err) {
      this.markInvalid(entry.hashHex)
      throw err
    }
    overlay.canonical.set(entry.height, entry.hash)
    overlay.put(keys.undo(entry.hash), encodeUndo(undo))
    const oldTip = this.tip
    await this.moveTip(overlay, entry, oldTip)
    const side = new Map(this.side)
    const evicted = this.evict(overlay, side, entry)
    await overlay.commit()
    this.side = side
    this.forget(evicted)
    this.afterCanonicalChange(overlay, entry)
    return { status: 'connected', entry, applied: [{ entry, txs }], undone: [] }
  }

  private async reorg (overlay: Overlay, entry: Entry, txs: TxInfo[]): Promise<AddBlockOutcome> {
    const oldTip = this.tip
    // The new branch, from just above the fork point up to the new block.
    const branch: Entry[] = [entry]
    let cur = await this.getEntry(entry.parentHex)
    while (cur != null && !(await this.isCanonical(cur))) {
      branch.unshift(cur)
      cur = await this.getEntry(cur.parentHex)
    }
    if (cur == null || cur.height < oldTip.height - this.maxReorgDepth) {
      throw new BelowFinalityError('the heavier branch forks from below the reorg window')
    }
    const fork = cur
    const undone: ConnectedBlock[] = []
    for (let h = oldTip.height; h > fork.height; h--) {
      const e = await this.canonicalEntry(h)
      if (e == null) throw new Error(`canonical chain is missing height ${h}`)
      const undoBytes = await getBytes(this.db, keys.undo(e.hash))
      if (undoBytes == null) throw new BelowFinalityError(`no undo data for block ${h}: reorg too deep`)
      await undoBlock(overlay, decodeUndo(undoBytes), (b) => CID.decode(b))
      overlay.canonical.set(h, null)
      overlay.del(keys.undo(e.hash))
      overlay.put(keys.side(e.hash), EMPTY)
      undone.push({ entry: e, txs: await this.storedTxs(e) })
    }
    const applied: ConnectedBlock[] = []
    for (const e of branch) {
      const blockTxs = e === entry ? txs : await this.storedTxs(e)
      let undo
      try {
        undo = await applyBlock(overlay, e.hash, e.height, e.timestamp, blockTxs)
      } catch (err) {
        log('reorg to %s failed at block %d %s: %e', entry.hashHex, e.height, e.hashHex, err)
        await this.discardBranchFrom(e, entry)
        throw err
      }
      overlay.canonical.set(e.height, e.hash)
      overlay.put(keys.undo(e.hash), encodeUndo(undo))
      overlay.del(keys.side(e.hash))
      applied.push({ entry: e, txs: blockTxs })
    }
    await this.moveTip(overlay, entry, oldTip)
    const side = new Map(this.side)
    for (const e of branch) side.delete(e.hashHex)
    for (const u of undone) side.set(u.entry.hashHex, u.entry)
    const evicted = this.evict(overlay, side, entry)
    await overlay.commit()
    this.side = side
    this.forget(evicted)
    for (let h = fork.height + 1; h <= Math.max(oldTip.height, entry.height); h++) this.canonicalCache.delete(h)
    this.afterCanonicalChange(overlay, entry)
    log('reorg: undid %d blocks, applied %d, new tip %d %s', undone.length, applied.length, entry.height, entry.hashHex)
    return { status: 'reorg', entry, applied, undone }
  }

  private async storedTxs (entry: Entry): Promise<TxInfo[]> {
    const bytes = await getBytes(this.db, keys.block(entry.hash))
    if (bytes == null) throw new Error(`block ${entry.hashHex} is missing its body`)
    return decodeStoredBlock(bytes).txs
  }

  /** Tip meta, seq, and undo records that fall out of the reorg window. */
  private async moveTip (overlay: Overlay, tip: Entry, oldTip: Entry): Promise<void> {
    overlay.put(keys.meta('tip'), tip.hash)
    overlay.put(keys.meta('seq'), encode(this.seq))
    const from = Math.max(1, oldTip.height - this.maxReorgDepth)
    for (let h = from; h <= tip.height - this.maxReorgDepth; h++) {
      const hash = await overlay.canonicalHash(h)
      if (hash != null) overlay.del(keys.undo(hash))
    }
  }

  /**
   * Bounds the side set (mutates `side`, appends deletes to the overlay): drops side blocks at or
   * below the reorg window, then the lowest-work leaves (newest first among equals) while over the cap.
   */
  private evict (overlay: Overlay, side: Map<string, Entry>, tip: Entry): Entry[] {
    const evicted: Entry[] = []
    const drop = (e: Entry): void => {
      side.delete(e.hashHex)
      overlay.del(keys.block(e.hash))
      overlay.del(keys.entry(e.hash))
      overlay.del(keys.side(e.hash))
      overlay.del(keys.undo(e.hash))
      evicted.push(e)
    }
    const floor = tip.height - this.maxReorgDepth
    for (const e of [...side.values()]) if (e.height <= floor) drop(e)
    while (side.size > this.maxSideBlocks) {
      const parents = new Set<string>()
      for (const e of side.values()) parents.add(e.parentHex)
      let victim: Entry | undefined
      for (const e of side.values()) {
        if (parents.has(e.hashHex)) continue
        if (victim == null || e.chainWork < victim.chainWork || (e.chainWork === victim.chainWork && e.seq > victim.seq)) victim = e
      }
      if (victim == null) break
      drop(victim)
    }
    return evicted
  }

  private forget (evicted: Entry[]): void {
    for (const e of evicted) this.entries.delete(e.hashHex)
  }

  /** Deletes a side block that failed validation and every stored side block built on it. */
  private async discardBranchFrom (bad: Entry, newest: Entry): Promise<void> {
    const doomed = new Set<string>([bad.hashHex, newest.hashHex])
    let grew = true
    while (grew) {
      grew = false
      for (const e of this.side.values()) {
        if (!doomed.has(e.hashHex) && doomed.has(e.parentHex)) { doomed.add(e.hashHex); grew = true }
      }
    }
    const overlay = new Overlay(this.db)
    const side = new Map(this.side)
    for (const hex of doomed) {
      this.markInvalid(hex)
      const e = side.get(hex)
      if (e == null) continue
      side.delete(hex)
      overlay.del(keys.block(e.hash))
      overlay.del(keys.entry(e.hash))
      overlay.del(keys.side(e.hash))
    }
    await overlay.commit()
    this.side = side
    for (const hex of doomed) this.entries.delete(hex)
  }

  private afterCanonicalChange (overlay: Overlay, tip: Entry): void {
    for (const [height, hash] of overlay.canonical) {
      if (hash == null) this.canonicalCache.delete(height)
      else this.canonicalCache.set(height, toHex(hash))
    }
    this.entries.set(tip.hashHex, tip)
    this.tipEntry = tip
  }
}

