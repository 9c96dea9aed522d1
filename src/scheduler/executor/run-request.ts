/**
 * The message that starts a job on a worker thread: the job's spec as the worker runs it (argv
 * with argv[0], the environment in sorted key order, the memory cap in pages, the job's file
 * system limits) and its bytes arranged to cross the thread boundary without a second copy.
 */
import { PAGES_PER_MIB, PROGRAM_NAME } from './constants.ts'
import type { FsInput } from './memfs.ts'
import type { PoolConfig } from './pool-config.ts'
import type { Job } from './pool-job.ts'
import type { RunRequest } from './protocol.ts'
import { jobLimits } from './spec.ts'

/**
 * The `run` message for `job`, with the module itself unless the worker `held` it already.
 * Pushes the buffers to transfer with it onto `transfer`.
 */
export function runRequest (job: Job, held: boolean, config: PoolConfig, transfer: ArrayBuffer[]): RunRequest {
  const { spec, compiled } = job
  // A copy with its own exact-size ArrayBuffer, transferred to the worker. (Not `.slice()`: on a
  // Buffer that is a view, and transferring it would detach the caller's memory or Node's pool.)
  const stdin = new Uint8Array(spec.stdin.byteLength)
  stdin.set(spec.stdin)
  transfer.push(stdin.buffer)
  const files: FsInput[] = (spec.files ?? []).map(f => ({ path: f.path, bytes: toWorker(f.bytes, transfer) }))
  return {
    type: 'run',
    id: job.id,
    moduleKey: job.moduleKey,
    ...(held ? {} : { module: compiled.module }),
    memoryImport: compiled.memoryImport,
    initialPages: compiled.initialPages,
    maximumPages: Math.min(compiled.maximumPages ?? Infinity, spec.memoryMiB * PAGES_PER_MIB),
    stdin,
    args: [PROGRAM_NAME, ...spec.args],
    env: Object.fromEntries(Object.entries(spec.env).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)),
    seed: new Uint8Array(spec.seed),
    maxStdoutBytes: config.maxStdoutBytes,
    maxStderrBytes: config.maxStderrBytes,
    files,
    fsLimits: jobLimits(spec, config.fsLimits),
    metered: compiled.metered,
    ...(spec.fuel === undefined ? {} : { fuelLimit: spec.fuel })
  }
}

/**
 * Input bytes as the worker gets them: bytes on a SharedArrayBuffer as they are (shared, no
 * copy, still the caller's); others copied once into a buffer of their own that is transferred
 * (transferring the caller's buffer would detach it, or Node's pool behind a small Buffer).
 */
function toWorker (bytes: Uint8Array, transfer: ArrayBuffer[]): Uint8Array {
  if (bytes.buffer instanceof SharedArrayBuffer) return bytes
  const copy = new Uint8Array(bytes.byteLength)
  copy.set(bytes)
  transfer.push(copy.buffer)
  return copy
}
