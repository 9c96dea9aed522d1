/**
 * Jobs and batches: what a requester submits. A job is one task run on `replicas` distinct
 * workers; a batch is one module run over many inputs, each input one task with the same
 * replicas, limits and price cap. Both are recorded by the requester under an id (the CID of the
 * body, whose random nonce makes two identical submissions two jobs) and placed on leases.
 */
import { randomBytes } from 'node:crypto'
import { z } from 'zod'
import type { CID } from 'multiformats/cid'
import { rawCid, valueCid } from '../proofs/encoding.ts'
import { bytes, cidSchema, parseWith, peerIdSchema, uint, uint64 } from '../proofs/schema.ts'
import {
  DEFAULT_DEADLINE_SLACK_MS, DEFAULT_MEMORY_MIB, DEFAULT_TIMEOUT_MS, MAX_BATCH_TASKS, MAX_INPUT_BYTES, MAX_MODULE_BYTES
} from './constants.ts'
import { InvalidJobError } from './errors.ts'
import { encodeManifest, manifestCid, manifestOf, type FileManifest, type TreeFile } from './files/index.ts'
import {
  MAX_INPUT_FILES_BYTES, MAX_JOB_MEMORY_MIB, MAX_JOB_TIMEOUT_MS, MAX_REPLICAS, argsSchema, checkFuel, defaultFuel, envSchema,
  taskFilesSchema, type Requirements, type TaskFiles, type TaskSpec
} from './task.ts'

export { MAX_JOB_MEMORY_MIB, MAX_JOB_TIMEOUT_MS, MAX_REPLICAS }

/** Highest price a requester pays when it does not say, credits per gigafuel. */
export const DEFAULT_MAX_PRICE = 10

const common = {
  v: z.literal(1),
  requester: peerIdSchema,
  /** 16 random bytes: two identical submissions are two jobs. */
  nonce: bytes(16),
  runtime: z.literal('wasi-p1'),
  module: cidSchema,
  moduleBytes: uint.min(1).max(MAX_MODULE_BYTES),
  memoryMiB: z.number().int().min(1).max(MAX_JOB_MEMORY_MIB),
  timeoutMs: z.number().int().min(1).max(MAX_JOB_TIMEOUT_MS),
  replicas: z.number().int().min(1).max(MAX_REPLICAS),
  quorum: z.number().int().min(1).max(MAX_REPLICAS),
  /** Highest price the requester pays, credits per gigafuel. */
  maxPrice: uint,
  /** Fuel limit of each run. */
  fuel: uint64,
  /** Files under /in of every run (absent: /in is empty). */
  files: taskFilesSchema.optional(),
  createdAt: uint,
  deadline: uint,
  /** When set, only these peers may run it. */
  peers: z.array(peerIdSchema).max(32).optional()
}

export const jobBodySchema = z.object({
  ...common,
  input: cidSchema,
  inputBytes: uint.max(MAX_INPUT_BYTES),
  args: argsSchema,
  env: envSchema
}).strict().refine((b) => b.quorum <= b.replicas, { message: 'quorum must not exceed replicas', path: ['quorum'] })
  .refine((b) => b.deadline > b.createdAt, { message: 'deadline must be after createdAt', path: ['deadline'] })
export type JobBody = z.infer<typeof jobBodySchema>

export const batchBodySchema = z.object({
  ...common,
  /** How many tasks; each task's input, args and env are recorded with the task. */
  tasks: uint.min(1).max(MAX_BATCH_TASKS)
}).strict().refine((b) => b.quorum <= b.replicas, { message: 'quorum must not exceed replicas', path: ['quorum'] })
  .refine((b) => b.deadline > b.createdAt, { message: 'deadline must be after createdAt', path: ['deadline'] })
export type BatchBody = z.infer<typeof batchBodySchema>

/** Options shared by jobs and batches. */
export interface PlacementInit {
  /** Memory cap of each run. @default 256 MiB */
  memoryMiB?: number
  /** Wall-time limit of each run. @default 30 s */
  timeoutMs?: number
  /** How many distinct workers run each task. @default 1 */
  replicas?: number
  /** How many matching outputs make a result verified. @default majority of replicas */
  quorum?: number
  /** Highest price, credits per gigafuel (10^9 fuel). @default 10 */
  maxPrice?: number
  /**
   * Fuel limit of each run (0..2^64-1): a run that reaches it stops with trap `out of fuel`, at
   * the same point on every worker. @default 10^8 per ms of `timeoutMs` (`defaultFuel`)
   */
  fuel?: bigint | number
  /**
   * Files every run finds under /in, read-only: `{ path: 'photos/a.pgm', bytes }` is
   * `/in/photos/a.pgm` (relative `/`-separated paths; see src/scheduler/files/paths.ts).
   * At most `MAX_INPUT_FILES_BYTES` (1 GiB) in all. @default none
   */
  files?: TreeFile[]
  /** Absolute deadline (ms since the epoch). @default now + timeout + 60 s (a batch: more, see `createBatch`) */
  deadline?: number
  /** Only these peers may run it. */
  peers?: string[]
}

/** What a caller provides to submit a job. */
export interface JobInit extends PlacementInit {
  /** The WebAssembly (WASI preview1) module. */
  module: Uint8Array
  /** Bytes given to the program on stdin. @default empty */
  input?: Uint8Array
  /** argv[1..] of the program (argv[0] is `job.wasm`). */
  args?: string[]
  env?: Record<string, string>
}

/** One task of a batch. */
export interface BatchTaskInit {
  /** stdin of this task. */
  input: Uint8Array
  args?: string[]
  env?: Record<string, string>
  /** A name for the task (e.g. its input file's name); shown in results. */
  name?: string
}

/** What a caller provides to submit a batch. */
export interface BatchInit extends PlacementInit {
  module: Uint8Array
  tasks: BatchTaskInit[]
  /** Args and env of every task that does not give its own. */
  args?: string[]
  env?: Record<string, string>
}

type PlacementFields = Pick<JobBody, 'memoryMiB' | 'timeoutMs' | 'replicas' | 'quorum' | 'maxPrice' | 'fuel' | 'files' | 'createdAt' | 'deadline' | 'peers'>

/** The input tree of a job or batch, ready to pin: its manifest's bytes and CID, and the files. */
export interface InputTree {
  manifest: FileManifest
  manifestBytes: Uint8Array
  files: TreeFile[]
  spec: TaskFiles
}

/**
 * Builds the manifest of input files; throws `InvalidJobError` for files that are not
 * `{ path, bytes }`, the path errors of the manifest (`InvalidPathError`, `DuplicatePathError`,
 * `PathConflictError`, `TooManyEntriesError`), or a tree over `MAX_INPUT_FILES_BYTES`.
 */
export function inputTree (files: TreeFile[]): InputTree {
  if (!Array.isArray(files)) throw new InvalidJobError('files must be an array of { path, bytes }')
  let size = 0
  for (const [i, f] of files.entries()) {
    if (f === null || typeof f !== 'object' || !(f.bytes instanceof Uint8Array)) throw new InvalidJobError(`files[${i}] must be { path, bytes } with bytes a Uint8Array`)
    size += f.bytes.byteLength
  }
  if (size > MAX_INPUT_FILES_BYTES) throw new InvalidJobError(`input files hold ${size} bytes, over the limit of ${MAX_INPUT_FILES_BYTES}`)
  const manifest = manifestOf(files)
  const manifestBytes = encodeManifest(manifest)
  return { manifest, manifestBytes, files, spec: { cid: manifestCid(manifestBytes), manifestBytes: manifestBytes.byteLength, size } }
}

function placementFields (init: PlacementInit, now: number, deadlineSlackMs: number, tree?: InputTree): PlacementFields {
  const timeoutMs = init.timeoutMs ?? DEFAULT_TIMEOUT_MS
  const replicas = init.replicas ?? 1
  return {
    memoryMiB: init.memoryMiB ?? DEFAULT_MEMORY_MIB,
    timeoutMs,
    replicas,
    quorum: init.quorum ?? Math.floor(replicas / 2) + 1,
    maxPrice: init.maxPrice ?? DEFAULT_MAX_PRICE,
    fuel: init.fuel != null ? checkFuel(init.fuel) : defaultFuel(typeof timeoutMs === 'number' && Number.isSafeInteger(timeoutMs) && timeoutMs > 0 ? timeoutMs : 1),
    ...(tree != null ? { files: tree.spec } : {}),
    createdAt: now,
    deadline: init.deadline ?? now + timeoutMs + deadlineSlackMs,
    ...(init.peers != null && init.peers.length > 0 ? { peers: init.peers } : {})
  }
}

function checkModule (module: unknown): asserts module is Uint8Array {
  if (!(module instanceof Uint8Array) || module.byteLength === 0) throw new InvalidJobError('module must be non-empty bytes')
  if (module.byteLength > MAX_MODULE_BYTES) throw new InvalidJobError(`module is ${module.byteLength} bytes, over the limit of ${MAX_MODULE_BYTES}`)
}

/**
 * Builds a job body; throws `InvalidJobError` naming what is wrong (or a path error of `files`).
 * `tree` is the job's input tree (when it has files), for the caller to pin.
 */
export function createJob (requester: string, init: JobInit, now = Date.now()): { body: JobBody, id: CID, tree?: InputTree } {
  if (init == null || typeof init !== 'object') throw new InvalidJobError('a job is an object ({ module, input?, args?, ... })')
  checkModule(init.module)
  const input = init.input ?? new Uint8Array(0)
  if (!(input instanceof Uint8Array)) throw new InvalidJobError('input must be bytes')
  const tree = init.files != null && (!Array.isArray(init.files) || init.files.length > 0) ? inputTree(init.files) : undefined
  const body = parseJobBody({
    v: 1,
    requester,
    nonce: randomBytes(16),
    runtime: 'wasi-p1',
    module: rawCid(init.module),
    moduleBytes: init.module.byteLength,
    input: rawCid(input),
    inputBytes: input.byteLength,
    args: init.args ?? [],
    env: init.env ?? {},
    ...placementFields(init, now, DEFAULT_DEADLINE_SLACK_MS, tree)
  })
  return { body, id: valueCid(body), ...(tree != null ? { tree } : {}) }
}

/**
 * Builds a batch body; throws `InvalidJobError` for a bad spec, no tasks, or too many. The
 * default deadline leaves room for the tasks to run one after another on a few workers.
 */
export function createBatch (requester: string, init: BatchInit, now = Date.now()): { body: BatchBody, id: CID, tree?: InputTree } {
  if (init == null || typeof init !== 'object') throw new InvalidJobError('a batch is an object ({ module, tasks, ... })')
  checkModule(init.module)
  if (!Array.isArray(init.tasks) || init.tasks.length === 0) throw new InvalidJobError('a batch needs at least one task')
  if (init.args != null) parse(argsSchema, init.args, 'batch args')
  if (init.env != null) parse(envSchema, init.env, 'batch env')
  if (init.tasks.length > MAX_BATCH_TASKS) throw new InvalidJobError(`a batch holds at most ${MAX_BATCH_TASKS} tasks, got ${init.tasks.length}`)
  for (const [i, task] of init.tasks.entries()) {
    if (!(task?.input instanceof Uint8Array)) throw new InvalidJobError(`task ${i}: input must be bytes`)
    if (task.input.byteLength > MAX_INPUT_BYTES) throw new InvalidJobError(`task ${i}: input is over the limit of ${MAX_INPUT_BYTES} bytes`)
    // Bad args or env are a bad batch (InvalidJobError, as for a job), not a bad message.
    if (task.args != null) parse(argsSchema, task.args, `task ${i} args`)
    if (task.env != null) parse(envSchema, task.env, `task ${i} env`)
  }
  const tree = init.files != null && (!Array.isArray(init.files) || init.files.length > 0) ? inputTree(init.files) : undefined
  const timeoutMs = init.timeoutMs ?? DEFAULT_TIMEOUT_MS
  const slack = DEFAULT_DEADLINE_SLACK_MS + Math.min(MAX_JOB_TIMEOUT_MS, Math.ceil(init.tasks.length / 4) * timeoutMs)
  const body = parse(batchBodySchema, {
    v: 1,
    requester,
    nonce: randomBytes(16),
    runtime: 'wasi-p1',
    module: rawCid(init.module),
    moduleBytes: init.module.byteLength,
    tasks: init.tasks.length,
    ...placementFields(init, now, slack, tree)
  }, 'batch')
  return { body, id: valueCid(body), ...(tree != null ? { tree } : {}) }
}

function parse<T> (schema: z.ZodType<T>, value: unknown, what: string): T {
  try {
    return parseWith(schema, value, what)
  } catch (err) {
    throw new InvalidJobError((err as Error).message, { cause: err })
  }
}

export function parseJobBody (value: unknown): JobBody {
  return parse(jobBodySchema, value, 'job')
}

export function parseBatchBody (value: unknown): BatchBody {
  return parse(batchBodySchema, value, 'batch')
}

/** The task key of a batch's task `index`: the batch id's bytes, then the index (4 bytes, big-endian). */
export function batchTaskKey (batchId: CID, index: number): Uint8Array {
  const out = new Uint8Array(batchId.bytes.byteLength + 4)
  out.set(batchId.bytes, 0)
  new DataView(out.buffer).setUint32(batchId.bytes.byteLength, index)
  return out
}

/** The one task of a job. */
export function jobTaskSpec (id: CID, body: JobBody): TaskSpec {
  return {
    v: 1,
    key: id.bytes,
    runtime: 'wasi-p1',
    module: body.module,
    moduleBytes: body.moduleBytes,
    input: body.input,
    inputBytes: body.inputBytes,
    args: body.args,
    env: body.env,
    memoryMiB: body.memoryMiB,
    timeoutMs: body.timeoutMs,
    fuel: body.fuel,
    ...(body.files != null ? { files: body.files } : {})
  }
}

/** Task `index` of a batch. */
export function batchTaskSpec (id: CID, body: BatchBody, index: number, task: { input: CID, inputBytes: number, args?: string[], env?: Record<string, string> }): TaskSpec {
  return {
    v: 1,
    key: batchTaskKey(id, index),
    runtime: 'wasi-p1',
    module: body.module,
    moduleBytes: body.moduleBytes,
    input: task.input,
    inputBytes: task.inputBytes,
    args: task.args ?? [],
    env: task.env ?? {},
    memoryMiB: body.memoryMiB,
    timeoutMs: body.timeoutMs,
    fuel: body.fuel,
    ...(body.files != null ? { files: body.files } : {})
  }
}

/** What a job or batch needs of the leases its tasks go on. */
export function requirementsOf (body: JobBody | BatchBody): Requirements {
  return { memoryMiB: body.memoryMiB, timeoutMs: body.timeoutMs, fuel: body.fuel, maxPrice: body.maxPrice, ...(body.peers != null ? { peers: body.peers } : {}) }
}
