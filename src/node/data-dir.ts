/**
 * The data directory: identity and token creation (the layout and the light readers are in
 * paths.ts, which the CLI's client commands load without this file's crypto imports).
 */
import { randomBytes } from 'node:crypto'
import { chmod, readFile, stat, writeFile } from 'node:fs/promises'
import { makeDir } from '../shared/make-dir.ts'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { CorruptKeyFileError, DataDirError } from './errors.ts'
import { dataDirPaths } from './paths.ts'

export {
  IDENTITY_FILE, CONFIG_FILE, API_TOKEN_FILE, API_INFO_FILE, DB_DIR, defaultDataDir, dataDirPaths, readApiToken,
  writeApiInfo, removeApiInfo, readApiInfo, readLiveApiInfo, isProcessAlive, type ApiInfo, type DataDirPaths
} from './paths.ts'

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
  await makeDir(root, { mode: 0o700 })
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
  await makeDir(root, { mode: 0o700 })
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
