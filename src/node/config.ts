/**
 * Node configuration: the `config.json` file in the data directory, validated with a schema.
 * The CLI layers flags and environment variables over it; embedders pass `ComputeNodeInit`.
 */
import { readFile, writeFile } from 'node:fs/promises'
import { z } from 'zod'
import { multiaddr } from '@multiformats/multiaddr'
import { ConfigError, InvalidArgumentError } from '../errors.ts'
import { DEFAULT_API_HOST, DEFAULT_API_PORT, DEFAULT_LISTEN, TESTNET_LIBRARY_MAX_NODES } from './constants.ts'
import { dataDirPaths } from './paths.ts'
import { isLoopbackHost, parseApiAddress } from './api-address.ts'

export { isLoopbackHost, parseApiAddress } from './api-address.ts'
import { genesisConfigSchema } from '../ledger/genesis.ts'
import { DURATION_HELP, parseDuration } from '../shared/duration.ts'
import { DEFAULT_BLOB_CACHE_BYTES } from '../scheduler/constants.ts'

/** Default of `retention`: how long ended jobs and their blobs are kept. */
export const DEFAULT_RETENTION = '30d'
/** Default of `cacheMiB`: the worker-side blob cache. */
export const DEFAULT_CACHE_MIB = DEFAULT_BLOB_CACHE_BYTES / (1024 * 1024)

const multiaddrString = z.string().max(1024).refine((s) => {
  try {
    multiaddr(s)
    return true
  } catch {
    return false
  }
}, { message: 'not a valid multiaddr' })

/** A multiaddr that names its peer (`…/p2p/<id>`); an invalid one is left to `multiaddrString`. */
function hasPeerId (s: string): boolean {
  try {
    return multiaddr(s).getComponents().some((c) => c.name === 'p2p')
  } catch {
    return true
  }
}

/** `HOST:PORT`; the host must be a loopback name or address (the API is local only). */
export const apiAddressSchema = z.string().max(300).transform((s, ctx) => {
  try {
    return parseApiAddress(s)
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message })
    return z.NEVER
  }
})

const capacityObjectSchema = z.object({
  cores: z.number().int().min(1).max(4096).optional(),
  memoryMiB: z.number().int().min(16).max(16 * 1024 * 1024).optional(),
  /** Credits per gigafuel (10^9 fuel). */
  pricePerGigafuel: z.number().int().min(0).max(1_000_000_000).optional(),
  slots: z.number().int().min(0).max(4096).optional()
}).strict()
/**
 * The `capacity` overrides. A config written before prices were per gigafuel names the price
 * `pricePerCpuSecond`: it is read as `pricePerGigafuel` (the next `config set` writes the new name).
 */
export const capacityOverridesSchema = z.preprocess((value) => {
  if (value === null || typeof value !== 'object' || !('pricePerCpuSecond' in value)) return value
  const { pricePerCpuSecond, ...rest } = value as Record<string, unknown>
  return 'pricePerGigafuel' in rest ? rest : { ...rest, pricePerGigafuel: pricePerCpuSecond }
}, capacityObjectSchema)
export type CapacityOverrides = z.infer<typeof capacityObjectSchema>

export const logConfigSchema = z.object({
  level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  format: z.enum(['text', 'json']).default('text'),
  /** Append the log to this file instead of stdout. */
  file: z.string().min(1).max(4096).optional()
}).strict()

export const configFileSchema = z.object({
  listen: z.array(multiaddrString).max(16).default([DEFAULT_LISTEN]),
  announce: z.array(multiaddrString).max(16).default([]),
  bootstrap: z.array(multiaddrString.refine(hasPeerId, { message: 'a bootstrap address needs /p2p/<peer id>' })).max(64).default([]),
  mdns: z.boolean().default(true),
  api: z.string().max(300).refine((s) => {
    try {
      parseApiAddress(s)
      return true
    } catch {
      return false
    }
  }, { message: 'must be HOST:PORT on a loopback host' }).default(`${DEFAULT_API_HOST}:${DEFAULT_API_PORT}`),
  capacity: capacityOverridesSchema.default({}),
  mine: z.boolean().default(false),
  /** Probability (0..1) that a job this node requests is also run here and compared (spot check). */
  spotCheckRate: z.number().min(0).max(1).default(0),
  /** Loopback testnet: allow-lists 127.0.0.1 in gossipsub IP-colocation scoring and the inbound rate limit. */
  testnet: z.boolean().default(false),
  /** Genesis of the ledger network this node belongs to (see docs/protocol.md); omitted: the built-in network. */
  network: genesisConfigSchema.optional(),
  /** `HOST:PORT` (loopback) of a token-free listener serving GET /metrics; omitted: only the API's /metrics. */
  metrics: z.string().max(300).refine((s) => {
    try {
      parseApiAddress(s)
      return true
    } catch {
      return false
    }
  }, { message: 'must be HOST:PORT on a loopback host' }).optional(),
  /**
   * How long jobs, batches and served-lease records are kept after they ended, with the blobs
   * only they reference (modules, inputs, outputs): `30d`, `12h`, `90m`, … or `forever`.
   */
  retention: z.string().max(32).refine((s) => parseDuration(s) !== undefined, { message: `must be ${DURATION_HELP}` }).default(DEFAULT_RETENTION),
  /** Budget of the blobs this node caches to run other peers' tasks (modules), MiB. */
  cacheMiB: z.number().int().min(1).max(1024 * 1024).default(DEFAULT_CACHE_MIB),
  /** The operator log. */
  log: logConfigSchema.default({ level: 'info', format: 'text' })
}).strict()
export type ConfigFile = z.infer<typeof configFileSchema>

/** Reads and validates `config.json`; a missing file yields the defaults. */
export async function readConfigFile (dataDir: string): Promise<ConfigFile> {
  const path = dataDirPaths(dataDir).config
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return configFileSchema.parse({})
    throw err
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (err) {
    throw new ConfigError(`${path} is not valid JSON: ${(err as Error).message}`, { cause: err })
  }
  const parsed = configFileSchema.safeParse(json)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    throw new ConfigError(`${path}: ${issue.path.join('.') || '(root)'}: ${issue.message}`)
  }
  return parsed.data
}

export async function writeConfigFile (dataDir: string, config: Partial<ConfigFile>): Promise<void> {
  const full = configFileSchema.parse(config)
  await writeFile(dataDirPaths(dataDir).config, JSON.stringify(full, null, 2) + '\n', { mode: 0o644 })
}

/**
 * What `createComputeNode` checks of its options before anything starts (the config file's
 * schemas where the option is the same). Options that are objects depin only passes on
 * (`privateKey`, `executor`, `metrics`, `log`, `ledger`, …) are not checked here.
 */
export const computeNodeInitSchema = z.object({
  dataDir: z.string().min(1).max(4096).optional(),
  transport: z.enum(['tcp', 'memory']).optional(),
  listen: z.array(multiaddrString).max(16).optional(),
  announce: z.array(multiaddrString).max(16).optional(),
  bootstrap: z.array(multiaddrString.refine(hasPeerId, { message: 'a bootstrap address needs /p2p/<peer id>' })).max(64).optional(),
  mdns: z.boolean().optional(),
  advertise: z.boolean().optional(),
  testnet: z.boolean().optional(),
  mine: z.boolean().optional(),
  fuelPerSecond: z.number().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
  capacity: capacityOverridesSchema.optional(),
  maxConnections: z.number().int().min(1).max(100_000).optional(),
  scheduler: z.object({
    blobCacheBytes: z.number().int().min(1).optional(),
    blobDir: z.string().min(1).max(4096).optional(),
    spotCheckRate: z.number().min(0).max(1).optional()
  }).optional(),
  retention: z.object({
    retentionMs: z.custom<number>((v) => typeof v === 'number' && v >= 0, { message: 'must be a number of ms, 0 or more (Infinity: forever)' }).optional(),
    intervalMs: z.number().int().min(0).optional()
  }).optional(),
  network: genesisConfigSchema.optional()
})

/** Validates `ComputeNodeInit`; throws ConfigError naming the option and what is wrong. */
export function validateComputeNodeInit (init: unknown): void {
  checkObject(computeNodeInitSchema, init, 'the node options', 'node option', (m) => new ConfigError(m))
}

/** What `createTestnet` checks of its options before anything starts. */
const testnetInitSchema = z.object({
  nodes: z.number().int().min(1).max(TESTNET_LIBRARY_MAX_NODES).optional(),
  transport: z.enum(['tcp', 'memory']).optional(),
  dir: z.string().min(1).max(4096).optional(),
  network: genesisConfigSchema.optional(),
  genesis: z.record(z.string(), z.unknown()).optional(),
  miners: z.array(z.number().int().min(0)).max(TESTNET_LIBRARY_MAX_NODES).optional(),
  nodeInit: z.custom<(index: number) => unknown>((v) => typeof v === 'function', { message: 'must be a function (index) => options' }).optional(),
  readyTimeoutMs: z.number().int().min(1).max(24 * 60 * 60 * 1000).optional()
}).superRefine((init, ctx) => {
  const nodes = init.nodes ?? 4
  const outside = init.miners?.findIndex((m) => m >= nodes) ?? -1
  if (outside >= 0) ctx.addIssue({ code: 'custom', path: ['miners', outside], message: `node ${init.miners?.[outside]} does not exist: the testnet has nodes 0 to ${nodes - 1}` })
  if (init.network != null && init.genesis != null) ctx.addIssue({ code: 'custom', path: ['genesis'], message: 'give network or genesis, not both (genesis shapes a new network; network is a whole one)' })
})

/** Validates `TestnetInit`; throws ConfigError naming the option and what is wrong. */
export function validateTestnetInit (init: unknown): void {
  checkObject(testnetInitSchema, init, 'the testnet options', 'testnet option', (m) => new ConfigError(m))
}

/** Checks `value` against `schema`; the error names the first field at fault and what is wrong. */
function checkObject (schema: z.ZodType, value: unknown, whole: string, field: string, error: (message: string) => Error): void {
  if (value === null || typeof value !== 'object') throw error(`${whole} must be an object`)
  const parsed = schema.safeParse(value)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    throw error(`invalid ${field} ${issue.path.join('.') || '(root)'}: ${issue.message}`)
  }
}

/** `findCapacity`'s query (the HTTP API's `capacityQuery` is its text form). */
const capacityQuerySchema = z.object({
  runtime: z.string().min(1).max(32).optional(),
  minCores: z.number().int().min(0).optional(),
  minMemoryMiB: z.number().int().min(0).optional(),
  maxPrice: z.number().int().min(0).optional(),
  limit: z.number().int().min(1).optional(),
  includeSelf: z.boolean().optional(),
  signal: z.instanceof(AbortSignal).optional(),
  timeoutMs: z.number().int().min(0).max(24 * 60 * 60 * 1000).optional()
})

/** Validates a `findCapacity` query; throws InvalidArgumentError naming the field. */
export function validateCapacityQuery (query: unknown): void {
  checkObject(capacityQuerySchema, query, 'the capacity query', 'capacity query', (m) => new InvalidArgumentError(m))
}
