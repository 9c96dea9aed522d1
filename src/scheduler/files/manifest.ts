/**
 * File manifests: the canonical, content-addressed description of a file tree (a job's inputs
 * or the files it left in /out). Pure: no I/O, no network.
 *
 * ```
 * { v: 1, files: [{ path, size, cid }, ...] }
 * ```
 * DAG-CBOR; `files` sorted by the UTF-8 bytes of `path` (see paths.ts for the path rules),
 * `size` the file's length in bytes, `cid` the CIDv1 (raw, sha2-256) of its bytes. Directories are
 * implied by paths, so empty directories are not part of a tree. The manifest's own CID is the
 * CIDv1 (dag-cbor, sha2-256) of its encoding: equal trees give equal bytes and equal CIDs on every
 * peer, which is what replicas are compared by.
 */
import { z } from 'zod'
import { CID } from 'multiformats/cid'
import { cidOf, DAG_CBOR_CODE, encode, RAW_CODE, rawCid, SHA256_CODE, sha256 } from '../../proofs/encoding.ts'
import * as dagCbor from '@ipld/dag-cbor'
import { MANIFEST_VERSION, MAX_MANIFEST_BYTES, MAX_MANIFEST_ENTRIES, MAX_PATH_BYTES } from './constants.ts'
import {
  FileCidMismatchError, FileSizeMismatchError, InvalidManifestError, ManifestTooLargeError, MissingFileError,
  TooManyEntriesError, UnexpectedFileError
} from './errors.ts'
import { checkTree, compareBytewise, validatePath } from './paths.ts'

export interface ManifestEntry {
  /** Relative, `/`-separated (see paths.ts). */
  path: string
  /** Bytes. */
  size: number
  /** CIDv1, raw, sha2-256 of the file's bytes. */
  cid: CID
}

export interface FileManifest {
  v: typeof MANIFEST_VERSION
  /** Sorted bytewise by path. */
  files: ManifestEntry[]
}

/** A file with its bytes, as a tree is handed around in memory. */
export interface TreeFile {
  path: string
  bytes: Uint8Array
}

export interface ManifestLimits {
  /** Most entries. Default `MAX_MANIFEST_ENTRIES` (100,000). */
  maxEntries?: number
  /** Largest encoding, bytes (decode only). Default `MAX_MANIFEST_BYTES` (16 MiB). */
  maxBytes?: number
  /** Longest path, bytes. Default `MAX_PATH_BYTES` (4096). */
  maxPathBytes?: number
}

const entrySchema = z.object({
  path: z.string(),
  size: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  cid: z.custom<CID>(v => CID.asCID(v) != null, { message: 'expected a CID' }).transform(v => CID.asCID(v) as CID)
}).strict()
const manifestSchema = z.object({
  v: z.literal(MANIFEST_VERSION),
  files: z.array(entrySchema)
}).strict()

/**
 * Builds the manifest of entries (in any order): validates every path, sorts, checks the tree.
 * Throws `InvalidPathError`, `DuplicatePathError`, `PathConflictError`, `TooManyEntriesError`,
 * `InvalidManifestError` (a CID that is not CIDv1 raw sha2-256, a bad size).
 */
export function createManifest (entries: Iterable<ManifestEntry>, limits: ManifestLimits = {}): FileManifest {
  const files = [...entries].map(e => ({ path: e.path, size: e.size, cid: e.cid }))
  const maxEntries = limits.maxEntries ?? MAX_MANIFEST_ENTRIES
  if (files.length > maxEntries) throw new TooManyEntriesError(files.length, maxEntries)
  for (const file of files) checkEntry(file, limits)
  files.sort((a, b) => compareBytewise(a.path, b.path))
  checkTree(files.map(f => f.path))
  return { v: MANIFEST_VERSION, files }
}

/** Hashes files and builds their manifest (see `createManifest` for what it throws). */
export function manifestOf (files: Iterable<TreeFile>, limits: ManifestLimits = {}): FileManifest {
  const entries: ManifestEntry[] = []
  for (const f of files) entries.push({ path: f.path, size: f.bytes.byteLength, cid: rawCid(f.bytes) })
  return createManifest(entries, limits)
}

/** The canonical DAG-CBOR bytes of a manifest. */
export function encodeManifest (manifest: FileManifest): Uint8Array {
  return encode({ v: manifest.v, files: manifest.files.map(f => ({ path: f.path, size: f.size, cid: f.cid })) })
}

/** The manifest's CID (CIDv1, dag-cbor, sha2-256), from the manifest or its encoding. */
export function manifestCid (manifest: FileManifest | Uint8Array): CID {
  return cidOf(manifest instanceof Uint8Array ? manifest : encodeManifest(manifest), DAG_CBOR_CODE)
}

/**
 * Exact length of a manifest's encoding from its entries' path lengths (UTF-8 bytes) and sizes,
 * without building it: lets a producer check `MAX_MANIFEST_BYTES` before spending memory.
 */
export function encodedManifestBytes (entries: Iterable<{ pathBytes: number, size: number }>): number {
  let count = 0
  let total = 0
  for (const { pathBytes, size } of entries) {
    count++
    // map(3) "cid" tag42(bytes(37)) "path" text(pathBytes) "size" uint
    total += 1 + 4 + 41 + 5 + headerBytes(pathBytes) + pathBytes + 5 + headerBytes(size)
  }
  return 10 + headerBytes(count) + total // {v: 1, files: [...]}: a2 61 76 01 65 'files' + the array header
}

function headerBytes (n: number): number {
  return n < 24 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : n < 0x100000000 ? 5 : 9
}

/** The manifest of the empty tree (what a job that wrote nothing leaves). */
export const EMPTY_MANIFEST: FileManifest = Object.freeze({ v: MANIFEST_VERSION, files: [] }) as unknown as FileManifest

/**
 * Decodes manifest bytes from outside, strictly, cheapest checks first: the byte length, then
 * the entry count read from the CBOR header, then the full decode, the shape, each path and CID,
 * the order, the tree, and last that it re-encodes to exactly `bytes` (canonical form). Throws `ManifestTooLargeError`, `TooManyEntriesError`,
 * `InvalidManifestError`, `InvalidPathError`, `DuplicatePathError` or `PathConflictError`.
 */
export function decodeManifest (bytes: Uint8Array, limits: ManifestLimits = {}): FileManifest {
  const maxBytes = limits.maxBytes ?? MAX_MANIFEST_BYTES
  const maxEntries = limits.maxEntries ?? MAX_MANIFEST_ENTRIES
  if (bytes.byteLength > maxBytes) throw new ManifestTooLargeError(bytes.byteLength, maxBytes)
  const declared = peekEntryCount(bytes)
  if (declared !== undefined && declared > maxEntries) throw new TooManyEntriesError(declared, maxEntries)
  let value: unknown
  try {
    value = dagCbor.decode(bytes)
  } catch (err) {
    throw new InvalidManifestError(`manifest is not valid DAG-CBOR: ${(err as Error).message}`, { cause: err })
  }
  const parsed = manifestSchema.safeParse(value)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    const where = issue.path.length > 0 ? ` at ${issue.path.join('.')}` : ''
    throw new InvalidManifestError(`invalid manifest${where}: ${issue.message}`)
  }
  const { files } = parsed.data
  if (files.length > maxEntries) throw new TooManyEntriesError(files.length, maxEntries)
  for (const file of files) checkEntry(file, limits)
  for (let i = 1; i < files.length; i++) {
    // equal neighbours are duplicates (checkTree names them); only a descent is out of order
    if (compareBytewise(files[i - 1].path, files[i].path) > 0) {
      throw new InvalidManifestError(`manifest entries are not sorted by path at index ${i}`)
    }
  }
  checkTree(files.map(f => f.path))
  const manifest: FileManifest = { v: MANIFEST_VERSION, files }
  // The decoder takes what no canonical encoder writes (a float for an integer, invalid UTF-8 in
  // a path, read as U+FFFD): such bytes would name this tree under another CID, and the decoded
  // paths would not be the ones committed to.
  if (!sameBytes(encodeManifest(manifest), bytes)) throw new InvalidManifestError('manifest is not in canonical form (it does not re-encode to its own bytes)')
  return manifest
}

function sameBytes (a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && Buffer.compare(a, b) === 0
}

/** Throws `FileSizeMismatchError` or `FileCidMismatchError` unless `bytes` are the entry's file. */
export function verifyFile (entry: ManifestEntry, bytes: Uint8Array): void {
  if (bytes.byteLength !== entry.size) throw new FileSizeMismatchError(entry.path, entry.size, bytes.byteLength)
  if (!digestMatches(bytes, entry.cid)) throw new FileCidMismatchError(entry.path, entry.cid.toString())
}

/**
 * Checks that `files` are exactly the manifest's files, each matching its CID. Throws
 * `MissingFileError`, `UnexpectedFileError`, `FileSizeMismatchError` or `FileCidMismatchError`.
 */
export function verifyFiles (manifest: FileManifest, files: Iterable<TreeFile>): void {
  const byPath = new Map<string, Uint8Array>()
  for (const f of files) byPath.set(f.path, f.bytes)
  for (const entry of manifest.files) {
    const bytes = byPath.get(entry.path)
    if (bytes === undefined) throw new MissingFileError(entry.path)
    verifyFile(entry, bytes)
    byPath.delete(entry.path)
  }
  const extra = byPath.keys().next()
  if (extra.done !== true) throw new UnexpectedFileError(extra.value)
}

function checkEntry (file: ManifestEntry, limits: ManifestLimits): void {
  validatePath(file.path, { maxPathBytes: limits.maxPathBytes ?? MAX_PATH_BYTES })
  if (!Number.isSafeInteger(file.size) || file.size < 0) {
    throw new InvalidManifestError(`size of ${JSON.stringify(file.path)} must be a non-negative integer`)
  }
  const cid = CID.asCID(file.cid)
  if (cid === null || cid.version !== 1 || cid.code !== RAW_CODE || cid.multihash.code !== SHA256_CODE || cid.multihash.size !== 32) {
    throw new InvalidManifestError(`CID of ${JSON.stringify(file.path)} must be a CIDv1 raw sha2-256`)
  }
}

function digestMatches (bytes: Uint8Array, cid: CID): boolean {
  const digest = sha256(bytes)
  const expected = cid.multihash.digest
  return digest.length === expected.length && digest.every((b, i) => b === expected[i])
}

/**
 * The length of the `files` array read from the first bytes, without decoding: a canonical
 * manifest starts `a2 61 76 01 65 'files' <array header>` (map of 2; keys in DAG-CBOR order,
 * shorter first). Undefined when the bytes do not start that way (the full decode then says why).
 */
function peekEntryCount (bytes: Uint8Array): number | undefined {
  const prefix = [0xa2, 0x61, 0x76, 0x01, 0x65, 0x66, 0x69, 0x6c, 0x65, 0x73]
  if (bytes.byteLength < prefix.length + 1 || prefix.some((b, i) => bytes[i] !== b)) return undefined
  const at = prefix.length
  const head = bytes[at]
  if (head >> 5 !== 4) return undefined // major type 4: array
  const info = head & 0x1f
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (info < 24) return info
  if (info === 24 && bytes.byteLength > at + 1) return bytes[at + 1]
  if (info === 25 && bytes.byteLength > at + 2) return view.getUint16(at + 1)
  if (info === 26 && bytes.byteLength > at + 4) return view.getUint32(at + 1)
  if (info === 27 && bytes.byteLength > at + 8) return Number(view.getBigUint64(at + 1))
  return undefined
}
