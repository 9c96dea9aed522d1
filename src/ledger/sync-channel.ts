/**
 * `/depin/sync/2.0.0` over the node's channel abstraction (src/transport.ts): one request frame,
 * one response frame per stream. The node registers `createSyncHandler(ledger)` with
 * `SYNC_HANDLE_OPTIONS` and passes `createSyncTransport(channels)` as the ledger's syncTransport.
 * No libp2p here: the node implements the channels over libp2p streams.
 */
import { logger } from '@libp2p/logger'
import type { Channel, ChannelOpener, HandleOptions } from '../transport.ts'
import { MAX_SYNC_FRAME_BYTES, SYNC_PROTOCOL, SYNC_REQUEST_TIMEOUT_MS } from './constants.ts'
import { parseSyncRequest, type SyncRequest, type SyncResponse } from './sync-messages.ts'
import type { SyncTransport } from './sync-client.ts'

const log = logger('depin:ledger:sync')

/** Largest request frame (the biggest request, 128 hashes, is about 4.5 KiB). */
export const MAX_SYNC_REQUEST_BYTES = 16 * 1024

/** Options for registering the sync handler. */
export const SYNC_HANDLE_OPTIONS: HandleOptions = {
  maxFrameBytes: MAX_SYNC_REQUEST_BYTES,
  idleTimeoutMs: SYNC_REQUEST_TIMEOUT_MS,
  maxInboundStreams: 8,
  maxOutboundStreams: 8
}

/** Sync requests over channels: opens a stream, sends the request, reads one response. */
export function createSyncTransport (channels: ChannelOpener, options: { requestTimeoutMs?: number } = {}): SyncTransport {
  return {
    async request (peerId: string, request: SyncRequest, { signal }: { signal: AbortSignal }): Promise<unknown> {
      const channel = await channels.open(peerId, SYNC_PROTOCOL, {
        signal,
        maxFrameBytes: MAX_SYNC_FRAME_BYTES,
        idleTimeoutMs: options.requestTimeoutMs ?? SYNC_REQUEST_TIMEOUT_MS
      })
      try {
        await channel.send(request, { signal })
        return await channel.receive({ signal })
      } finally {
        await channel.close().catch(() => {})
      }
    }
  }
}

/** What the handler answers from (the Ledger). */
export interface SyncResponder {
  handleSyncRequest(request: SyncRequest): Promise<SyncResponse>
}

/**
 * The inbound handler: reads one request, answers it, closes. A malformed request gets an
 * `error` response and the thrown InvalidMessageError (so the node can penalise the sender).
 */
export function createSyncHandler (ledger: SyncResponder): (channel: Channel) => Promise<void> {
  return async (channel: Channel): Promise<void> => {
    let request: SyncRequest
    try {
      request = parseSyncRequest(await channel.receive())
    } catch (err) {
      await channel.send({ t: 'error', code: 'ERR_INVALID_REQUEST', message: (err as Error).message.slice(0, 500) }).catch(() => {})
      await channel.close().catch(() => {})
      throw err
    }
    let response: SyncResponse
    try {
      response = await ledger.handleSyncRequest(request)
    } catch (err) {
      log('could not answer %s from %s: %e', request.t, channel.remotePeer, err)
      response = { t: 'error', code: 'ERR_INTERNAL', message: 'the peer could not answer' }
    }
    await channel.send(response)
    await channel.close()
  }
}
