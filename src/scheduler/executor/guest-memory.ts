/**
 * The job's linear memory as the host calls see it: views refreshed after `memory.grow`
 * replaced the ArrayBuffer, bounds checks, and the iovec arrays of fd_read/fd_write.
 */
import type { WasmMemory } from './wasm-api.ts'

/**
 * Most iovecs one fd_read/fd_write/fd_pread/fd_pwrite takes; more is EINVAL, as readv/writev
 * answer past IOV_MAX (1024 on Linux). It bounds the host's work and heap per call: the
 * entries are copied out of the guest's memory before any buffer is touched.
 */
export const IOV_MAX = 1024
/** Bytes of one iovec/ciovec entry (u32 pointer, u32 length). */
export const IOVEC_BYTES = 8

/**
 * A validated iovec array: the entries as they were when the call read them (a read into one
 * buffer may overwrite the array itself; later buffers are still the ones the guest passed).
 */
export class Iovecs {
  private readonly bytes: Uint8Array
  private readonly entries: Uint32Array
  /** Sum of the buffers' lengths. */
  readonly total: number

  constructor (bytes: Uint8Array, entries: Uint32Array, total: number) {
    this.bytes = bytes
    this.entries = entries
    this.total = total
  }

  get count (): number {
    return this.entries.length / 2
  }

  /** Length of buffer `i` (0: skip it, a view costs more than the nothing it would move). */
  lengthAt (i: number): number {
    return this.entries[2 * i + 1]
  }

  /** Buffer `i`, as a view into the memory. */
  at (i: number): Uint8Array {
    const ptr = this.entries[2 * i]
    return this.bytes.subarray(ptr, ptr + this.entries[2 * i + 1])
  }
}

export class GuestMemory {
  private readonly memory: WasmMemory
  private buffer: ArrayBuffer
  view: DataView
  bytes: Uint8Array

  constructor (memory: WasmMemory) {
    this.memory = memory
    this.buffer = memory.buffer
    this.view = new DataView(this.buffer)
    this.bytes = new Uint8Array(this.buffer)
  }

  /** Call at the start of every host call: the guest may have grown its memory since the last. */
  refresh (): void {
    if (this.memory.buffer !== this.buffer) {
      this.buffer = this.memory.buffer
      this.view = new DataView(this.buffer)
      this.bytes = new Uint8Array(this.buffer)
    }
  }

  /** `ptr` and `len` are unsigned (`>>> 0`); true when [ptr, ptr + len) is inside the memory. */
  inBounds (ptr: number, len: number): boolean {
    return ptr + len <= this.bytes.byteLength
  }

  /**
   * The iovec/ciovec array of `count` (≤ `IOV_MAX`) entries at `ptr`, which the caller has
   * bounds-checked; undefined when one buffer is out of bounds (EFAULT).
   */
  iovecs (ptr: number, count: number): Iovecs | undefined {
    const entries = new Uint32Array(2 * count)
    let total = 0
    for (let i = 0; i < count; i++) {
      const buf = this.view.getUint32(ptr + i * IOVEC_BYTES, true)
      const len = this.view.getUint32(ptr + i * IOVEC_BYTES + 4, true)
      if (!this.inBounds(buf, len)) return undefined
      entries[2 * i] = buf
      entries[2 * i + 1] = len
      total += len
    }
    return new Iovecs(this.bytes, entries, total)
  }
}
