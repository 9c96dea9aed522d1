/**
 * This machine's speed in fuel per second, measured with a fixed built-in module (fuel-rate.c)
 * through the executor itself, so the figure includes everything a job pays for: the engine, the
 * instrumentation's own cost, the worker thread. The node advertises it in its capacity record,
 * so a requester can estimate a job's time from its fuel and check a worker's claimed speed.
 *
 * Two runs of the module, each stopped by its fuel limit: a warm-up (the first run of a module
 * compiles its functions) whose rate sizes the measured run to about `FUEL_RATE_TARGET_MS`, then
 * the measured run. Rate = fuel / CPU time of the measured run (CPU rather than wall time:
 * another process on a shared machine disturbs it less). About 0.15 s in all.
 */
import { rawCid, sha256 } from '../../../proofs/encoding.ts'
import { OUT_OF_FUEL_TRAP } from './constants.ts'
import type { Executor, ExecSpec } from '../index.ts'

/** The module built from fuel-rate.c (260 bytes; no imports; runs until its fuel limit). */
export const FUEL_RATE_MODULE: Uint8Array = Uint8Array.from(Buffer.from(
  'AGFzbQEAAAABBAFgAAADAgEABQMBAAIGCAF/AUGQqAQLBxMCBm1lbW9yeQIABl9zdGFydAAACssBAcgBAgF8A39EAAAAAAAA8D8hAEEAIQFBueAAIQIDQC' +
  'ACQe2cmY4EbEG54ABqIgJBBnZB/B9xQYCIgIAAaiIDIAMoAgAgAiABQQFybmo2AgAgAETpCyHn/f/vP6IgAkEIdkEHbEH/B3FBAnRBgIiAgABqLQAAuKAh' +
  'AAJAIAFB//8DcQ0AAkACQCAARAAAAAAAAPBBYyAARAAAAAAAAAAAZnFFDQAgAKshAwwBC0EAIQMLQQAgAiADczYCgKiAgAALIAFBAWohAQwACws=',
  'base64'))

/** CPU time the measured run aims at. */
export const FUEL_RATE_TARGET_MS = 100
/** Fuel of the warm-up run (a few ms on a 2.2 GHz Xeon). */
export const FUEL_RATE_WARMUP_FUEL = 100_000_000n
/** Bounds on the measured run's fuel. */
export const FUEL_RATE_MIN_FUEL = 10_000_000n
export const FUEL_RATE_MAX_FUEL = 100_000_000_000n

export interface FuelRateOptions {
  /** Fuel of the measured run. Default: what the warm-up says takes `FUEL_RATE_TARGET_MS`. */
  fuel?: bigint
  signal?: AbortSignal
}

export interface FuelRate {
  /** Fuel per second of CPU time, rounded down. */
  fuelPerSecond: number
  /** Fuel of the measured run. */
  fuel: bigint
  /** CPU and wall time of the measured run, ms. */
  cpuMs: number
  wallMs: number
}

/**
 * Measures the fuel rate on a started, metering executor (rejects like `executor.run`, or with
 * an Error when the executor does not meter).
 */
export async function measureFuelRate (executor: Executor, options: FuelRateOptions = {}): Promise<FuelRate> {
  const spec = (limit: bigint): ExecSpec => ({
    moduleCid: rawCid(FUEL_RATE_MODULE),
    module: FUEL_RATE_MODULE,
    stdin: new Uint8Array(0),
    args: [],
    env: {},
    memoryMiB: 1,
    timeoutMs: 60_000,
    seed: sha256(FUEL_RATE_MODULE),
    fuel: limit
  })
  const warmup = await executor.run(spec(FUEL_RATE_WARMUP_FUEL), { signal: options.signal })
  // sized by wall time: the thread CPU clock lags by up to a scheduler tick on runs this short
  const warmRate = Number(FUEL_RATE_WARMUP_FUEL) / Math.max(warmup.wallMs, 0.001)
  const sized = BigInt(Math.floor(warmRate * FUEL_RATE_TARGET_MS))
  const fuel = options.fuel ?? (sized < FUEL_RATE_MIN_FUEL ? FUEL_RATE_MIN_FUEL : sized > FUEL_RATE_MAX_FUEL ? FUEL_RATE_MAX_FUEL : sized)
  const result = await executor.run(spec(fuel), { signal: options.signal })
  if (result.trap !== OUT_OF_FUEL_TRAP || result.fuel !== fuel) {
    throw new Error(`fuel-rate module did not stop by fuel (trap ${String(result.trap)}, fuel ${String(result.fuel)})`)
  }
  const cpuMs = Math.max(result.cpuMs, 0.001)
  return { fuelPerSecond: Math.floor(Number(fuel) / (cpuMs / 1000)), fuel, cpuMs, wallMs: result.wallMs }
}
