/**
 * Wire messages of the negotiation and task protocols. Every frame is one DAG-CBOR map with a
 * `t` (type) field; see docs/protocol.md for the byte-level description.
 */
import { z } from 'zod'
import type { CID } from 'multiformats/cid'
import { valueCid } from '../proofs/encoding.ts'
import { agreementBodySchema, agreementSchema, resultSchema } from '../proofs/agreement.ts'
import { bytes, cidSchema, parseWith, peerIdSchema, signatureSchema, uint } from '../proofs/schema.ts'
import { assertSigned, signBody, type Signer } from '../proofs/signing.ts'
import { BID_DOMAIN, CHUNK_BYTES, DECLINE_DOMAIN, MAX_STDERR_BYTES } from './constants.ts'
import { DECLINE_REASONS } from './errors.ts'
import { signedJobSchema } from './job.ts'

export const bidBodySchema = z.object({
  v: z.literal(1),
  jobId: cidSchema,
  worker: peerIdSchema,
  requester: peerIdSchema,
  /** Credits per CPU-second. */
  price: uint,
  expiresAt: uint,
  /** Tasks the worker could start at once when it bid (a hint for ranking). */
  freeSlots: uint.max(4096)
}).strict()
export type BidBody = z.infer<typeof bidBodySchema>
export const signedBidSchema = z.object({ body: bidBodySchema, sig: signatureSchema }).strict()
export type SignedBid = z.infer<typeof signedBidSchema>

export const declineBodySchema = z.object({
  v: z.literal(1),
  jobId: cidSchema,
  worker: peerIdSchema,
  reason: z.enum(DECLINE_REASONS),
  detail: z.string().max(200).optional()
}).strict()
export type DeclineBody = z.infer<typeof declineBodySchema>
export const signedDeclineSchema = z.object({ body: declineBodySchema, sig: signatureSchema }).strict()
export type SignedDecline = z.infer<typeof signedDeclineSchema>

/** The requester's half of an agreement: the body and its signature. */
export const acceptSchema = z.object({ body: agreementBodySchema, requesterSig: signatureSchema }).strict()
export type Accept = z.infer<typeof acceptSchema>

const errorFrame = z.object({ t: z.literal('error'), code: z.string().max(64), message: z.string().max(500) }).strict()

/** First frame of a negotiation stream. */
export const negotiateRequestSchema = z.discriminatedUnion('t', [
  z.object({ t: z.literal('offer'), job: signedJobSchema }).strict(),
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
  z.object({ t: z.literal('agreement'), agreement: agreementSchema }).strict(),
  errorFrame
])
export type NegotiateResponse = z.infer<typeof negotiateResponseSchema>

const which = z.enum(['module', 'input'])
const chunk = bytes(undefined, CHUNK_BYTES)

/** Frames the requester sends on a task stream. */
export const taskRequestSchema = z.discriminatedUnion('t', [
  z.object({ t: z.literal('task'), agreement: agreementSchema, job: signedJobSchema }).strict(),
  z.object({ t: z.literal('chunk'), which, data: chunk }).strict(),
  z.object({ t: z.literal('end'), which }).strict()
])
export type TaskRequest = z.infer<typeof taskRequestSchema>

/** Frames the worker sends on a task stream. */
export const taskResponseSchema = z.discriminatedUnion('t', [
  z.object({ t: z.literal('need'), module: z.boolean(), input: z.boolean() }).strict(),
  z.object({ t: z.literal('running') }).strict(),
  z.object({ t: z.literal('heartbeat') }).strict(),
  z.object({ t: z.literal('stdout'), data: chunk }).strict(),
  z.object({ t: z.literal('stderr'), data: chunk }).strict(),
  // Sent before the output chunks, so the requester checks the signature first and receives
  // exactly result.outputBytes of stdout and then `stderrBytes` of stderr into preallocated buffers.
  z.object({ t: z.literal('result'), result: resultSchema, stderrBytes: uint.max(MAX_STDERR_BYTES), stdoutTruncated: z.boolean(), stderrTruncated: z.boolean() }).strict(),
  errorFrame
])
export type TaskResponse = z.infer<typeof taskResponseSchema>

export function parseNegotiateRequest (value: unknown): NegotiateRequest {
  return parseWith(negotiateRequestSchema, value, 'negotiation request')
}
export function parseNegotiateResponse (value: unknown): NegotiateResponse {
  return parseWith(negotiateResponseSchema, value, 'negotiation response')
}
export function parseTaskRequest (value: unknown): TaskRequest {
  return parseWith(taskRequestSchema, value, 'task frame')
}
export function parseTaskResponse (value: unknown): TaskResponse {
  return parseWith(taskResponseSchema, value, 'task frame')
}

export function signBid (signer: Signer, body: BidBody): SignedBid {
  return { body, sig: signBody(signer, BID_DOMAIN, body) }
}
export function verifyBid (bid: SignedBid): void {
  assertSigned(bid.body.worker, BID_DOMAIN, bid.body, bid.sig)
}
export function bidId (body: BidBody): CID {
  return valueCid(body)
}

export function signDecline (signer: Signer, body: DeclineBody): SignedDecline {
  return { body, sig: signBody(signer, DECLINE_DOMAIN, body) }
}
export function verifyDecline (decline: SignedDecline): void {
  assertSigned(decline.body.worker, DECLINE_DOMAIN, decline.body, decline.sig)
}
