/**
 * A testnet's directory, shared by `depin testnet` and `createTestnet({ dir })`: its lock (one
 * testnet per directory at a time) and its ledger network, kept in DIR/genesis.json so that a
 * testnet started again on the same directory resumes its chain.
 */
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { link, readFile, rm, writeFile } from 'node:fs/promises'
import { createGenesisConfig, type CreateGenesisConfigInit, type GenesisConfig } from '../ledger/genesis.ts'
import { dataDirPaths, isProcessAlive } from './paths.ts'
import { TestnetInUseError } from './errors.ts'
import { TESTNET_ALLOCATION, TESTNET_BLOCK_INTERVAL_MS, TESTNET_HASHES_PER_BLOCK } from './constants.ts'

/** The lock file of a running testnet: `{"pid"}` of the process that runs it. */
export const TESTNET_LOCK_FILE = 'testnet.lock'
/** The testnet's ledger network. */
export const TESTNET_GENESIS_FILE = 'genesis.json'

/** How many earlier nodes each new testnet node bootstraps to. */
export const TESTNET_BOOTSTRAP_FANOUT = 3

/**
 * Up to `count` of the nodes started before, at random, for a new node to bootstrap to: a random
 * graph has a diameter of a few hops, where always taking the latest ones would chain the nodes
 * into a long path. (createTestnet and the in-process `depin testnet` both.)
 */
export function pickBootstrap<T> (earlier: T[], count = TESTNET_BOOTSTRAP_FANOUT): T[] {
  const pool = [...earlier]
  for (let i = 0; i < Math.min(count, pool.length); i++) {
    const j = i + Math.floor(Math.random() * (pool.length - i));
    [pool[i], pool[j]] = [pool[j], pool[i]]
  }
  return pool.slice(0, count)
}

/** A testnet genesis giving each peer `TESTNET_ALLOCATION` credits. */
export function testnetGenesis (peers: string[], overrides: CreateGenesisConfigInit = {}): GenesisConfig {
  return createGenesisConfig({
    peers,
    allocation: TESTNET_ALLOCATION,
    blockIntervalMs: TESTNET_BLOCK_INTERVAL_MS,
    hashesPerBlock: TESTNET_HASHES_PER_BLOCK,
    ...overrides
  })
}

async function lockHolder (path: string): Promise<number | undefined> {
  try {
    const pid = (JSON.parse(await readFile(path, 'utf8')) as { pid?: unknown }).pid
    return typeof pid === 'number' && Number.isSafeInteger(pid) && pid > 0 ? pid : undefined
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    // Unreadable or half written (its writer died between open and write): nobody holds it.
    if (err instanceof SyntaxError) return undefined
    throw err
  }
}

/**
 * Takes DIR's testnet lock, or throws TestnetInUseError naming the process that holds it. The
 * lock is a file created exclusively (a hard link, which fails where the name exists), so of two
 * testnets started on one directory at the same moment exactly one gets it: without it both passed the "is a node running here?" check
 * before either node was up and rewrote each other's genesis and config (a testnet split over
 * two ledger networks). A lock whose process is gone (killed with SIGKILL, the machine restarted)
 * is taken over. Returns the release function (safe to call twice).
 */
export async function lockTestnetDir (dir: string): Promise<() => Promise<void>> {
  const path = join(dir, TESTNET_LOCK_FILE)
  // Written aside and linked into place: the lock appears with its pid in it (a lock created with
  // `wx` and then written is empty for a moment, and a second testnet reading it then would take
  // it for a dead one's).
  const aside = join(dir, `.${TESTNET_LOCK_FILE}.${process.pid}.${randomBytes(4).toString('hex')}`)
  await writeFile(aside, JSON.stringify({ pid: process.pid }) + '\n', { mode: 0o644 })
  try {
    await takeLock(dir, path, aside)
  } finally {
    await rm(aside, { force: true })
  }
  let released = false
  return async () => {
    if (released) return
    released = true
    // Only our own lock: a stale-lock takeover by another process must not be undone here.
    if (await lockHolder(path).catch(() => undefined) === process.pid) await rm(path, { force: true })
  }
}

async function takeLock (dir: string, path: string, aside: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await link(aside, path).catch(async (err: NodeJS.ErrnoException) => {
        // A file system without hard links: an exclusive create, empty for a moment (see above).
        if (err.code !== 'EPERM' && err.code !== 'ENOTSUP' && err.code !== 'ENOSYS') throw err
        await writeFile(path, await readFile(aside), { flag: 'wx', mode: 0o644 })
      })
      return
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      const holder = await lockHolder(path)
      if (holder != null && isProcessAlive(holder)) {
        throw new TestnetInUseError(dir, `another testnet (pid ${holder}${holder === process.pid ? ', this process' : ''}) runs it`)
      }
      // A stale lock: taken over once. (Two testnets taking over the same stale lock at the same
      // moment could both remove it; the second attempt's link still lets only one of them in,
      // unless one removes the lock the other has just written: a window of microseconds after a crash.)
      if (attempt > 0) throw new TestnetInUseError(dir, `its lock ${path} could not be taken over`)
      await rm(path, { force: true })
    }
  }
}

/**
 * The testnet's ledger network: the one in DIR/genesis.json when it is the testnet genesis of
 * these peers (with these overrides), so a testnet started again keeps its chain; else a new one,
 * written there, and the nodes' databases (`DIR/node-<i>/db`, whose chains belong to the old
 * network and would refuse to start on the new one) are removed. With `keepUnnamed`, databases
 * are removed only when a genesis.json named the network they belong to: a database found where
 * there was none (made by other means) is left to the node, which refuses a foreign chain itself.
 */
export async function testnetNetwork (dir: string, peers: string[], overrides: CreateGenesisConfigInit = {}, options: { keepUnnamed?: boolean } = {}): Promise<GenesisConfig> {
  const path = join(dir, TESTNET_GENESIS_FILE)
  const fresh = testnetGenesis(peers, overrides)
  let existing: GenesisConfig | undefined
  try {
    existing = JSON.parse(await readFile(path, 'utf8')) as GenesisConfig
    // The network id is random unless given: any id of an otherwise identical genesis is this network.
    const comparable = (g: GenesisConfig): string => stableJson(overrides.networkId == null ? { ...g, networkId: '' } : g)
    if (comparable(existing) === comparable(fresh)) return existing
  } catch {}
  if (existing != null || options.keepUnnamed !== true) await Promise.all(peers.map(async (_, i) => { await rm(dataDirPaths(join(dir, `node-${i}`)).db, { recursive: true, force: true }) }))
  await writeFile(path, JSON.stringify(fresh, null, 2) + '\n')
  return fresh
}

/** JSON with object keys in sorted order (and undefined members left out), for comparing. */
function stableJson (value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`
  if (value != null && typeof value === 'object') {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(',')}}`
  }
  return JSON.stringify(value)
}
