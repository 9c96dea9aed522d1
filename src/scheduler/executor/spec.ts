import { CID } from 'multiformats/cid'
import { MAX_ARGS_ENV_BYTES, SEED_BYTES } from './constants.ts'
import { MAX_FUEL } from './metering/constants.ts'
import { InvalidExecSpecError } from './errors.ts'
import type { ExecSpec } from './index.ts'

/** Largest delay `setTimeout` honours (2^31 - 1 ms, about 24.8 days). */
export const MAX_TIMEOUT_MS = 2 ** 31 - 1

/** Checks the shape and ranges of a spec; throws `InvalidExecSpecError` naming the field. */
export function validateSpec (spec: ExecSpec, maxMemoryMiB: number, metering: boolean): void {
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
}
