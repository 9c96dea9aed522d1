/**
 * Leases, checkpoints and acknowledgements: the signed objects a lease settle is made of.
 *
 * - A **lease** is a standing agreement between a requester and a worker for many tasks: price,
 *   slots, limits per task, a cap on the credits it may cost, an expiry. Both sign the same body
 *   under `lease/1`; its id is the CID of the body.
 * - A **checkpoint** is the worker's signed statement (`checkpoint/1`) of everything it returned
 *   on a lease so far: how many results, a hash-chain commitment over them (see
 *   `./commitment.ts`), and the cumulative credits due for them. A wrong output the worker
 *   returned is inside a commitment it signed.
 * - An **acknowledgement** is the requester's signed answer (`checkpoint-ack/1`) to a checkpoint:
 *   the same commitment, and the cumulative credits it pays through it (tasks that were not
 *   verified, or whose replicas lost the quorum, are not charged).
 *
 * A settle transaction carries the three; the ledger verifies four signatures per lease, however
 * many tasks the lease ran. Either party may submit it: it is exactly what both signed.
 */
import { z } from 'zod'
import type { CID } from 'multiformats/cid'
import { valueCid } from './encoding.ts'
import { bytes, objectCidSchema, parseWith, peerIdSchema, signatureSchema, uint, uint64 } from './schema.ts'
import { assertSigned, signBody, type Signer } from './signing.ts'
import { InvalidMessageError } from '../errors.ts'

export const LEASE_DOMAIN = 'lease/1'
export const CHECKPOINT_DOMAIN = 'checkpoint/1'
export const ACK_DOMAIN = 'checkpoint-ack/1'

/** Most tasks one lease runs at once. */
export const MAX_LEASE_SLOTS = 64

export const leaseBodySchema = z.object({
  v: z.literal(1),
  /** The lease offer this lease answers (CID of the offer body). */
  offerId: objectCidSchema,
  requester: peerIdSchema,
  worker: peerIdSchema,
  /** Credits per gigafuel (10^9 fuel). */
  price: uint,
  /** Tasks the worker runs at once under this lease. */
  slots: z.number().int().min(1).max(MAX_LEASE_SLOTS),
  /** The most the whole lease may cost, credits. */
  maxCredits: uint,
  /** Memory cap of each task, MiB. */
  memoryMiB: z.number().int().min(1).max(4096),
  /** Wall-time limit of each task, ms. */
  maxTaskMs: z.number().int().min(1).max(24 * 60 * 60 * 1000),
  /** Fuel limit of each task. */
  maxTaskFuel: uint64,
  acceptedAt: uint,
  /** No task starts after this (ms since the epoch). */
  expiresAt: uint
}).strict().refine((b) => b.requester !== b.worker, { message: 'requester and worker must differ', path: ['worker'] })
  .refine((b) => b.expiresAt > b.acceptedAt, { message: 'expiresAt must be after acceptedAt', path: ['expiresAt'] })
export type LeaseBody = z.infer<typeof leaseBodySchema>

export const leaseSchema = z.object({ body: leaseBodySchema, requesterSig: signatureSchema, workerSig: signatureSchema }).strict()
/** A lease signed by requester and worker. */
export type Lease = z.infer<typeof leaseSchema>

export const checkpointBodySchema = z.object({
  v: z.literal(1),
  lease: objectCidSchema,
  worker: peerIdSchema,
  /** 1 for the first checkpoint of a lease, then +1 each. */
  seq: uint.min(1),
  /** Results committed (the length of the hash chain). */
  count: uint,
  /** Head of the hash chain over those results. */
  root: bytes(32),
  /** Fuel of those results, cumulative. */
  fuel: uint64,
  /** Credits due for them, cumulative: `ceil(price × fuel / 10^9)`. */
  amount: uint,
  at: uint
}).strict()
export type CheckpointBody = z.infer<typeof checkpointBodySchema>
export const signedCheckpointSchema = z.object({ body: checkpointBodySchema, sig: signatureSchema }).strict()
export type SignedCheckpoint = z.infer<typeof signedCheckpointSchema>

export const ackBodySchema = z.object({
  v: z.literal(1),
  lease: objectCidSchema,
  requester: peerIdSchema,
  /** The checkpoint acknowledged: its seq, count and root. */
  seq: uint.min(1),
  count: uint,
  root: bytes(32),
  /** Credits the requester pays through this checkpoint, cumulative (≤ the checkpoint's amount). */
  paid: uint,
  /** Tasks among the committed ones that are not charged (unverified, outvoted), cumulative. */
  refused: uint
}).strict()
export type AckBody = z.infer<typeof ackBodySchema>
export const signedAckSchema = z.object({ body: ackBodySchema, sig: signatureSchema }).strict()
export type SignedAck = z.infer<typeof signedAckSchema>

/** Fuel a lease's price is quoted per: credits per 10^9 fuel (a gigafuel). */
export const FUEL_PER_PRICE_UNIT = 1_000_000_000n

/**
 * Credits for `fuel` at `price` credits per gigafuel, rounded up: `ceil(price × fuel / 10^9)`,
 * exact (bigint arithmetic), at most `Number.MAX_SAFE_INTEGER`. A checkpoint's `amount` is this
 * of its `fuel` at the lease's price.
 */
export function creditsFor (price: number, fuel: bigint): number {
  const credits = (BigInt(price) * fuel + FUEL_PER_PRICE_UNIT - 1n) / FUEL_PER_PRICE_UNIT
  return credits > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(credits)
}

/** The id of a lease: CID of its body. */
export function leaseId (body: LeaseBody): CID {
  return valueCid(body)
}

/** Requester side: signs a lease body (the accept). */
export function signLeaseAsRequester (signer: Signer, body: LeaseBody): Uint8Array {
  if (signer.peerId !== body.requester) throw new InvalidMessageError('only the requester may sign the accept')
  return signBody(signer, LEASE_DOMAIN, body)
}

/** Worker side: countersigns an accepted lease body. */
export function signLeaseAsWorker (signer: Signer, body: LeaseBody): Uint8Array {
  if (signer.peerId !== body.worker) throw new InvalidMessageError('only the worker may countersign')
  return signBody(signer, LEASE_DOMAIN, body)
}

/** Throws unless both parties signed the lease. */
export function verifyLease (lease: Lease): void {
  assertSigned(lease.body.requester, LEASE_DOMAIN, lease.body, lease.requesterSig)
  assertSigned(lease.body.worker, LEASE_DOMAIN, lease.body, lease.workerSig)
}

export function signCheckpoint (signer: Signer, body: CheckpointBody): SignedCheckpoint {
  if (signer.peerId !== body.worker) throw new InvalidMessageError('a checkpoint is signed by its worker')
  return { body, sig: signBody(signer, CHECKPOINT_DOMAIN, body) }
}

export function verifyCheckpoint (checkpoint: SignedCheckpoint): void {
  assertSigned(checkpoint.body.worker, CHECKPOINT_DOMAIN, checkpoint.body, checkpoint.sig)
}

export function signAck (signer: Signer, body: AckBody): SignedAck {
  if (signer.peerId !== body.requester) throw new InvalidMessageError('an acknowledgement is signed by its requester')
  return { body, sig: signBody(signer, ACK_DOMAIN, body) }
}

export function verifyAck (ack: SignedAck): void {
  assertSigned(ack.body.requester, ACK_DOMAIN, ack.body, ack.sig)
}

export function parseLease (value: unknown): Lease {
  return parseWith(leaseSchema, value, 'lease')
}
