/**
 * File trees on the local disk: scanning the paths a user hands in (`--in PATH`) into tree
 * entries, reading them into memory the executor can share with its worker threads without a
 * copy, hashing them into a manifest without holding them, and writing an output tree into a
 * directory without ever leaving it.
 *
 * Symlinks: the path the user names may be a symlink (it is followed: the user chose it). Inside
 * a directory tree, a symlink is followed only when it resolves inside the tree; one that points
 * outside is refused (`SymlinkEscapeError`), a loop (a link to itself or to a directory it is
 * in) is refused (`SymlinkLoopError`), a dangling one is `InputNotFoundError`. Sockets, FIFOs and
 * devices are refused (`UnsupportedFileTypeError`): reading a FIFO would block. A name on disk
 * that is not UTF-8 is refused (`InvalidPathError`, `not-unicode`): as text it would name another
 * file, or none.
 */
import { createReadStream, type Stats } from 'node:fs'
import { access, constants, lstat, mkdir, open, readdir, realpath, rename, stat, unlink, type FileHandle } from 'node:fs/promises'
import { basename, dirname, join, resolve, sep } from 'node:path'
import { createHash, randomBytes } from 'node:crypto'
import { getSystemErrorMessage } from 'node:util'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { DepinError } from '../../errors.ts'
import { makeDir, MakeDirError } from '../../shared/make-dir.ts'
import { RAW_CODE, SHA256_CODE } from '../../proofs/encoding.ts'
import { MAX_MANIFEST_ENTRIES } from './constants.ts'
import {
  InputNotFoundError, InvalidPathError, OutputNotDirectoryError, OutputNotWritableError, OutputPathConflictError, SymlinkEscapeError,
  SymlinkLoopError, TooManyEntriesError, UnsupportedFileTypeError
} from './errors.ts'
import { createManifest } from './manifest.ts'
import type { FileManifest, ManifestLimits, TreeFile } from './manifest.ts'
import { checkTree, compareBytewise, validatePath } from './paths.ts'

/** A file of an input tree found on disk: its tree path and where its bytes are. */
export interface DiskFile {
  /** Tree path: `<basename of the input>/<path inside it>`. */
  path: string
  /** Absolute real path of the bytes (symlinks resolved). */
  source: string
  size: number
}

/**
 * Scans input paths into one tree: a file `F` becomes `basename(F)`, a directory `D` becomes
 * `basename(D)/...` for every file under it. Sorted bytewise by tree path. Throws
 * `InputNotFoundError`, `SymlinkLoopError`, `SymlinkEscapeError`, `UnsupportedFileTypeError`,
 * `TooManyEntriesError` (stops scanning as soon as the count of files, or of directories walked,
 * passes the limit), `InvalidPathError` (e.g. a name over 255 bytes, not UTF-8, or `/` as an
 * input), `DuplicatePathError` (two inputs with the same basename).
 */
export async function scanInputs (paths: readonly string[], limits: ManifestLimits = {}): Promise<DiskFile[]> {
  const maxEntries = limits.maxEntries ?? MAX_MANIFEST_ENTRIES
  const out: DiskFile[] = []
  const push = (file: DiskFile): void => {
    validatePath(file.path, limits)
    out.push(file)
    if (out.length > maxEntries) throw new TooManyEntriesError(out.length, maxEntries, 'input tree')
  }
  for (const given of paths) {
    const name = basename(resolve(given))
    validatePath(name, limits)
    const real = await realPath(given, given)
    const info = await stat(real)
    if (info.isFile()) {
      push({ path: name, source: real, size: info.size })
    } else if (info.isDirectory()) {
      await walk(real, name, { root: real, ancestors: new Set([real]), push, dirs: 0, maxDirs: maxEntries })
    } else {
      throw new UnsupportedFileTypeError(given)
    }
  }
  out.sort((a, b) => compareBytewise(a.path, b.path))
  checkTree(out.map(f => f.path))
  return out
}

interface Walk {
  root: string
  /** Real paths of the directories being walked, from the root down (a link to one is a loop). */
  ancestors: Set<string>
  push: (f: DiskFile) => void
  /**
   * Directories walked so far, each time one is reached (a tree of symlinks to directories can
   * reach the same ones exponentially many times while holding no file at all), and their bound.
   */
  dirs: number
  maxDirs: number
}

const utf8Strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })
const utf8Lossy = new TextDecoder('utf-8', { ignoreBOM: true })

/** A name read from the disk as text, or undefined when its bytes are not UTF-8. */
export function decodeFileName (bytes: Uint8Array): string | undefined {
  try {
    return utf8Strict.decode(bytes)
  } catch {
    return undefined
  }
}

/** A name whose bytes are not UTF-8, for a message: `"d/bad\uFFFD"` (each bad sequence as `\uFFFD`). */
export function showUndecodable (prefix: string, bytes: Uint8Array): string {
  const shown = `${prefix}${utf8Lossy.decode(bytes)}`
  return JSON.stringify(shown.length > 200 ? `${shown.slice(0, 200)}…` : shown).replace(/\uFFFD/g, '\\uFFFD')
}

async function walk (dir: string, prefix: string, state: Walk): Promise<void> {
  if (++state.dirs > state.maxDirs) {
    throw new TooManyEntriesError(state.dirs, state.maxDirs, 'input tree', 'directories to walk (a directory reached through several symlinks counts each time)')
  }
  const entries = (await readdir(dir, { withFileTypes: true, encoding: 'buffer' })).map((entry) => {
    const name = decodeFileName(entry.name)
    if (name == null) {
      const shown = showUndecodable(`${prefix}/`, entry.name)
      throw new InvalidPathError(`${prefix}/${utf8Lossy.decode(entry.name)}`, 'not-unicode', `input ${shown} is not a valid UTF-8 name; rename it`)
    }
    return { entry, name }
  })
  entries.sort((a, b) => compareBytewise(a.name, b.name))
  for (const { entry, name } of entries) {
    const full = join(dir, name)
    const path = `${prefix}/${name}`
    if (entry.isFile()) {
      state.push({ path, source: full, size: (await lstat(full)).size })
    } else if (entry.isDirectory()) {
      await walkInto(full, path, state)
    } else if (entry.isSymbolicLink()) {
      const target = await realPath(full, path)
      if (target !== state.root && !target.startsWith(state.root + sep)) throw new SymlinkEscapeError(path, target)
      const info = await stat(target)
      if (info.isFile()) {
        state.push({ path, source: target, size: info.size })
      } else if (info.isDirectory()) {
        if (state.ancestors.has(target)) throw new SymlinkLoopError(path)
        await walkInto(target, path, state)
      } else {
        throw new UnsupportedFileTypeError(path)
      }
    } else {
      throw new UnsupportedFileTypeError(path)
    }
  }
}

async function walkInto (real: string, path: string, state: Walk): Promise<void> {
  state.ancestors.add(real)
  try {
    await walk(real, path, state)
  } finally {
    state.ancestors.delete(real)
  }
}

async function realPath (path: string, shown: string): Promise<string> {
  try {
    return await realpath(path)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ELOOP') throw new SymlinkLoopError(shown, { cause: err })
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new InputNotFoundError(shown, { cause: err })
    throw err
  }
}

/**
 * Reads a file into memory backed by a `SharedArrayBuffer`: the executor hands such bytes to its
 * worker thread without copying them, and several jobs can share them.
 */
export async function readFileShared (path: string): Promise<Uint8Array> {
  const handle = await open(path, 'r')
  try {
    const { size } = await handle.stat()
    const bytes = new Uint8Array(new SharedArrayBuffer(size))
    let offset = 0
    while (offset < size) {
      const { bytesRead } = await handle.read(bytes, offset, size - offset, offset)
      if (bytesRead === 0) break // the file shrank while we read: keep what is there
      offset += bytesRead
    }
    return offset === size ? bytes : bytes.slice(0, offset)
  } finally {
    await handle.close()
  }
}

/** Reads scanned files into memory (`readFileShared`), for a local run. */
export async function readInputFiles (files: readonly DiskFile[]): Promise<TreeFile[]> {
  const out: TreeFile[] = []
  for (const f of files) out.push({ path: f.path, bytes: await readFileShared(f.source) })
  return out
}

/** Hashes scanned files in a stream (never holding a whole file) into their manifest. */
export async function manifestOfDiskFiles (files: readonly DiskFile[], limits: ManifestLimits = {}): Promise<FileManifest> {
  const entries = []
  for (const f of files) {
    const hash = createHash('sha256')
    let size = 0
    for await (const chunk of createReadStream(f.source)) {
      hash.update(chunk as Buffer)
      size += (chunk as Buffer).byteLength
    }
    entries.push({ path: f.path, size, cid: CID.createV1(RAW_CODE, Digest.create(SHA256_CODE, hash.digest())) })
  }
  return createManifest(entries, limits)
}

/**
 * Writes files into `dir` at their tree paths, creating `dir` and subdirectories as needed and
 * replacing files of the same path (`writeFileNoFollow`: a failed write leaves the old file).
 * Every path is checked before anything is written; nothing is written outside `dir`; a symlink,
 * a FIFO or device, or a file where a directory is needed, is never followed, opened or replaced
 * (`OutputPathConflictError`). Throws `OutputNotDirectoryError` when `dir` is a file,
 * `OutputNotWritableError` when something cannot be written (no permission, a full disk, a path
 * too long for the file system, …).
 */
export async function writeOutputTree (dir: string, files: readonly TreeFile[], limits: ManifestLimits = {}): Promise<void> {
  for (const f of files) validatePath(f.path, limits)
  checkTree(files.map(f => f.path).sort(compareBytewise))
  const root = resolve(dir)
  await prepareRoot(root)
  const made = new Set<string>()
  for (const f of files) {
    const segments = f.path.split('/')
    let at = root
    for (const segment of segments.slice(0, -1)) {
      at = join(at, segment)
      if (made.has(at)) continue
      await ensureDirectory(at)
      made.add(at)
    }
    await writeFileNoFollow(join(at, segments[segments.length - 1]), f.bytes)
  }
}

async function prepareRoot (root: string): Promise<void> {
  let info
  try {
    info = await stat(root)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOTDIR') throw new OutputNotDirectoryError(root)
    if (code !== 'ENOENT') throw notWritable(err, root)
    try {
      await makeDir(root)
    } catch (mkdirErr) {
      if (!(mkdirErr instanceof MakeDirError)) throw notWritable(mkdirErr, root)
      if (mkdirErr.errno === 'ENOTDIR' || mkdirErr.errno === 'EEXIST') throw new OutputNotDirectoryError(root)
      throw notWritable(mkdirErr.cause ?? mkdirErr, root)
    }
    return
  }
  if (!info.isDirectory()) throw new OutputNotDirectoryError(root)
  try {
    await access(root, constants.W_OK | constants.X_OK)
  } catch (err) {
    throw notWritable(err, root)
  }
}

async function ensureDirectory (path: string): Promise<void> {
  try {
    await mkdir(path)
    return
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw notWritable(err, path, dirname(path))
  }
  const info = await lstat(path).catch((err: unknown) => { throw notWritable(err, path, dirname(path)) })
  if (info.isSymbolicLink()) throw new OutputPathConflictError(path, 'a symlink is in the way (not followed)')
  if (!info.isDirectory()) throw new OutputPathConflictError(path, 'a file is where a directory is needed')
}

/**
 * Writes `bytes` at `path` through a new file beside it, renamed over `path` once complete: a
 * write that fails (a full disk, a quota) leaves no part of a file under the name and keeps a
 * file already there. What is at `path` is never followed or opened: a symlink, a directory or a
 * FIFO, socket or device there is refused (`OutputPathConflictError`; opening a FIFO would block).
 */
export async function writeFileNoFollow (path: string, bytes: Uint8Array): Promise<void> {
  const dir = dirname(path)
  let existing
  try {
    existing = await lstat(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw notWritable(err, path, dir)
  }
  if (existing != null && !existing.isFile()) throw inTheWay(path, existing)
  let handle: FileHandle | undefined
  let temp = ''
  for (let attempt = 0; handle == null; attempt++) {
    temp = join(dir, `.depin-${randomBytes(6).toString('hex')}.tmp`)
    try {
      handle = await open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 10) throw notWritable(err, path, dir)
    }
  }
  try {
    try {
      let offset = 0
      while (offset < bytes.byteLength) {
        const { bytesWritten } = await handle.write(bytes, offset, bytes.byteLength - offset)
        offset += bytesWritten
      }
    } finally {
      await handle.close() // (a write-back error may surface here: it fails the write too)
    }
    await rename(temp, path)
  } catch (err) {
    await unlink(temp).catch(() => {})
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EISDIR' || code === 'ENOTEMPTY' || code === 'EEXIST') throw new OutputPathConflictError(path, 'a directory is where a file is needed')
    throw notWritable(err, path, dir)
  }
}

function inTheWay (path: string, info: Stats): OutputPathConflictError {
  if (info.isSymbolicLink()) return new OutputPathConflictError(path, 'a symlink is in the way (not followed)')
  if (info.isDirectory()) return new OutputPathConflictError(path, 'a directory is where a file is needed')
  return new OutputPathConflictError(path, 'a FIFO, socket or device is in the way (not opened)')
}

/**
 * Any system error from writing `path` (in directory `dir`) as `OutputNotWritableError`: no
 * permission names the directory; anything else (ENOSPC, ENAMETOOLONG, EDQUOT, EIO, …) names the
 * path with the system's words and code. An error that is already the library's passes through.
 */
export function notWritable (err: unknown, path: string, dir = path): DepinError {
  if (err instanceof DepinError) return err
  const code = (err as NodeJS.ErrnoException).code
  // ENOENT from mkdir on a path that stat says is missing: a pseudo file system (/proc, /sys)
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS' || code === 'ENOENT') return new OutputNotWritableError(dir, { cause: err, systemCode: code })
  const errno = (err as NodeJS.ErrnoException).errno
  let reason = code ?? (err as Error).message
  if (typeof errno === 'number') {
    try { reason = getSystemErrorMessage(errno) } catch {}
  }
  return new OutputNotWritableError(path, { cause: err, reason, ...(code != null ? { systemCode: code } : {}) })
}
