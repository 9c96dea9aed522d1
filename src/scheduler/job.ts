/**
 * The job model. A job is a WASI preview1 module and stdin input (both addressed by CID), args,
 * env, resource limits, replica count and quorum, a price cap and a deadline, signed by the
 * requester over its DAG-CBOR body. The job id is the CID of that body.
 *
 * Money: `maxPrice` caps the price per CPU-second a worker may charge. The most one replica can
 * cost is `ceil(maxPrice × timeoutMs / 1000)`; a worker is paid `ceil(price × cpuMs / 1000)`, at
 * most the agreement's `maxCost`.
 */
import { randomBytes } from 'node:crypto'
import { z } from 'zod'
import type { CID } from 'multiformats/cid'
import { rawCid, sha256, valueCid } from '../proofs/encoding.ts'
import { bytes, cidSchema, parseWith, peerIdSchema, signatureSchema, uint } from '../proofs/schema.ts'
import { assertSigned, signBody, type Signer } from '../proofs/signing.ts'
import {
  DEFAULT_DEADLINE_SLACK_MS, DEFAULT_MEMORY_MIB, DEFAULT_TIMEOUT_MS, JOB_DOMAIN, MAX_INPUT_BYTES, MAX_MODULE_BYTES
} from './constants.ts'
import { InvalidJobError } from './errors.ts'

/** Limits a job may ask for. */
export const MAX_JOB_MEMORY_MIB = 4096
export const MAX_JOB_TIMEOUT_MS = 24 * 60 * 60 * 1000
export const MAX_REPLICAS = 16
const MAX_ARGS = 256
const MAX_ARG_CHARS = 4096
const MAX_ENV = 128

export const jobBodySchema = z.object({
  v: z.literal(1),
  requester: peerIdSchema,
  /** 16 random bytes: two identical submissions are two jobs. */
  nonce: bytes(16),
  runtime: z.literal('wasi-p1'),
  module: cidSchema,
  moduleBytes: uint.max(MAX_MODULE_BYTES),
  input: cidSchema,
  inputBytes: uint.max(MAX_INPUT_BYTES),
  args: z.array(z.string().max(MAX_ARG_CHARS)).max(MAX_ARGS),
  env: z.record(z.string().min(1).max(256).regex(/^[^=\0]+$/), z.string().max(MAX_ARG_CHARS)).refine((e) => Object.keys(e).length <= MAX_ENV, `at most ${MAX_ENV} env entries`),
  memoryMiB: z.number().int().min(1).max(MAX_JOB_MEMORY_MIB),
  timeoutMs: z.number().int().min(1).max(MAX_JOB_TIMEOUT_MS),
  replicas: z.number().int().min(1).max(MAX_REPLICAS),
  quorum: z.number().int().min(1).max(MAX_REPLICAS),
  /** Highest price per CPU-second the requester pays. */
  maxPrice: uint,
  createdAt: uint,
  deadline: uint,
  /** When set, only these peers may run the job. */
  peers: z.array(peerIdSchema).max(32).optional()
}).strict().refine((b) => b.quorum <= b.replicas, { message: 'quorum must not exceed replicas', path: ['quorum'] })
  .refine((b) => b.deadline > b.createdAt, { message: 'deadline must be after createdAt', path: ['deadline'] })
export type JobBody = z.infer<typeof jobBodySchema>

export const signedJobSchema = z.object({ body: jobBodySchema, sig: signatureSchema }).strict()
/** A job spec signed by its requester: the unit that travels in offers and tasks. */
export type SignedJob = z.infer<typeof signedJobSchema>

/** What a caller provides to submit a job. */
export interface JobInit {
  /** The WebAssembly (WASI preview1) module. */
  module: Uint8Array
  /** Bytes given to the program on stdin. @default empty */
  input?: Uint8Array
  /** argv[1..] of the program (argv[0] is the module CID). */
  args?: string[]
  env?: Record<string, string>
  /** Memory cap. @default 256 MiB */
  memoryMiB?: number
  /** Wall-time limit of one run. @default 30 s */
  timeoutMs?: number
  /** How many distinct workers run it. @default 1 */
  replicas?: number
  /** How many matching outputs make a result verified. @default majority of replicas */
  quorum?: number
  /** Highest price per CPU-second. @default 10 */
  maxPrice?: number
  /** Absolute deadline (ms since the epoch). @default now + timeout + 60 s */
  deadline?: number
  /** Only these peers may run it. */
  peers?: string[]
}

export const DEFAULT_MAX_PRICE = 10

/** Builds and signs a job. */
export function createJob (signer: Signer, init: JobInit, now = Date.now()): { job: SignedJob, id: CID } {
  const input = init.input ?? new Uint8Array(0)
  const timeoutMs = init.timeoutMs ?? DEFAULT_TIMEOUT_MS
  const replicas = init.replicas ?? 1
  const body: JobBody = {
    v: 1,
    requester: signer.peerId,
    nonce: randomBytes(16),
    runtime: 'wasi-p1',
    module: rawCid(init.module),
    moduleBytes: init.module.byteLength,
    input: rawCid(input),
    inputBytes: input.byteLength,
    args: init.args ?? [],
    env: init.env ?? {},
    memoryMiB: init.memoryMiB ?? DEFAULT_MEMORY_MIB,
    timeoutMs,
    replicas,
    quorum: init.quorum ?? Math.floor(replicas / 2) + 1,
    maxPrice: init.maxPrice ?? DEFAULT_MAX_PRICE,
    createdAt: now,
    deadline: init.deadline ?? now + timeoutMs + DEFAULT_DEADLINE_SLACK_MS,
    ...(init.peers != null && init.peers.length > 0 ? { peers: init.peers } : {})
  }
  const checked = parseJobBody(body)
  return { job: { body: checked, sig: signBody(signer, JOB_DOMAIN, checked) }, id: jobId(checked) }
}

export function parseJobBody (value: unknown): JobBody {
  try {
    return parseWith(jobBodySchema, value, 'job')
  } catch (err) {
    throw new InvalidJobError((err as Error).message, { cause: err })
  }
}

/** Schema-checks a signed job from outside and verifies the requester's signature. */
export function parseSignedJob (value: unknown): SignedJob {
  const job = parseWith(signedJobSchema, value, 'signed job')
  assertSigned(job.body.requester, JOB_DOMAIN, job.body, job.sig)
  return job
}

export function jobId (body: JobBody): CID {
  return valueCid(body)
}

/** The most one replica of this job can cost at a given price (credits). */
export function maxCostAt (body: JobBody, price: number): number {
  return Math.ceil(price * body.timeoutMs / 1000)
}

/** What a worker charges for a run: CPU-seconds at the agreed price, rounded up, capped. */
export function chargeFor (price: number, cpuMs: number, maxCost: number): number {
  return Math.min(maxCost, Math.ceil(price * cpuMs / 1000))
}

/** The executor seed of a job: its runs see the same random bytes everywhere. */
export function jobSeed (id: CID): Uint8Array {
  return sha256(id.bytes)
}
