/** Defaults of retention. Units are in the names. */

/** How long ended jobs, batches and served-lease records (and the blobs only they reference) are kept. */
export const DEFAULT_RETENTION_MS = 30 * 24 * 60 * 60 * 1000
/** How often a running node prunes (it also prunes once when it starts). */
export const PRUNE_INTERVAL_MS = 60 * 60 * 1000
/** Records deleted per write while pruning. */
export const DELETE_CHUNK = 512
/** Unreferenced blobs deleted per write while sweeping (pins wait only for one such write). */
export const SWEEP_CHUNK = 256
