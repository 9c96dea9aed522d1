/**
 * The `in` parts of an upload: one file part per input file, its filename the file's path in the
 * job's input tree (`photos/a.pgm` is `/in/photos/a.pgm`). Each part is checked as it arrives,
 * before its bytes are read: the path rules (src/scheduler/files/paths.ts), no path twice, the
 * count, the size of the manifest the tree will have (MAX_MANIFEST_BYTES: workers refuse a larger
 * one); its bytes are capped by what is left of the total. A path that is both a file and a
 * directory (`a` and `a/b`) is found once all parts are in, in one sorted pass.
 */
import { MAX_MANIFEST_BYTES, MAX_MANIFEST_ENTRIES } from '../../scheduler/files/constants.ts'
import { encodedManifestBytes } from '../../scheduler/files/manifest.ts'
import { InvalidPathError } from '../../scheduler/files/errors.ts'
import { findFileDirConflict, validatePath } from '../../scheduler/files/paths.ts'
import type { TreeFile } from '../../scheduler/files/manifest.ts'
import { MAX_INPUT_FILES_BYTES } from '../../scheduler/task.ts'
import { PART_FRAMING_BYTES, sizeMismatch, UploadRefusedError, type FilenameFidelity, type SpoolRule } from './upload-stream.ts'
import { readSpooledShared, type Spooled } from './upload-spool.ts'

/** The field name of input-tree parts. */
export const IN_FIELD = 'in'

export interface InputTreeLimits {
  /** Most files. @default MAX_MANIFEST_ENTRIES (100,000) */
  maxFiles?: number
  /** Most bytes of all files together. @default MAX_INPUT_FILES_BYTES (1 GiB) */
  maxBytes?: number
}

/** What the client declared of its `in` parts (spec.inFiles, spec.inBytes). */
export interface InputTreeDeclared {
  files?: number
  bytes?: number
}

/** Collects and checks the `in` parts of one upload. */
export class InputTreeParts {
  readonly maxFiles: number
  readonly maxBytes: number
  private declared: InputTreeDeclared = {}
  private readonly files = new Map<string, Spooled>()
  private bytes = 0
  /** Encoded manifest bytes of the entries so far (without the few bytes of its header). */
  private manifestBytes = 0

  constructor (limits: InputTreeLimits = {}) {
    this.maxFiles = limits.maxFiles ?? MAX_MANIFEST_ENTRIES
    this.maxBytes = limits.maxBytes ?? MAX_INPUT_FILES_BYTES
  }

  get count (): number { return this.files.size }
  get totalBytes (): number { return this.bytes }

  /**
   * Most bytes the `in` parts may add to an upload besides their contents: each part's framing,
   * and their filenames (their paths, at most the manifest's size, three times over when
   * percent-encoded).
   */
  get maxFramingBytes (): number {
    return this.maxFiles * PART_FRAMING_BYTES + 3 * MAX_MANIFEST_BYTES
  }

  /** Sets what the client declared; checks what already arrived against it. */
  declare (declared: InputTreeDeclared): void {
    this.declared = declared
    if (declared.files != null && this.files.size > declared.files) throw this.tooManyDeclared()
    if (declared.bytes != null && this.bytes > declared.bytes) throw new UploadRefusedError(400, 'ERR_UPLOAD_SIZE_MISMATCH', `the \`in\` files are longer than the ${declared.bytes} bytes declared in spec.inBytes`, 'size_mismatch')
  }

  /**
   * Checks an `in` part's path before its bytes are read; returns how to keep its bytes.
   * `fidelity`: whether the filename is what was sent (upload-stream.ts).
   */
  accept (filename: string | undefined, fidelity: FilenameFidelity): SpoolRule {
    if (filename == null || filename === '') {
      throw new UploadRefusedError(400, 'ERR_INVALID_PATH', 'an `in` part needs a filename: the file\'s path under /in (e.g. photos/a.pgm)', 'malformed')
    }
    // The parser decodes a filename (`filename*=UTF-8''…` percent-encoded, or raw bytes in
    // `filename="…"`) with U+FFFD for bytes that are not UTF-8: the path would not be the one sent.
    if (fidelity === 'not-utf8') {
      throw new UploadRefusedError(400, 'ERR_INVALID_PATH', `\`in\` part: its filename is not valid UTF-8 (${quote(filename)})`, 'malformed')
    }
    if (fidelity === 'unknown') {
      throw new UploadRefusedError(400, 'ERR_INVALID_PATH', `\`in\` part: its filename holds U+FFFD, which could stand for bytes that are not UTF-8 in its charset; send it as UTF-8 (${quote(filename)})`, 'malformed')
    }
    try {
      validatePath(filename)
    } catch (err) {
      if (err instanceof InvalidPathError) throw new UploadRefusedError(400, err.code, `\`in\` part: ${err.message}`, 'malformed')
      throw err
    }
    if (this.files.has(filename)) throw new UploadRefusedError(400, 'ERR_DUPLICATE_PATH', `two \`in\` parts have the path ${quote(filename)}`, 'malformed')
    if (this.files.size >= this.maxFiles) {
      throw new UploadRefusedError(413, 'ERR_TOO_MANY_ENTRIES', `the upload has more than ${this.maxFiles} \`in\` files`, 'parts')
    }
    if (this.declared.files != null && this.files.size >= this.declared.files) throw this.tooManyDeclared()
    // Its entry with a size of at most 2^32 (9 bytes in CBOR: 4 more than the smallest).
    if (this.manifestBytes + entryBytes(filename, 0) + 4 > MAX_MANIFEST_BYTES) throw manifestTooLarge()
    const left = this.maxBytes - this.bytes
    const declaredLeft = this.declared.bytes != null ? this.declared.bytes - this.bytes : undefined
    const label = `in ${quote(filename)}`
    // Past a declared total lower than the limit, it is the client's own figure that is wrong.
    if (declaredLeft != null && declaredLeft < left) {
      return {
        label,
        cap: declaredLeft,
        tooLargeCode: 'ERR_UPLOAD_SIZE_MISMATCH',
        tooLargeStatus: 400,
        tooLargeMessage: `the \`in\` files are longer than the ${this.declared.bytes} bytes declared in spec.inBytes (at ${quote(filename)})`
      }
    }
    return { label, cap: left, tooLargeCode: 'ERR_INPUT_FILES_TOO_LARGE', tooLargeMessage: `the \`in\` files are over ${this.maxBytes} bytes in all (at ${quote(filename)})` }
  }

  /** Records a part that passed its rule. */
  add (path: string, spooled: Spooled): void {
    this.files.set(path, spooled)
    this.bytes += spooled.bytes
    this.manifestBytes += entryBytes(path, spooled.bytes)
  }

  /**
   * Checks the whole tree (declared count and bytes, no file used as a directory), then reads
   * the files back into shareable memory (the executor passes them to its threads without a copy).
   */
  async read (): Promise<TreeFile[]> {
    if (this.declared.files != null && this.files.size !== this.declared.files) {
      throw new UploadRefusedError(400, 'ERR_UPLOAD_SIZE_MISMATCH', `the upload has ${this.files.size} \`in\` files, not the ${this.declared.files} declared in spec.inFiles`, 'size_mismatch')
    }
    if (this.declared.bytes != null && this.bytes !== this.declared.bytes) throw sizeMismatch('the `in` files', this.bytes, this.declared.bytes, 'spec.inBytes')
    const encoded = encodedManifestBytes([...this.files].map(([path, f]) => ({ pathBytes: Buffer.byteLength(path), size: f.bytes })))
    if (encoded > MAX_MANIFEST_BYTES) throw manifestTooLarge()
    const conflict = findFileDirConflict([...this.files.keys()])
    if (conflict != null) {
      throw new UploadRefusedError(400, 'ERR_PATH_CONFLICT', `\`in\` path ${quote(conflict.file)} is a file, and ${quote(conflict.inside)} puts a file inside it`, 'malformed')
    }
    const out: TreeFile[] = []
    for (const [path, spooled] of this.files) out.push({ path, bytes: await readSpooledShared(spooled) })
    return out
  }

  private tooManyDeclared (): UploadRefusedError {
    return new UploadRefusedError(400, 'ERR_UPLOAD_SIZE_MISMATCH', `the upload has more \`in\` files than the ${this.declared.files} declared in spec.inFiles`, 'size_mismatch')
  }
}

/** Bytes of one entry in an encoded manifest. */
function entryBytes (path: string, size: number): number {
  return encodedManifestBytes([{ pathBytes: Buffer.byteLength(path), size }]) - encodedManifestBytes([])
}

function manifestTooLarge (): UploadRefusedError {
  return new UploadRefusedError(413, 'ERR_MANIFEST_TOO_LARGE', `the \`in\` files' manifest would be over ${MAX_MANIFEST_BYTES} bytes (too many files, or too long paths)`, 'too_large')
}

function quote (path: string): string {
  return JSON.stringify(path.length > 120 ? `${path.slice(0, 120)}…` : path)
}
