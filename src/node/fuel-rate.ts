/**
 * This machine's fuel rate for the capacity record, measured once per process: a short run of the
 * built-in fuel-rate module on an executor of its own (one worker thread, stopped afterwards),
 * so the node's own executor still starts only with its first task, and many nodes in one
 * process (an in-process testnet) measure the machine once.
 */
import { logger } from '@libp2p/logger'
import { createExecutor } from '../scheduler/executor/index.ts'
import { measureFuelRate } from '../scheduler/executor/metering/index.ts'

const log = logger('depin:fuel-rate')

let measured: Promise<number> | undefined

/** Fuel per second of CPU time on this machine (0 when the measurement failed). */
export async function machineFuelRate (): Promise<number> {
  measured ??= (async () => {
    const executor = createExecutor({ workers: 1 })
    try {
      await executor.start()
      const rate = await measureFuelRate(executor, { signal: AbortSignal.timeout(30_000) })
      log('%d fuel/s (%s fuel in %d ms of CPU)', rate.fuelPerSecond, rate.fuel, rate.cpuMs)
      return rate.fuelPerSecond
    } catch (err) {
      log.error('measuring the fuel rate failed: %e', err)
      return 0
    } finally {
      await executor.stop().catch(() => {})
    }
  })()
  return await measured
}
