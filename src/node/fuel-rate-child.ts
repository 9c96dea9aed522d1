/**
 * Child process entry of `machineFuelRate` (fuel-rate.ts): measures this machine's fuel rate on
 * an executor of its own and prints `{"fuelPerSecond":N}` on stdout. Run as a separate process so
 * the daemon never holds what the measurement needed (a worker thread's heap, the compiled module,
 * the metering code).
 */
import { measureInProcess } from './fuel-rate.ts'

const fuelPerSecond = await measureInProcess()
process.stdout.write(`${JSON.stringify({ fuelPerSecond })}\n`)
