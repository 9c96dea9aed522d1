import type { WasmModule } from './wasm-api.ts'
import type { ModuleInfo } from './wasm-module.ts'

/** A module compiled once and shared with every worker. */
export interface CompiledModule {
  module: WasmModule
  info: ModuleInfo
  memoryImport: { module: string, name: string }
  initialPages: number
  maximumPages?: number
  /** Instrumented for fuel (metering/instrument.ts) before it was compiled. */
  metered: boolean
}

/**
 * Bounded LRU of compilations (fuel instrumentation included, when on) by module CID. It holds the promise, so concurrent runs of a new
 * module share one compilation; a failed compilation is dropped so it is not served again.
 */
export class ModuleCache {
  private readonly entries = new Map<string, Promise<CompiledModule>>()
  private readonly maxEntries: number
  private readonly compile: (bytes: Uint8Array) => Promise<CompiledModule>
  compiles = 0
  hits = 0

  constructor (maxEntries: number, compile: (bytes: Uint8Array) => Promise<CompiledModule>) {
    this.maxEntries = maxEntries
    this.compile = compile
  }

  get size (): number {
    return this.entries.size
  }

  /** Whether a compilation (done or under way) of `key` is kept. */
  has (key: string): boolean {
    return this.entries.has(key)
  }

  /** `bytes` must already be checked against `key` (the CID). */
  get (key: string, bytes: Uint8Array): Promise<CompiledModule> {
    const hit = this.entries.get(key)
    if (hit !== undefined) {
      this.entries.delete(key)
      this.entries.set(key, hit)
      this.hits++
      return hit
    }
    this.compiles++
    const pending = this.compile(bytes)
    this.entries.set(key, pending)
    pending.catch(() => {
      if (this.entries.get(key) === pending) this.entries.delete(key)
    })
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value as string
      this.entries.delete(oldest)
    }
    return pending
  }

  clear (): void {
    this.entries.clear()
  }
}
