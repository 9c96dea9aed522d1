/**
 * The negotiation protocol's server side (`/depin/negotiate/…`, docs/protocol.md): one request
 * and one answer per stream — a direct offer answered by this node's worker side (a bid, a
 * decline or an error), a bid or decline routed to the requester side's open offer, an accept
 * answered with the co-signed lease — and after a bid on a direct offer, the accept on the same
 * stream. Errors become error frames; malformed or badly signed frames also score the peer.
 */
import { logger } from '@libp2p/logger'
import { InvalidMessageError, InvalidSignatureError, MessageTooLargeError, type DepinError } from '../errors.ts'
import type { PeerActionName } from '../shared/peer-actions.ts'
import type { Channel } from '../transport.ts'
import { ProtocolViolationError } from './errors.ts'
import { offerId, parseNegotiateRequest, parseSignedOffer, type Accept, type NegotiateResponse } from './messages.ts'
import type { RequesterService } from './requester/service.ts'
import { closeServed, nextFrameOrEnd } from './served.ts'
import type { WorkerService } from './worker/service.ts'

const log = logger('depin:scheduler')

export interface NegotiationServerComponents {
  worker: Pick<WorkerService, 'answerOffer' | 'accept'>
  requester: Pick<RequesterService, 'routeAnswer'>
  /** This node's peer id (its own offers are not answered). */
  self: string
  reportPeer: (peerId: string, action: PeerActionName) => void
}

/**
 * Serves one inbound negotiation stream: one request, one answer; after a bid on a direct
 * offer, the requester may send its accept on the same stream (then one more answer).
 */
export async function serveNegotiation (channel: Channel, c: NegotiationServerComponents): Promise<void> {
  const from = channel.remotePeer
  let response: NegotiateResponse
  let offered = false
  try {
    const request = parseNegotiateRequest(await channel.receive())
    if (request.t === 'offer') {
      const offer = parseSignedOffer(request.offer)
      if (offer.body.requester !== from) throw new ProtocolViolationError('offers are sent by their requester')
      const answer = await c.worker.answerOffer(offer, offerId(offer.body), true)
      // No answer: the node's own offer, or a worker that stopped taking leases.
      response = answer?.response ?? (offer.body.requester === c.self
        ? { t: 'error', code: 'ERR_OWN_OFFER', message: 'this node does not answer its own offers' }
        : { t: 'error', code: 'ERR_BUSY', message: 'this node is not taking leases' })
      offered = response.t === 'bid'
    } else if (request.t === 'bid' || request.t === 'decline') {
      response = c.requester.routeAnswer(request, from)
        ? { t: 'ack' }
        : { t: 'error', code: 'ERR_UNKNOWN_OFFER', message: 'no open offer with that id' }
    } else {
      response = await answerAccept(c, request.accept, from)
    }
  } catch (err) {
    response = errorFrame(c, err, from)
  }
  await channel.send(response)
  if (!offered) {
    await closeServed(channel)
    return
  }
  // After a bid the requester either sends its accept on this stream or closes it (another
  // bid won, or it accepts later on a fresh stream). Silence ends at the idle deadline.
  const next = await nextFrameOrEnd(channel)
  if (next === undefined) return
  let answer: NegotiateResponse
  try {
    const request = parseNegotiateRequest(next)
    if (request.t !== 'accept') throw new ProtocolViolationError(`only an accept may follow a bid, got ${request.t}`)
    answer = await answerAccept(c, request.accept, from)
  } catch (err) {
    answer = errorFrame(c, err, from)
  }
  await channel.send(answer)
  await closeServed(channel)
}

async function answerAccept (c: NegotiationServerComponents, accept: Accept, from: string): Promise<NegotiateResponse> {
  return { t: 'lease', lease: await c.worker.accept(accept, from) }
}

function errorFrame (c: NegotiationServerComponents, err: unknown, from: string): NegotiateResponse {
  if (err instanceof InvalidSignatureError) c.reportPeer(from, 'InvalidSignature')
  else if (err instanceof InvalidMessageError || err instanceof MessageTooLargeError) c.reportPeer(from, 'MalformedMessage')
  const e = err as DepinError
  if (typeof e.code !== 'string') log.error('negotiation with %s failed: %e', from, err)
  return { t: 'error', code: (e.code ?? 'ERR_INTERNAL').slice(0, 64), message: (e.message ?? 'error').slice(0, 500) }
}
