/**
 * The data directory: everything a node keeps between runs.
 *
 * ```
 * <dataDir>/
 *   identity.key   0600  the node's Ed25519 private key (libp2p protobuf encoding)
 *   config.json    0644  node configuration (see config.ts); created by `depin init`
 *   api-token      0600  bearer token of the local API
 *   api.json       0644  written by a running daemon: {"api":"HOST:PORT","pid":N,"peerId":"…"}; removed at stop
 *   db/                  LevelDB: ledger, jobs, blobs
 * ```
 */
import { randomBytes } from 'node:crypto'
import { chmod, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { CorruptKeyFileError, DataDirError } from './errors.ts'

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
}

export function dataDirPaths (dataDir: string): DataDirPaths {
  const root = resolve(dataDir)
  return {
    root,
    identity: join(root, IDENTITY_FILE),
    config: join(root, CONFIG_FILE),
    apiToken: join(root, API_TOKEN_FILE),
    apiInfo: join(root, API_INFO_FILE),
    db: join(root, DB_DIR)
  }
}

async function exists (path: string): Promise<boolean> {
  try {
    await stat(path)
    return true
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw err
  }
}

/** Throws `DataDirError` unless `dataDir` exists and holds an identity. */
export async function assertInitialised (dataDir: string): Promise<void> {
  const paths = dataDirPaths(dataDir)
  if (!await exists(paths.root)) {
    throw new DataDirError(`data directory ${paths.root} does not exist; run \`depin init --data-dir ${paths.root}\` first`)
  }
  if (!await exists(paths.identity)) {
    throw new DataDirError(`data directory ${paths.root} has no identity; run \`depin init --data-dir ${paths.root}\` first`)
  }
}

/** Reads the identity key, creating it (0600) the first time. A corrupt file is an error, never overwritten. */
export async function loadOrCreateIdentity (dataDir: string): Promise<{ privateKey: PrivateKey, created: boolean }> {
  const { root, identity } = dataDirPaths(dataDir)
  await mkdir(root, { recursive: true, mode: 0o700 })
  let bytes: Uint8Array
  try {
    bytes = await readFile(identity)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    const privateKey = await generateKeyPair('Ed25519')
    // 'wx' fails if another process created the file meanwhile: never clobber an identity.
    await writeFile(identity, privateKeyToProtobuf(privateKey), { mode: 0o600, flag: 'wx' })
    return { privateKey, created: true }
  }
  try {
    const privateKey = privateKeyFromProtobuf(bytes)
    if (privateKey.type !== 'Ed25519') throw new Error(`unsupported key type ${privateKey.type}`)
    return { privateKey, created: false }
  } catch (err) {
    throw new CorruptKeyFileError(identity, { cause: err })
  }
}

/** Reads the API token, creating a random one (0600) the first time. */
export async function loadOrCreateApiToken (dataDir: string): Promise<string> {
  const { root, apiToken } = dataDirPaths(dataDir)
  await mkdir(root, { recursive: true, mode: 0o700 })
  try {
    const token = (await readFile(apiToken, 'utf8')).trim()
    if (token.length >= 16) return token
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  const token = randomBytes(32).toString('base64url')
  await writeFile(apiToken, token + '\n', { mode: 0o600 })
  await chmod(apiToken, 0o600)
  return token
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
