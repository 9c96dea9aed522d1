/**
 * Creating a directory and its missing parents, one level at a time, instead of Node's
 * `mkdir(path, { recursive: true })`: that never settles under /proc (`depin testnet --dir
 * /proc/x` hung, and the synchronous one blocks the whole process, signals included), and on a
 * read-only mount it reports ENOENT instead of EROFS. A plain mkdir per missing level fails at
 * once with the real reason, and the error names the directory that refused. (The synchronous
 * and the asynchronous walk are the same steps; only their calls differ.)
 */
import { mkdirSync, statSync, type Stats } from 'node:fs'
import { mkdir, stat } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { DepinError } from '../errors.ts'

/** A directory could not be created; `reason` says why without repeating the path. */
export class MakeDirError extends DepinError {
  /** The errno code of the failed call (`EROFS`, `EACCES`, `ENOTDIR`, `EEXIST`, …). */
  readonly errno: string | undefined
  readonly reason: string
  constructor (path: string, reason: string, errno: string | undefined, options?: ErrorOptions) {
    super(`cannot create ${path}: ${reason}`, 'ERR_MAKE_DIR', options)
    this.errno = errno
    this.reason = reason
  }
}

/** Creates `path` and its missing parents (each with `mode`); throws MakeDirError. */
export async function makeDir (path: string, options: { mode?: number } = {}): Promise<void> {
  const missing = await missingLevels(path)
  for (const level of missing) {
    try {
      await mkdir(level, { mode: options.mode })
    } catch (err) {
      // Created meanwhile by someone else: fine if it is a directory.
      if ((err as NodeJS.ErrnoException).code === 'EEXIST' && (await stat(level).catch(() => undefined))?.isDirectory() === true) continue
      throw failure(path, level, err)
    }
  }
}

/** `makeDir` for the few places that must stay synchronous (opening the operator log). */
export function makeDirSync (path: string, options: { mode?: number } = {}): void {
  const target = resolve(path)
  const missing: string[] = []
  for (let current = target; ; current = dirname(current)) {
    let info: Stats | undefined
    try {
      info = statSync(current)
    } catch (err) {
      if (!isMissing(err)) throw failure(path, current, err)
    }
    if (info != null) { checkExisting(path, target, current, info); break }
    missing.unshift(current)
    if (dirname(current) === current) break
  }
  for (const level of missing) {
    try {
      mkdirSync(level, { mode: options.mode })
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST' && isDirectorySync(level)) continue
      throw failure(path, level, err)
    }
  }
}

/** The levels of `path` that do not exist yet, outermost first; throws when a file is in the way. */
async function missingLevels (path: string): Promise<string[]> {
  const target = resolve(path)
  const missing: string[] = []
  for (let current = target; ; current = dirname(current)) {
    let info: Stats | undefined
    try {
      info = await stat(current)
    } catch (err) {
      if (!isMissing(err)) throw failure(path, current, err)
    }
    if (info != null) { checkExisting(path, target, current, info); break }
    missing.unshift(current)
    if (dirname(current) === current) break
  }
  return missing
}

function isDirectorySync (path: string): boolean {
  try {
    return statSync(path).isDirectory()
  } catch {
    return false
  }
}

/** ENOENT, or ENOTDIR (a file further up: the mkdir below it names the problem). */
function isMissing (err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code
  return code === 'ENOENT' || code === 'ENOTDIR'
}

/** The nearest existing level must be a directory. */
function checkExisting (path: string, target: string, existing: string, info: Stats): void {
  if (info.isDirectory()) return
  if (existing === target) throw new MakeDirError(path, 'it is a file, not a directory', 'EEXIST')
  throw new MakeDirError(path, `its parent ${existing} is not a directory`, 'ENOTDIR')
}

/** Names the directory that refused: the parent in which `level` could not be made. */
function failure (path: string, level: string, err: unknown): MakeDirError {
  const code = (err as NodeJS.ErrnoException).code
  const parent = dirname(level)
  const why = code === 'EROFS'
    ? `${parent} is on a read-only file system`
    : code === 'EACCES' || code === 'EPERM'
      ? `no permission to create directories in ${parent}`
      : code === 'ENOENT'
        // The parent exists (it was just looked at) yet refuses: /proc, /sys and the like.
        ? `${parent} does not take new directories`
        : code === 'ENOTDIR'
          ? 'a part of its path is a file, not a directory'
          : `cannot create ${level}: ${(err as Error).message}`
  return new MakeDirError(path, why, code, { cause: err })
}
