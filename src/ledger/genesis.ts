/**
 * Genesis: a network's parameters and its first block, derived deterministically from a config,
 * so every node given the same config has the same genesis hash.
 *
 * Genesis header = { v: 1, network: networkId, parent: 32 zero bytes, height: 0,
 *   timestamp: config.timestamp (default 0), target: initialTarget, nonce: 8 zero bytes, miner: '',
 *   txRoot: SHA-256(dagCbor(canonical config)) } with no transactions. It needs no proof of work:
 * nodes build it from their config and never accept it from peers. Its state is the allocations.
 * Because txRoot commits to the whole config, two configs that differ in any parameter (reward,
 * interval, allocations...) have different genesis hashes.
 */
import { randomBytes } from 'node:crypto'
import { z } from 'zod'
import { encode, sha256 } from '../proofs/encoding.ts'
import { peerIdSchema, uint } from '../proofs/schema.ts'
import { MAX_TARGET, NONCE_BYTES, targetForWork, targetFromBytes, targetToBytes } from '../proofs/pow.ts'
import { DEFAULT_RETARGET_INTERVAL, LEDGER_VERSION } from './constants.ts'
import { GenesisConfigError } from './errors.ts'
import { fromHex, toHex } from './hex.ts'
import { HASH_BYTES, headerHash, type BlockHeader } from './block.ts'
import { networkIdSchema } from './tx.ts'

/** A network's genesis config (JSON-friendly: the target is hex). */
export interface GenesisConfig {
  /** Unique name of the network; in every header and signed transaction body. */
  networkId: string
  /** Initial balances, peer id → credits. */
  allocations: Record<string, number>
  /** Target of the first blocks: 64 hex characters, big-endian. */
  initialTarget: string
  /** Block interval the difficulty rule steers toward. */
  blockIntervalMs: number
  /** Credits minted to the miner of each block. */
  reward: number
  /** Blocks between retargets. @default 10 */
  retargetInterval?: number
  /** Genesis timestamp (ms since the epoch). @default 0 */
  timestamp?: number
}

/** A validated genesis config with defaults filled in. */
export interface NetworkParams {
  networkId: string
  allocations: Record<string, number>
  initialTarget: bigint
  blockIntervalMs: number
  reward: number
  retargetInterval: number
  timestamp: number
}

const hexTarget = z.string().regex(/^[0-9a-fA-F]{64}$/, 'expected 64 hex characters')

export const genesisConfigSchema = z.object({
  networkId: networkIdSchema,
  allocations: z.record(peerIdSchema, uint),
  initialTarget: hexTarget,
  blockIntervalMs: uint.min(1).max(24 * 3600_000),
  reward: uint,
  retargetInterval: uint.min(1).max(1_000_000).optional(),
  timestamp: uint.optional()
}).strict()

/** Validates a genesis config (e.g. from a config file) and fills in defaults. Throws GenesisConfigError. */
export function parseGenesisConfig (value: unknown): NetworkParams {
  const parsed = genesisConfigSchema.safeParse(value)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    const where = issue.path.length > 0 ? ` at ${issue.path.join('.')}` : ''
    throw new GenesisConfigError(`invalid genesis config${where}: ${issue.message}`)
  }
  const cfg = parsed.data
  const initialTarget = targetFromBytes(fromHex(cfg.initialTarget) as Uint8Array)
  if (initialTarget === 0n) throw new GenesisConfigError('initialTarget must be greater than zero')
  let total = 0
  for (const amount of Object.values(cfg.allocations)) {
    total += amount
    if (!Number.isSafeInteger(total)) throw new GenesisConfigError('allocations sum past Number.MAX_SAFE_INTEGER')
  }
  return {
    networkId: cfg.networkId,
    allocations: { ...cfg.allocations },
    initialTarget,
    blockIntervalMs: cfg.blockIntervalMs,
    reward: cfg.reward,
    retargetInterval: cfg.retargetInterval ?? DEFAULT_RETARGET_INTERVAL,
    timestamp: cfg.timestamp ?? 0
  }
}

export interface CreateGenesisConfigInit {
  /** @default `testnet-<8 random hex>` */
  networkId?: string
  /** Peers that get an allocation. */
  peers?: string[]
  /** Credits for each of `peers`. @default 1_000_000 */
  allocation?: number
  /** Extra or overriding allocations. */
  allocations?: Record<string, number>
  /** Expected hashes per block at the start (sets initialTarget). @default 2^16 */
  hashesPerBlock?: number | bigint
  /** Overrides `hashesPerBlock`: an explicit target. */
  initialTarget?: bigint
  /** @default 10_000 */
  blockIntervalMs?: number
  /** @default 50 */
  reward?: number
  /** @default 10 */
  retargetInterval?: number
  /** @default 0 */
  timestamp?: number
}

/** Builds a genesis config, e.g. for a testnet where every node gets an allocation. */
export function createGenesisConfig (init: CreateGenesisConfigInit = {}): GenesisConfig {
  const allocations: Record<string, number> = {}
  for (const peer of init.peers ?? []) allocations[peer] = init.allocation ?? 1_000_000
  Object.assign(allocations, init.allocations ?? {})
  const work = init.hashesPerBlock ?? 65_536
  if (init.initialTarget == null && (!Number.isSafeInteger(work) || work < 1)) {
    throw new GenesisConfigError(`invalid genesis config at hashesPerBlock: a whole number of hashes, at least 1, got ${String(work)}`)
  }
  const target = init.initialTarget ?? targetForWork(BigInt(work))
  const config: GenesisConfig = {
    networkId: init.networkId ?? `testnet-${randomBytes(4).toString('hex')}`,
    allocations,
    initialTarget: toHex(targetToBytes(target > MAX_TARGET ? MAX_TARGET : target)),
    blockIntervalMs: init.blockIntervalMs ?? 10_000,
    reward: init.reward ?? 50,
    retargetInterval: init.retargetInterval ?? DEFAULT_RETARGET_INTERVAL,
    timestamp: init.timestamp ?? 0
  }
  parseGenesisConfig(config)
  return config
}

/** The built-in network used when a node's config names none: no allocations, credits come from mining. */
export const DEFAULT_GENESIS_CONFIG: GenesisConfig = Object.freeze({
  networkId: 'depin-devnet-1',
  allocations: {},
  initialTarget: toHex(targetToBytes(targetForWork(1n << 18n))),
  blockIntervalMs: 10_000,
  reward: 50,
  retargetInterval: DEFAULT_RETARGET_INTERVAL,
  timestamp: 0
}) as GenesisConfig

/** The canonical value the genesis txRoot commits to. */
function canonicalConfig (params: NetworkParams): unknown {
  return {
    networkId: params.networkId,
    allocations: params.allocations,
    initialTarget: targetToBytes(params.initialTarget),
    blockIntervalMs: params.blockIntervalMs,
    reward: params.reward,
    retargetInterval: params.retargetInterval,
    timestamp: params.timestamp
  }
}

/** The genesis header of a network. */
export function genesisHeader (params: NetworkParams): BlockHeader {
  return {
    v: LEDGER_VERSION,
    network: params.networkId,
    parent: new Uint8Array(HASH_BYTES),
    height: 0,
    timestamp: params.timestamp,
    target: targetToBytes(params.initialTarget),
    nonce: new Uint8Array(NONCE_BYTES),
    miner: '',
    txRoot: sha256(encode(canonicalConfig(params)))
  }
}

/** The genesis block hash of a config (hex). */
export function genesisHash (config: GenesisConfig | NetworkParams): string {
  const params = 'initialTarget' in config && typeof config.initialTarget === 'bigint' ? config as NetworkParams : parseGenesisConfig(config)
  return toHex(headerHash(genesisHeader(params)))
}
