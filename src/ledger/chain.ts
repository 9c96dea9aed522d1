/**
 * The chain: block validation, storage, fork choice and reorgs over the ledger's key spaces. The
 * stateless checks are in block-checks.ts; the block index and state reads (with their caches)
 * in chain-index.ts, which this class alone updates, after each batch is written.
 *
 * Fork choice: the chain with the most cumulative work wins; a competing chain replaces the
 * current one only with strictly more work, so on equal work the block seen first stays (the
 * tip is persisted, so this holds across restarts too).
 *
 * Bounded storage: blocks that fork from below `tip.height - maxReorgDepth` are ignored; at most
 * `maxSideBlocks` non-canonical blocks are kept (over it, the lowest-work leaf other than the
 * block being added goes; a side block that would leave nothing else to evict is refused, unless
 * sync fetched it for a branch its headers proved heavier); side blocks that fall below the reorg
 * window, and undo records more than twice the reorg depth below the tip, are deleted as the tip
 * advances.
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
import { targetFromBytes, workOf } from '../proofs/pow.ts'
import { MAX_FUTURE_BLOCK_MS, MAX_INVALID_CACHE } from './constants.ts'
import { decodeStoredBlock, parseBlockTransactions, type DecodedBlock } from './block.ts'
import { checkBlockTransactions, checkHeaderContext, checkHeaderSelf } from './block-checks.ts'
import { ChainIndex } from './chain-index.ts'
import {
  BadHeightError, BelowFinalityError, BodyMismatchError, DuplicateError, FutureBlockError, KnownInvalidError,
  SideChainFullError, TxRootMismatchError, UnknownParentError
} from './errors.ts'
import type { NetworkParams } from './genesis.ts'
import { toHex } from './hex.ts'
import { LruMap } from './lru.ts'
import { applyBlock, undoBlock } from './state.ts'
import { Overlay, decodeUndo, encodeEntry, encodeUndo, getBytes, keys, makeEntry, type Entry, type LedgerStore } from './store.ts'
import { openLedgerStore } from './store-open.ts'
import type { TxInfo, VerifiedTxCache } from './tx.ts'

export { checkHeaderContext, checkHeaderSelf, type HeaderParent } from './block-checks.ts'

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

export interface AddBlockOptions {
  /**
   * The block belongs to a branch whose headers sync has checked to carry more work than the tip:
   * it is stored even when that takes the side set past `maxSideBlocks` (the branch becomes
   * canonical, and leaves the side set, once its last block is in). The headers' proof of work
   * is what keeps this from being a way around the bound.
   */
  provenBranch?: boolean
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

export class Chain {
  /** The block index and state reads; read it freely, only the Chain writes. */
  readonly index: ChainIndex
  readonly params: NetworkParams
  private readonly db: LedgerStore
  private readonly maxReorgDepth: number
  private readonly maxSideBlocks: number
  private readonly now: () => number
  private readonly verified: VerifiedTxCache
  private seq = 0
  private readonly invalid = new LruMap<string, true>(MAX_INVALID_CACHE)

  constructor (init: ChainInit) {
    this.db = init.store
    this.index = new ChainIndex(init.store)
    this.params = init.params
    this.maxReorgDepth = init.maxReorgDepth
    this.maxSideBlocks = init.maxSideBlocks
    this.now = init.now
    this.verified = init.verified
  }

  private get tip (): Entry {
    return this.index.tip
  }

  /** Opens the store: initialises it with the genesis state, or checks its schema version and genesis. */
  async open (): Promise<void> {
    const genesis = await openLedgerStore(this.db, this.params)
    await this.index.load(genesis)
    const seq = await getBytes(this.db, keys.meta('seq'))
    this.seq = seq == null ? 1 : decode(seq, 64, 'seq') as number
    log('opened ledger at height %d (%s), %d side blocks', this.tip.height, this.tip.hashHex, this.index.sideBlockCount)
  }

  /**
   * The canonical ancestor of a block (the block itself when canonical); undefined when its branch
   * is incomplete. Every stored non-canonical block is in the side set, so the walk takes at most
   * as many steps as that holds: bounded by it, not by `maxReorgDepth + maxSideBlocks`, which a
   * heavier branch of easy blocks that sync stores past the cap can be longer than.
   */
  async forkPoint (entry: Entry): Promise<Entry | undefined> {
    let cur: Entry | undefined = entry
    for (let steps = 0; cur != null && steps <= this.index.sideBlockCount; steps++) {
      if (await this.index.isCanonical(cur)) return cur
      cur = await this.index.getEntry(cur.parentHex)
    }
    return undefined
  }

  // ---------------------------------------------------------------------------------------------
  // Validation and fork choice

  private markInvalid (hashHex: string): void {
    this.invalid.set(hashHex, true)
  }

  /**
   * Validates a block and stores it: connects it to the tip, stores it on a side chain, or
   * reorgs to its chain when that has more work. Throws a LedgerError (with its action) when
   * the block is refused. Cheap checks first: duplicate, PoW, structure, then signatures, then state.
   */
  async addBlock (block: DecodedBlock, options: AddBlockOptions = {}): Promise<AddBlockOutcome> {
    const hashHex = block.hashHex
    // [REJECT] already found invalid
    if (this.invalid.has(hashHex)) throw new KnownInvalidError()
    const genesis = this.index.genesis
    const known = hashHex === genesis.hashHex ? genesis : await this.index.getEntry(hashHex)
    if (known != null) {
      if (known !== genesis) {
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
      return await this.addCommittedBlock(block, txs, options)
    } catch (err) {
      if ((err as { action?: unknown }).action === 'reject') this.markInvalid(hashHex)
      throw err
    }
  }

  private async addCommittedBlock (block: DecodedBlock, txs: TxInfo[], options: AddBlockOptions): Promise<AddBlockOutcome> {
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
    const parent = await this.index.getEntry(parentHex)
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
    await checkHeaderContext(header, parent, this.params, this.index.ancestry(parent))
    // [REJECT] coinbase and signatures
    checkBlockTransactions(header, txs, this.params, this.verified)

    const entry = makeEntry(block.hash, header, parent.chainWork + workOf(targetFromBytes(header.target)), this.seq++, txs.length)
    const overlay = new Overlay(this.db)
    overlay.put(keys.block(entry.hash), block.bytes)
    overlay.put(keys.entry(entry.hash), encodeEntry(entry))
    if (parent.hashHex === this.tip.hashHex) return await this.connect(overlay, entry, txs)
    overlay.put(keys.side(entry.hash), EMPTY)
    if (entry.chainWork > this.tip.chainWork) return await this.reorg(overlay, entry, txs)
    const side = new Map(this.index.sideBlocks)
    side.set(entry.hashHex, entry)
    // The block being added is never the one evicted: evicting it in the batch that stores it
    // would leave its entry cached as known while its body is gone (a duplicate when sent again,
    // a missing body when its child reorgs onto it).
    const evicted = this.evict(overlay, side, this.tip, entry)
    if (side.size > this.maxSideBlocks && options.provenBranch !== true) {
      // [IGNORE] every other side block is an ancestor of this one: nothing else can go
      throw new SideChainFullError(`side block ${entry.hashHex} at height ${entry.height} would take the side set past ${this.maxSideBlocks} blocks`)
    }
    overlay.put(keys.meta('seq'), encode(this.seq))
    await overlay.commit()
    this.index.replaceSide(side, evicted)
    this.index.remember(entry)
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
    const side = new Map(this.index.sideBlocks)
    const evicted = this.evict(overlay, side, entry)
    await overlay.commit()
    this.index.replaceSide(side, evicted)
    this.index.tipMoved(entry, overlay.canonical)
    return { status: 'connected', entry, applied: [{ entry, txs }], undone: [] }
  }

  private async reorg (overlay: Overlay, entry: Entry, txs: TxInfo[]): Promise<AddBlockOutcome> {
    const oldTip = this.tip
    // The new branch, from just above the fork point up to the new block.
    const branch: Entry[] = [entry]
    let cur = await this.index.getEntry(entry.parentHex)
    while (cur != null && !(await this.index.isCanonical(cur))) {
      branch.unshift(cur)
      cur = await this.index.getEntry(cur.parentHex)
    }
    if (cur == null || cur.height < oldTip.height - this.maxReorgDepth) {
      throw new BelowFinalityError('the heavier branch forks from below the reorg window')
    }
    const fork = cur
    const undone: ConnectedBlock[] = []
    for (let h = oldTip.height; h > fork.height; h--) {
      const e = await this.index.canonicalEntry(h)
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
    const side = new Map(this.index.sideBlocks)
    for (const e of branch) side.delete(e.hashHex)
    for (const u of undone) side.set(u.entry.hashHex, u.entry)
    const evicted = this.evict(overlay, side, entry)
    await overlay.commit()
    this.index.replaceSide(side, evicted)
    this.index.forgetCanonical(fork.height + 1, Math.max(oldTip.height, entry.height))
    this.index.tipMoved(entry, overlay.canonical)
    log('reorg: undid %d blocks, applied %d, new tip %d %s', undone.length, applied.length, entry.height, entry.hashHex)
    return { status: 'reorg', entry, applied, undone }
  }

  private async storedTxs (entry: Entry): Promise<TxInfo[]> {
    const bytes = await getBytes(this.db, keys.block(entry.hash))
    if (bytes == null) throw new Error(`block ${entry.hashHex} is missing its body`)
    return decodeStoredBlock(bytes).txs
  }

  /**
   * Tip meta, seq, and undo records that no reorg can need any more. Those are kept for twice
   * the reorg depth, not once: a reorg onto a shorter, heavier branch lowers the tip by up to
   * `maxReorgDepth`, which brings heights back inside the window whose undo records a window
   * measured from the old tip would already have deleted (a later fork the rule allows would
   * then fail for want of undo data, on this node only). Only lowerings that add up to more than
   * the depth before the tip climbs back could still reach a deleted record; that reorg is then
   * refused (BelowFinalityError) without writing anything. Deletion depends only on the heights
   * of the old and new tip, so a reopened store keeps exactly the same records.
   */
  private async moveTip (overlay: Overlay, tip: Entry, oldTip: Entry): Promise<void> {
    overlay.put(keys.meta('tip'), tip.hash)
    overlay.put(keys.meta('seq'), encode(this.seq))
    const keep = 2 * this.maxReorgDepth
    const from = Math.max(1, oldTip.height - keep)
    for (let h = from; h <= tip.height - keep; h++) {
      const hash = await overlay.canonicalHash(h)
      if (hash != null) overlay.del(keys.undo(hash))
    }
  }

  /**
   * Bounds the side set (mutates `side`, appends deletes to the overlay): drops side blocks at or
   * below the reorg window, then the lowest-work leaves (newest first among equals) other than
   * `keep` while over the cap; stops over the cap when `keep` is the only leaf. Returns the hex
   * hashes of the blocks it dropped.
   */
  private evict (overlay: Overlay, side: Map<string, Entry>, tip: Entry, keep?: Entry): string[] {
    const evicted: string[] = []
    const drop = (e: Entry): void => {
      side.delete(e.hashHex)
      overlay.del(keys.block(e.hash))
      overlay.del(keys.entry(e.hash))
      overlay.del(keys.side(e.hash))
      overlay.del(keys.undo(e.hash))
      evicted.push(e.hashHex)
    }
    const floor = tip.height - this.maxReorgDepth
    for (const e of [...side.values()]) if (e.height <= floor) drop(e)
    while (side.size > this.maxSideBlocks) {
      const parents = new Set<string>()
      for (const e of side.values()) parents.add(e.parentHex)
      let victim: Entry | undefined
      for (const e of side.values()) {
        if (parents.has(e.hashHex) || e === keep) continue
        if (victim == null || e.chainWork < victim.chainWork || (e.chainWork === victim.chainWork && e.seq > victim.seq)) victim = e
      }
      if (victim == null) break
      drop(victim)
    }
    return evicted
  }

  /** Deletes a side block that failed validation and every stored side block built on it. */
  private async discardBranchFrom (bad: Entry, newest: Entry): Promise<void> {
    const doomed = new Set<string>([bad.hashHex, newest.hashHex])
    let grew = true
    while (grew) {
      grew = false
      for (const e of this.index.sideBlocks.values()) {
        if (!doomed.has(e.hashHex) && doomed.has(e.parentHex)) { doomed.add(e.hashHex); grew = true }
      }
    }
    const overlay = new Overlay(this.db)
    const side = new Map(this.index.sideBlocks)
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
    this.index.replaceSide(side, doomed)
  }
}
