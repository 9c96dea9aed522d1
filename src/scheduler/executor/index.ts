/**
 * The sandboxed WASI executor: runs WebAssembly (WASI preview1) jobs in a pool of worker
 * threads, deterministically and within limits.
 *
 * - Sandbox: a job sees only its args, its env, its stdin (in memory), and two preopened
 *   directories of an in-memory file system: `/in` (read-only: `spec.files`) and `/out`
 *   (writable, empty at the start; what it holds at the end is `result.outputs`). It writes
 *   stdout/stderr to memory. No host paths, no host environment, no host fds, no sockets, no
 *   links. A module may import only `wasi_snapshot_preview1` functions (and one memory).
 * - Determinism: clocks are virtual and random bytes come from `spec.seed` (see wasi-shim.ts),
 *   file timestamps are fixed, directory listings sorted (memfs.ts), so the same spec gives the
 *   same stdout, stderr, exit code, output manifest CID and fuel on every peer.
 * - Fuel: every module is instrumented (once per CID) to count deterministic units of work, and
 *   host calls (file-system calls included) cost fuel too; `ExecResult.fuel` is the count,
 *   `ExecSpec.fuel` a limit that stops the job with trap 'out of fuel' at the same point
 *   everywhere (metering/, docs/protocol.md).
 * - Limits: `timeoutMs` is a wall-time deadline (the worker is terminated and replaced);
 *   `memoryMiB` caps WebAssembly memory (`memory.grow` fails past it, see wasm-module.ts);
 *   stdout/stderr are capped (`maxStdoutBytes`/`maxStderrBytes`); the file system's limits
 *   (`maxOutBytes`, `maxOutFiles`, `maxFileBytes`, `maxPathBytes`, `maxOpenFds`) make the call
 *   that passes them fail with an errno (ENOSPC, EDQUOT, EFBIG, ENAMETOOLONG, EMFILE); the job
 *   decides what to do about it.
 * - Output caps: stdout over `maxStdoutBytes` STOPS the job: exitCode -1, trap
 *   'output limit exceeded', `stdout` holds the first `maxStdoutBytes` bytes and
 *   `stdoutTruncated` is true (a job flooding its result is not worth running to the end).
 *   stderr over `maxStderrBytes` is TRUNCATED: the rest is dropped, `stderrTruncated` is true and
 *   the job goes on (stderr is diagnostics; chatty logging should not fail a job).
 *
 * ```ts
 * const executor = createExecutor({ workers: 2 })
 * await executor.start()
 * const result = await executor.run({ moduleCid, module, stdin, args: ['100'], env: {},
 *   memoryMiB: 64, timeoutMs: 10_000, seed })
 * await executor.stop()
 * ```
 */
import { availableParallelism } from 'node:os'
import { WasiExecutorPool } from './executor.ts'
import type { CID } from 'multiformats/cid'
import type { ExecOutputs } from './outputs.ts'
import type { FsLimits } from './memfs.ts'

export {
  InvalidModuleError, ForbiddenImportError, MemoryLimitError, ModuleCidMismatchError, InvalidExecSpecError,
  ExecutorQueueFullError, ExecutorStoppedError, ExecutionAbortedError, WorkerStartError, ReservedExportError,
  UnmeterableModuleError
} from './errors.ts'
export {
  instrumentModule, instrumentModuleAsync, measureFuelRate, parseFuel, MAX_FUEL, HOST_CALL_FUEL, HOST_BYTE_FUEL,
  HOST_IOVEC_FUEL, HOST_POLL_SUBSCRIPTION_FUEL, HOST_POLL_EVENT_FUEL, HOST_DIRENT_FUEL, HOST_RANDOM_BYTE_FUEL,
  FUEL_USED_EXPORT, FUEL_LIMIT_EXPORT, OUT_OF_FUEL_TRAP
} from './metering/index.ts'
export type { InstrumentedModule, InstrumentStats, FuelRate, FuelRateOptions } from './metering/index.ts'
export { inspectModule } from './wasm-module.ts'
export type { ModuleInfo, ModuleImport, ModuleExport, MemoryInfo, InspectOptions, ExternKind } from './wasm-module.ts'
export type { ExecOutputs, OutputFile } from './outputs.ts'
export type { FsLimits } from './memfs.ts'
export { ERRNO } from './wasi-defs.ts'
export {
  DEFAULT_MAX_OUT_BYTES, DEFAULT_MAX_OUT_FILES, DEFAULT_MAX_FILE_BYTES, DEFAULT_MAX_PATH_BYTES, DEFAULT_MAX_OPEN_FDS,
  MAX_FILE_BYTES, DEFAULT_MAX_STDOUT_BYTES, DEFAULT_MAX_STDERR_BYTES, DEFAULT_MAX_QUEUE, DEFAULT_MODULE_CACHE_ENTRIES,
  MAX_MEMORY_MIB, MAX_ARGS_ENV_BYTES, PROGRAM_NAME, SEED_BYTES
} from './constants.ts'

/** One job for the executor. */
export interface ExecSpec {
  /** CID (sha2-256) of `module`; checked against the bytes, and the compile-cache key. */
  moduleCid: CID
  /** The WASI preview1 command module (exports `_start`). */
  module: Uint8Array
  /** Everything the job reads from fd 0. */
  stdin: Uint8Array
  /** Arguments after argv[0]; argv[0] is always `PROGRAM_NAME` ('job.wasm'). */
  args: string[]
  /** The job's whole environment (nothing comes from the host); passed in sorted key order. */
  env: Record<string, string>
  /** Cap on WebAssembly memory, MiB (1..`ExecutorInit.maxMemoryMiB`). */
  memoryMiB: number
  /** Wall-time deadline from the moment a worker starts the job (queue time not included), ms. */
  timeoutMs: number
  /** 32 bytes; the caller derives it from the job id. Keys the job's random bytes. */
  seed: Uint8Array
  /**
   * Files the job finds under /in, read-only: `{ path: 'photos/a.pgm', bytes }` is
   * `/in/photos/a.pgm`. Paths follow the manifest path rules (relative, `/`-separated, no `.` or
   * `..`, unique, no file used as a directory; see src/scheduler/files/paths.ts). Bytes backed by
   * a `SharedArrayBuffer` (e.g. from `readFileShared`) are shared with the worker thread without
   * a copy and stay usable by the caller; other bytes are copied once. Default: none.
   */
  files?: InputFile[]
  /** Lower file system limits for this job than the executor's (each at most the executor's). */
  fsLimits?: Partial<FsLimits>
  /**
   * Fuel limit (0..2^64-1, `MAX_FUEL`): the job stops with trap 'out of fuel' when its fuel would
   * pass it, at the same point on every machine (docs/protocol.md, "Fuel"). Absent: no limit.
   * Needs a metering executor (`ExecutorInit.metering`, on by default).
   */
  fuel?: bigint
}

/** A file under /in. */
export interface InputFile {
  path: string
  bytes: Uint8Array
}

/** What a job did. Identical for identical specs, except `wallMs` and `cpuMs`. */
export interface ExecResult {
  /** The exit status (`exit(n)` or main's return), or -1 when trapped, timed out or killed. */
  exitCode: number
  /**
   * Why the job did not exit by itself: the engine's trap message ('unreachable', 'memory
   * access out of bounds', 'Maximum call stack size exceeded', ...), 'timeout',
   * 'output limit exceeded' or 'worker crashed: ...'. Absent when the job exited.
   */
  trap?: string
  /** Bytes written to fd 1, at most `maxStdoutBytes`. Empty after a timeout or a crash. */
  stdout: Uint8Array
  /** Bytes written to fd 2, at most `maxStderrBytes`. Empty after a timeout or a crash. */
  stderr: Uint8Array
  stdoutTruncated: boolean
  stderrTruncated: boolean
  /** Wall time of instantiation and run, ms. */
  wallMs: number
  /** CPU time (user + system) of the worker thread during the run, ms (`process.threadCpuUsage`). */
  cpuMs: number
  /**
   * The files the job left in /out (also after a trap, like stdout), their manifest and its CID.
   * The executor always sets it; empty after a timeout or a crash. (Optional in the type so that
   * results made elsewhere, e.g. a worker's error result, need not invent one.) A job stopped by
   * its fuel limit reports the files as they were when it stopped, like any other trap.
   */
  outputs?: ExecOutputs
  /**
   * Fuel used: deterministic, the same for the same spec on every machine. Exactly `spec.fuel`
   * when the job ran out of fuel (trap 'out of fuel'). Absent when the executor does not meter,
   * and after a timeout, an abort or a worker crash (the count is lost with the worker).
   */
  fuel?: bigint
}

export interface RunOptions {
  /** Aborting removes a waiting job, or kills the worker running it; `run()` rejects with `ExecutionAbortedError`. */
  signal?: AbortSignal
  /**
   * Called once when the job starts on a worker thread: its time limit counts from then. Not
   * called for a job that never starts (aborted, or failed before). A job may wait for a thread
   * first (all busy, or one being started to replace a killed one). A worker announces a task
   * `running` on its lease from this call: an executor that never makes it leaves its tasks
   * (when it says so: `Executor.reportsStart`).
   */
  onStart?: () => void
}

/**
 * Runs jobs. An interface so tests can hand a component a faulty executor (e.g. one that returns
 * wrong output); `createExecutor` returns the real one.
 */
export interface Executor {
  /**
   * True when `run` calls `options.onStart` as each job starts on a thread: a worker then
   * announces a task `running` from that moment. Otherwise (a custom executor) it announces it
   * when the task gets its slot, and the requester counts the task's time limit from there.
   */
  readonly reportsStart?: boolean
  start(): Promise<void>
  /** Idempotent. Rejects waiting and running jobs with `ExecutorStoppedError`, terminates the workers. */
  stop(): Promise<void>
  /**
   * Runs one job. Rejects with `InvalidExecSpecError`, the path errors of `spec.files`
   * (`InvalidPathError`, `DuplicatePathError`, `PathConflictError`, `TooManyEntriesError`), `ModuleCidMismatchError`,
   * `InvalidModuleError` (or its `ForbiddenImportError`), `MemoryLimitError`,
   * `ExecutorQueueFullError`, `ExecutorStoppedError` or `ExecutionAbortedError`. A job that
   * traps, times out or floods stdout resolves, with exitCode -1 and `trap` saying why.
   */
  run(spec: ExecSpec, options?: RunOptions): Promise<ExecResult>
}

export interface ExecutorStats {
  /** Worker threads alive now. */
  workers: number
  /** Worker threads started since `start()`, replacements included. */
  workersStarted: number
  /** Jobs running now. */
  running: number
  /** Jobs accepted but not yet running (compiling or queued). */
  waiting: number
  /** Module compilations (cache misses). */
  compiles: number
  /** Runs served by an already compiled module. */
  cacheHits: number
  /** Modules in the compile cache. */
  cachedModules: number
}

/** The executor `createExecutor` builds: an `Executor` with counters. */
export interface WasiExecutor extends Executor {
  stats(): ExecutorStats
  /** As `Executor.run`; this executor always reports the outputs. */
  run(spec: ExecSpec, options?: RunOptions): Promise<LocalExecResult>
}

/** The result of the executor `createExecutor` builds: `outputs` is always there. */
export type LocalExecResult = ExecResult & { outputs: ExecOutputs }

export interface ExecutorInit {
  /** Worker threads, started by `start()`. Default: `os.availableParallelism()`. */
  workers?: number
  /** Jobs that may wait on top of the running ones before `run()` throws `ExecutorQueueFullError`. Default `DEFAULT_MAX_QUEUE` (256). */
  maxQueue?: number
  /** stdout cap, bytes; past it the job is stopped. Default `DEFAULT_MAX_STDOUT_BYTES` (16 MiB). */
  maxStdoutBytes?: number
  /** stderr cap, bytes; past it stderr is truncated. Default `DEFAULT_MAX_STDERR_BYTES` (1 MiB). */
  maxStderrBytes?: number
  /** Largest `memoryMiB` a spec may ask for. Default `MAX_MEMORY_MIB` (4096, all of wasm32). */
  maxMemoryMiB?: number
  /** Compiled modules kept (LRU). Default `DEFAULT_MODULE_CACHE_ENTRIES` (32). */
  moduleCacheEntries?: number
  /** Total bytes of the files a job leaves in /out (ENOSPC past it). Default `DEFAULT_MAX_OUT_BYTES` (1 GiB). */
  maxOutBytes?: number
  /** Files and directories a job may create in /out (EDQUOT past it). Default `DEFAULT_MAX_OUT_FILES` (10,000); at most 100,000. */
  maxOutFiles?: number
  /** Size of one file (EFBIG past it). Default `DEFAULT_MAX_FILE_BYTES` (1 GiB); at most `MAX_FILE_BYTES` (4 GiB). */
  maxFileBytes?: number
  /** Longest path a job may use or create, bytes (ENAMETOOLONG past it). Default and maximum `DEFAULT_MAX_PATH_BYTES` (4096). */
  maxPathBytes?: number
  /** Descriptors a job may hold, stdio and the preopens included (EMFILE past it). Default `DEFAULT_MAX_OPEN_FDS` (1024), at least 5. */
  maxOpenFds?: number
  /**
   * Count fuel (instrument every module once per CID before compiling it) and honour
   * `ExecSpec.fuel`. Default true. Off: results carry no `fuel` and a spec with `fuel` is refused
   * with `InvalidExecSpecError`; for benchmarks that compare metered and unmetered runs.
   */
  metering?: boolean
  /**
   * The worker script. Default: worker.ts (worker.js in a build) next to this module. For builds
   * that move files, and for tests that need a worker which misbehaves.
   */
  workerUrl?: URL
}

/** Builds the worker-thread WASI executor. Call `start()` before `run()`. */
export function createExecutor (init: ExecutorInit = {}): WasiExecutor {
  return new WasiExecutorPool({ ...init, workers: init.workers ?? availableParallelism() })
}
