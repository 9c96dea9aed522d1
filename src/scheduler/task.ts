/**
 * Tasks: the unit of work that travels on a lease. A task names its module and stdin by CID, its
 * args, env and limits, and a `key` that makes it distinct (the job id, or the batch id and the
 * task's index). Its id is the CID of its spec, so the replicas of one task on different workers
 * share it, and its executor seed derives from it (the same random bytes everywhere).
 *
 * Jobs and batches are what users submit; both become tasks. Money: a lease's price is credits
 * per gigafuel (10^9 units of fuel, the deterministic count of work the metering executor makes:
 * docs/protocol.md, "Fuel"); what a lease costs is `ceil(price × (fuel of its charged tasks) /
 * 10^9)`, rounded up once per lease, at most its cap. CPU time is reported, never billed.
 */
import { z } from 'zod'
import type { CID } from 'multiformats/cid'
import { sha256, valueCid } from '../proofs/encoding.ts'
import { creditsFor, FUEL_PER_PRICE_UNIT } from '../proofs/lease.ts'
import { blobCidSchema, bytes, MAX_UINT64, objectCidSchema, parseWith, uint, uint64 } from '../proofs/schema.ts'
import { LEASE_BUDGET_TASKS_PER_SLOT, MAX_INPUT_BYTES, MAX_MODULE_BYTES } from './constants.ts'
import { MAX_MANIFEST_BYTES } from './files/constants.ts'
import { InvalidJobError } from './errors.ts'

/** Limits a task may ask for. */
export const MAX_JOB_MEMORY_MIB = 4096
export const MAX_JOB_TIMEOUT_MS = 24 * 60 * 60 * 1000
export const MAX_REPLICAS = 16
export const MAX_ARGS = 256
export const MAX_ARG_CHARS = 4096
export const MAX_ENV = 128
/** Most bytes of input files one task may carry (they are held in the worker's memory while it runs). */
export const MAX_INPUT_FILES_BYTES = 1024 * 1024 * 1024
/**
 * Fuel limit of a task that does not set one: this much per ms of its timeout (100 gigafuel per
 * second; this machine runs 14–30 gigafuel per second), so the clock stops a runaway program
 * first, as before fuel existed, and the limit only bounds what one task can cost. See
 * `defaultFuel`; a job that sets `fuel` stops by fuel instead, reproducibly.
 */
export const DEFAULT_FUEL_PER_MS = 100_000_000n

/** The input files of a task: their manifest by CID, its encoded length and the files' total size. */
export const taskFilesSchema = z.object({
  /** CID (dag-cbor) of the manifest of the tree under /in (src/scheduler/files/manifest.ts). */
  cid: objectCidSchema,
  /** Length of the manifest's encoding, bytes. */
  manifestBytes: uint.min(1).max(MAX_MANIFEST_BYTES),
  /** Sum of the files' sizes, bytes. */
  size: uint.max(MAX_INPUT_FILES_BYTES)
}).strict()
export type TaskFiles = z.infer<typeof taskFilesSchema>

export const argsSchema = z.array(z.string().max(MAX_ARG_CHARS).refine((a) => !a.includes('\0'), 'no NUL in args')).max(MAX_ARGS)
export const envSchema = z.record(z.string().min(1).max(256).regex(/^[^=\0]+$/), z.string().max(MAX_ARG_CHARS).refine((v) => !v.includes('\0'), 'no NUL in env values'))
  .refine((e) => Object.keys(e).length <= MAX_ENV, `at most ${MAX_ENV} env entries`)

export const taskSpecSchema = z.object({
  v: z.literal(1),
  /** Makes the task distinct: a job id, or a batch id followed by the task's index. */
  key: bytes(undefined, 64),
  runtime: z.literal('wasi-p1'),
  module: blobCidSchema,
  moduleBytes: uint.min(1).max(MAX_MODULE_BYTES),
  input: blobCidSchema,
  inputBytes: uint.max(MAX_INPUT_BYTES),
  args: argsSchema,
  env: envSchema,
  memoryMiB: z.number().int().min(1).max(MAX_JOB_MEMORY_MIB),
  timeoutMs: z.number().int().min(1).max(MAX_JOB_TIMEOUT_MS),
  /** Fuel limit: the run stops with trap `out of fuel` at exactly this count on every worker. */
  fuel: uint64,
  /** Files under /in (absent: /in is empty). */
  files: taskFilesSchema.optional()
}).strict()
/** What to run: the identity of a task. */
export type TaskSpec = z.infer<typeof taskSpecSchema>

export function parseTaskSpec (value: unknown): TaskSpec {
  return parseWith(taskSpecSchema, value, 'task spec')
}

/** The id of a task: CID of its spec. */
export function taskId (spec: TaskSpec): CID {
  return valueCid(spec)
}

/** The executor seed of a task: its runs see the same random bytes on every worker. */
export function taskSeed (id: CID): Uint8Array {
  return sha256(id.bytes)
}

/** The fuel limit of a task that sets none: `DEFAULT_FUEL_PER_MS` (10^8) per ms of its timeout. */
export function defaultFuel (timeoutMs: number): bigint {
  return BigInt(timeoutMs) * DEFAULT_FUEL_PER_MS
}

export { creditsFor, FUEL_PER_PRICE_UNIT }

/** The most one run of a task can cost at a price: its whole fuel limit. */
export function maxTaskCost (fuel: bigint, price: number): number {
  return creditsFor(price, fuel)
}

/**
 * The cap of a lease (docs/protocol.md, "Lease"): `LEASE_BUDGET_TASKS_PER_SLOT` full-length tasks
 * per slot at the lease's price, at most `ceiling` (the requester's budget for the lease, or the
 * offer's maxCredits as a worker sees it), and at least one task's cost. The requester accepts a
 * bid with this cap; the worker checks the requester's funds against it when it bids.
 */
export function leaseCap (ceiling: number, oneTaskCost: number, slots: number): number {
  return Math.max(oneTaskCost, Math.min(ceiling, oneTaskCost * slots * LEASE_BUDGET_TASKS_PER_SLOT))
}

/**
 * The most fuel a lease's credit cap pays for: `ceil(price × fuel / 10^9) ≤ maxCredits` exactly
 * when `fuel ≤ floor(maxCredits × 10^9 / price)`. At price 0 the credits never bind, and the
 * bound is what a checkpoint's `fuel` (a uint64 sum over the lease's results) can hold. Both
 * sides check every task against the cap, so they compute this once per lease instead of
 * dividing per task.
 */
export function leaseFuelCap (terms: { price: number, maxCredits: number }): bigint {
  if (terms.price <= 0) return MAX_UINT64
  return BigInt(terms.maxCredits) * FUEL_PER_PRICE_UNIT / BigInt(terms.price)
}

/** What placing a task needs from a lease: the terms a lease offer asks for. */
export interface Requirements {
  memoryMiB: number
  timeoutMs: number
  /** Fuel limit of each task. */
  fuel: bigint
  /** Highest price, credits per gigafuel. */
  maxPrice: number
  /** When set, only these peers may run it. */
  peers?: string[]
}

/** A key grouping tasks that can share the same leases. */
export function requirementsKey (r: Requirements): string {
  return `${r.memoryMiB}/${r.timeoutMs}/${r.fuel}/${r.maxPrice}/${r.peers?.slice().sort().join(',') ?? '*'}`
}

/** Throws `InvalidJobError` unless `value` is a fuel limit (an integer in 0..2^64-1, as a bigint or a safe number). */
export function checkFuel (value: unknown, name = 'fuel'): bigint {
  const fuel = typeof value === 'number' && Number.isSafeInteger(value) ? BigInt(value) : value
  if (typeof fuel !== 'bigint' || fuel < 0n || fuel > MAX_UINT64) {
    throw new InvalidJobError(`${name} must be an integer in 0..2^64-1, got ${String(value)}`)
  }
  return fuel
}

/** Throws `InvalidJobError` unless a number is an integer within bounds. */
export function checkInt (value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidJobError(`${name} must be an integer in ${min}..${max}, got ${String(value)}`)
  }
  return value
}
