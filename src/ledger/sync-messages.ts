/**
 * Messages of the sync protocol `/depin/sync/2.0.0`: one request, one response per stream,
 * each a DAG-CBOR map in one length-prefixed frame of at most MAX_SYNC_FRAME_BYTES.
 *
 * Requests:
 *   { t: 'status' }
 *   { t: 'ancestor', locator: [hash] }            ≤ MAX_SYNC_LOCATOR hashes, newest first
 *   { t: 'headers', from: height, count }          count ≤ MAX_SYNC_HEADERS, canonical chain
 *   { t: 'blocks', from: height, count }           count ≤ MAX_SYNC_BLOCKS, canonical chain
 *   { t: 'blocksByHash', hashes: [hash] }          ≤ MAX_SYNC_BLOCKS hashes, any stored block
 * Responses:
 *   { t: 'status', genesis: hash, tip: hash, height, work: bytes }   work: chain work, big-endian
 *   { t: 'ancestor', found: bool, height, hash }   the first locator hash on the server's canonical chain
 *   { t: 'headers', headers: [header] }            contiguous from `from`, possibly fewer (end of chain)
 *   { t: 'blocks', blocks: [bytes] }               encoded blocks, in request order, stopping at the
 *                                                     first unknown one or once MAX_SYNC_RESPONSE_BYTES is reached
 *   { t: 'error', code, message }
 */
import { z } from 'zod'
import { bytes, parseWith, uint } from '../proofs/schema.ts'
import { DepinError, InvalidMessageError } from '../errors.ts'
import { headerSchema, type BlockHeader } from './block.ts'
import { MAX_BLOCK_BYTES, MAX_SYNC_BLOCKS, MAX_SYNC_HEADERS, MAX_SYNC_LOCATOR } from './constants.ts'

const hash = bytes(32)

export const syncRequestSchema = z.discriminatedUnion('t', [
  z.object({ t: z.literal('status') }).strict(),
  z.object({ t: z.literal('ancestor'), locator: z.array(hash).min(1).max(MAX_SYNC_LOCATOR) }).strict(),
  z.object({ t: z.literal('headers'), from: uint, count: uint.min(1).max(MAX_SYNC_HEADERS) }).strict(),
  z.object({ t: z.literal('blocks'), from: uint, count: uint.min(1).max(MAX_SYNC_BLOCKS) }).strict(),
  z.object({ t: z.literal('blocksByHash'), hashes: z.array(hash).min(1).max(MAX_SYNC_BLOCKS) }).strict()
])
export type SyncRequest = z.infer<typeof syncRequestSchema>

export const syncResponseSchema = z.discriminatedUnion('t', [
  z.object({ t: z.literal('status'), genesis: hash, tip: hash, height: uint, work: bytes(undefined, 64) }).strict(),
  z.object({ t: z.literal('ancestor'), found: z.boolean(), height: uint, hash }).strict(),
  z.object({ t: z.literal('headers'), headers: z.array(headerSchema).max(MAX_SYNC_HEADERS) }).strict(),
  z.object({ t: z.literal('blocks'), blocks: z.array(bytes(undefined, MAX_BLOCK_BYTES)).max(MAX_SYNC_BLOCKS) }).strict(),
  z.object({ t: z.literal('error'), code: z.string().max(64), message: z.string().max(500) }).strict()
])
export type SyncResponse = z.infer<typeof syncResponseSchema>
export type SyncStatus = Extract<SyncResponse, { t: 'status' }>

/** Validates a decoded request from a peer. Throws InvalidMessageError (the sender is at fault). */
export function parseSyncRequest (value: unknown): SyncRequest {
  return parseWith(syncRequestSchema, value, 'sync request')
}

/** Validates a decoded response from a peer. Throws InvalidMessageError (the sender is at fault). */
export function parseSyncResponse (value: unknown): SyncResponse {
  return parseWith(syncResponseSchema, value, 'sync response')
}

/** Narrows a response to the type a request expects. */
export function expectResponse<T extends SyncResponse['t']> (response: SyncResponse, type: T): Extract<SyncResponse, { t: T }> {
  if (response.t === 'error') throw new SyncPeerError(`peer answered ${response.code}: ${response.message}`)
  if (response.t !== type) throw new InvalidMessageError(`expected a ${type} response, got ${response.t}`)
  return response as Extract<SyncResponse, { t: T }>
}

/** The peer refused a request (an `error` response): not malformed, but nothing to sync from it now. */
export class SyncPeerError extends DepinError {
  constructor (message: string) {
    super(message, 'ERR_SYNC_PEER_REFUSED')
  }
}

export type { BlockHeader }
