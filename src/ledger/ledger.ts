/**
 * The Ledger facade: chain + mempool + miner + sync behind one object with start()/stop().
 * Every change to chain or mempool runs through one queue, so state reads inside it are consistent.
 */
import { TypedEventEmitter } from 'main-event'
import { logger } from '@libp2p/logger'
import { CID } from 'multiformats/cid'
import { encode } from '../proofs/encoding.ts'
import { peerIdSchema } from '../proofs/schema.ts'
import { targetToBytes, NONCE_BYTES } from '../proofs/pow.ts'
import type { Lease, SignedAck, SignedCheckpoint } from '../proofs/lease.ts'
import type { Signer } from '../proofs/signing.ts'
import type { TopicHandler } from '../transport.ts'
import { decodeBlock, decodeStoredBlock, encodeBlock, txRootOf, type Block, type BlockHeader, type DecodedBlock } from './block.ts'
import { Chain, checkHeaderSelf, type AddBlockOutcome } from './chain.ts'
import {
  LEDGER_VERSION, MAX_BLOCK_BYTES, MAX_TX_BYTES, MAX_REORG_DEPTH, MAX_SIDE_BLOCKS, MAX_SYNC_LOCATOR, MAX_TXS_PER_BLOCK,
  MEMPOOL_MAX_BYTES, MEMPOOL_MAX_PER_SENDER, MEMPOOL_MAX_TXS, MEMPOOL_REBROADCAST_MAX, MEMPOOL_REBROADCAST_MAX_WAIT_MS, MEMPOOL_REBROADCAST_MS, MINER_BATCH, MINER_REFRESH_MS, SYNC_DROP_MS,
  SYNC_REQUEST_TIMEOUT_MS, SYNC_TRIGGER_INTERVAL_MS, VERIFIED_TX_CACHE, blockTopic, transactionTopic
} from './constants.ts'
import { expectedTarget, medianTimePast, type AncestorLookup } from './difficulty.ts'
import { DuplicateError, LedgerNotStartedError, LedgerUsageError, OverdraftError, UnknownParentError } from './errors.ts'
import { DEFAULT_GENESIS_CONFIG, genesisHash, parseGenesisConfig, type NetworkParams } from './genesis.ts'
import { fromHex, toHex } from './hex.ts'
import { Mempool, type MempoolState } from './mempool.ts'
import { Miner, type BlockTemplate } from './miner.ts'
import { applyTransaction } from './state.ts'
import { Overlay, bigintToMinBytes, decodeReceipt, type Entry, type LedgerStore, type ReceiptRecord } from './store.ts'
import { SyncClient, type SyncResult, type SyncTarget } from './sync-client.ts'
import { handleSyncRequest } from './sync-server.ts'
import type { SyncRequest, SyncResponse, SyncStatus } from './sync-messages.ts'
import {
  VerifiedTxCache, createCoinbase, createSettle, createTransfer, decodeTransaction, txInfo, verifyTransaction, type TxInfo
} from './tx.ts'
import type {
  AddBlockResult, BlockSummary, BlockView, Ledger, LedgerEvents, LedgerInit, LedgerStats, MempoolInfo, MiningInfo, Receipt, ReceiptQuery, TxView
} from './types.ts'

const log = logger('depin:ledger')

/** Room kept in a template for the header and CBOR framing. */
const TEMPLATE_OVERHEAD_BYTES = 1024

/** Runs async jobs one at a time, in order. */
class Queue {
  private tail: Promise<unknown> = Promise.resolve()
  async run<T> (fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn)
    this.tail = result.then(() => {}, () => {})
    return await result
  }

  async drain (): Promise<void> {
    await this.tail
  }
}

export function summarize (entry: Entry): BlockSummary {
  return {
    hash: entry.hashHex,
    height: entry.height,
    parent: entry.parentHex,
    timestamp: entry.timestamp,
    miner: entry.header.miner,
    target: toHex(entry.header.target),
    txCount: entry.txCount,
    chainWork: entry.chainWork.toString()
  }
}

export function txView (info: TxInfo): TxView {
  const body = info.tx.body
  switch (body.type) {
    case 'transfer':
      return { hash: info.hashHex, type: 'transfer', from: body.from, to: body.to, amount: body.amount, nonce: body.nonce }
    case 'settle':
      return {
        hash: info.hashHex,
        type: 'settle',
        from: body.lease.body.requester,
        to: body.lease.body.worker,
        amount: body.ack.body.paid,
        leaseId: body.checkpoint.body.lease.toString(),
        tasks: body.ack.body.count,
        fuel: body.checkpoint.body.fuel.toString()
      }
    case 'coinbase':
      return { hash: info.hashHex, type: 'coinbase', to: body.miner, amount: body.amount }
  }
}

function receiptView (r: ReceiptRecord): Receipt {
  return {
    leaseId: r.leaseId.toString(),
    requester: r.requester,
    worker: r.worker,
    paid: r.paid,
    seq: r.seq,
    tasks: r.tasks,
    // records written before fuel was billed have none
    fuel: BigInt(r.fuel ?? 0).toString(),
    blockHash: toHex(r.block),
    height: r.height,
    txHash: toHex(r.tx)
  }
}

export class DefaultLedger extends TypedEventEmitter<LedgerEvents> implements Ledger {
  readonly networkId: string
  readonly genesisHash: string
  readonly params: NetworkParams
  private readonly store: LedgerStore
  private readonly signer: Signer
  private readonly init: LedgerInit
  private readonly now: () => number
  private readonly verified = new VerifiedTxCache(VERIFIED_TX_CACHE)
  private readonly chain: Chain
  private readonly pool: Mempool
  private readonly queue = new Queue()
  private readonly miner: Miner
  private sync?: SyncClient
  private started = false
  private rebroadcastTimer?: ReturnType<typeof setInterval>
  private readonly rebroadcastMs: number
  private opened?: Promise<void>

  constructor (init: LedgerInit) {
    super()
    this.init = init
    this.store = init.store
    this.signer = init.signer
    this.now = init.now ?? Date.now
    this.rebroadcastMs = init.rebroadcastMs ?? MEMPOOL_REBROADCAST_MS
    this.params = parseGenesisConfig(init.genesis ?? DEFAULT_GENESIS_CONFIG)
    this.networkId = this.params.networkId
    this.chain = new Chain({
      store: init.store,
      params: this.params,
      maxReorgDepth: init.maxReorgDepth ?? MAX_REORG_DEPTH,
      maxSideBlocks: init.maxSideBlocks ?? MAX_SIDE_BLOCKS,
      now: this.now,
      verified: this.verified
    })
    this.genesisHash = genesisHash(this.params)
    this.pool = new Mempool({
      maxTxs: init.mempoolMaxTxs ?? MEMPOOL_MAX_TXS,
      maxBytes: init.mempoolMaxBytes ?? MEMPOOL_MAX_BYTES,
      maxPerPayer: init.mempoolMaxPerSender ?? MEMPOOL_MAX_PER_SENDER
    })
    this.miner = new Miner({
      buildTemplate: async () => await this.buildTemplate(),
      onFound: async (header, txs) => { await this.onMined(header, txs) }
    }, { batch: MINER_BATCH, refreshMs: init.minerRefreshMs ?? MINER_REFRESH_MS })
  }

  // ---------------------------------------------------------------------------------------------
  // Lifecycle

  async start (): Promise<void> {
    if (this.started) return
    this.opened ??= this.chain.open()
    await this.opened
    if (this.init.syncTransport != null) {
      this.sync = new SyncClient({
        transport: this.init.syncTransport,
        target: this.syncTarget(),
        reportPeer: this.init.reportPeer
      }, {
        requestTimeoutMs: this.init.syncRequestTimeoutMs ?? SYNC_REQUEST_TIMEOUT_MS,
        dropMs: SYNC_DROP_MS,
        triggerIntervalMs: this.init.syncTriggerIntervalMs ?? SYNC_TRIGGER_INTERVAL_MS
      })
    }
    this.started = true
    this.rebroadcastTimer = setInterval(() => { this.rebroadcast() }, this.rebroadcastMs)
    this.rebroadcastTimer.unref?.()
    if (this.init.mine === true) this.startMining()
    log('ledger started: network %s, tip %d %s', this.networkId, this.chain.tip.height, this.chain.tip.hashHex)
  }

  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    if (this.rebroadcastTimer != null) clearInterval(this.rebroadcastTimer)
    this.rebroadcastTimer = undefined
    await this.miner.stop()
    this.sync?.stop()
    await this.queue.drain()
    this.opened = undefined
    log('ledger stopped')
  }

  private assertStarted (): void {
    if (!this.started) throw new LedgerNotStartedError()
  }

  // ---------------------------------------------------------------------------------------------
  // Reads

  tip (): BlockSummary {
    this.assertStarted()
    const tip = this.chain.tip
    return summarize(tip)
  }

  async balance (peerId: string): Promise<number> {
    this.assertStarted()
    return (await this.chain.account(peerId)).balance
  }

  async nonce (peerId: string): Promise<number> {
    this.assertStarted()
    return (await this.chain.account(peerId)).nonce
  }

  async spendable (peerId: string): Promise<number> {
    this.assertStarted()
    return await this.queue.run(async () => (await this.chain.account(peerId)).balance - this.pool.pendingOutgoing(peerId))
  }

  async block (hashOrHeight: string | number): Promise<BlockView | undefined> {
    this.assertStarted()
    let entry: Entry | undefined
    if (typeof hashOrHeight === 'number' || /^\d{1,15}$/.test(hashOrHeight)) {
      entry = await this.chain.canonicalEntry(Number(hashOrHeight))
    } else {
      const bytes = fromHex(hashOrHeight)
      if (bytes == null || bytes.byteLength !== 32) return undefined
      entry = await this.chain.getEntry(hashOrHeight.toLowerCase())
    }
    if (entry == null) return undefined
    const bytes = await this.chain.blockBytes(entry.hash)
    if (bytes == null) return undefined
    const txs = entry.height === 0 ? [] : decodeStoredBlock(bytes).txs
    const canonical = await this.chain.isCanonical(entry)
    const views = txs.map(txView)
    // What each settle moved (its cumulative amount less what the lease was paid before), from
    // the block's undo record, kept for canonical blocks within the reorg window.
    const undo = canonical && views.some((v) => v.type === 'settle') ? await this.chain.undoRecord(entry.hash) : undefined
    if (undo != null) {
      const before = new Map(undo.receipts.map(([id, previous]) => [CID.decode(id).toString(), previous == null ? 0 : decodeReceipt(previous).paid]))
      for (const view of views) {
        if (view.type !== 'settle' || view.leaseId == null) continue
        view.moved = view.amount - (before.get(view.leaseId) ?? 0)
        before.set(view.leaseId, view.amount)
      }
    }
    return { ...summarize(entry), canonical, transactions: views }
  }

  async blocks (options: { last: number }): Promise<BlockSummary[]> {
    this.assertStarted()
    const last = Math.max(0, Math.min(100, Math.floor(options.last)))
    const out: BlockSummary[] = []
    const tip = this.chain.tip
    for (let h = tip.height; h >= 0 && out.length < last; h--) {
      const entry = await this.chain.canonicalEntry(h)
      if (entry == null) break
      out.push(summarize(entry))
    }
    return out
  }

  async receipts (query: ReceiptQuery = {}): Promise<Receipt[]> {
    this.assertStarted()
    const limit = Math.max(1, Math.min(1000, query.limit ?? 100))
    return (await this.chain.receipts({ worker: query.worker, requester: query.requester, limit })).map(receiptView)
  }

  async settledAmount (leaseId: CID | string): Promise<number> {
    return (await this.receipt(leaseId))?.paid ?? 0
  }

  async receipt (leaseId: CID | string): Promise<Receipt | undefined> {
    this.assertStarted()
    const id = typeof leaseId === 'string' ? CID.parse(leaseId) : leaseId
    const record = await this.chain.receipt(id)
    return record == null ? undefined : receiptView(record)
  }

  mempool (): MempoolInfo {
    return { size: this.pool.size, bytes: this.pool.bytes }
  }

  // ---------------------------------------------------------------------------------------------
  // Transactions

  private mempoolState (): MempoolState {
    return {
      account: async (peer) => await this.chain.account(peer),
      receipt: async (id) => await this.chain.receipt(id),
      now: this.now
    }
  }

  private verify (info: TxInfo): void {
    verifyTransaction(info, this.networkId, this.verified)
  }

  async addTransaction (bytes: Uint8Array, _fromPeer?: string): Promise<TxView> {
    // [REJECT] size, decode, schema
    return await this.addDecodedTransaction(decodeTransaction(bytes))
  }

  private async addDecodedTransaction (info: TxInfo): Promise<TxView> {
    this.assertStarted()
    // [IGNORE] duplicate, before any signature work
    if (this.pool.has(info.hashHex)) throw new DuplicateError(`transaction ${info.hashHex} is already pending`)
    // [REJECT] network, composition, signatures
    this.verify(info)
    // [IGNORE] contextual: nonce, balance, already settled, bounds
    await this.queue.run(async () => { await this.pool.admit(info, this.mempoolState()) })
    const view = txView(info)
    this.safeDispatchEvent('transaction', { detail: view })
    return view
  }

  async transfer (to: string, amount: number): Promise<TxView> {
    this.assertStarted()
    if (!peerIdSchema.safeParse(to).success) throw new LedgerUsageError(`not an Ed25519 peer id: ${JSON.stringify(String(to).slice(0, 64))}`)
    if (!Number.isSafeInteger(amount) || amount <= 0) throw new LedgerUsageError('amount must be a positive integer number of credits')
    if (to === this.signer.peerId) throw new LedgerUsageError('cannot transfer to oneself')
    const me = this.signer.peerId
    const info = await this.queue.run(async () => {
      const account = await this.chain.account(me)
      const spendable = account.balance - this.pool.pendingOutgoing(me)
      if (amount > spendable) throw new OverdraftError(`spendable balance is ${spendable}, cannot transfer ${amount}`, 'ignore')
      const tx = createTransfer(this.signer, { network: this.networkId, to, amount, nonce: account.nonce + this.pool.pendingTransfers(me) })
      const info = txInfo(tx)
      this.verify(info)
      await this.pool.admit(info, this.mempoolState())
      return info
    })
    return await this.announce(info)
  }

  async submitSettle (lease: Lease, checkpoint: SignedCheckpoint, ack: SignedAck): Promise<TxView> {
    this.assertStarted()
    const me = this.signer.peerId
    if (lease.body.requester !== me && lease.body.worker !== me) throw new LedgerUsageError('only a party to the lease settles it')
    // Through the wire format, as a peer would receive it: what the schema refuses (a lease with
    // oneself, an expiry before acceptance, an oversize settle) must not enter the mempool, or
    // every block this node mines with it would be refused, by itself first.
    const info = decodeTransaction(encode(createSettle({ network: this.networkId, lease, checkpoint, ack })))
    // Schema, composition and signature errors surface to the caller as their own classes.
    this.verify(info)
    await this.queue.run(async () => { await this.pool.admit(info, this.mempoolState()) })
    return await this.announce(info)
  }

  private async announce (info: TxInfo): Promise<TxView> {
    const view = txView(info)
    this.safeDispatchEvent('transaction', { detail: view })
    await this.publish(info)
    this.miner.refresh()
    return view
  }

  /** Publishes a transaction on gossip; a failure (e.g. no peers yet) is logged, the periodic re-announce retries. */
  private async publish (info: TxInfo): Promise<void> {
    try {
      await this.init.publishTransaction?.(info.bytes)
    } catch (err) {
      log('could not publish transaction %s: %e', info.hashHex, err)
    }
  }

  /**
   * Re-announces this node's own pending transactions (each node answers for its own; every
   * node re-announcing everything it held multiplied the idle traffic by the size of the
   * network), backing off from `rebroadcastMs` to `MEMPOOL_REBROADCAST_MAX_WAIT_MS`.
   */
  private rebroadcast (): void {
    if (this.init.publishTransaction == null) return
    const due = this.pool.takeStale(Date.now(), this.rebroadcastMs, MEMPOOL_REBROADCAST_MAX, {
      payer: this.signer.peerId,
      maxWaitMs: Math.max(this.rebroadcastMs, MEMPOOL_REBROADCAST_MAX_WAIT_MS)
    })
    for (const info of due) void this.publish(info)
  }

  // ---------------------------------------------------------------------------------------------
  // Blocks

  async addBlock (block: Uint8Array | Block, fromPeer?: string): Promise<AddBlockResult> {
    // [REJECT] size, decode, header schema
    return await this.addDecodedBlock(decodeBlock(block instanceof Uint8Array ? block : encodeBlock(block)), fromPeer)
  }

  private async addDecodedBlock (decoded: DecodedBlock, fromPeer?: string): Promise<AddBlockResult> {
    this.assertStarted()
    try {
      const outcome = await this.process(decoded)
      return { action: 'accept', hash: outcome.entry.hashHex, height: outcome.entry.height, status: outcome.status }
    } catch (err) {
      // An orphan reaches here only with a valid PoW at or above the minimum difficulty; it asks
      // its sender's status (a triggered sync: at most once per peer per interval), and blocks
      // are fetched only once the sender's headers prove a heavier chain.
      if (err instanceof UnknownParentError && fromPeer != null) {
        log('orphan block %s from %s', decoded.hashHex, fromPeer)
        this.requestSync(fromPeer).catch((e) => { log('sync from %s failed: %e', fromPeer, e) })
      }
      throw err
    }
  }

  /** Validates and applies a block under the queue, reconciles the mempool, emits events. */
  private async process (decoded: DecodedBlock): Promise<AddBlockOutcome> {
    let readded: TxInfo[] = []
    const outcome = await this.queue.run(async () => {
      const outcome = await this.chain.addBlock(decoded)
      if (outcome.applied.length > 0 || outcome.undone.length > 0) {
        readded = await this.pool.reconcile(outcome.applied.map((b) => b.txs), outcome.undone.map((b) => b.txs), this.mempoolState(), (info) => { this.verify(info) })
      }
      return outcome
    })
    // Transactions of undone blocks are pending again here; peers that saw them only in those
    // blocks (e.g. the other side of a healed partition) need them announced.
    for (const info of readded) void this.publish(info)
    if (outcome.undone.length > 0) {
      this.safeDispatchEvent('reorg', {
        detail: {
          undone: outcome.undone.map((b) => summarize(b.entry)),
          applied: outcome.applied.map((b) => summarize(b.entry))
        }
      })
    }
    for (const b of outcome.applied) this.safeDispatchEvent('block', { detail: summarize(b.entry) })
    if (outcome.applied.length > 0) {
      this.safeDispatchEvent('tip', { detail: summarize(outcome.entry) })
      this.miner.refresh()
    }
    return outcome
  }

  // ---------------------------------------------------------------------------------------------
  // Mining

  startMining (): void {
    this.assertStarted()
    this.miner.start()
  }

  async stopMining (): Promise<void> {
    await this.miner.stop()
  }

  mining (): MiningInfo {
    return this.miner.getStats()
  }

  /** A block template on the current tip: coinbase first, then mempool transactions that apply cleanly, within the block bounds. */
  async buildTemplate (miner: string = this.signer.peerId, timestamp?: number): Promise<BlockTemplate> {
    return await this.queue.run(async () => {
      const tip = this.chain.tip
      const height = tip.height + 1
      const ancestry = this.chain.ancestry(tip)
      const target = await expectedTarget(height, tip.target, this.params, ancestry)
      const mtp = await medianTimePast(height, ancestry)
      const ts = timestamp ?? Math.max(this.now(), mtp + 1)
      const coinbase = txInfo(createCoinbase({ network: this.networkId, height, miner, amount: this.params.reward }))
      const overlay = new Overlay(this.store)
      const touched = { get: async (p: string) => await overlay.account(p), set: (p: string, a: { balance: number, nonce: number }) => { overlay.setAccount(p, a) } }
      const at = { block: new Uint8Array(32), height, timestamp: ts }
      await applyTransaction(touched, overlay, coinbase, at, 'ignore')
      const txs = [coinbase]
      let size = TEMPLATE_OVERHEAD_BYTES + coinbase.bytes.byteLength
      for (const info of this.pool.ordered()) {
        if (txs.length >= MAX_TXS_PER_BLOCK) break
        if (size + info.bytes.byteLength > MAX_BLOCK_BYTES) continue
        try {
          await applyTransaction(touched, overlay, info, at, 'ignore')
          txs.push(info)
          size += info.bytes.byteLength
        } catch {
          // not valid on this tip (the mempool catches up on the next reconcile)
        }
      }
      const header: BlockHeader = {
        v: LEDGER_VERSION,
        network: this.networkId,
        parent: tip.hash,
        height,
        timestamp: ts,
        target: targetToBytes(target),
        nonce: new Uint8Array(NONCE_BYTES),
        miner,
        txRoot: txRootOf(txs.map((t) => t.hash))
      }
      return { header, txs }
    })
  }

  private async onMined (header: BlockHeader, txs: TxInfo[]): Promise<void> {
    if (!this.started) return
    const bytes = encodeBlock({ header, txs: txs.map((t) => t.tx) })
    const result = await this.addBlock(bytes)
    const entry = await this.chain.getEntry(result.hash) as Entry
    const summary = summarize(entry)
    log('mined block %d %s with %d transactions', summary.height, summary.hash, txs.length)
    this.safeDispatchEvent('mined', { detail: summary })
    try {
      await this.init.publishBlock?.(bytes)
    } catch (err) {
      log('could not publish mined block %s: %e', summary.hash, err)
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Sync

  async syncWith (peerId: string): Promise<SyncResult> {
    this.assertStarted()
    if (this.sync == null) throw new LedgerUsageError('no sync transport configured', 'ERR_NO_SYNC_TRANSPORT')
    const sync = this.sync
    return await this.announcingNewTip(async () => await sync.syncWith(peerId))
  }

  async requestSync (peerId: string): Promise<SyncResult> {
    this.assertStarted()
    if (this.sync == null) throw new LedgerUsageError('no sync transport configured', 'ERR_NO_SYNC_TRANSPORT')
    const sync = this.sync
    return await this.announcingNewTip(async () => await sync.trigger(peerId))
  }

  /**
   * Runs a sync; when it moved this node to another tip, announces the new tip block on gossip.
   * Blocks learnt by sync are not relayed by gossip, so without this a neighbour that mines
   * nothing (or the miner of a lighter branch, after a healed partition) would hear of the
   * heavier chain only when somebody mines on it; with it, the tip block reaches the neighbours,
   * whose unknown parent makes them sync from this node.
   */
  private async announcingNewTip (sync: () => Promise<SyncResult>): Promise<SyncResult> {
    const before = this.chain.tip.hashHex
    const result = await sync()
    const tip = this.chain.tip
    if (tip.hashHex !== before && this.started) {
      const bytes = await this.chain.blockBytes(tip.hash)
      if (bytes != null) {
        try {
          await this.init.publishBlock?.(bytes)
        } catch (err) {
          log('could not announce the new tip %s after a sync: %e', tip.hashHex, err)
        }
      }
    }
    return result
  }

  private syncTarget (): SyncTarget {
    const chain = this.chain
    return {
      params: this.params,
      genesisHashHex: chain.genesis.hashHex,
      maxReorgDepth: this.init.maxReorgDepth ?? MAX_REORG_DEPTH,
      tipEntry: () => chain.tip,
      locator: async () => await this.locator(),
      canonicalEntry: async (h) => await chain.canonicalEntry(h),
      hasBlock: async (hex) => (await chain.getEntry(hex)) != null,
      ancestry: (start: Entry): AncestorLookup => chain.ancestry(start),
      applyBlock: async (block) => { await this.process(block) },
      now: this.now
    }
  }

  /** Canonical hashes at tip, tip-1, ..., tip-7, then doubling steps, always ending with genesis. */
  private async locator (): Promise<Uint8Array[]> {
    const out: Uint8Array[] = []
    let step = 1
    let h = this.chain.tip.height
    while (h > 0 && out.length < MAX_SYNC_LOCATOR - 1) {
      const e = await this.chain.canonicalEntry(h)
      if (e != null) out.push(e.hash)
      if (out.length >= 8) step *= 2
      h -= step
    }
    out.push(this.chain.genesis.hash)
    return out
  }

  syncStatus (): SyncStatus {
    this.assertStarted()
    const tip = this.chain.tip
    return { t: 'status', genesis: this.chain.genesis.hash, tip: tip.hash, height: tip.height, work: bigintToMinBytes(tip.chainWork) }
  }

  async locate (hashes: Uint8Array[]): Promise<{ height: number, hash: Uint8Array } | undefined> {
    for (const hash of hashes) {
      const entry = await this.chain.getEntry(hash)
      if (entry != null && await this.chain.isCanonical(entry)) return { height: entry.height, hash: entry.hash }
    }
    return undefined
  }

  async headersByRange (from: number, count: number): Promise<BlockHeader[]> {
    const out: BlockHeader[] = []
    const end = Math.min(from + count - 1, this.chain.tip.height)
    for (let h = from; h <= end; h++) {
      const e = await this.chain.canonicalEntry(h)
      if (e == null) break
      out.push(e.header)
    }
    return out
  }

  async blocksByRange (from: number, count: number, maxBytes: number): Promise<Uint8Array[]> {
    const hashes: Uint8Array[] = []
    const end = Math.min(from + count - 1, this.chain.tip.height)
    for (let h = from; h <= end; h++) {
      const e = await this.chain.canonicalEntry(h)
      if (e == null) break
      hashes.push(e.hash)
    }
    return await this.blocksByHash(hashes, maxBytes)
  }

  async blocksByHash (hashes: Uint8Array[], maxBytes: number): Promise<Uint8Array[]> {
    const out: Uint8Array[] = []
    let size = 0
    for (const hash of hashes) {
      const bytes = await this.chain.blockBytes(hash)
      if (bytes == null) break
      if (out.length > 0 && size + bytes.byteLength > maxBytes) break
      out.push(bytes)
      size += bytes.byteLength
    }
    return out
  }

  async handleSyncRequest (request: SyncRequest): Promise<SyncResponse> {
    this.assertStarted()
    return await handleSyncRequest(this, request)
  }

  // ---------------------------------------------------------------------------------------------
  // Gossip

  /**
   * Gossip topics. The precheck (as a message arrives) decodes and checks what needs no state:
   * sizes, schemas, and for a block its header alone (network, height, minimum difficulty, PoW);
   * validation (in the node's fair queue) checks signatures and applies. Blocks and transactions
   * may come from any author: blocks are relayed by anyone, and any node re-announces pending
   * transactions (after a reorg, or when they wait long).
   */
  topicHandlers (): { blocks: TopicHandler<AddBlockResult, DecodedBlock>, transactions: TopicHandler<TxView, TxInfo> } {
    return {
      blocks: {
        topic: blockTopic(this.networkId),
        maxBytes: MAX_BLOCK_BYTES,
        precheck: (data) => {
          // [REJECT] size, decode, header schema; network, height, minimum difficulty, PoW
          const decoded = decodeBlock(data)
          checkHeaderSelf(decoded.header, decoded.hash, this.params)
          return decoded
        },
        validate: async (_data, from, decoded) => await this.addDecodedBlock(decoded, from),
        deliver: () => {}
      },
      transactions: {
        topic: transactionTopic(this.networkId),
        maxBytes: MAX_TX_BYTES,
        // [REJECT] size, decode, schema
        precheck: (data) => decodeTransaction(data),
        validate: async (_data, _from, info) => await this.addDecodedTransaction(info),
        deliver: () => {}
      }
    }
  }

  stats (): LedgerStats {
    this.assertStarted()
    const tip = this.chain.tip
    return {
      networkId: this.networkId,
      genesis: this.genesisHash,
      height: tip.height,
      tip: tip.hashHex,
      sideBlocks: this.chain.sideBlockCount,
      mempool: this.mempool(),
      mining: this.mining()
    }
  }
}
