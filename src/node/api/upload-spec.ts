/**
 * The JSON `spec` field of job and batch uploads: the placement and limits of the work, and the
 * sizes the client declares for its parts (the upload is refused when a part differs).
 */
import { z } from 'zod'
import { MAX_INPUT_BYTES, MAX_MODULE_BYTES } from '../../scheduler/constants.ts'
import { MAX_MANIFEST_ENTRIES } from '../../scheduler/files/constants.ts'
import { MAX_INPUT_FILES_BYTES, MAX_JOB_MEMORY_MIB, MAX_JOB_TIMEOUT_MS, MAX_REPLICAS } from '../../scheduler/task.ts'
import { peerIdSchema } from '../../proofs/schema.ts'
import { MAX_UINT64 } from '../../proofs/schema.ts'

/** Largest `spec` field. */
export const MAX_SPEC_FIELD_BYTES = 256 * 1024

/**
 * A fuel limit: an integer from 0 to 2^64-1, as a decimal string (any value) or a JSON number
 * (up to 2^53-1: a larger one has already lost its exact value in JSON). Becomes a bigint.
 */
export const fuelFieldSchema = z.union([
  z.string().regex(/^[0-9]{1,20}$/, 'must be an integer from 0 to 18446744073709551615 (a decimal string or a number)'),
  z.number().int('must be an integer').min(0, 'must not be negative').max(Number.MAX_SAFE_INTEGER, 'a fuel above 2^53-1 must be given as a decimal string')
]).transform((v) => BigInt(v)).refine((v) => v <= MAX_UINT64, 'must be at most 2^64-1 (18446744073709551615)')

const placement = {
  args: z.array(z.string().max(4096)).max(256).optional(),
  env: z.record(z.string().min(1).max(256), z.string().max(4096)).optional(),
  memoryMiB: z.number().int().min(1).max(MAX_JOB_MEMORY_MIB).optional(),
  timeoutMs: z.number().int().min(1).max(MAX_JOB_TIMEOUT_MS).optional(),
  replicas: z.number().int().min(1).max(MAX_REPLICAS).optional(),
  quorum: z.number().int().min(1).max(MAX_REPLICAS).optional(),
  maxPrice: z.number().int().min(0).optional(),
  /** Fuel limit of each run (see `fuelFieldSchema`). */
  fuel: fuelFieldSchema.optional(),
  deadline: z.number().int().positive().optional(),
  peers: z.array(peerIdSchema).max(32).optional(),
  /** Spot-check the work: run it on this node too (not part of the signed job). */
  spotCheck: z.boolean().optional(),
  /** Declared size of the module part. */
  moduleBytes: z.number().int().min(1).max(MAX_MODULE_BYTES).optional(),
  /** Declared number of `in` parts. */
  inFiles: z.number().int().min(0).max(MAX_MANIFEST_ENTRIES).optional(),
  /** Declared total bytes of the `in` parts. */
  inBytes: z.number().int().min(0).max(MAX_INPUT_FILES_BYTES).optional()
}

/** The `spec` field of a job upload (POST /v1/jobs). */
export const jobSpecFieldSchema = z.object({
  ...placement,
  /** Declared size of the input part. */
  inputBytes: z.number().int().min(0).max(MAX_INPUT_BYTES).optional()
}).strict()
export type JobSpecField = z.infer<typeof jobSpecFieldSchema>

/** The `spec` field of a batch upload (POST /v1/batches): args and env are every task's. */
export const batchSpecFieldSchema = z.object(placement).strict()
export type BatchSpecField = z.infer<typeof batchSpecFieldSchema>

/** The parts of a spec that are the work's (not the declared sizes, not spotCheck). */
export function placementOf (spec: JobSpecField | BatchSpecField): Omit<BatchSpecField, 'spotCheck' | 'moduleBytes' | 'inFiles' | 'inBytes'> {
  const { spotCheck: _s, moduleBytes: _m, inFiles: _f, inBytes: _b, ...rest } = spec as JobSpecField
  const { inputBytes: _i, ...work } = rest
  return work
}
