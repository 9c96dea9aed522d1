/**
 * The bytes of one file of the sandbox file system.
 *
 * Input files are views of the caller's memory (a `SharedArrayBuffer` or a buffer transferred to
 * the worker): never copied, never written (/in is read-only). Output files start in a small
 * ordinary buffer and move, past `SMALL_FILE_BYTES`, into a resizable `ArrayBuffer` that grows in
 * place up to the file size cap: a 100 MiB output is never reallocated and copied, so it is never
 * held twice, and at the end its buffer is transferred to the main thread as it is. At most
 * MAX_RESIZABLE_FILES files of one job hold one at a time; a file truncated back to small gives
 * its up. (Resizable
 * buffers reserve address space for their maximum; keeping small files in ordinary buffers keeps
 * a job that creates thousands of files from reserving terabytes of it.)
 */

/** Output files up to this size live in ordinary (doubling) buffers. */
export const SMALL_FILE_BYTES = 64 * 1024
/** A resizable buffer grows in steps of at least this, so small writes do not resize each time. */
const GROW_STEP_BYTES = 1024 * 1024
/** What every new file starts with (never written: the first write replaces it), so empty files cost no buffer each. */
const NO_BYTES = new Uint8Array(0)
/**
 * Resizable buffers one file system (one job) holds at once; large files past it grow by
 * doubling ordinary buffers (copied when they grow). Each resizable buffer is a mapping of the
 * process's address space, and a process has a bounded number of them (Linux: vm.max_map_count,
 * ~65,000): jobs running side by side that each made thousands of large files aborted the
 * whole process.
 */
export const MAX_RESIZABLE_FILES = 256

/** Resizable buffers held by one file system's files now (shared by its files). */
export interface FileBudget { resizable: number }

export class FileData {
  /** Largest size this file may reach (the file size cap); fixes the resizable buffer's maximum. */
  private readonly maxBytes: number
  private readonly budget: FileBudget
  private bytes: Uint8Array
  size: number

  private constructor (bytes: Uint8Array, size: number, maxBytes: number, budget: FileBudget) {
    this.bytes = bytes
    this.size = size
    this.maxBytes = maxBytes
    this.budget = budget
  }

  /** An input file: a view of bytes owned elsewhere, read-only by the file system's rules. */
  static view (bytes: Uint8Array): FileData {
    return new FileData(bytes, bytes.byteLength, bytes.byteLength, { resizable: 0 })
  }

  /** A new, empty, writable file of a file system whose files share `budget`. */
  static empty (maxBytes: number, budget: FileBudget = { resizable: 0 }): FileData {
    return new FileData(NO_BYTES, 0, maxBytes, budget)
  }

  /** Copies bytes from `pos` into `into`; returns how many (0 at or past the end). */
  read (pos: number, into: Uint8Array): number {
    if (pos >= this.size) return 0
    const n = Math.min(into.byteLength, this.size - pos)
    into.set(this.bytes.subarray(pos, pos + n))
    return n
  }

  /** Writes `from` at `pos`, growing the file (zero-filled) as needed. The caller checked the caps. */
  write (pos: number, from: Uint8Array): void {
    const end = pos + from.byteLength
    if (end > this.size) this.resize(end)
    this.bytes.set(from, pos)
  }

  /** Sets the size: shrinking drops the tail, growing adds zeros. The caller checked the caps. */
  resize (size: number): void {
    if (size < this.size && size <= SMALL_FILE_BYTES && this.bytes.byteLength > SMALL_FILE_BYTES) {
      // Back to a small file: its large buffer goes (a job that grows and truncates thousands
      // of files holds no more than their sizes).
      const kept = size === 0 ? NO_BYTES : this.bytes.slice(0, size)
      this.release()
      this.bytes = kept
    } else if (size < this.size) {
      this.bytes.fill(0, size, this.size) // so growing later reads zeros, not old bytes
    } else if (size > this.bytes.byteLength) {
      this.reserve(size)
    }
    this.size = size
  }

  /**
   * The bytes of an output file on a buffer of their own, ready to be transferred: small files
   * are copied to an exact-size buffer (cheap), large ones keep their resizable buffer, shrunk to
   * the size. The file must not be used afterwards.
   */
  detach (): Uint8Array {
    const buffer = this.bytes.buffer
    if (buffer instanceof ArrayBuffer && buffer.resizable) {
      buffer.resize(this.size)
      this.budget.resizable--
      return new Uint8Array(buffer, 0, this.size)
    }
    return this.bytes.slice(0, this.size)
  }

  /** The file is gone (unlinked and closed, or back to small): its resizable buffer no longer counts. */
  release (): void {
    const buffer = this.bytes.buffer
    if (buffer instanceof ArrayBuffer && buffer.resizable) this.budget.resizable--
    this.bytes = NO_BYTES
  }

  private reserve (size: number): void {
    const old = this.bytes
    const buffer = old.buffer
    if (size <= SMALL_FILE_BYTES) {
      const grown = new Uint8Array(Math.min(SMALL_FILE_BYTES, Math.max(size, old.byteLength * 2, 256)))
      grown.set(old.subarray(0, this.size))
      this.bytes = grown
    } else if (buffer instanceof ArrayBuffer && buffer.resizable) {
      buffer.resize(Math.min(buffer.maxByteLength, Math.max(size, buffer.byteLength + GROW_STEP_BYTES)))
      this.bytes = new Uint8Array(buffer)
    } else if (this.budget.resizable < MAX_RESIZABLE_FILES) {
      this.budget.resizable++
      const grown = new ArrayBuffer(size, { maxByteLength: this.maxBytes })
      const view = new Uint8Array(grown)
      view.set(old.subarray(0, this.size))
      this.bytes = view
    } else {
      // Past the budget: an ordinary buffer, doubled (and copied) as the file grows.
      const grown = new Uint8Array(Math.min(this.maxBytes, Math.max(size, old.byteLength * 2)))
      grown.set(old.subarray(0, this.size))
      this.bytes = grown
    }
  }
}
