/**
 * One request of the fetching side of `/depin/sync/2.0.0` and what its failures mean: every
 * request has a deadline (and ends when the client stops); a missed deadline is the peer's fault
 * (`Timeout`), and so is an undecodable answer or one of the wrong type (`InvalidSyncData`); an
 * `error` answer only ends the sync. PeerFault and SyncStop are how every step of a sync
 * (sync-client.ts) reports the two outcomes.
 */
import { DeadlineExceededError, InvalidMessageError, MessageTooLargeError } from '../errors.ts'
import type { SyncPeerAction, SyncResult, SyncTransport } from './sync-client.ts'
import { SyncPeerError, expectResponse, parseSyncResponse, type SyncRequest, type SyncResponse } from './sync-messages.ts'

/** A peer fault found while syncing. */
export class PeerFault extends Error {
  readonly action: SyncPeerAction
  constructor (action: SyncPeerAction, message: string, options?: ErrorOptions) {
    super(message, options)
    this.action = action
  }
}

/** Stop syncing from this peer without blaming it. */
export class SyncStop extends Error {
  readonly status: SyncResult['status']
  constructor (status: SyncResult['status'], message: string) {
    super(message)
    this.status = status
  }
}

/**
 * Sends one request to `peer` and returns its response, checked against the type the request
 * expects. Throws PeerFault for a missed deadline (`Timeout`) or an undecodable or unexpected
 * answer (`InvalidSyncData`), SyncStop for the peer's own `error` answer.
 */
export async function syncRequest (transport: SyncTransport, peer: string, request: SyncRequest, timeoutMs: number, stopped: AbortSignal): Promise<SyncResponse> {
  const deadline = AbortSignal.timeout(timeoutMs)
  const signal = AbortSignal.any([deadline, stopped])
  let onAbort: (() => void) | undefined
  const aborted = new Promise<never>((_resolve, reject) => {
    onAbort = () => { reject(signal.reason) }
    if (signal.aborted) onAbort()
    else signal.addEventListener('abort', onAbort, { once: true })
  })
  let raw: unknown
  try {
    // Race the transport against the deadline: a transport that ignores the signal cannot stall us.
    raw = await Promise.race([transport.request(peer, request, { signal }), aborted])
  } catch (err) {
    if (deadline.aborted) throw new PeerFault('Timeout', `${request.t} request to ${peer} missed its ${timeoutMs} ms deadline`, { cause: err })
    if (err instanceof DeadlineExceededError) throw new PeerFault('Timeout', (err).message, { cause: err })
    if (err instanceof InvalidMessageError || err instanceof MessageTooLargeError) throw new PeerFault('InvalidSyncData', err.message, { cause: err })
    throw err
  } finally {
    if (onAbort != null) signal.removeEventListener('abort', onAbort)
    aborted.catch(() => {})
  }
  let response: SyncResponse
  try {
    response = parseSyncResponse(raw)
    return expectResponse(response, responseTypeOf(request))
  } catch (err) {
    if (err instanceof SyncPeerError) throw new SyncStop('failed', err.message)
    throw new PeerFault('InvalidSyncData', (err as Error).message, { cause: err })
  }
}

function responseTypeOf (request: SyncRequest): SyncResponse['t'] {
  switch (request.t) {
    case 'status': return 'status'
    case 'ancestor': return 'ancestor'
    case 'headers': return 'headers'
    case 'blocks': case 'blocksByHash': return 'blocks'
  }
}

/** Narrows a response that `syncRequest` already checked against the request's expected type. */
export function expectType<T extends SyncResponse['t']> (response: SyncResponse, _type: T): Extract<SyncResponse, { t: T }> {
  return response as Extract<SyncResponse, { t: T }>
}
