/**
 * This machine's fuel rate for the capacity record, measured once per process: a short run of the
 * built-in fuel-rate module on an executor of its own (one worker thread, stopped afterwards), in
 * a child process (fuel-rate-child.ts) so that what the measurement needed does not stay in the
 * node's memory (an idle daemon would keep ~6 MiB compiled, ~28 MiB from the TypeScript sources);
 * in this process when a child cannot be started. The node's own executor still starts only with
 * its first task, and many nodes in one process (an in-process testnet) measure the machine once.
 */
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { logger } from '@libp2p/logger'

const log = logger('depin:fuel-rate')

/** The whole measurement's deadline. */
const FUEL_RATE_TIMEOUT_MS = 30_000

let measured: Promise<number> | undefined

/** Fuel per second of CPU time on this machine (0 when the measurement failed). */
export async function machineFuelRate (): Promise<number> {
  measured ??= (async () => {
    try {
      return await measureInChild()
    } catch (err) {
      log('measuring the fuel rate in a child process failed (%s); measuring here', (err as Error).message)
      return await measureInProcess()
    }
  })()
  return await measured
}

/** Runs fuel-rate-child (.ts in a checkout, .js when built) with this process's Node. */
export async function measureInChild (): Promise<number> {
  const self = import.meta.url
  const child = fileURLToPath(new URL(`./fuel-rate-child${self.slice(self.lastIndexOf('.'))}`, self))
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(process.execPath, ['--no-warnings', child], { timeout: FUEL_RATE_TIMEOUT_MS, maxBuffer: 4096 }, (err, out) => {
      if (err != null) reject(err)
      else resolve(out)
    })
  })
  const rate = (JSON.parse(stdout) as { fuelPerSecond?: unknown }).fuelPerSecond
  if (typeof rate !== 'number' || !Number.isSafeInteger(rate) || rate <= 0) throw new Error(`the child printed ${stdout.slice(0, 100)}`)
  log('%d fuel/s (child process)', rate)
  return rate
}

/** The measurement itself, in this process (0 when it failed). */
export async function measureInProcess (): Promise<number> {
  // Imported here: a node that measures in a child never loads the executor for this.
  const { createExecutor } = await import('../scheduler/executor/index.ts')
  const { measureFuelRate } = await import('../scheduler/executor/metering/index.ts')
  const executor = createExecutor({ workers: 1 })
  try {
    await executor.start()
    const rate = await measureFuelRate(executor, { signal: AbortSignal.timeout(FUEL_RATE_TIMEOUT_MS) })
    log('%d fuel/s (%s fuel in %d ms of CPU)', rate.fuelPerSecond, rate.fuel, rate.cpuMs)
    return rate.fuelPerSecond
  } catch (err) {
    log.error('measuring the fuel rate failed: %e', err)
    return 0
  } finally {
    await executor.stop().catch(() => {})
  }
}
