/**
 * Fuel: deterministic metering of WebAssembly jobs.
 *
 * A module is instrumented once (per CID, before compiling; instrument.ts) so that it counts its
 * own work in an exported i64 global, by a rule that any implementation can follow and get the
 * same count (docs/protocol.md, "Fuel"); host calls add to the same counter (meter.ts, called
 * from wasi-shim.ts). A run may set a limit: reaching it stops the job with trap 'out of fuel'
 * at the same point on every machine.
 *
 * Fuel is an unsigned 64-bit count. In process it is a `bigint` (0..`MAX_FUEL`); where it
 * crosses a text boundary (JSON, the CLI) it is a decimal string (`parseFuel`), since a JSON
 * number loses precision past 2^53; DAG-CBOR encodes a bigint as an integer natively.
 */
import { InvalidExecSpecError } from '../errors.ts'
import { MAX_FUEL } from './constants.ts'

export {
  MAX_FUEL, HOST_CALL_FUEL, HOST_BYTE_FUEL, HOST_IOVEC_FUEL, HOST_POLL_SUBSCRIPTION_FUEL, HOST_POLL_EVENT_FUEL,
  HOST_DIRENT_FUEL, HOST_RANDOM_BYTE_FUEL, FUEL_USED_EXPORT, FUEL_LIMIT_EXPORT, START_EXPORT,
  RESERVED_EXPORT_PREFIX, OUT_OF_FUEL_TRAP, MAX_INSTRUMENTED_BYTES
} from './constants.ts'
export { instrumentModule, instrumentModuleAsync } from './instrument.ts'
export type { InstrumentedModule, InstrumentOptions, InstrumentStats } from './instrument.ts'
export { FuelMeter, FuelExhausted } from './meter.ts'
export { measureFuelRate, FUEL_RATE_MODULE } from './fuel-rate.ts'
export type { FuelRate, FuelRateOptions } from './fuel-rate.ts'

/**
 * Fuel from its decimal text form (digits only, no sign, 0..2^64-1). Throws
 * `InvalidExecSpecError` naming the problem.
 */
export function parseFuel (text: string): bigint {
  if (typeof text !== 'string' || !/^[0-9]{1,20}$/.test(text)) {
    throw new InvalidExecSpecError(`fuel must be a decimal integer in 0..${MAX_FUEL}, got ${JSON.stringify(text)}`)
  }
  const fuel = BigInt(text)
  if (fuel > MAX_FUEL) throw new InvalidExecSpecError(`fuel must be at most ${MAX_FUEL}, got ${text}`)
  return fuel
}
