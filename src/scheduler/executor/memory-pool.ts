/**
 * Linear memories kept between runs of a worker thread. Creating a `WebAssembly.Memory` is not
 * cheap: each one reserves its guard region (gigabytes of address space) and V8 collects the
 * old ones with full garbage collections once enough are reserved (measured: 0.14 ms per
 * memory, most of the executor's own cost for a small job). A run that leaves its memory at its
 * initial size gives it back; the next run of the same shape gets it zero-filled, which is
 * exactly what a new memory is (same size, same maximum, all zeros), so nothing of one job
 * reaches the next and runs stay deterministic. A memory that grew cannot shrink and is dropped.
 */
import { WASM_PAGE_BYTES } from './constants.ts'
import { wasm, type WasmMemory } from './wasm-api.ts'

/** Memories larger than this are not kept: zero-filling them would cost more than a new one. */
export const POOLED_MEMORY_MAX_PAGES = 16
/** Memories kept (one per shape is what a worker running one module needs). */
export const POOLED_MEMORIES = 4

export class MemoryPool {
  private readonly free = new Map<string, WasmMemory>()

  /** A memory of `initial` pages (all zero) that can grow to `maximum`. */
  take (initial: number, maximum: number): WasmMemory {
    const key = `${initial}/${maximum}`
    const kept = this.free.get(key)
    if (kept === undefined) return new wasm.Memory({ initial, maximum })
    this.free.delete(key)
    new Uint8Array(kept.buffer).fill(0)
    return kept
  }

  /** Gives back a memory after its run (kept only when it is still at its initial size). */
  give (memory: WasmMemory, initial: number, maximum: number): void {
    if (initial > POOLED_MEMORY_MAX_PAGES || memory.buffer.byteLength !== initial * WASM_PAGE_BYTES) return
    const key = `${initial}/${maximum}`
    this.free.delete(key)
    this.free.set(key, memory)
    if (this.free.size > POOLED_MEMORIES) this.free.delete(this.free.keys().next().value as string)
  }
}
