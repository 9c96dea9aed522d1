/**
 * The job's linear memory as the host calls see it: views refreshed after `memory.grow`
 * replaced the ArrayBuffer, bounds checks, and the iovec arrays of fd_read/fd_write.
 */
import type { WasmMemory } from './wasm-api.ts'

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
   * The buffers of an iovec/ciovec array (8 bytes each: u32 pointer, u32 length), as views into
   * the memory; undefined when the array or one buffer is out of bounds (EFAULT).
   */
  iovecs (ptr: number, count: number): Uint8Array[] | undefined {
    if (!this.inBounds(ptr, count * 8)) return undefined
    const out: Uint8Array[] = []
    for (let i = 0; i < count; i++) {
      const buf = this.view.getUint32(ptr + i * 8, true)
      const len = this.view.getUint32(ptr + i * 8 + 4, true)
      if (!this.inBounds(buf, len)) return undefined
      out.push(this.bytes.subarray(buf, buf + len))
    }
    return out
  }
}
