/**
 * An idle limit for the JSON bodies the API reads. Fastify reads a body for as long as its client
 * keeps the connection (no request timeout: uploads and event streams legitimately last long), so
 * a client that sent headers and part of a body held its request open forever. Multipart uploads
 * have their own idle timer (upload-stream.ts) and read the request themselves, so they are left
 * alone; event streams have no body.
 */
import { Transform, type TransformCallback } from 'node:stream'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { ApiError } from './errors.ts'

/** A request body that sends nothing for this long is refused: 408 ERR_BODY_STALLED. */
export const BODY_IDLE_TIMEOUT_MS = 30_000

/** Whether a request comes with a body Fastify will read (a multipart upload reads its own). */
function hasParsedBody (request: FastifyRequest): boolean {
  if (request.method === 'GET' || request.method === 'HEAD') return false
  const type = request.headers['content-type'] ?? ''
  if (/^multipart\//i.test(type)) return false
  return request.headers['transfer-encoding'] != null || Number(request.headers['content-length'] ?? 0) > 0
}

/**
 * A Fastify preParsing hook: the body passes through, and fails with 408 ERR_BODY_STALLED once it
 * has sent nothing for `idleMs` (before its first byte too).
 */
export function bodyIdleLimit (idleMs: number) {
  return async (request: FastifyRequest, reply: FastifyReply, payload: NodeJS.ReadableStream): Promise<NodeJS.ReadableStream> => {
    if (!hasParsedBody(request)) return payload
    let timer: ReturnType<typeof setTimeout> | undefined
    const arm = (): void => {
      clearTimeout(timer)
      timer = setTimeout(() => {
        out.destroy(new ApiError(408, 'ERR_BODY_STALLED', `the request body sent nothing for ${idleMs / 1000} s`))
      }, idleMs)
      timer.unref()
    }
    const out = new (class extends Transform {
      receivedEncodedLength = 0
      override _transform (chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
        this.receivedEncodedLength += chunk.byteLength
        arm()
        callback(null, chunk)
      }

      override _flush (callback: TransformCallback): void {
        clearTimeout(timer)
        callback()
      }
    })()
    // Whoever reads the body gets the error; with no reader left (the answer went out) it is dropped.
    out.on('error', () => {})
    const stop = (): void => { clearTimeout(timer) }
    out.once('close', stop)
    reply.raw.once('close', stop)
    payload.on('error', (err: Error) => { out.destroy(err) })
    // A client that leaves mid-body ends the body too (else its reader would wait on `out` for ever).
    payload.once('close', () => {
      if ((payload as { complete?: boolean }).complete === false) out.destroy(new ApiError(400, 'ERR_BODY_ABORTED', 'the client closed the connection before the body ended'))
    })
    payload.pipe(out)
    arm()
    return out
  }
}
