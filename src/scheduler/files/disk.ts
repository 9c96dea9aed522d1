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
 * devices are refused (`UnsupportedFileTypeError`): reading a FIFO would block.
 */
import { createReadStream } from 'node:fs'
import { access, constants, lstat, mkdir, open, readdir, realpath, stat } from 'node:fs/promises'
import { basename, dirname, join, resolve, sep } from 'node:path'
import { createHash } from 'node:crypto'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { RAW_CODE, SHA256_CODE } from '../../proofs/encoding.ts'
import { MAX_MANIFEST_ENTRIES } from './constants.ts'
import {
  InputNotFoundError, OutputNotDirectoryError, OutputNotWritableError, OutputPathConflictError, SymlinkEscapeError,
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
 * `TooManyEntriesError` (stops scanning as soon as the count passes the limit),
 * `InvalidPathError` (e.g. a name over 255 bytes, or `/` as an input), `DuplicatePathError` (two
 * inputs with the same basename).
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
      await walk(real, name, real, new Set([real]), push)
    } else {
      throw new UnsupportedFileTypeError(given)
    }
  }
  out.sort((a, b) => compareBytewise(a.path, b.path))
  checkTree(out.map(f => f.path))
  return out
}

async function walk (dir: string, prefix: string, root: string, ancestors: Set<string>, push: (f: DiskFile) => void): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true })
  entries.sort((a, b) => compareBytewise(a.name, b.name))
  for (const entry of entries) {
    const full = join(dir, entry.name)
    const path = `${prefix}/${entry.name}`
    if (entry.isFile()) {
      push({ path, source: full, size: (await lstat(full)).size })
    } else if (entry.isDirectory()) {
      await walk(full, path, root, new Set([...ancestors, full]), push)
    } else if (entry.isSymbolicLink()) {
      const target = await realPath(full, path)
      if (target !== root && !target.startsWith(root + sep)) throw new SymlinkEscapeError(path, target)
      const info = await stat(target)
      if (info.isFile()) {
        push({ path, source: target, size: info.size })
      } else if (info.isDirectory()) {
        if (ancestors.has(target)) throw new SymlinkLoopError(path)
        await walk(target, path, root, new Set([...ancestors, target]), push)
      } else {
        throw new UnsupportedFileTypeError(path)
      }
    } else {
      throw new UnsupportedFileTypeError(path)
    }
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
 * overwriting files of the same path. Every path is checked before anything is written; nothing
 * is written outside `dir`; a symlink, or a file where a directory is needed, is never followed
 * or replaced (`OutputPathConflictError`). Throws `OutputNotDirectoryError` when `dir` is a file,
 * `OutputNotWritableError` when it cannot be written.
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
      await ensureDirectory(at, root)
      made.add(at)
    }
    await writeFileNoFollow(join(at, segments[segments.length - 1]), f.bytes, root)
  }
}

/**
 * `mkdir -p`, one directory at a time from the deepest that exists. (Node's recursive mkdir
 * never returns on some pseudo file systems, e.g. a path under /proc.)
 */
async function mkdirEach (path: string): Promise<void> {
  const missing: string[] = []
  let at = resolve(path)
  while (true) {
    try {
      await stat(at)
      break
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
      missing.push(at)
      const parent = dirname(at)
      if (parent === at) break
      at = parent
    }
  }
  for (const dir of missing.reverse()) {
    try {
      await mkdir(dir)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    }
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
      await mkdirEach(root)
    } catch (mkdirErr) {
      if ((mkdirErr as NodeJS.ErrnoException).code === 'ENOTDIR' || (mkdirErr as NodeJS.ErrnoException).code === 'EEXIST') {
        throw new OutputNotDirectoryError(root)
      }
      throw notWritable(mkdirErr, root)
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

async function ensureDirectory (path: string, root: string): Promise<void> {
  try {
    await mkdir(path)
    return
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw notWritable(err, root)
  }
  const info = await lstat(path)
  if (info.isSymbolicLink()) throw new OutputPathConflictError(path, 'a symlink is in the way (not followed)')
  if (!info.isDirectory()) throw new OutputPathConflictError(path, 'a file is where a directory is needed')
}

async function writeFileNoFollow (path: string, bytes: Uint8Array, root: string): Promise<void> {
  let handle
  try {
    handle = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, 0o644)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ELOOP') throw new OutputPathConflictError(path, 'a symlink is in the way (not followed)')
    if (code === 'EISDIR') throw new OutputPathConflictError(path, 'a directory is where a file is needed')
    throw notWritable(err, root)
  }
  try {
    let offset = 0
    while (offset < bytes.byteLength) {
      const { bytesWritten } = await handle.write(bytes, offset, bytes.byteLength - offset)
      offset += bytesWritten
    }
  } finally {
    await handle.close()
  }
}

function notWritable (err: unknown, root: string): Error {
  const code = (err as NodeJS.ErrnoException).code
  // ENOENT from mkdir on a path that stat says is missing: a pseudo file system (/proc, /sys)
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS' || code === 'ENOENT') return new OutputNotWritableError(root, { cause: err })
  return err as Error
}
