/**
 * The serving side of `/depin/sync/2.0.0`: answers one parsed request from the chain. Bounded:
 * counts are capped by the request schema and `blocks` responses by MAX_SYNC_RESPONSE_BYTES.
 */
import type { BlockHeader } from './block.ts'
import { MAX_SYNC_RESPONSE_BYTES } from './constants.ts'
import type { SyncRequest, SyncResponse, SyncStatus } from './sync-messages.ts'

/** What the server reads; the Ledger implements it. */
export interface SyncSource {
  syncStatus(): SyncStatus
  /** The first of `hashes` on the canonical chain. */
  locate(hashes: Uint8Array[]): Promise<{ height: number, hash: Uint8Array } | undefined>
  /** Canonical headers from `from`, at most `count`. */
  headersByRange(from: number, count: number): Promise<BlockHeader[]>
  /** Encoded canonical blocks from `from`, at most `count` and about `maxBytes`. */
  blocksByRange(from: number, count: number, maxBytes: number): Promise<Uint8Array[]>
  /** Encoded stored blocks by hash, in order, stopping at the first unknown one or about `maxBytes`. */
  blocksByHash(hashes: Uint8Array[], maxBytes: number): Promise<Uint8Array[]>
}

/** Answers a sync request (already parsed with `parseSyncRequest`). */
export async function handleSyncRequest (source: SyncSource, request: SyncRequest): Promise<SyncResponse> {
  switch (request.t) {
    case 'status':
      return source.syncStatus()
    case 'ancestor': {
      const found = await source.locate(request.locator)
      return found == null
        ? { t: 'ancestor', found: false, height: 0, hash: new Uint8Array(32) }
        : { t: 'ancestor', found: true, height: found.height, hash: found.hash }
    }
    case 'headers':
      return { t: 'headers', headers: await source.headersByRange(request.from, request.count) }
    case 'blocks':
      return { t: 'blocks', blocks: await source.blocksByRange(request.from, request.count, MAX_SYNC_RESPONSE_BYTES) }
    case 'blocksByHash':
      return { t: 'blocks', blocks: await source.blocksByHash(request.hashes, MAX_SYNC_RESPONSE_BYTES) }
  }
}
