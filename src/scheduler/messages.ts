/**
 * Negotiation: lease offers, bids, declines and the frames of `/depin/negotiate/2.0.0`. Every
 * frame is one DAG-CBOR map with a `t` (type) field; see docs/protocol.md for the bytes.
 *
 * A lease offer asks for a standing agreement (price cap, slots, per-task limits, a credit cap,
 * a duration); a worker bids its price and the slots it grants, or declines with a reason; the
 * requester accepts one bid with a lease body it signs, and the worker countersigns it.
 */
import { z } from 'zod'
import type { CID } from 'multiformats/cid'
import { valueCid } from '../proofs/encoding.ts'
import { leaseBodySchema, leaseSchema, MAX_LEASE_SLOTS } from '../proofs/lease.ts'
import { bytes, objectCidSchema, parseWith, peerIdSchema, signatureSchema, uint, uint64 } from '../proofs/schema.ts'
import { assertSigned, signBody, type Signer } from '../proofs/signing.ts'
import { BID_DOMAIN, DECLINE_DOMAIN, MAX_LEASE_DURATION_MS, OFFER_DOMAIN } from './constants.ts'
import { DECLINE_REASONS } from './errors.ts'
import { MAX_JOB_MEMORY_MIB, MAX_JOB_TIMEOUT_MS } from './task.ts'

export const offerBodySchema = z.object({
  v: z.literal(1),
  requester: peerIdSchema,
  /** 16 random bytes: every offer is distinct. */
  nonce: bytes(16),
  /**
   * Any runtime name (a worker that does not run it declines `runtime`): an offer of a runtime a
   * later version adds is not malformed to the nodes of this one (which would score its sender).
   */
  runtime: z.string().regex(/^[a-z0-9][a-z0-9.-]{0,31}$/),
  /** Memory cap of each task, MiB. */
  memoryMiB: z.number().int().min(1).max(MAX_JOB_MEMORY_MIB),
  /** Wall-time limit of each task, ms. */
  maxTaskMs: z.number().int().min(1).max(MAX_JOB_TIMEOUT_MS),
  /** Fuel limit of each task (what one task can cost is this fuel at the lease's price). */
  maxTaskFuel: uint64,
  /** Highest price, credits per gigafuel (10^9 fuel). */
  maxPrice: uint,
  /** Tasks the requester would like to run at once. */
  slots: z.number().int().min(1).max(MAX_LEASE_SLOTS),
  /** The most the lease may cost at the highest price, credits (the accepted lease's cap is at most this). */
  maxCredits: uint,
  /** How long the lease should live once accepted. */
  durationMs: z.number().int().min(1).max(MAX_LEASE_DURATION_MS),
  createdAt: uint,
  /** The offer may be answered until then. */
  expiresAt: uint,
  /** When present, only these peers may bid. */
  peers: z.array(peerIdSchema).min(1).max(32).optional()
}).strict().refine((b) => b.expiresAt > b.createdAt, { message: 'expiresAt must be after createdAt', path: ['expiresAt'] })
export type OfferBody = z.infer<typeof offerBodySchema>
export const signedOfferSchema = z.object({ body: offerBodySchema, sig: signatureSchema }).strict()
export type SignedOffer = z.infer<typeof signedOfferSchema>

export const bidBodySchema = z.object({
  v: z.literal(1),
  offerId: objectCidSchema,
  worker: peerIdSchema,
  requester: peerIdSchema,
  /** Credits per gigafuel, at most the offer's `maxPrice`. */
  price: uint,
  /** Slots granted, at most the offer's. */
  slots: z.number().int().min(1).max(MAX_LEASE_SLOTS),
  /** Tasks the worker could start at once when it bid (a ranking hint). */
  freeSlots: uint.max(4096),
  expiresAt: uint
}).strict()
export type BidBody = z.infer<typeof bidBodySchema>
export const signedBidSchema = z.object({ body: bidBodySchema, sig: signatureSchema }).strict()
export type SignedBid = z.infer<typeof signedBidSchema>

export const declineBodySchema = z.object({
  v: z.literal(1),
  offerId: objectCidSchema,
  worker: peerIdSchema,
  reason: z.enum(DECLINE_REASONS),
  detail: z.string().max(200).optional()
}).strict()
export type DeclineBody = z.infer<typeof declineBodySchema>
export const signedDeclineSchema = z.object({ body: declineBodySchema, sig: signatureSchema }).strict()
export type SignedDecline = z.infer<typeof signedDeclineSchema>

/** The requester's half of a lease: the body and its signature. */
export const acceptSchema = z.object({ body: leaseBodySchema, requesterSig: signatureSchema }).strict()
export type Accept = z.infer<typeof acceptSchema>

export const errorFrameSchema = z.object({ t: z.literal('error'), code: z.string().max(64), message: z.string().max(500) }).strict()
export type ErrorFrame = z.infer<typeof errorFrameSchema>

/** First frame of a negotiation stream. */
export const negotiateRequestSchema = z.discriminatedUnion('t', [
  z.object({ t: z.literal('offer'), offer: signedOfferSchema }).strict(),
  z.object({ t: z.literal('bid'), bid: signedBidSchema }).strict(),
  z.object({ t: z.literal('decline'), decline: signedDeclineSchema }).strict(),
  z.object({ t: z.literal('accept'), accept: acceptSchema }).strict()
])
export type NegotiateRequest = z.infer<typeof negotiateRequestSchema>

/** The answer on a negotiation stream. */
export const negotiateResponseSchema = z.discriminatedUnion('t', [
  z.object({ t: z.literal('bid'), bid: signedBidSchema }).strict(),
  z.object({ t: z.literal('decline'), decline: signedDeclineSchema }).strict(),
  z.object({ t: z.literal('ack') }).strict(),
  z.object({ t: z.literal('lease'), lease: leaseSchema }).strict(),
  errorFrameSchema
])
export type NegotiateResponse = z.infer<typeof negotiateResponseSchema>

export function parseNegotiateRequest (value: unknown): NegotiateRequest {
  return parseWith(negotiateRequestSchema, value, 'negotiation request')
}
export function parseNegotiateResponse (value: unknown): NegotiateResponse {
  return parseWith(negotiateResponseSchema, value, 'negotiation response')
}

export function offerId (body: OfferBody): CID {
  return valueCid(body)
}
export function signOffer (signer: Signer, body: OfferBody): SignedOffer {
  return { body, sig: signBody(signer, OFFER_DOMAIN, body) }
}
/** Schema-checks an offer from outside and verifies the requester's signature. */
export function parseSignedOffer (value: unknown): SignedOffer {
  const offer = parseWith(signedOfferSchema, value, 'lease offer')
  assertSigned(offer.body.requester, OFFER_DOMAIN, offer.body, offer.sig)
  return offer
}

export function signBid (signer: Signer, body: BidBody): SignedBid {
  return { body, sig: signBody(signer, BID_DOMAIN, body) }
}
export function verifyBid (bid: SignedBid): void {
  assertSigned(bid.body.worker, BID_DOMAIN, bid.body, bid.sig)
}

export function signDecline (signer: Signer, body: DeclineBody): SignedDecline {
  return { body, sig: signBody(signer, DECLINE_DOMAIN, body) }
}
export function verifyDecline (decline: SignedDecline): void {
  assertSigned(decline.body.worker, DECLINE_DOMAIN, decline.body, decline.sig)
}

export { MAX_LEASE_DURATION_MS }
