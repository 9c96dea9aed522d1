/**
 * Tasks: the unit of work that travels on a lease. A task names its module and stdin by CID, its
 * args, env and limits, and a `key` that makes it distinct (the job id, or the batch id and the
 * task's index). Its id is the CID of its spec, so the replicas of one task on different workers
 * share it, and its executor seed derives from it (the same random bytes everywhere).
 *
 * Jobs and batches are what users submit; both become tasks. Money: a lease's price is credits
 * per CPU-second; what a lease costs is `ceil(price × (CPU ms of its charged tasks) / 1000)`,
 * rounded up once per lease, at most its cap.
 */
import { z } from 'zod'
import type { CID } from 'multiformats/cid'
import { sha256, valueCid } from '../proofs/encoding.ts'
import { bytes, cidSchema, parseWith, uint } from '../proofs/schema.ts'
import { MAX_INPUT_BYTES, MAX_MODULE_BYTES } from './constants.ts'
import { InvalidJobError } from './errors.ts'

/** Limits a task may ask for. */
export const MAX_JOB_MEMORY_MIB = 4096
export const MAX_JOB_TIMEOUT_MS = 24 * 60 * 60 * 1000
export const MAX_REPLICAS = 16
export const MAX_ARGS = 256
export const MAX_ARG_CHARS = 4096
export const MAX_ENV = 128

export const argsSchema = z.array(z.string().max(MAX_ARG_CHARS).refine((a) => !a.includes('\0'), 'no NUL in args')).max(MAX_ARGS)
export const envSchema = z.record(z.string().min(1).max(256).regex(/^[^=\0]+$/), z.string().max(MAX_ARG_CHARS).refine((v) => !v.includes('\0'), 'no NUL in env values'))
  .refine((e) => Object.keys(e).length <= MAX_ENV, `at most ${MAX_ENV} env entries`)

export const taskSpecSchema = z.object({
  v: z.literal(1),
  /** Makes the task distinct: a job id, or a batch id followed by the task's index. */
  key: bytes(undefined, 64),
  runtime: z.literal('wasi-p1'),
  module: cidSchema,
  moduleBytes: uint.min(1).max(MAX_MODULE_BYTES),
  input: cidSchema,
  inputBytes: uint.max(MAX_INPUT_BYTES),
  args: argsSchema,
  env: envSchema,
  memoryMiB: z.number().int().min(1).max(MAX_JOB_MEMORY_MIB),
  timeoutMs: z.number().int().min(1).max(MAX_JOB_TIMEOUT_MS)
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

/** The most one run of a task can cost at a price (credits per CPU-second). */
export function maxTaskCost (timeoutMs: number, price: number): number {
  return Math.ceil(price * timeoutMs / 1000)
}

/** Credits for `cpuMs` of CPU time at `price` credits per CPU-second, rounded up (once per lease). */
export function creditsFor (price: number, cpuMs: number): number {
  return Math.ceil(price * cpuMs / 1000)
}

/** What placing a task needs from a lease: the terms a lease offer asks for. */
export interface Requirements {
  memoryMiB: number
  timeoutMs: number
  /** Highest price, credits per CPU-second. */
  maxPrice: number
  /** When set, only these peers may run it. */
  peers?: string[]
}

/** A key grouping tasks that can share the same leases. */
export function requirementsKey (r: Requirements): string {
  return `${r.memoryMiB}/${r.timeoutMs}/${r.maxPrice}/${r.peers?.slice().sort().join(',') ?? '*'}`
}

/** Throws `InvalidJobError` unless a number is an integer within bounds. */
export function checkInt (value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidJobError(`${name} must be an integer in ${min}..${max}, got ${String(value)}`)
  }
  return value
}
