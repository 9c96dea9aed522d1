/**
 * Agreements and results: the two signed objects a work receipt is made of.
 *
 * - An **agreement** is one body signed by both parties under the domain `agreement/1`: the
 *   requester signs it when it accepts a bid, the worker countersigns it to confirm.
 *   Its id is the CID of the body's DAG-CBOR encoding.
 * - A **result** is the worker's commitment to what it computed for an agreement (the output CID,
 *   exit code and resource use), signed by the worker under the domain `result/1`.
 *
 * The ledger verifies both inside a `settle` transaction, so neither needs the network to check.
 */
import { z } from 'zod'
import type { CID } from 'multiformats/cid'
import { valueCid } from './encoding.ts'
import { cidSchema, parseWith, peerIdSchema, signatureSchema, uint } from './schema.ts'
import { assertSigned, signBody, type Signer } from './signing.ts'
import { InvalidMessageError } from '../errors.ts'

export const AGREEMENT_DOMAIN = 'agreement/1'
export const RESULT_DOMAIN = 'result/1'

export const agreementBodySchema = z.object({
  v: z.literal(1),
  jobId: cidSchema,
  requester: peerIdSchema,
  worker: peerIdSchema,
  /** Index of this replica among the job's placements (0-based); distinct per agreement of a job. */
  replica: uint.max(64),
  /** Agreed price in credits per CPU-second. */
  price: uint,
  /** The most the requester will pay under this agreement, in credits. */
  maxCost: uint,
  /** When the requester accepted (ms since the epoch). */
  acceptedAt: uint,
  /** The job's deadline (ms since the epoch); a result after it is not owed payment. */
  deadline: uint
}).strict()
export type AgreementBody = z.infer<typeof agreementBodySchema>

export const agreementSchema = z.object({
  body: agreementBodySchema,
  requesterSig: signatureSchema,
  workerSig: signatureSchema
}).strict()
/** An agreement signed by both requester and worker. */
export type Agreement = z.infer<typeof agreementSchema>

export const resultBodySchema = z.object({
  v: z.literal(1),
  agreementId: cidSchema,
  jobId: cidSchema,
  worker: peerIdSchema,
  /** CID (raw, sha2-256) of the program's stdout. */
  outputCid: cidSchema,
  outputBytes: uint,
  /** Process exit code; a trap or a kill reports a non-zero code and a `trap` text. */
  exitCode: z.number().int().min(-1).max(255),
  trap: z.string().max(512).optional(),
  cpuMs: uint,
  wallMs: uint
}).strict()
export type ResultBody = z.infer<typeof resultBodySchema>

export const resultSchema = z.object({
  body: resultBodySchema,
  sig: signatureSchema
}).strict()
/** A worker's signed commitment to the outcome of one agreement. */
export type SignedResult = z.infer<typeof resultSchema>

/** The id of an agreement: CID of its body. */
export function agreementId (body: AgreementBody): CID {
  return valueCid(body)
}

/** Requester side: signs an agreement body (the accept). */
export function signAgreementAsRequester (signer: Signer, body: AgreementBody): Uint8Array {
  if (signer.peerId !== body.requester) throw new InvalidMessageError('only the requester may sign the accept')
  return signBody(signer, AGREEMENT_DOMAIN, body)
}

/** Worker side: countersigns an accepted agreement body. */
export function signAgreementAsWorker (signer: Signer, body: AgreementBody): Uint8Array {
  if (signer.peerId !== body.worker) throw new InvalidMessageError('only the worker may countersign')
  return signBody(signer, AGREEMENT_DOMAIN, body)
}

/** Throws unless both parties signed the agreement. */
export function verifyAgreement (agreement: Agreement): void {
  assertSigned(agreement.body.requester, AGREEMENT_DOMAIN, agreement.body, agreement.requesterSig)
  verifyWorkerSignature(agreement)
}

/**
 * Throws unless the worker countersigned. Enough for a requester checking the agreement it just
 * made: the body is its own and so is the requester's signature.
 */
export function verifyWorkerSignature (agreement: Agreement): void {
  assertSigned(agreement.body.worker, AGREEMENT_DOMAIN, agreement.body, agreement.workerSig)
}

export function signResult (signer: Signer, body: ResultBody): SignedResult {
  if (signer.peerId !== body.worker) throw new InvalidMessageError('a result must be signed by its worker')
  return { body, sig: signBody(signer, RESULT_DOMAIN, body) }
}

/** Throws unless the result is signed by the worker it names. */
export function verifyResult (result: SignedResult): void {
  assertSigned(result.body.worker, RESULT_DOMAIN, result.body, result.sig)
}

export function parseAgreement (value: unknown): Agreement {
  return parseWith(agreementSchema, value, 'agreement')
}

export function parseResult (value: unknown): SignedResult {
  return parseWith(resultSchema, value, 'result')
}
