/**
 * The path rules shared by manifests, input trees and output trees, and the one order every
 * listing uses.
 *
 * A path is relative, `/`-separated, UTF-8: no leading or trailing `/`, no empty, `.` or `..`
 * segment, no NUL, at most `MAX_PATH_BYTES` bytes in all and `MAX_NAME_BYTES` per segment.
 * A tree is a set of file paths where no path is listed twice and no file is also a directory
 * of another path ('a' and 'a/b'). Directories are implied by the paths of their files.
 */
import { MAX_NAME_BYTES, MAX_PATH_BYTES } from './constants.ts'
import { DuplicatePathError, InvalidPathError, PathConflictError } from './errors.ts'

export interface PathRules {
  /** Longest path, UTF-8 bytes. Default `MAX_PATH_BYTES`. */
  maxPathBytes?: number
}

/** Throws `InvalidPathError` (with its reason) unless `path` follows the path rules. */
export function validatePath (path: unknown, rules: PathRules = {}): asserts path is string {
  if (typeof path !== 'string') throw new InvalidPathError(String(path), 'not-a-string')
  const maxPathBytes = rules.maxPathBytes ?? MAX_PATH_BYTES
  // length first: a 10 MB string costs nothing more than this comparison
  if (path.length > maxPathBytes) throw new InvalidPathError(path, 'too-long')
  if (path === '') throw new InvalidPathError(path, 'empty')
  if (!path.isWellFormed()) throw new InvalidPathError(path, 'not-unicode')
  if (Buffer.byteLength(path) > maxPathBytes) throw new InvalidPathError(path, 'too-long')
  if (path.includes('\0')) throw new InvalidPathError(path, 'nul')
  if (path.startsWith('/')) throw new InvalidPathError(path, 'absolute')
  if (path.endsWith('/')) throw new InvalidPathError(path, 'trailing-slash')
  for (const segment of path.split('/')) {
    if (segment === '') throw new InvalidPathError(path, 'empty-segment')
    if (segment === '.' || segment === '..') throw new InvalidPathError(path, 'dot-segment')
    if (segment.length > MAX_NAME_BYTES || Buffer.byteLength(segment) > MAX_NAME_BYTES) {
      throw new InvalidPathError(path, 'name-too-long')
    }
  }
}

/**
 * Orders strings by their UTF-8 bytes (the order of every manifest and directory listing).
 * UTF-8 byte order is code point order; UTF-16 code unit order (JS's `<`) differs from it only
 * when a surrogate pair meets a code unit in U+E000..U+FFFF.
 */
export function compareBytewise (a: string, b: string): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i)
    const y = b.charCodeAt(i)
    if (x === y) continue
    if (x < 0xd800 && y < 0xd800) return x - y
    return (a.codePointAt(i) as number) - (b.codePointAt(i) as number)
  }
  return a.length - b.length
}

/**
 * Checks that bytewise-sorted, individually valid paths form a tree: no duplicate and no file
 * used as a directory. Throws `DuplicatePathError` or `PathConflictError`. O(n log n) compares
 * and no memory beyond one sorted copy, whatever the depth of the paths (a hostile manifest of
 * deep paths costs what its bytes cost): sorted with `/` as the lowest character (paths hold no
 * NUL), every path under `a/` comes right after `a`, so comparing neighbours finds every conflict.
 */
export function checkTree (sortedPaths: readonly string[]): void {
  for (let i = 1; i < sortedPaths.length; i++) {
    if (sortedPaths[i] === sortedPaths[i - 1]) throw new DuplicatePathError(sortedPaths[i])
  }
  const conflict = findFileDirConflict(sortedPaths)
  if (conflict != null) throw new PathConflictError(conflict.inside, conflict.file)
}

/**
 * A file path that another path uses as a directory (`a` and `a/b`), in any order of the paths,
 * or undefined (see `checkTree` for how).
 */
export function findFileDirConflict (paths: readonly string[]): { file: string, inside: string } | undefined {
  const slashFirst = paths.slice().sort(compareSlashFirst)
  for (let i = 1; i < slashFirst.length; i++) {
    const file = slashFirst[i - 1]
    const inside = slashFirst[i]
    if (inside.length > file.length && inside.charCodeAt(file.length) === 0x2f && inside.startsWith(file)) return { file, inside }
  }
  return undefined
}

/** Orders by UTF-16 code units except that `/` comes before every other character. */
function compareSlashFirst (a: string, b: string): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i)
    const y = b.charCodeAt(i)
    if (x === y) continue
    if (x === 0x2f) return -1
    if (y === 0x2f) return 1
    return x - y
  }
  return a.length - b.length
}
