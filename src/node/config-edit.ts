/**
 * `depin config show|set|unset`: reading and changing `config.json` one key at a time, validated
 * by the same schema the node loads it with (a value the node would refuse is never written).
 */
import { readFile, writeFile } from 'node:fs/promises'
import { ConfigError } from '../errors.ts'
import { configFileSchema, type ConfigFile } from './config.ts'
import { dataDirPaths } from './paths.ts'

type Kind = 'list' | 'boolean' | 'integer' | 'number' | 'string' | 'json'

/** Every key `config set` takes, with how its VALUE is read. */
export const CONFIG_KEYS: Readonly<Record<string, Kind>> = {
  listen: 'list',
  announce: 'list',
  bootstrap: 'list',
  mdns: 'boolean',
  api: 'string',
  'capacity.cores': 'integer',
  'capacity.memoryMiB': 'integer',
  'capacity.pricePerGigafuel': 'integer',
  'capacity.slots': 'integer',
  mine: 'boolean',
  spotCheckRate: 'number',
  testnet: 'boolean',
  metrics: 'string',
  retention: 'string',
  cacheMiB: 'integer',
  'log.level': 'string',
  'log.format': 'string',
  'log.file': 'string',
  network: 'json'
}

function parseValue (key: string, kind: Kind, text: string): unknown {
  switch (kind) {
    case 'list': {
      const trimmed = text.trim()
      if (trimmed.startsWith('[')) return parseJson(key, trimmed)
      return trimmed === '' ? [] : trimmed.split(',').map((s) => s.trim()).filter((s) => s.length > 0)
    }
    case 'boolean': {
      const t = text.trim().toLowerCase()
      if (['true', 'yes', 'on', '1'].includes(t)) return true
      if (['false', 'no', 'off', '0'].includes(t)) return false
      throw new ConfigError(`${key} takes true or false, got ${JSON.stringify(text)}`)
    }
    case 'integer':
    case 'number': {
      const pattern = kind === 'integer' ? /^-?\d+$/ : /^-?(\d+\.?\d*|\.\d+)(e-?\d+)?$/i
      if (!pattern.test(text.trim())) throw new ConfigError(`${key} takes ${kind === 'integer' ? 'an integer' : 'a number'}, got ${JSON.stringify(text)}`)
      return Number(text)
    }
    case 'json':
      return parseJson(key, text)
    default:
      return text
  }
}

function parseJson (key: string, text: string): unknown {
  try {
    return JSON.parse(text)
  } catch (err) {
    throw new ConfigError(`${key} takes JSON here: ${(err as Error).message}`)
  }
}

function checkKey (key: string): Kind {
  const kind = CONFIG_KEYS[key]
  if (kind == null) throw new ConfigError(`unknown config key ${JSON.stringify(key)}; keys: ${Object.keys(CONFIG_KEYS).join(', ')}`)
  return kind
}

/** Validates a whole raw config as the loader does; the error names the key. */
export function validateConfig (raw: Record<string, unknown>, where = 'config.json'): ConfigFile {
  const parsed = configFileSchema.safeParse(raw)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    throw new ConfigError(`${where}: ${issue.path.join('.') || '(root)'}: ${issue.message}`)
  }
  return parsed.data
}

/** Returns a copy of `raw` with `key` set to the value read from `text`; validated. */
export function setConfigValue (raw: Record<string, unknown>, key: string, text: string): Record<string, unknown> {
  const value = parseValue(key, checkKey(key), text)
  const next = structuredClone(raw)
  const path = key.split('.')
  let target: Record<string, unknown> = next
  for (const part of path.slice(0, -1)) {
    const child = target[part]
    target[part] = child != null && typeof child === 'object' && !Array.isArray(child) ? child : {}
    target = target[part] as Record<string, unknown>
  }
  target[path[path.length - 1]] = value
  validateConfig(next, `config value ${key}`)
  return next
}

/** Returns a copy of `raw` without `key` (back to its default); validated. */
export function unsetConfigValue (raw: Record<string, unknown>, key: string): Record<string, unknown> {
  checkKey(key)
  const next = structuredClone(raw)
  const path = key.split('.')
  let target: Record<string, unknown> | undefined = next
  for (const part of path.slice(0, -1)) target = target?.[part] as Record<string, unknown> | undefined
  if (target != null) delete target[path[path.length - 1]]
  validateConfig(next)
  return next
}

/** The raw JSON object of a data dir's config.json (empty when there is none). */
export async function readRawConfig (dataDir: string): Promise<Record<string, unknown>> {
  const path = dataDirPaths(dataDir).config
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {}
    throw err
  }
  try {
    const json = JSON.parse(text) as unknown
    if (json == null || typeof json !== 'object' || Array.isArray(json)) throw new Error('not a JSON object')
    return json as Record<string, unknown>
  } catch (err) {
    throw new ConfigError(`${path} is not valid JSON: ${(err as Error).message}`)
  }
}

export async function writeRawConfig (dataDir: string, raw: Record<string, unknown>): Promise<void> {
  validateConfig(raw)
  await writeFile(dataDirPaths(dataDir).config, JSON.stringify(raw, null, 2) + '\n', { mode: 0o644 })
}

/** Flattens a config to `key → value` for the keys `config set` knows. */
export function flattenConfig (config: Record<string, unknown>): Array<[string, unknown]> {
  return Object.keys(CONFIG_KEYS).map((key) => {
    let value: unknown = config
    for (const part of key.split('.')) value = (value as Record<string, unknown> | undefined)?.[part]
    return [key, value]
  })
}
