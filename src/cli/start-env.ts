/**
 * Environment variables for every `depin start` option: `DEPIN_<OPTION>` in upper snake case
 * (DEPIN_CORES, DEPIN_LOG_LEVEL, DEPIN_LISTEN=/ip4/…,/ip4/… for repeatable ones). A flag beats
 * its variable, a variable beats config.json. Pure, so it is unit-tested.
 */
import { InvalidArgumentError } from 'commander'
import type { StartOptions } from './program.ts'
import { LOG_FORMAT_WORDS, LOG_LEVEL_WORDS } from './program.ts'
import { apiAddressArg, fraction, integer, metricsAddressArg, oneOf } from './parse.ts'
import { UsageError } from './errors.ts'

type Reader = (text: string) => unknown

const list: Reader = (text) => text.split(',').map((s) => s.trim()).filter((s) => s.length > 0)
const bool: Reader = (text) => {
  const t = text.trim().toLowerCase()
  if (['1', 'true', 'yes', 'on'].includes(t)) return true
  if (['0', 'false', 'no', 'off'].includes(t)) return false
  throw new InvalidArgumentError(`expected true or false, got ${JSON.stringify(text)}`)
}

/** Option name → [variable, reader]. */
export const START_ENV: Readonly<Record<keyof Omit<StartOptions, 'dataDir'>, [string, Reader]>> = {
  listen: ['DEPIN_LISTEN', list],
  announce: ['DEPIN_ANNOUNCE', list],
  bootstrap: ['DEPIN_BOOTSTRAP', list],
  api: ['DEPIN_API', apiAddressArg],
  cores: ['DEPIN_CORES', integer(1, 4096)],
  memory: ['DEPIN_MEMORY', integer(16, 16 * 1024 * 1024)],
  price: ['DEPIN_PRICE', integer(0, 1_000_000_000)],
  slots: ['DEPIN_SLOTS', integer(0, 4096)],
  mine: ['DEPIN_MINE', bool],
  spotCheck: ['DEPIN_SPOT_CHECK', fraction],
  mdns: ['DEPIN_MDNS', bool],
  metrics: ['DEPIN_METRICS', metricsAddressArg],
  logLevel: ['DEPIN_LOG_LEVEL', oneOf(LOG_LEVEL_WORDS)],
  logFormat: ['DEPIN_LOG_FORMAT', oneOf(LOG_FORMAT_WORDS)],
  logFile: ['DEPIN_LOG_FILE', (text) => text]
}

/** Fills the options the command line left out from the environment; a bad value is a one-line error. */
export function applyStartEnv (opts: StartOptions, env: NodeJS.ProcessEnv = process.env): StartOptions {
  const out: Record<string, unknown> = { ...opts }
  for (const [option, [variable, read]] of Object.entries(START_ENV)) {
    const text = env[variable]
    if (text == null || text === '' || out[option] !== undefined) continue
    try {
      out[option] = read(text)
    } catch (err) {
      throw new UsageError(`${variable}: ${(err as Error).message}`)
    }
  }
  return out as StartOptions
}
