/**
 * Writes of server-sent event streams whose events are small and many (job progress, chain tips,
 * peers): a client that stops reading is disconnected once MAX_SSE_BUFFER_BYTES wait for it,
 * instead of the node buffering every event for as long as it stays connected. (It can connect
 * again: a job's stream replays its history; batch streams wait for their client instead, see
 * batches-routes.ts.)
 */
import type { ServerResponse } from 'node:http'
import { ApiError } from './errors.ts'

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

/**
 * Event streams one API server keeps open at once, over all its event routes (/v1/events, a
 * job's, a batch's); one more is refused with 429 ERR_TOO_MANY_STREAMS. Each holds a socket and
 * listeners on the node until its client leaves, so they are bounded together, not per route.
 */
export const MAX_EVENT_STREAMS = 64

/** The open event streams of one API server (ApiServer decorates its Fastify instance with one). */
export class StreamSlots {
  readonly max: number
  private count = 0

  constructor (max = MAX_EVENT_STREAMS) { this.max = max }

  get open (): number { return this.count }

  /** Takes a slot, or throws 429 ERR_TOO_MANY_STREAMS; the returned function gives it back (once, however often called). */
  take (): () => void {
    if (this.count >= this.max) throw new ApiError(429, 'ERR_TOO_MANY_STREAMS', `at most ${this.max} event streams at once`)
    this.count++
    let released = false
    return () => {
      if (released) return
      released = true
      this.count--
    }
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The event streams of this API server (see StreamSlots). */
    eventStreams: StreamSlots
  }
}
