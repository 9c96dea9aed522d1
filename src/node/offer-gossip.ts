/**
 * The offers topic's precheck, run as an offer arrives: decode, schema, and the author rule.
 *
 * Author rule: an offer is gossiped by its requester only. The gossip message's signer (its
 * origin, which gossipsub relays keep, and which gossipsub's own signature check has verified)
 * must be the lease offer's requester. An offer re-published under any other identity (a replay of
 * someone else's offer, or a forgery) is rejected: a valid signature on the gossip envelope from
 * a peer that is not the offer's author proves nothing about the offer. Blocks and transactions
 * have no such rule (see the ledger's topic handlers).
 *
 * The costly check (the requester's signature on the offer) stays in the scheduler's validator,
 * behind the fair validation queue.
 */
import { InvalidSignatureError } from '../errors.ts'
import { decode } from '../proofs/encoding.ts'
import { parseWith } from '../proofs/schema.ts'
import { signedOfferSchema } from '../scheduler/messages.ts'
import type { TopicHandler } from '../transport.ts'

/** [REJECT] undecodable or schema-invalid; [REJECT] gossiped by someone other than its requester. */
export function checkOffer (data: Uint8Array, maxBytes: number, author: string | undefined): void {
  const offer = parseWith(signedOfferSchema, decode(data, maxBytes, 'offer'), 'offer')
  if (author !== offer.body.requester) {
    throw new InvalidSignatureError(`offer of requester ${offer.body.requester} gossiped by ${author ?? 'an anonymous peer'}`)
  }
}

/** The scheduler's offers topic with the arrival precheck added. */
export function withOfferPrecheck<T> (handler: TopicHandler<T>): TopicHandler<T> {
  return {
    ...handler,
    precheck: (data, author) => { checkOffer(data, handler.maxBytes, author) }
  }
}
