/**
 * Public types of the ledger: what the node, the scheduler, the API and embedders see.
 * Hashes are lower-case hex strings; agreement, job and output ids are CID strings; amounts are
 * integer credits (safe JS integers).
 */
import type { TypedEventTarget } from 'main-event'
import type { Lease, SignedAck, SignedCheckpoint } from '../proofs/lease.ts'
import type { Signer } from '../proofs/signing.ts'
import type { CID } from 'multiformats/cid'
import type { TopicHandler } from '../transport.ts'
import type { GenesisConfig } from './genesis.ts'
import type { LedgerStore } from './store.ts'
import type { SyncPeerAction, SyncResult, SyncTransport } from './sync-client.ts'
import type { SyncSource } from './sync-server.ts'
import type { SyncRequest, SyncResponse } from './sync-messages.ts'
import type { Block, DecodedBlock } from './block.ts'
import type { TxInfo } from './tx.ts'

export interface LedgerInit {
  /** Where the chain and state live: a sublevel of the node's LevelDB (the ledger never closes it). */
  store: LedgerStore
  /** Signs this node's transactions; its peer id receives mined rewards. */
  signer: Signer
  /** The network. @default DEFAULT_GENESIS_CONFIG */
  genesis?: GenesisConfig
  /** Publishes an encoded block on the blocks gossip topic (called for blocks this node mines). */
  publishBlock?: (bytes: Uint8Array) => Promise<void> | void
  /** Publishes an encoded transaction on the transactions gossip topic (called for this node's transfers and settles). */
  publishTransaction?: (bytes: Uint8Array) => Promise<void> | void
  /** Talks `/depin/sync/2.0.0` to a peer. Without it the ledger does not sync by itself. */
  syncTransport?: SyncTransport
  /** Told when a sync peer served invalid data or missed a deadline. */
  reportPeer?: (peerId: string, action: SyncPeerAction) => void
  /** Mine from `start()`. @default false */
  mine?: boolean
  /** Deepest reorg performed; older forks are ignored. @default MAX_REORG_DEPTH (100) */
  maxReorgDepth?: number
  /** Most non-canonical blocks stored (a branch sync proved heavier may pass it until it becomes canonical). @default MAX_SIDE_BLOCKS (512) */
  maxSideBlocks?: number
  /** @default MEMPOOL_MAX_TXS (10_000) */
  mempoolMaxTxs?: number
  /** @default MEMPOOL_MAX_BYTES (16 MiB) */
  mempoolMaxBytes?: number
  /** @default MEMPOOL_MAX_PER_SENDER (64) */
  mempoolMaxPerSender?: number
  /** Pending transactions are announced again after this long. @default MEMPOOL_REBROADCAST_MS (60 s) */
  rebroadcastMs?: number
  /** Least time between two syncs one peer's actions trigger (see `requestSync`). @default SYNC_TRIGGER_INTERVAL_MS (30 s) */
  syncTriggerIntervalMs?: number
  /** Deadline of each sync request. @default SYNC_REQUEST_TIMEOUT_MS (10 s) */
  syncRequestTimeoutMs?: number
  /** How often a running miner refreshes its template. @default MINER_REFRESH_MS (5 s) */
  minerRefreshMs?: number
  /** Clock (ms since the epoch), injectable for tests. @default Date.now */
  now?: () => number
}

/** A block as the API shows it. */
export interface BlockSummary {
  hash: string
  height: number
  parent: string
  timestamp: number
  miner: string
  /** 64 hex characters. */
  target: string
  txCount: number
  /** Cumulative work from genesis through this block (decimal string). */
  chainWork: string
}

export interface TxView {
  hash: string
  type: 'transfer' | 'settle' | 'coinbase'
  /** Payer (transfer sender, settle requester); absent for a coinbase. */
  from?: string
  to: string
  amount: number
  /** Transfers only. */
  nonce?: number
  /** Settles only: the lease, and how many task results its acknowledged checkpoint covers. */
  leaseId?: string
  tasks?: number
  /** Settles only: the fuel those task results used (decimal: it may pass 2^53). */
  fuel?: string
  /**
   * Settles in a block view only: the credits this settle moved (`amount` is what the lease was
   * paid in all; earlier settles paid the rest). Known for canonical blocks within the reorg window.
   */
  moved?: number
}

export interface BlockView extends BlockSummary {
  /** On the canonical chain (false for a stored side-chain block). */
  canonical: boolean
  transactions: TxView[]
}

/** A lease's settlement on the chain: what its settles paid so far. */
export interface Receipt {
  leaseId: string
  requester: string
  worker: string
  /** Credits paid under the lease, cumulative. */
  paid: number
  /** The checkpoint settled last, and how many task results it covers. */
  seq: number
  tasks: number
  /** Fuel of those task results (decimal: it may pass 2^53). */
  fuel: string
  /** Where the latest settle is. */
  blockHash: string
  height: number
  txHash: string
}

export interface ReceiptQuery {
  worker?: string
  requester?: string
  /** @default 100, at most 1000 */
  limit?: number
}

/** What `addBlock` did with an accepted block. */
export interface AddBlockResult {
  action: 'accept'
  hash: string
  height: number
  /** `connected`: new tip; `reorg`: new tip after a reorg; `side`: stored on a side chain. */
  status: 'connected' | 'reorg' | 'side'
}

export interface LedgerEvents {
  /** The canonical tip changed. */
  tip: CustomEvent<BlockSummary>
  /** A block joined the canonical chain (one event per block, lowest first, also during reorgs and sync). */
  block: CustomEvent<BlockSummary>
  /** The canonical chain switched branches. `undone` highest first, `applied` lowest first. */
  reorg: CustomEvent<{ undone: BlockSummary[], applied: BlockSummary[] }>
  /** This node mined a block (already added and handed to `publishBlock`). */
  mined: CustomEvent<BlockSummary>
  /** A transaction entered the mempool. */
  transaction: CustomEvent<TxView>
}

export interface MempoolInfo {
  size: number
  bytes: number
}

export interface MiningInfo {
  running: boolean
  /** Hashes computed (reported by the worker about once a second, and with each find). */
  hashes: number
  /** Blocks found. */
  found: number
  /** Block templates mined on (a new one on every tip change and every refresh interval). */
  templates: number
}

export interface LedgerStats {
  networkId: string
  genesis: string
  height: number
  tip: string
  /** Stored non-canonical blocks (bounded by maxSideBlocks). */
  sideBlocks: number
  mempool: MempoolInfo
  mining: MiningInfo
}

/** The replicated proof-of-work ledger of one node. */
export interface Ledger extends TypedEventTarget<LedgerEvents>, SyncSource {
  readonly networkId: string
  /** Hex hash of the genesis block. */
  readonly genesisHash: string
  start(): Promise<void>
  stop(): Promise<void>

  tip(): BlockSummary
  balance(peerId: string): Promise<number>
  /** The peer's next transfer nonce on the chain (pending transfers not counted). */
  nonce(peerId: string): Promise<number>
  /** Balance minus what the peer already owes in pending mempool transactions. The scheduler subtracts its own commitments. */
  spendable(peerId: string): Promise<number>
  /** A block by hex hash (any stored block) or by canonical height (a number, or a string of up to 15 digits). */
  block(hashOrHeight: string | number): Promise<BlockView | undefined>
  /** The last `last` canonical blocks, newest first (at most 100). */
  blocks(options: { last: number }): Promise<BlockSummary[]>
  receipts(query?: ReceiptQuery): Promise<Receipt[]>
  /** Credits paid on the canonical chain under a lease so far (0: never settled). */
  settledAmount(leaseId: CID | string): Promise<number>
  /** A lease's settlement on the canonical chain, if it has one. */
  receipt(leaseId: CID | string): Promise<Receipt | undefined>
  mempool(): MempoolInfo
  stats(): LedgerStats

  /** Signs a transfer from this node, adds it to the mempool and publishes it. */
  transfer(to: string, amount: number): Promise<TxView>
  /**
   * Settles a lease through an acknowledged checkpoint (this node must be the lease's requester or
   * worker): adds the settle to the mempool, replacing a pending settle of the same lease that pays
   * less, and publishes it.
   */
  submitSettle(lease: Lease, checkpoint: SignedCheckpoint, ack: SignedAck): Promise<TxView>
  /** A transaction from gossip. Resolves when accepted; throws a LedgerError whose `action` is `ignore` or `reject`. */
  addTransaction(bytes: Uint8Array, fromPeer?: string): Promise<TxView>
  /**
   * A block from gossip (or anywhere). Resolves when accepted; throws a LedgerError whose `action`
   * is `ignore` or `reject`. An unknown parent triggers a sync from `fromPeer` (`requestSync`).
   */
  addBlock(block: Uint8Array | Block, fromPeer?: string): Promise<AddBlockResult>

  /** Syncs from a peer with a heavier chain (needs `syncTransport`). */
  syncWith(peerId: string): Promise<SyncResult>
  /**
   * A sync a peer's gossip asks for (it sent a block whose parent is unknown): like `syncWith`,
   * but at most once per peer per `syncTriggerIntervalMs`; otherwise it resolves at once with
   * status `throttled`.
   */
  requestSync(peerId: string): Promise<SyncResult>
  /** Answers a parsed `/depin/sync/2.0.0` request. */
  handleSyncRequest(request: SyncRequest): Promise<SyncResponse>
  /** Gossip topic handlers (precheck = decode and header checks, validate = add; the decision comes from the thrown error's action). */
  topicHandlers(): { blocks: TopicHandler<AddBlockResult, DecodedBlock>, transactions: TopicHandler<TxView, TxInfo> }

  startMining(): void
  stopMining(): Promise<void>
  mining(): MiningInfo
}
