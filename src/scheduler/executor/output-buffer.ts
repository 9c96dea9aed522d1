/**
 * A run's stdout and stderr: bounded buffers in memory (no temp files, no host fds), grown as the
 * job writes and handed over whole, on a buffer of their own, at the end; and the exception that
 * ends a run whose stdout passed its cap. The shim (wasi-shim.ts) decides what a full buffer
 * means (stdout: the run ends; stderr: truncated, the run goes on).
 */

/** Thrown from `fd_write` when stdout passes its cap; ends the run with trap 'output limit exceeded'. */
export class OutputLimitExceeded extends Error {
  constructor () {
    super('output limit exceeded')
    this.name = 'OutputLimitExceeded'
  }
}

/** A bounded in-memory output stream. */
export class OutputBuffer {
  readonly limit: number
  truncated = false
  private buffer: Uint8Array
  private length = 0

  constructor (limit: number) {
    this.limit = limit
    // Empty until the first write: most runs write a few bytes to stdout and none to stderr, and
    // two 64 KiB buffers a run kept the worker thread's collector busy.
    this.buffer = new Uint8Array(0)
  }

  /** Appends what fits under the limit; returns false when some bytes did not fit. */
  write (bytes: Uint8Array): boolean {
    const room = this.limit - this.length
    const take = Math.min(room, bytes.byteLength)
    if (this.length + take > this.buffer.byteLength) {
      const grown = new Uint8Array(Math.min(this.limit, Math.max(this.buffer.byteLength * 2, this.length + take, 4096)))
      grown.set(this.buffer.subarray(0, this.length))
      this.buffer = grown
    }
    this.buffer.set(take === bytes.byteLength ? bytes : bytes.subarray(0, take), this.length)
    this.length += take
    if (take < bytes.byteLength) this.truncated = true
    return take === bytes.byteLength
  }

  /** Bytes written so far, with its own exact-size ArrayBuffer (transferable). */
  take (): Uint8Array {
    const out = new Uint8Array((this.buffer.buffer as ArrayBuffer).transfer(this.length))
    this.buffer = new Uint8Array(0)
    this.length = 0
    return out
  }
}
