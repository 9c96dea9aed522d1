/**
 * Writes of server-sent event streams whose events are small and many (job progress, chain tips,
 * peers): a client that stops reading is disconnected once MAX_SSE_BUFFER_BYTES wait for it,
 * instead of the node buffering every event for as long as it stays connected. (It can connect
 * again: a job's stream replays its history; batch streams wait for their client instead, see
 * batches-routes.ts.)
 */
import type { ServerResponse } from 'node:http'

/** Bytes an event stream may have waiting for its client before the client is dropped. */
export const MAX_SSE_BUFFER_BYTES = 1024 * 1024

/** Writes `chunk` unless the stream is gone or its client is too far behind (then it is closed). */
export function sseWrite (raw: ServerResponse, chunk: string): void {
  if (raw.destroyed) return
  if (raw.writableLength > MAX_SSE_BUFFER_BYTES) {
    raw.destroy()
    return
  }
  raw.write(chunk)
}
