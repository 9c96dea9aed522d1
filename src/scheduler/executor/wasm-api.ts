/**
 * Types for the parts of the WebAssembly JS API the executor uses. The project compiles against
 * lib ES2024 without DOM, which declares no `WebAssembly`; this file types the global locally
 * instead of adding a global declaration that could clash with a DOM lib later.
 */
/** A compiled module (`WebAssembly.Module`). Structured-clones across worker_threads. */
export interface WasmModule {
  readonly [Symbol.toStringTag]: string
}

/** `WebAssembly.Memory`. */
export interface WasmMemory {
  readonly buffer: ArrayBuffer
  grow: (deltaPages: number) => number
}

/** `WebAssembly.Instance`. */
export interface WasmInstance {
  readonly exports: Record<string, unknown>
}

export type WasmImports = Record<string, Record<string, unknown>>

interface WasmApi {
  Module: new (bytes: Uint8Array) => WasmModule
  Memory: new (descriptor: { initial: number, maximum?: number }) => WasmMemory
  Instance: new (module: WasmModule, imports?: WasmImports) => WasmInstance
  RuntimeError: new (message?: string) => Error
  CompileError: new (message?: string) => Error
  validate: (bytes: Uint8Array) => boolean
  compile: (bytes: Uint8Array) => Promise<WasmModule>
}

/** `globalThis.WebAssembly`, typed. */
export const wasm: WasmApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly
