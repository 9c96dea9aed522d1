/**
 * Messages between the executor (main thread) and its worker threads. Plain structured-clone
 * data; a `WebAssembly.Module` clones across worker_threads without recompiling (the compiled
 * code is shared), and the stdin/stdout/stderr buffers are transferred, not copied.
 */

import type { WasmModule } from './wasm-api.ts'
import type { ExecResult } from './index.ts'
import type { FsInput, FsLimits } from './memfs.ts'

/** main → worker: run one job on a fresh WASI instance. */
export interface RunRequest {
  type: 'run'
  id: number
  /** The module's CID: the worker keeps modules it was sent under this key. */
  moduleKey: string
  /** Sent only when this worker does not hold `moduleKey` yet (cloning a Module per run is not free). */
  module?: WasmModule
  /** Where the (possibly rewritten) module imports its memory from. */
  memoryImport: { module: string, name: string }
  initialPages: number
  /** The cap: `memory.grow` fails past it. */
  maximumPages: number
  stdin: Uint8Array
  /** Full argv, argv[0] included. */
  args: string[]
  /** Environment, keys sorted, so every peer builds the same environ block. */
  env: Record<string, string>
  seed: Uint8Array
  maxStdoutBytes: number
  maxStderrBytes: number
  /**
   * The files under /in. Bytes backed by a SharedArrayBuffer are shared with the worker as they
   * are; others arrive in buffers of their own, transferred (see executor.ts).
   */
  files: FsInput[]
  fsLimits: FsLimits
  /** The module is instrumented for fuel: count it, and stop at `fuelLimit`. */
  metered: boolean
  /** 0..2^64-1; absent: no limit. */
  fuelLimit?: bigint
}

/** What the job left in /out, as it crosses to the main thread (CIDs as bytes: a CID object does not survive structured cloning). */
export interface WireOutputs {
  /** Sorted by path; each `bytes` on a buffer of its own, transferred. */
  files: Array<{ path: string, cid: Uint8Array, bytes: Uint8Array }>
  manifestBytes: Uint8Array
  manifestCid: Uint8Array
}

/** worker → main: the outcome of a `RunRequest` (the executor's result with its request id). */
export type RunResponse = { type: 'result', id: number } & Omit<ExecResult, 'outputs'> & {
  /** Absent when the job left nothing in /out (most jobs): the main thread has that result made once. */
  outputs?: WireOutputs
}

/** worker → main: the worker loaded node:wasi and listens. */
export interface ReadyMessage {
  type: 'ready'
}

export type WorkerMessage = RunResponse | ReadyMessage

/** `workerData` of every executor worker. */
export interface ExecutorWorkerData {
  /**
   * One float64: the worker's thread CPU time (µs) when its current run started. The main
   * thread reads it when it has to kill a run (timeout, abort), since the worker cannot answer.
   */
  cpuAtRunStartUs: SharedArrayBuffer
}
