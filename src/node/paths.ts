/**
 * The data directory's layout and the small files a client reads from it (API address, token).
 * Kept free of heavy imports (no libp2p, no crypto): every CLI client command loads it.
 *
 * ```
 * <dataDir>/
 *   identity.key   0600  the node's Ed25519 private key (libp2p protobuf encoding)
 *   config.json    0644  node configuration (see config.ts); created by `depin init`
 *   api-token      0600  bearer token of the local API
 *   api.json       0644  written by a running daemon: {"api","pid","peerId","multiaddrs"}; removed at stop
 *   db/                  LevelDB: ledger, jobs, blobs
 * ```
 */
import { readFile, rm, writeFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'

export const IDENTITY_FILE = 'identity.key'
export const CONFIG_FILE = 'config.json'
export const API_TOKEN_FILE = 'api-token'
export const API_INFO_FILE = 'api.json'
export const DB_DIR = 'db'

/** The default data directory: `$DEPIN_DATA_DIR`, else `~/.depin`. */
export function defaultDataDir (): string {
  return resolve(process.env.DEPIN_DATA_DIR ?? join(homedir(), '.depin'))
}

export interface DataDirPaths {
  root: string
  identity: string
  config: string
  apiToken: string
  apiInfo: string
  db: string
  /** Large blobs (input and output files over 4 MiB), one file per CID. */
  blobs: string
}

export function dataDirPaths (dataDir: string): DataDirPaths {
  const root = resolve(dataDir)
  return {
    root,
    identity: join(root, IDENTITY_FILE),
    config: join(root, CONFIG_FILE),
    apiToken: join(root, API_TOKEN_FILE),
    apiInfo: join(root, API_INFO_FILE),
    db: join(root, DB_DIR),
    blobs: join(root, 'blobs')
  }
}

/** Reads the API token of a data dir, or returns undefined when there is none. */
export async function readApiToken (dataDir: string): Promise<string | undefined> {
  try {
    const token = (await readFile(dataDirPaths(dataDir).apiToken, 'utf8')).trim()
    return token.length > 0 ? token : undefined
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}

export interface ApiInfo {
  api: string
  pid: number
  peerId: string
  multiaddrs?: string[]
  /** `HOST:PORT` of the token-free metrics listener, when `--metrics` is on. */
  metrics?: string
  /**
   * True when the node runs in a process with other nodes (an in-process testnet): `pid` then
   * outlives the node, and a stopped node is one whose API no longer answers.
   */
  sharedProcess?: boolean
}

export async function writeApiInfo (dataDir: string, info: ApiInfo): Promise<void> {
  await writeFile(dataDirPaths(dataDir).apiInfo, JSON.stringify(info) + '\n', { mode: 0o644 })
}

export async function removeApiInfo (dataDir: string): Promise<void> {
  await rm(dataDirPaths(dataDir).apiInfo, { force: true })
}

/** Reads what a running daemon wrote about its API, or undefined. */
export async function readApiInfo (dataDir: string): Promise<ApiInfo | undefined> {
  try {
    const parsed = JSON.parse(await readFile(dataDirPaths(dataDir).apiInfo, 'utf8')) as Partial<ApiInfo>
    if (typeof parsed.api === 'string' && typeof parsed.pid === 'number' && typeof parsed.peerId === 'string') {
      return parsed as ApiInfo
    }
    return undefined
  } catch {
    return undefined
  }
}

/** True when a process with this pid exists (signal 0 checks without signalling). */
export function isProcessAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** The api.json of a daemon that is still running (its pid is alive), else undefined. */
export async function readLiveApiInfo (dataDir: string): Promise<ApiInfo | undefined> {
  const info = await readApiInfo(dataDir)
  return info != null && isProcessAlive(info.pid) ? info : undefined
}
