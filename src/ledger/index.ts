/**
 * The replicated proof-of-work ledger: blocks of signed transactions (transfers and work-receipt
 * settlements) sealed by hashcash, heaviest chain wins, state (balances, nonces, receipts) in
 * level with atomic batches, a mempool, an opt-in miner in a worker thread, and a
 * network-agnostic sync protocol. See docs/protocol.md (Ledger) for the wire and storage formats.
 *
 * The node wires it up: `createLedger({ store, signer, genesis, publishBlock, publishTransaction,
 * syncTransport, reportPeer })`, registers `ledger.topicHandlers()` on gossip, serves
 * `/depin/sync/2.0.0` with `parseSyncRequest` + `ledger.handleSyncRequest`, and calls
 * `ledger.syncWith(peer)` when a peer connects.
 */
import { DefaultLedger } from './ledger.ts'
import type { Ledger, LedgerInit } from './types.ts'

/** Creates a ledger; call `start()` to open its store. */
export function createLedger (init: LedgerInit): Ledger {
  return new DefaultLedger(init)
}

export type {
  Ledger, LedgerInit, LedgerEvents, BlockSummary, BlockView, TxView, Receipt, ReceiptQuery, AddBlockResult,
  MempoolInfo, MiningInfo, LedgerStats
} from './types.ts'
export * from './errors.ts'
export * from './constants.ts'
export {
  createGenesisConfig, parseGenesisConfig, genesisHash, DEFAULT_GENESIS_CONFIG,
  type GenesisConfig, type NetworkParams, type CreateGenesisConfigInit
} from './genesis.ts'
export type { LedgerStore } from './store.ts'
export {
  parseSyncRequest, parseSyncResponse, SyncPeerError,
  type SyncRequest, type SyncResponse, type SyncStatus
} from './sync-messages.ts'
export { handleSyncRequest, type SyncSource } from './sync-server.ts'
export type { SyncTransport, SyncPeerAction, SyncResult } from './sync-client.ts'
export {
  decodeTransaction, createTransfer, createSettle, TRANSFER_DOMAIN,
  type Transaction, type TransferBody, type SettleBody, type CoinbaseBody
} from './tx.ts'
export { decodeBlock, encodeBlock, headerHash, type Block, type BlockHeader } from './block.ts'
export { createSyncTransport, createSyncHandler, SYNC_HANDLE_OPTIONS, MAX_SYNC_REQUEST_BYTES, type SyncResponder } from './sync-channel.ts'
