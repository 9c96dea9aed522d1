/**
 * Ledger limits and defaults. Units are in the names. Consensus limits (the ones a block must
 * respect to be valid) are marked; changing them forks the network.
 */

/** [consensus] Version of headers and transaction bodies. */
export const LEDGER_VERSION = 1

/** [consensus] Largest encoded block (header + transactions). */
export const MAX_BLOCK_BYTES = 512 * 1024
/** [consensus] Most transactions in one block, coinbase included. */
export const MAX_TXS_PER_BLOCK = 1000
/** [consensus] Largest encoded transaction. */
export const MAX_TX_BYTES = 4 * 1024
/**
 * A lease may be settled until this long after it expired (by the timestamp of the block that
 * includes the settle): long enough for a requester, or a worker holding its acknowledgement, to
 * get it mined; bounded so that a lease's settlement state is final.
 */
export const SETTLE_WINDOW_MS = 24 * 60 * 60 * 1000
/** [consensus] Longest network id. */
export const MAX_NETWORK_ID_LENGTH = 64
/** [consensus] How far ahead of the local clock a block's timestamp may be. Later: ignored, not stored. */
export const MAX_FUTURE_BLOCK_MS = 15_000
/** [consensus] A block's timestamp must be greater than the median of this many ancestors' timestamps. */
export const MEDIAN_TIME_SPAN = 11
/** [consensus] Largest factor by which one retarget may raise or lower the target. */
export const RETARGET_CLAMP_FACTOR = 4
/** [consensus] Default number of blocks between retargets when the genesis config omits it. */
export const DEFAULT_RETARGET_INTERVAL = 10

/** Deepest reorg this node performs; forks from below `tip.height - depth` are ignored. */
export const MAX_REORG_DEPTH = 100
/**
 * Most non-canonical (side-chain) blocks kept; over it, the lowest-work leaf other than the block
 * being added is evicted. A branch that sync's checked headers proved heavier may pass it until it
 * becomes canonical.
 */
export const MAX_SIDE_BLOCKS = 512
/** Invalid block hashes remembered so that a re-sent invalid block is refused cheaply. */
export const MAX_INVALID_CACHE = 4096
/** Transactions whose signatures were already verified (by hash), so a block of known txs is cheap. */
export const VERIFIED_TX_CACHE = 65_536
/** Block index entries (headers with chain work) kept in memory. */
export const ENTRY_CACHE = 4096

/** Mempool: most transactions. */
export const MEMPOOL_MAX_TXS = 10_000
/** Mempool: most bytes of encoded transactions. */
export const MEMPOOL_MAX_BYTES = 16 * 1024 * 1024
/** Mempool: most pending transactions of one sender (transfers by `from`, settles by requester). */
export const MEMPOOL_MAX_PER_SENDER = 64

/**
 * Mempool: a node's own transactions pending this long are announced again (gossip may have
 * missed a peer, or a partition healed), then after twice as long each time.
 */
export const MEMPOOL_REBROADCAST_MS = 60_000
/** Mempool: the longest wait between two re-announcements of one transaction. */
export const MEMPOOL_REBROADCAST_MAX_WAIT_MS = 16 * 60_000
/** Mempool: most transactions re-announced per round. */
export const MEMPOOL_REBROADCAST_MAX = 100

/** Miner: nonces tried between checks of the stop flag. */
export const MINER_BATCH = 4096
/** Miner: how often a running miner rebuilds its template (fresh timestamp and mempool transactions). */
export const MINER_REFRESH_MS = 5_000

/** Sync: protocol id. */
export const SYNC_PROTOCOL = '/depin/sync/2.0.0'
/** Sync: most headers per `headers` request. */
export const MAX_SYNC_HEADERS = 512
/** Sync: most blocks per `blocks` request. */
export const MAX_SYNC_BLOCKS = 128
/** Sync: most locator hashes in an `ancestor` request. */
export const MAX_SYNC_LOCATOR = 64
/** Sync: a `blocks` response stops adding blocks once it holds this many bytes (at least one block is always sent). */
export const MAX_SYNC_RESPONSE_BYTES = 2 * 1024 * 1024
/** Sync: largest frame on the sync protocol (the biggest response plus one block of slack and framing). */
export const MAX_SYNC_FRAME_BYTES = MAX_SYNC_RESPONSE_BYTES + MAX_BLOCK_BYTES + 64 * 1024
/** Sync: deadline of one request (the whole response must arrive within it). */
export const SYNC_REQUEST_TIMEOUT_MS = 10_000
/**
 * Sync: most checked headers held before their work exceeds our tip's. A peer that has not shown
 * a heavier chain within them is left without a single body fetched.
 */
export const MAX_UNPROVEN_SYNC_HEADERS = 4 * MAX_SYNC_HEADERS
/**
 * Sync: least time between two syncs that one peer's actions trigger (connecting, sending a block
 * whose parent we lack). Explicit `syncWith` calls are not limited.
 */
export const SYNC_TRIGGER_INTERVAL_MS = 30_000
/** Sync: how long a peer that served invalid data or stalled is not synced from again. */
export const SYNC_DROP_MS = 10 * 60_000

/** Gossip topic names; the network id keeps different networks apart. */
export function blockTopic (networkId: string): string {
  return `/depin/ledger/${networkId}/blocks/1`
}
export function transactionTopic (networkId: string): string {
  return `/depin/ledger/${networkId}/txs/1`
}
