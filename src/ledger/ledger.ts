/**
 * The Ledger facade: chain + mempool + miner + sync behind one object with start()/stop().
 * Every change to chain or mempool runs through one queue, so state reads inside it are consistent.
 * The work lives in collaborators: transactions.ts (mempool intake and announcing), tip-sync.ts
 * and chain-sync.ts (both sides of sync), block-template.ts (what the miner mines),
 * gossip-topics.ts, views.ts.
 */
import { TypedEventEmitter } from 'main-event'
import { logger } from '@libp2p/logger'
import { CID } from 'multiformats/cid'
import type { Lease, SignedAck, SignedCheckpoint } from '../proofs/lease.ts'
import type { Signer } from '../proofs/signing.ts'
import { buildBlockTemplate } from './block-template.ts'
import { decodeBlock, encodeBlock, type Block, type BlockHeader, type DecodedBlock } from './block.ts'
import { Chain, type AddBlockOptions, type AddBlockOutcome } from './chain.ts'
import type { ChainIndex } from './chain-index.ts'
import { ChainSync } from './chain-sync.ts'
import {
  MAX_REORG_DEPTH, MAX_SIDE_BLOCKS, MEMPOOL_MAX_BYTES, MEMPOOL_MAX_PER_SENDER, MEMPOOL_MAX_TXS, MEMPOOL_REBROADCAST_MS, MINER_BATCH, MINER_REFRESH_MS,
  SYNC_DROP_MS, SYNC_REQUEST_TIMEOUT_MS, SYNC_TRIGGER_INTERVAL_MS, VERIFIED_TX_CACHE
} from './constants.ts'
import { LedgerNotStartedError, LedgerUsageError, UnknownParentError } from './errors.ts'
import { DEFAULT_GENESIS_CONFIG, genesisHash, parseGenesisConfig, type NetworkParams } from './genesis.ts'
import { ledgerTopicHandlers, type LedgerTopics } from './gossip-topics.ts'
import { Mempool } from './mempool.ts'
import { Miner, type BlockTemplate } from './miner.ts'
import { SerialQueue } from './serial-queue.ts'
import type { Entry, LedgerStore } from './store.ts'
import type { SyncResult } from './sync-client.ts'
import { handleSyncRequest } from './sync-server.ts'
import type { SyncRequest, SyncResponse, SyncStatus } from './sync-messages.ts'
import { TipSync } from './tip-sync.ts'
import { LedgerTransactions } from './transactions.ts'
import { VerifiedTxCache, decodeTransaction, type TxInfo } from './tx.ts'
import type {
  AddBlockResult, BlockSummary, BlockView, Ledger, LedgerEvents, LedgerInit, LedgerStats, MempoolInfo, MiningInfo, Receipt, ReceiptQuery, TxView
} from './types.ts'
import { blockView, receiptView, recentBlocks, summarize } from './views.ts'

export { summarize, txView } from './views.ts'

const log = logger('depin:ledger')

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
  /** The chain's reads (blocks, tip, accounts, receipts); `chain` is for open and addBlock. */
  private readonly index: ChainIndex
  private readonly chainSync: ChainSync
  private readonly pool: Mempool
  private readonly txs: LedgerTransactions
  private readonly queue = new SerialQueue()
  private readonly miner: Miner
  private sync?: TipSync
  private started = false
  private opened?: Promise<void>

  constructor (init: LedgerInit) {
    super()
    this.init = init
    this.store = init.store
    this.signer = init.signer
    this.now = init.now ?? Date.now
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
    this.index = this.chain.index
    this.chainSync = new ChainSync(this.index)
    this.genesisHash = genesisHash(this.params)
    this.pool = new Mempool({
      maxTxs: init.mempoolMaxTxs ?? MEMPOOL_MAX_TXS,
      maxBytes: init.mempoolMaxBytes ?? MEMPOOL_MAX_BYTES,
      maxPerPayer: init.mempoolMaxPerSender ?? MEMPOOL_MAX_PER_SENDER
    })
    this.txs = new LedgerTransactions({
      chain: this.index,
      pool: this.pool,
      queue: this.queue,
      signer: this.signer,
      networkId: this.networkId,
      verified: this.verified,
      now: this.now,
      publishTransaction: init.publishTransaction,
      rebroadcastMs: init.rebroadcastMs ?? MEMPOOL_REBROADCAST_MS,
      admitted: (view) => { this.safeDispatchEvent('transaction', { detail: view }) },
      announced: () => { this.miner.refresh() }
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
      this.sync = new TipSync({ chain: this.index, publishBlock: this.init.publishBlock, isStarted: () => this.started }, {
        transport: this.init.syncTransport,
        target: this.chainSync.target({
          params: this.params,
          maxReorgDepth: this.init.maxReorgDepth ?? MAX_REORG_DEPTH,
          // Sync applies only blocks of a branch its checked headers proved heavier than our tip.
          applyBlock: async (block) => { await this.process(block, { provenBranch: true }) },
          now: this.now
        }),
        reportPeer: this.init.reportPeer
      }, {
        requestTimeoutMs: this.init.syncRequestTimeoutMs ?? SYNC_REQUEST_TIMEOUT_MS,
        dropMs: SYNC_DROP_MS,
        triggerIntervalMs: this.init.syncTriggerIntervalMs ?? SYNC_TRIGGER_INTERVAL_MS
      })
    }
    this.started = true
    this.txs.startRebroadcast()
    if (this.init.mine === true) this.startMining()
    log('ledger started: network %s, tip %d %s', this.networkId, this.index.tip.height, this.index.tip.hashHex)
  }

  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    this.txs.stopRebroadcast()
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
    const tip = this.index.tip
    return summarize(tip)
  }

  async balance (peerId: string): Promise<number> {
    this.assertStarted()
    return (await this.index.account(peerId)).balance
  }

  async nonce (peerId: string): Promise<number> {
    this.assertStarted()
    return (await this.index.account(peerId)).nonce
  }

  async spendable (peerId: string): Promise<number> {
    this.assertStarted()
    return await this.queue.run(async () => (await this.index.account(peerId)).balance - this.pool.pendingOutgoing(peerId))
  }

  async block (hashOrHeight: string | number): Promise<BlockView | undefined> {
    this.assertStarted()
    return await blockView(this.index, hashOrHeight)
  }

  async blocks (options: { last: number }): Promise<BlockSummary[]> {
    this.assertStarted()
    return await recentBlocks(this.index, options.last)
  }

  async receipts (query: ReceiptQuery = {}): Promise<Receipt[]> {
    this.assertStarted()
    const limit = Math.max(1, Math.min(1000, query.limit ?? 100))
    return (await this.index.receipts({ worker: query.worker, requester: query.requester, limit })).map(receiptView)
  }

  async settledAmount (leaseId: CID | string): Promise<number> {
    return (await this.receipt(leaseId))?.paid ?? 0
  }

  async receipt (leaseId: CID | string): Promise<Receipt | undefined> {
    this.assertStarted()
    const id = typeof leaseId === 'string' ? CID.parse(leaseId) : leaseId
    const record = await this.index.receipt(id)
    return record == null ? undefined : receiptView(record)
  }

  mempool (): MempoolInfo {
    return { size: this.pool.size, bytes: this.pool.bytes }
  }

  // ---------------------------------------------------------------------------------------------
  // Transactions

  async addTransaction (bytes: Uint8Array, _fromPeer?: string): Promise<TxView> {
    // [REJECT] size, decode, schema
    return await this.addDecodedTransaction(decodeTransaction(bytes))
  }

  private async addDecodedTransaction (info: TxInfo): Promise<TxView> {
    this.assertStarted()
    return await this.txs.add(info)
  }

  async transfer (to: string, amount: number): Promise<TxView> {
    this.assertStarted()
    return await this.txs.transfer(to, amount)
  }

  async submitSettle (lease: Lease, checkpoint: SignedCheckpoint, ack: SignedAck): Promise<TxView> {
    this.assertStarted()
    return await this.txs.submitSettle(lease, checkpoint, ack)
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
      // From gossip and on the canonical chain: gossip relays it (see gossip-topics.ts).
      if (fromPeer != null && outcome.status !== 'side') this.sync?.relayed(outcome.entry.hashHex)
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
  private async process (decoded: DecodedBlock, options: AddBlockOptions = {}): Promise<AddBlockOutcome> {
    let readded: TxInfo[] = []
    const outcome = await this.queue.run(async () => {
      const outcome = await this.chain.addBlock(decoded, options)
      if (outcome.applied.length > 0 || outcome.undone.length > 0) {
        readded = await this.txs.reconcile(outcome.applied.map((b) => b.txs), outcome.undone.map((b) => b.txs))
      }
      return outcome
    })
    // Transactions of undone blocks are pending again here; peers that saw them only in those
    // blocks (e.g. the other side of a healed partition) need them announced.
    for (const info of readded) void this.txs.publish(info)
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
    return await this.queue.run(async () => await buildBlockTemplate({
      chain: this.index,
      store: this.store,
      params: this.params,
      pending: () => this.pool.ordered(),
      now: this.now
    }, miner, timestamp))
  }

  private async onMined (header: BlockHeader, txs: TxInfo[]): Promise<void> {
    if (!this.started) return
    const bytes = encodeBlock({ header, txs: txs.map((t) => t.tx) })
    const result = await this.addBlock(bytes)
    const entry = await this.index.getEntry(result.hash) as Entry
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
    return await this.sync.syncWith(peerId)
  }

  async requestSync (peerId: string): Promise<SyncResult> {
    this.assertStarted()
    if (this.sync == null) throw new LedgerUsageError('no sync transport configured', 'ERR_NO_SYNC_TRANSPORT')
    return await this.sync.trigger(peerId)
  }

  // The serving side (SyncSource), answered from the chain by ChainSync.

  syncStatus (): SyncStatus {
    this.assertStarted()
    return this.chainSync.syncStatus()
  }

  async locate (hashes: Uint8Array[]): Promise<{ height: number, hash: Uint8Array } | undefined> {
    return await this.chainSync.locate(hashes)
  }

  async headersByRange (from: number, count: number): Promise<BlockHeader[]> {
    return await this.chainSync.headersByRange(from, count)
  }

  async blocksByRange (from: number, count: number, maxBytes: number): Promise<Uint8Array[]> {
    return await this.chainSync.blocksByRange(from, count, maxBytes)
  }

  async blocksByHash (hashes: Uint8Array[], maxBytes: number): Promise<Uint8Array[]> {
    return await this.chainSync.blocksByHash(hashes, maxBytes)
  }

  async handleSyncRequest (request: SyncRequest): Promise<SyncResponse> {
    this.assertStarted()
    return await handleSyncRequest(this, request)
  }

  // ---------------------------------------------------------------------------------------------
  // Gossip

  /** Gossip topic handlers (see gossip-topics.ts): prechecks on arrival, validation adds. */
  topicHandlers (): LedgerTopics {
    return ledgerTopicHandlers(this.params, {
      addBlock: async (decoded, from) => await this.addDecodedBlock(decoded, from),
      addTransaction: async (info) => await this.addDecodedTransaction(info)
    })
  }

  stats (): LedgerStats {
    this.assertStarted()
    const tip = this.index.tip
    return {
      networkId: this.networkId,
      genesis: this.genesisHash,
      height: tip.height,
      tip: tip.hashHex,
      sideBlocks: this.index.sideBlockCount,
      mempool: this.mempool(),
      mining: this.mining()
    }
  }
}
