/**
 * The host side of a metered run: sets the limit in a fresh instance, charges host calls into
 * the same counter, and reads the outcome. Runs in the executor's worker thread.
 *
 * The counter and the limit are unsigned 64-bit values kept in i64 globals; the JS API reads an
 * i64 global as a signed BigInt, so every read goes through `BigInt.asUintN(64, ...)`.
 */
import { FUEL_LIMIT_EXPORT, FUEL_USED_EXPORT, MAX_FUEL } from './constants.ts'

/** `WebAssembly.Global` holding an i64. */
interface I64Global {
  value: bigint
}

/**
 * Thrown by `charge` when a host call would take the counter past the limit: the call does not
 * happen and the run ends with trap 'out of fuel'.
 */
export class FuelExhausted extends Error {
  constructor () {
    super('out of fuel')
    this.name = 'FuelExhausted'
  }
}

/** What a run's fuel came to. */
export interface FuelOutcome {
  /** Fuel to report: the counter, or exactly the limit when the counter went past it. */
  fuel: bigint
  /** The counter went past the limit: the run's result is trap 'out of fuel', whatever else happened. */
  exhausted: boolean
}

export class FuelMeter {
  readonly limit: bigint
  private used?: I64Global
  private limitGlobal?: I64Global
  /** The count when `stop` was called (the job exited). */
  private stoppedAt?: bigint

  constructor (limit: bigint = MAX_FUEL) {
    this.limit = limit
  }

  /**
   * Binds to a fresh instance of an instrumented module and sets its limit. Call before any of
   * the module's code runs (the instrumented module has no start section; see instrument.ts).
   */
  attach (exports: Record<string, unknown>): void {
    const used = exports[FUEL_USED_EXPORT] as I64Global | undefined
    const limit = exports[FUEL_LIMIT_EXPORT] as I64Global | undefined
    if (used === undefined || limit === undefined) throw new Error('module is not instrumented for fuel')
    limit.value = BigInt.asIntN(64, this.limit)
    this.used = used
    this.limitGlobal = limit
  }

  /**
   * Ends the count where it is: the job exited (proc_exit), and what runs after that (code that
   * caught the exit) is not part of it. `outcome` reports the count as it is now, and the limit
   * global drops below the counter so the module traps at its next check (function entry or
   * loop header) instead of running on. The count is at least proc_exit's own charge, so > 0.
   */
  stop (): void {
    if (this.used === undefined || this.limitGlobal === undefined || this.stoppedAt !== undefined) return
    this.stoppedAt = this.read()
    if (this.stoppedAt > 0n) this.limitGlobal.value = BigInt.asIntN(64, this.stoppedAt - 1n)
  }

  /** Fuel counted so far (0 before `attach`). */
  read (): bigint {
    return this.used === undefined ? 0n : BigInt.asUintN(64, this.used.value)
  }

  /**
   * Adds `units` to the counter; throws `FuelExhausted` when that takes it past the limit. Host
   * functions call it before their effect, so an effect happens only within the limit.
   */
  charge (units: number): void {
    if (this.used === undefined || units <= 0) return
    const total = BigInt.asUintN(64, this.used.value) + BigInt(units)
    this.used.value = BigInt.asIntN(64, total)
    if (total > this.limit) throw new FuelExhausted()
  }

  /**
   * The outcome, read after the run. Over the limit is out of fuel no matter how the run ended
   * (a trap or exit after the counter passed the limit but before the next check would not
   * happen on an implementation that checks more often), and reports exactly the limit.
   */
  outcome (): FuelOutcome {
    // a charge that would pass the limit throws before proc_exit runs: a stopped count is within it
    if (this.stoppedAt !== undefined) return { fuel: this.stoppedAt, exhausted: false }
    const used = this.read()
    return used > this.limit ? { fuel: this.limit, exhausted: true } : { fuel: used, exhausted: false }
  }
}
