/**
 * Answers for what fails before a route runs, in the API's own error shape
 * (`{"error":{"code","message"}}`) instead of Fastify's or Node's defaults: a URL the router
 * cannot decode (`/v1/jobs/%ZZ`), a path parameter over the router's length limit, and a request
 * the HTTP parser refuses outright (an absurd Content-Length, a broken request line, headers too
 * large).
 */
// node:http through require: an ES import of it loads undici (see shared/node-http.ts).
import { http } from '../../shared/node-http.ts'
import type { Duplex } from 'node:stream'
import type { FastifyReply, FastifyRequest } from 'fastify'

/**
 * Longest path parameter the router matches (Fastify's default is 100, under the 200 characters
 * ids may have: such ids got a 414 before their route could answer). A longer one is 400.
 */
export const MAX_PARAM_LENGTH = 256

function errorBody (code: string, message: string): { error: { code: string, message: string } } {
  return { error: { code, message } }
}

/** Fastify's `frameworkErrors`: the router's errors (bad URL encoding, a parameter too long) as 400 ERR_BAD_REQUEST. */
export function frameworkErrors (err: Error, _request: FastifyRequest, reply: FastifyReply): void {
  void reply.code(400).send(errorBody('ERR_BAD_REQUEST', err.message))
}

/**
 * Fastify's `clientErrorHandler`, for requests Node's HTTP parser refused (no request object,
 * only the socket): a JSON answer in the API's shape, then the socket closes (as Node does).
 */
export function clientErrorHandler (err: NodeJS.ErrnoException, socket: Duplex): void {
  // A reset connection is gone: nothing to answer.
  if (err.code === 'ECONNRESET' || socket.destroyed) return
  const [status, code, message] = err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
    ? [408, 'ERR_REQUEST_TIMEOUT', 'the request did not arrive in time']
    : err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'ERR_HEADERS_TOO_LARGE', 'the request headers are too large']
      : [400, 'ERR_BAD_REQUEST', `malformed HTTP request${err.code != null ? ` (${err.code})` : ''}`]
  const body = JSON.stringify(errorBody(code, message))
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json; charset=utf-8\r\nConnection: close\r\n\r\n${body}`)
  }
  socket.destroy()
}
