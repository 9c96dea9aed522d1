/**
 * Retention of a requester's records and blobs: ended jobs, batches and served-lease records are
 * kept for a configured time, pinned blobs exactly while a kept record references them.
 */
export { Retention, type RetentionComponents, type RetentionInit } from './retention.ts'
export type { PruneReport } from './prune.ts'
export { jobBlobs, batchBlobs, batchTaskBlobs } from './references.ts'
export { JobRunningError } from './errors.ts'
export { DEFAULT_RETENTION_MS, PRUNE_INTERVAL_MS } from './constants.ts'
