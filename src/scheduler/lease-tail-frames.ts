/**
 * The frames of a lease-tail stream (`/depin/lease-tail/1.0.0`): a worker whose lease stream died
 * with results after its last acknowledged checkpoint names the lease; the requester answers
 * what it received (`seq` the checkpoint must carry, `count`, `root` of its chain); the worker
 * signs a checkpoint at exactly that count; the requester answers the signed acknowledgement.
 * Either side may answer with an error frame instead. See docs/protocol.md, "Lease tails".
 */
import { z } from 'zod'
import { signedAckSchema, signedCheckpointSchema } from '../proofs/lease.ts'
import { bytes, objectCidSchema, parseWith, uint } from '../proofs/schema.ts'
import { errorFrameSchema } from './messages.ts'

/** Worker → requester, first frame: the lease whose tail it claims. */
export const tailRequestSchema = z.object({ t: z.literal('tail'), lease: objectCidSchema }).strict()
export type TailRequest = z.infer<typeof tailRequestSchema>

/** Requester → worker: what it received on the lease (the checkpoint to sign), or an error. */
export const tailReceivedSchema = z.discriminatedUnion('t', [
  z.object({ t: z.literal('received'), seq: uint.min(1), count: uint.min(1), root: bytes(32) }).strict(),
  errorFrameSchema
])
export type TailReceived = z.infer<typeof tailReceivedSchema>

/** Worker → requester, second frame: the checkpoint at that count, or an error (its chain differs). */
export const tailCheckpointSchema = z.discriminatedUnion('t', [
  z.object({ t: z.literal('checkpoint'), checkpoint: signedCheckpointSchema }).strict(),
  errorFrameSchema
])
export type TailCheckpoint = z.infer<typeof tailCheckpointSchema>

/** Requester → worker, last frame: the acknowledgement of that checkpoint, or an error. */
export const tailAckSchema = z.discriminatedUnion('t', [
  z.object({ t: z.literal('ack'), ack: signedAckSchema }).strict(),
  errorFrameSchema
])
export type TailAck = z.infer<typeof tailAckSchema>

export const parseTailRequest = (value: unknown): TailRequest => parseWith(tailRequestSchema, value, 'lease-tail frame')
export const parseTailReceived = (value: unknown): TailReceived => parseWith(tailReceivedSchema, value, 'lease-tail frame')
export const parseTailCheckpoint = (value: unknown): TailCheckpoint => parseWith(tailCheckpointSchema, value, 'lease-tail frame')
export const parseTailAck = (value: unknown): TailAck => parseWith(tailAckSchema, value, 'lease-tail frame')
