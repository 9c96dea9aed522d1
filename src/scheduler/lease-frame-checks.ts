/**
 * Hand-written checks for the two lease frames that carry many items: `tasks` and `results`.
 * They accept exactly what the zod schemas of lease-frames.ts accept (every type, bound and
 * strictness rule: no unknown key, no missing one, optional fields absent rather than null) and
 * give the same value back (fuel as a bigint, CIDs as CID objects), at a fraction of zod's cost
 * per item. They are a fast path only: anything they do not accept goes to the zod schema, which
 * accepts it or says what is wrong. test/lease-frames.test.ts compares the two on mutated frames.
 */
import type { CID } from 'multiformats/cid'
import { asProtocolCid, MAX_UINT64 } from '../proofs/schema.ts'
import { INLINE_BYTES, MAX_INPUT_BYTES, MAX_MODULE_BYTES, MAX_OUTPUT_BYTES, MAX_STDERR_BYTES } from './constants.ts'
import { MAX_MANIFEST_BYTES } from './files/constants.ts'
import type { ResultFrame, TaskFrame } from './lease-frames.ts'
import { MAX_ARG_CHARS, MAX_ARGS, MAX_ENV, MAX_INPUT_FILES_BYTES, MAX_JOB_MEMORY_MIB, MAX_JOB_TIMEOUT_MS } from './task.ts'

type Obj = Record<string, unknown>

/** A plain object (what DAG-CBOR decodes a map to) with exactly `required` and at most `optional` keys. */
function shaped (v: unknown, required: number, optional: readonly string[]): v is Obj {
  if (typeof v !== 'object' || v === null || (v as Obj).constructor !== Object) return false
  const o = v as Obj
  let n = 0
  for (const k in o) {
    if (!Object.hasOwn(o, k)) return false
    n++
  }
  let present = 0
  for (const k of optional) {
    if (k in o) {
      if (o[k] === undefined) return false
      present++
    }
  }
  return n === required + present
}

function int (v: unknown, min: number, max: number): boolean {
  return Number.isSafeInteger(v) && (v as number) >= min && (v as number) <= max
}

function uint (v: unknown, max = Number.MAX_SAFE_INTEGER): boolean {
  return int(v, 0, max)
}

/** A uint64 as the schema takes it (a safe number or a bigint); undefined when it is not one. */
function uint64 (v: unknown): bigint | undefined {
  if (typeof v === 'bigint') return v >= 0n && v <= MAX_UINT64 ? v : undefined
  return uint(v) ? BigInt(v as number) : undefined
}

function bytes (v: unknown, max: number): boolean {
  return v instanceof Uint8Array && v.byteLength <= max
}



function text (v: unknown, max: number): boolean {
  return typeof v === 'string' && v.length <= max && !v.includes('\0')
}

const ENV_KEY = /^[^=\0]+$/

const SPEC_OPTIONAL = ['files'] as const

/** A task spec (task.ts `taskSpecSchema`), checked and normalised in place; false when the fast path cannot say. */
function taskSpec (v: unknown): boolean {
  if (!shaped(v, 12, SPEC_OPTIONAL)) return false
  const s = v
  if (s.v !== 1 || s.runtime !== 'wasi-p1' || !bytes(s.key, 64)) return false
  const module = asProtocolCid(s.module, 'blob')
  const input = asProtocolCid(s.input, 'blob')
  if (module === undefined || input === undefined) return false
  if (!uint(s.moduleBytes, MAX_MODULE_BYTES) || (s.moduleBytes as number) < 1 || !uint(s.inputBytes, MAX_INPUT_BYTES)) return false
  if (!int(s.memoryMiB, 1, MAX_JOB_MEMORY_MIB) || !int(s.timeoutMs, 1, MAX_JOB_TIMEOUT_MS)) return false
  const fuel = uint64(s.fuel)
  if (fuel === undefined) return false
  const args = s.args
  if (!Array.isArray(args) || args.length > MAX_ARGS) return false
  for (const a of args) if (!text(a, MAX_ARG_CHARS)) return false
  const env = s.env
  if (typeof env !== 'object' || env === null || (env as Obj).constructor !== Object) return false
  let entries = 0
  for (const k in env) {
    if (!Object.hasOwn(env, k) || k.length < 1 || k.length > 256 || !ENV_KEY.test(k) || !text((env as Obj)[k], MAX_ARG_CHARS)) return false
    entries++
  }
  if (entries > MAX_ENV) return false
  if ('files' in s) {
    const f = s.files
    if (!shaped(f, 3, [])) return false
    const fcid = asProtocolCid(f.cid, 'object')
    if (fcid === undefined || !uint(f.manifestBytes, MAX_MANIFEST_BYTES) || (f.manifestBytes as number) < 1 || !uint(f.size, MAX_INPUT_FILES_BYTES)) return false
    f.cid = fcid
  }
  s.module = module
  s.input = input
  s.fuel = fuel
  return true
}

const TASK_OPTIONAL = ['stdin'] as const

/** The tasks of a `tasks` frame, when every one passes; undefined otherwise (zod decides). */
export function checkTasks (tasks: unknown, maxItems: number): TaskFrame[] | undefined {
  if (!Array.isArray(tasks) || tasks.length < 1 || tasks.length > maxItems) return undefined
  for (const t of tasks) {
    if (!shaped(t, 2, TASK_OPTIONAL) || !uint(t.deadline) || ('stdin' in t && !bytes(t.stdin, INLINE_BYTES)) || !taskSpec(t.spec)) return undefined
  }
  return tasks as TaskFrame[]
}

const RESULT_OPTIONAL = ['trap', 'files', 'filesBytes', 'stdout', 'stderr'] as const

/** The results of a `results` frame, when every one passes; undefined otherwise (zod decides). */
export function checkResults (results: unknown, maxItems: number): ResultFrame[] | undefined {
  if (!Array.isArray(results) || results.length < 1 || results.length > maxItems) return undefined
  for (const r of results) {
    if (!shaped(r, 10, RESULT_OPTIONAL)) return undefined
    const task = asProtocolCid(r.task, 'object')
    const out = asProtocolCid(r.out, 'blob')
    const fuel = uint64(r.fuel)
    if (task === undefined || out === undefined || fuel === undefined) return undefined
    if (!int(r.exit, -1, 255) || !uint(r.outBytes, MAX_OUTPUT_BYTES) || !uint(r.errBytes, MAX_STDERR_BYTES) || !uint(r.cpuMs) || !uint(r.wallMs)) return undefined
    if (typeof r.stdoutTruncated !== 'boolean' || typeof r.stderrTruncated !== 'boolean') return undefined
    if ('trap' in r && (typeof r.trap !== 'string' || r.trap.length > 512)) return undefined
    if ('stdout' in r && !bytes(r.stdout, INLINE_BYTES)) return undefined
    if ('stderr' in r && !bytes(r.stderr, INLINE_BYTES)) return undefined
    if ('filesBytes' in r && (!uint(r.filesBytes, MAX_MANIFEST_BYTES) || (r.filesBytes as number) < 1)) return undefined
    let files: CID | undefined
    if ('files' in r && (files = asProtocolCid(r.files, 'object')) === undefined) return undefined
    r.task = task
    r.out = out
    r.fuel = fuel
    if (files !== undefined) r.files = files
  }
  return results as ResultFrame[]
}
