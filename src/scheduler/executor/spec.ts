import { CID } from 'multiformats/cid'
import { MAX_MANIFEST_ENTRIES } from '../files/constants.ts'
import { TooManyEntriesError } from '../files/errors.ts'
import { checkTree, compareBytewise, validatePath } from '../files/paths.ts'
import { MAX_ARGS_ENV_BYTES, SEED_BYTES } from './constants.ts'
import { MAX_FUEL } from './metering/constants.ts'
import { InvalidExecSpecError } from './errors.ts'
import type { ExecSpec } from './index.ts'
import type { FsLimits } from './memfs.ts'

/** Largest delay `setTimeout` honours (2^31 - 1 ms, about 24.8 days). */
export const MAX_TIMEOUT_MS = 2 ** 31 - 1

/**
 * Checks the shape and ranges of a spec; throws `InvalidExecSpecError` naming the field, or the
 * path errors of `files` (`InvalidPathError`, `DuplicatePathError`, `PathConflictError`,
 * `TooManyEntriesError`).
 */
export function validateSpec (spec: ExecSpec, maxMemoryMiB: number, limits: FsLimits, metering: boolean): void {
  if (spec === null || typeof spec !== 'object') throw new InvalidExecSpecError('spec must be an object')
  if (CID.asCID(spec.moduleCid) === null) throw new InvalidExecSpecError('moduleCid must be a CID')
  if (!(spec.module instanceof Uint8Array)) throw new InvalidExecSpecError('module must be a Uint8Array')
  if (!(spec.stdin instanceof Uint8Array)) throw new InvalidExecSpecError('stdin must be a Uint8Array')
  if (!Array.isArray(spec.args) || !spec.args.every(a => typeof a === 'string' && !a.includes('\0'))) {
    throw new InvalidExecSpecError('args must be strings without NUL characters')
  }
  if (spec.env === null || typeof spec.env !== 'object' || Array.isArray(spec.env)) {
    throw new InvalidExecSpecError('env must be an object of strings')
  }
  for (const [key, value] of Object.entries(spec.env)) {
    if (key === '' || key.includes('=') || key.includes('\0')) {
      throw new InvalidExecSpecError(`env name ${JSON.stringify(key)} must be non-empty, without "=" or NUL`)
    }
    if (typeof value !== 'string' || value.includes('\0')) {
      throw new InvalidExecSpecError(`env value of ${JSON.stringify(key)} must be a string without NUL`)
    }
  }
  let argsEnvBytes = 0
  for (const arg of spec.args) argsEnvBytes += Buffer.byteLength(arg) + 1
  for (const [key, value] of Object.entries(spec.env)) argsEnvBytes += Buffer.byteLength(key) + Buffer.byteLength(value) + 2
  if (argsEnvBytes > MAX_ARGS_ENV_BYTES) {
    throw new InvalidExecSpecError(`args and env take ${argsEnvBytes} bytes, over the limit of ${MAX_ARGS_ENV_BYTES}`)
  }
  if (!Number.isInteger(spec.memoryMiB) || spec.memoryMiB < 1 || spec.memoryMiB > maxMemoryMiB) {
    throw new InvalidExecSpecError(`memoryMiB must be an integer in 1..${maxMemoryMiB}, got ${String(spec.memoryMiB)}`)
  }
  if (!Number.isInteger(spec.timeoutMs) || spec.timeoutMs < 1 || spec.timeoutMs > MAX_TIMEOUT_MS) {
    throw new InvalidExecSpecError(`timeoutMs must be an integer in 1..${MAX_TIMEOUT_MS}, got ${String(spec.timeoutMs)}`)
  }
  if (!(spec.seed instanceof Uint8Array) || spec.seed.byteLength !== SEED_BYTES) {
    throw new InvalidExecSpecError(`seed must be ${SEED_BYTES} bytes`)
  }
  if (spec.fuel !== undefined) {
    if (typeof spec.fuel !== 'bigint' || spec.fuel < 0n || spec.fuel > MAX_FUEL) {
      throw new InvalidExecSpecError(`fuel must be a bigint in 0..2^64-1, got ${String(spec.fuel)}`)
    }
    if (!metering) throw new InvalidExecSpecError('fuel limits need a metering executor (ExecutorInit.metering is off)')
  }
  if (spec.files !== undefined) validateFiles(spec.files, limits)
  if (spec.fsLimits !== undefined) jobLimits(spec, limits)
}

/** The limits a job runs under: the executor's, lowered by `spec.fsLimits`. */
export function jobLimits (spec: ExecSpec, limits: FsLimits): FsLimits {
  const own = spec.fsLimits
  if (own === undefined) return limits
  if (own === null || typeof own !== 'object') throw new InvalidExecSpecError('fsLimits must be an object')
  const out = { ...limits }
  for (const [key, value] of Object.entries(own)) {
    if (!(key in limits)) throw new InvalidExecSpecError(`fsLimits.${key} is not a file system limit`)
    if (value === undefined) continue
    const max = limits[key as keyof FsLimits]
    const min = key === 'maxOpenFds' ? 5 : key === 'maxPathBytes' ? 1 : 0
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new InvalidExecSpecError(`fsLimits.${key} must be an integer in ${min}..${max}, got ${String(value)}`)
    }
    out[key as keyof FsLimits] = value
  }
  return out
}

function validateFiles (files: unknown, limits: FsLimits): void {
  if (!Array.isArray(files)) throw new InvalidExecSpecError('files must be an array of { path, bytes }')
  if (files.length > MAX_MANIFEST_ENTRIES) throw new TooManyEntriesError(files.length, MAX_MANIFEST_ENTRIES, 'files')
  for (const file of files) {
    if (file === null || typeof file !== 'object' || !((file as { bytes?: unknown }).bytes instanceof Uint8Array)) {
      throw new InvalidExecSpecError('files must be an array of { path, bytes } with bytes a Uint8Array')
    }
    validatePath((file as { path?: unknown }).path, { maxPathBytes: limits.maxPathBytes })
  }
  checkTree(files.map(f => (f as { path: string }).path).sort(compareBytewise))
}
