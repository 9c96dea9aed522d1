import { DepinError } from '../../errors.ts'

/** Why a path was refused (`InvalidPathError.reason`). */
export type InvalidPathReason =
  | 'not-a-string' // not a string at all
  | 'empty' // ''
  | 'absolute' // starts with '/'
  | 'trailing-slash' // ends with '/'
  | 'empty-segment' // 'a//b'
  | 'dot-segment' // a '.' or '..' segment
  | 'nul' // contains a NUL character
  | 'not-unicode' // a lone surrogate: has no UTF-8 form
  | 'too-long' // over the path limit (bytes)
  | 'name-too-long' // one segment over MAX_NAME_BYTES

/** A path in a manifest, an input tree or an output tree breaks the path rules. */
export class InvalidPathError extends DepinError {
  readonly path: string
  readonly reason: InvalidPathReason

  constructor (path: string, reason: InvalidPathReason, message?: string) {
    super(message ?? `invalid path ${quote(path)}: ${reason}`, 'ERR_INVALID_PATH')
    this.path = path
    this.reason = reason
  }
}

/** The same path is listed twice. */
export class DuplicatePathError extends DepinError {
  readonly path: string

  constructor (path: string) {
    super(`path ${quote(path)} is listed twice`, 'ERR_DUPLICATE_PATH')
    this.path = path
  }
}

/** A file's path is also used as a directory by another entry ('a' and 'a/b'). */
export class PathConflictError extends DepinError {
  readonly path: string
  readonly file: string

  constructor (path: string, file: string) {
    super(`path ${quote(path)} puts a file inside ${quote(file)}, which is a file`, 'ERR_PATH_CONFLICT')
    this.path = path
    this.file = file
  }
}

/** More entries than allowed (counted before anything is decoded or read where possible). */
export class TooManyEntriesError extends DepinError {
  readonly count: number
  readonly limit: number

  constructor (count: number, limit: number, what = 'manifest', entries = 'entries') {
    super(`${what} has ${count} ${entries}, over the limit of ${limit}`, 'ERR_TOO_MANY_ENTRIES')
    this.count = count
    this.limit = limit
  }
}

/** An encoded manifest is larger than allowed; refused before decoding. */
export class ManifestTooLargeError extends DepinError {
  readonly bytes: number
  readonly limit: number

  constructor (bytes: number, limit: number) {
    super(`manifest is ${bytes} bytes, over the limit of ${limit}`, 'ERR_MANIFEST_TOO_LARGE')
    this.bytes = bytes
    this.limit = limit
  }
}

/**
 * Manifest bytes are not a canonical manifest: not DAG-CBOR, wrong shape or version, a CID
 * that is not CIDv1 raw sha2-256, entries out of order. (Bad paths, duplicates and conflicts
 * have their own classes above.)
 */
export class InvalidManifestError extends DepinError {
  constructor (message: string, options?: ErrorOptions) {
    super(message, 'ERR_INVALID_MANIFEST', options)
  }
}

/** A file's bytes do not hash to the CID its manifest entry gives. */
export class FileCidMismatchError extends DepinError {
  readonly path: string

  constructor (path: string, expected: string) {
    super(`bytes of ${quote(path)} do not match ${expected}`, 'ERR_FILE_CID_MISMATCH')
    this.path = path
  }
}

/** A file's byte length is not the size its manifest entry gives. */
export class FileSizeMismatchError extends DepinError {
  readonly path: string
  readonly expected: number
  readonly actual: number

  constructor (path: string, expected: number, actual: number) {
    super(`${quote(path)} is ${actual} bytes, its manifest says ${expected}`, 'ERR_FILE_SIZE_MISMATCH')
    this.path = path
    this.expected = expected
    this.actual = actual
  }
}

/** A manifest lists a file for which no bytes were given. */
export class MissingFileError extends DepinError {
  readonly path: string

  constructor (path: string) {
    super(`no bytes for ${quote(path)}, which the manifest lists`, 'ERR_MISSING_FILE')
    this.path = path
  }
}

/** Bytes were given for a path the manifest does not list. */
export class UnexpectedFileError extends DepinError {
  readonly path: string

  constructor (path: string) {
    super(`${quote(path)} is not in the manifest`, 'ERR_UNEXPECTED_FILE')
    this.path = path
  }
}

/** An input path on disk does not exist (or a symlink in the tree points nowhere). */
export class InputNotFoundError extends DepinError {
  readonly path: string

  constructor (path: string, options?: ErrorOptions) {
    super(`input ${quote(path)} does not exist`, 'ERR_INPUT_NOT_FOUND', options)
    this.path = path
  }
}

/** Following symlinks from an input path loops (a link to itself, to an ancestor directory, ...). */
export class SymlinkLoopError extends DepinError {
  readonly path: string

  constructor (path: string, options?: ErrorOptions) {
    super(`input ${quote(path)} is a symlink loop`, 'ERR_SYMLINK_LOOP', options)
    this.path = path
  }
}

/** A symlink inside an input tree points outside the tree; it is not followed. */
export class SymlinkEscapeError extends DepinError {
  readonly path: string
  readonly target: string

  constructor (path: string, target: string) {
    super(`symlink ${quote(path)} points outside its input tree (to ${quote(target)})`, 'ERR_SYMLINK_ESCAPE')
    this.path = path
    this.target = target
  }
}

/** An input tree holds something that is neither a file nor a directory (socket, FIFO, device). */
export class UnsupportedFileTypeError extends DepinError {
  readonly path: string

  constructor (path: string) {
    super(`input ${quote(path)} is neither a regular file nor a directory`, 'ERR_UNSUPPORTED_FILE_TYPE')
    this.path = path
  }
}

/** The output target exists and is not a directory. */
export class OutputNotDirectoryError extends DepinError {
  readonly path: string

  constructor (path: string) {
    super(`output ${quote(path)} exists and is not a directory`, 'ERR_OUTPUT_NOT_DIRECTORY')
    this.path = path
  }
}

/**
 * The output directory (or a directory inside it) cannot be written, or writing a file in it
 * failed: no permission (`output directory "D" is not writable`), or any other system error
 * (`cannot write "P": no space left on device (ENOSPC)`; `systemCode` keeps the code, `cause` the
 * error).
 */
export class OutputNotWritableError extends DepinError {
  readonly path: string
  readonly systemCode?: string

  constructor (path: string, options?: ErrorOptions & { systemCode?: string, reason?: string }) {
    super(options?.reason != null
      ? `cannot write ${quoteEnds(path)}: ${options.reason}${options.systemCode != null ? ` (${options.systemCode})` : ''}`
      : `output directory ${quoteEnds(path)} is not writable`, 'ERR_OUTPUT_NOT_WRITABLE', options)
    this.path = path
    if (options?.systemCode != null) this.systemCode = options.systemCode
  }
}

/**
 * Something already in the output directory is in the way: a file where the tree needs a
 * directory, a directory where it needs a file, or a symlink (never followed).
 */
export class OutputPathConflictError extends DepinError {
  readonly path: string

  constructor (path: string, why: string) {
    super(`cannot write ${quoteEnds(path)}: ${why}`, 'ERR_OUTPUT_PATH_CONFLICT')
    this.path = path
  }
}

/** A path for a message: quoted, cut short, control characters escaped. */
function quote (path: string): string {
  const short = path.length > 120 ? `${path.slice(0, 120)}…` : path
  return JSON.stringify(short)
}

/** A path on the local disk for a message: quoted, control characters escaped, its middle cut when long (the start and the file name stay). */
function quoteEnds (path: string): string {
  const short = path.length > 160 ? `${path.slice(0, 60)}…${path.slice(-90)}` : path
  return JSON.stringify(short)
}
