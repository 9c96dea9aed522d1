/**
 * The worker pool behind `createExecutor`: admission checks, the compile cache, a bounded queue,
 * one job per worker at a time, deadlines, and replacement of workers that were killed or died.
 */
import { Worker } from 'node:worker_threads'
import { logger } from '@libp2p/logger'
import { ConfigError } from '../../errors.ts'
import { bytesMatchCid, cidText } from '../../proofs/encoding.ts'
import { MAX_MANIFEST_ENTRIES, MAX_PATH_BYTES } from '../files/constants.ts'
import {
  DEFAULT_MAX_FILE_BYTES, DEFAULT_MAX_OPEN_FDS, DEFAULT_MAX_OUT_BYTES, DEFAULT_MAX_OUT_FILES, DEFAULT_MAX_PATH_BYTES,
  DEFAULT_MAX_QUEUE, DEFAULT_MAX_STDERR_BYTES, DEFAULT_MAX_STDOUT_BYTES, DEFAULT_MODULE_CACHE_ENTRIES, MAX_FILE_BYTES, MAX_OPEN_FDS,
  MAX_MEMORY_MIB, PAGES_PER_MIB, PROGRAM_NAME, WORKER_HEAP_BYTES_PER_OUT_FILE, WORKER_MAX_OLD_GENERATION_MIB, WORKER_MAX_YOUNG_GENERATION_MIB,
  WORKER_START_TIMEOUT_MS
} from './constants.ts'
import {
  ExecutionAbortedError, ExecutorQueueFullError, ExecutorStoppedError, InvalidModuleError, MemoryLimitError,
  ModuleCidMismatchError, WorkerStartError
} from './errors.ts'
import { ModuleCache } from './module-cache.ts'
import { jobLimits, validateSpec } from './spec.ts'
import { emptyOutputs, outputsFromWire } from './outputs.ts'
import type { FsInput, FsLimits } from './memfs.ts'
import { preferOptimizingCompiler } from './tiering.ts'
import { wasm } from './wasm-api.ts'
import { inspectModule, prepareModule } from './wasm-module.ts'
import { instrumentModuleAsync } from './metering/instrument.ts'
import type { ExecSpec, ExecutorInit, ExecutorStats, LocalExecResult, RunOptions, WasiExecutor } from './index.ts'
import type { CompiledModule } from './module-cache.ts'
import type { WasmModule } from './wasm-api.ts'
import type { ExecutorWorkerData, RunRequest, WorkerMessage } from './protocol.ts'

const log = logger('depin:executor')

/** Compiled modules each worker thread keeps (by CID), so a module is posted to it once, not per run. */
export const WORKER_MODULES = 16

/**
 * The worker script. Run from source (Node's type stripping, vitest) it is worker.ts next to this
 * file; from a build (tsc output) it is worker.js.
 */
export const WORKER_URL = new URL(import.meta.url.endsWith('.ts') ? './worker.ts' : './worker.js', import.meta.url)

interface Job {
  id: number
  spec: ExecSpec
  /** The module's CID as text: the compile cache's and the workers' key. */
  moduleKey: string
  compiled: CompiledModule
  resolve: (result: LocalExecResult) => void
  reject: (err: Error) => void
  signal?: AbortSignal
  onAbort?: () => void
  slot?: Slot
  timer?: ReturnType<typeof setTimeout>
  startedAt: number
  settled: boolean
}

interface Slot {
  worker: Worker
  ready: boolean
  /** Set once the worker is being terminated or has exited; it takes no more jobs. */
  gone: boolean
  job?: Job
  cpuAtRunStartUs: Float64Array
  /** Module keys this worker holds (it keeps the last WORKER_MODULES it was sent). */
  modules: string[]
  readyPromise: Promise<void>
  onReady: () => void
  onStartFailed: (err: Error) => void
}

type Settled = { result: LocalExecResult } | { error: Error }

export class WasiExecutorPool implements WasiExecutor {
  private readonly size: number
  private readonly maxQueue: number
  private readonly maxStdoutBytes: number
  private readonly maxStderrBytes: number
  private readonly maxMemoryMiB: number
  private readonly fsLimits: FsLimits
  private readonly metering: boolean
  private readonly cache: ModuleCache
  private readonly workerUrl: URL
  private running = false
  private slots: Slot[] = []
  private queue: Job[] = []
  private readonly terminating = new Set<Promise<unknown>>()
  /** Jobs between admission and settlement (compiling, queued or running). */
  private accepted = 0
  private nextJobId = 1
  /** Module byte arrays checked against their CID (see `run`). */
  private readonly verified = new WeakMap<Uint8Array, string>()
  private workersStarted = 0

  constructor (init: ExecutorInit & { workers: number }) {
    this.size = positiveInteger(init.workers, 'workers')
    this.maxQueue = nonNegativeInteger(init.maxQueue ?? DEFAULT_MAX_QUEUE, 'maxQueue')
    this.maxStdoutBytes = nonNegativeInteger(init.maxStdoutBytes ?? DEFAULT_MAX_STDOUT_BYTES, 'maxStdoutBytes')
    this.maxStderrBytes = nonNegativeInteger(init.maxStderrBytes ?? DEFAULT_MAX_STDERR_BYTES, 'maxStderrBytes')
    this.maxMemoryMiB = Math.min(positiveInteger(init.maxMemoryMiB ?? MAX_MEMORY_MIB, 'maxMemoryMiB'), MAX_MEMORY_MIB)
    this.fsLimits = {
      maxOutBytes: nonNegativeInteger(init.maxOutBytes ?? DEFAULT_MAX_OUT_BYTES, 'maxOutBytes'),
      maxOutFiles: inRange(init.maxOutFiles ?? DEFAULT_MAX_OUT_FILES, 0, MAX_MANIFEST_ENTRIES, 'maxOutFiles'),
      maxFileBytes: inRange(init.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES, 0, MAX_FILE_BYTES, 'maxFileBytes'),
      maxPathBytes: inRange(init.maxPathBytes ?? DEFAULT_MAX_PATH_BYTES, 1, MAX_PATH_BYTES, 'maxPathBytes'),
      // stdio and the two preopens take five
      maxOpenFds: inRange(init.maxOpenFds ?? DEFAULT_MAX_OPEN_FDS, 5, MAX_OPEN_FDS, 'maxOpenFds')
    }
    this.workerUrl = init.workerUrl ?? WORKER_URL
    if (init.metering !== undefined && typeof init.metering !== 'boolean') throw new ConfigError(`executor metering must be a boolean, got ${String(init.metering)}`)
    const metering = this.metering = init.metering ?? true
    const maxMemoryMiB = this.maxMemoryMiB
    this.cache = new ModuleCache(
      positiveInteger(init.moduleCacheEntries ?? DEFAULT_MODULE_CACHE_ENTRIES, 'moduleCacheEntries'),
      async bytes => compileModule(bytes, maxMemoryMiB, metering))
  }

  async start (): Promise<void> {
    if (this.running) return
    preferOptimizingCompiler(this.workerUrl)
    this.running = true
    const slots = Array.from({ length: this.size }, () => this.spawn())
    try {
      await Promise.all(slots.map(async slot => slot.readyPromise))
    } catch (err) {
      await this.stop()
      throw err
    }
    log('started %d workers', this.size)
  }

  async stop (): Promise<void> {
    if (this.running) {
      this.running = false
      const stopped = (): ExecutorStoppedError => new ExecutorStoppedError('the executor stopped before the job finished')
      for (const job of this.queue.splice(0)) this.settle(job, { error: stopped() })
      for (const slot of this.slots.splice(0)) {
        if (slot.job !== undefined) this.settle(slot.job, { error: stopped() })
        this.retire(slot)
      }
      this.cache.clear()
      log('stopped')
    }
    await Promise.allSettled([...this.terminating])
  }

  stats (): ExecutorStats {
    const running = this.slots.filter(s => s.job !== undefined).length
    return {
      workers: this.slots.length,
      workersStarted: this.workersStarted,
      running,
      waiting: this.accepted - running,
      compiles: this.cache.compiles,
      cacheHits: this.cache.hits,
      cachedModules: this.cache.size
    }
  }

  async run (spec: ExecSpec, options: RunOptions = {}): Promise<LocalExecResult> {
    const { signal } = options
    if (!this.running) throw new ExecutorStoppedError('the executor is not started')
    if (signal?.aborted === true) throw new ExecutionAbortedError(undefined, { cause: signal.reason })
    validateSpec(spec, this.maxMemoryMiB, this.fsLimits, this.metering)
    const moduleKey = cidText(spec.moduleCid)
    // Hashing the module every run costs more than a small job: the same bytes (the same array,
    // as a node's blob store hands them out) already checked against this CID are not hashed
    // again while their compilation is cached (so they are not what gets compiled).
    if (!(this.verified.get(spec.module) === moduleKey && this.cache.has(moduleKey))) {
      if (!bytesMatchCid(spec.module, spec.moduleCid)) {
        throw new ModuleCidMismatchError(`module bytes do not match ${spec.moduleCid.toString()}`)
      }
      this.verified.set(spec.module, moduleKey)
    }
    if (this.accepted >= this.size + this.maxQueue) throw new ExecutorQueueFullError(this.maxQueue)

    this.accepted++
    try {
      const compiled = await this.cache.get(moduleKey, spec.module)
      if (compiled.initialPages > spec.memoryMiB * PAGES_PER_MIB) {
        const need = compiled.info.initialMemoryMiB
        throw new MemoryLimitError(`module needs ${need} MiB of initial memory, over the job's limit of ${spec.memoryMiB} MiB`, need, spec.memoryMiB)
      }
      if (!this.running) throw new ExecutorStoppedError('the executor stopped before the job started')
      if (signal?.aborted) throw new ExecutionAbortedError(undefined, { cause: signal.reason })
      return await new Promise<LocalExecResult>((resolve, reject) => {
        const job: Job = { id: this.nextJobId++, spec, moduleKey, compiled, resolve, reject, signal, startedAt: 0, settled: false }
        if (signal !== undefined) {
          job.onAbort = () => { this.abort(job) }
          signal.addEventListener('abort', job.onAbort, { once: true })
        }
        this.queue.push(job)
        this.dispatch()
      })
    } finally {
      this.accepted--
    }
  }

  private spawn (): Slot {
    const cpuAtRunStartUs = new SharedArrayBuffer(Float64Array.BYTES_PER_ELEMENT)
    const workerData: ExecutorWorkerData = { cpuAtRunStartUs }
    const worker = new Worker(this.workerUrl, {
      workerData,
      name: 'depin-executor',
      resourceLimits: {
        maxOldGenerationSizeMb: WORKER_MAX_OLD_GENERATION_MIB + Math.ceil(this.fsLimits.maxOutFiles * WORKER_HEAP_BYTES_PER_OUT_FILE / 2 ** 20),
        maxYoungGenerationSizeMb: WORKER_MAX_YOUNG_GENERATION_MIB
      }
    })
    this.workersStarted++
    // An idle worker does not keep the process alive; a running job does (see startJob).
    worker.unref()
    const ready = Promise.withResolvers<void>()
    ready.promise.catch(() => {}) // observed by start(), or only logged for a replacement
    const slot: Slot = {
      worker,
      ready: false,
      gone: false,
      cpuAtRunStartUs: new Float64Array(cpuAtRunStartUs),
      modules: [],
      readyPromise: ready.promise,
      onReady: ready.resolve,
      onStartFailed: ready.reject
    }
    const startTimer = setTimeout(() => {
      this.onWorkerGone(slot, new WorkerStartError(`worker did not start within ${WORKER_START_TIMEOUT_MS} ms`))
    }, WORKER_START_TIMEOUT_MS)
    startTimer.unref()
    worker.on('message', (message: WorkerMessage) => {
      if (message.type === 'ready') {
        clearTimeout(startTimer)
        slot.ready = true
        slot.onReady()
        this.dispatch()
      } else if (slot.job?.id === message.id) {
        const job = slot.job
        const { type: _type, id: _id, outputs, ...rest } = message
        this.release(slot)
        this.settle(job, { result: { ...rest, outputs: outputsFromWire(outputs) } })
      }
    })
    worker.on('error', err => {
      clearTimeout(startTimer)
      this.onWorkerGone(slot, err)
    })
    worker.on('exit', code => {
      clearTimeout(startTimer)
      this.onWorkerGone(slot, new Error(`worker exited with code ${code}`))
    })
    this.slots.push(slot)
    return slot
  }

  /** Starts queued jobs on idle, ready workers. */
  private dispatch (): void {
    if (this.slots.length === 0 && this.queue.length > 0) {
      // every worker died and none could be started again: nothing would ever run these
      for (const job of this.queue.splice(0)) {
        this.settle(job, { error: new WorkerStartError('no executor worker is running') })
      }
      return
    }
    while (this.queue.length > 0) {
      const slot = this.slots.find(s => s.ready && !s.gone && s.job === undefined)
      if (slot === undefined) return
      this.startJob(slot, this.queue.shift() as Job)
    }
  }

  private startJob (slot: Slot, job: Job): void {
    const { spec, compiled } = job
    slot.job = job
    job.slot = slot
    job.startedAt = performance.now()
    job.timer = setTimeout(() => { this.kill(slot, job, 'timeout') }, spec.timeoutMs)
    slot.worker.ref()
    // A copy with its own exact-size ArrayBuffer, transferred to the worker. (Not `.slice()`: on a
    // Buffer that is a view, and transferring it would detach the caller's memory or Node's pool.)
    const stdin = new Uint8Array(spec.stdin.byteLength)
    stdin.set(spec.stdin)
    const transfer: ArrayBuffer[] = [stdin.buffer]
    const files: FsInput[] = (spec.files ?? []).map(f => ({ path: f.path, bytes: toWorker(f.bytes, transfer) }))
    const moduleKey = job.moduleKey
    const held = slot.modules.includes(moduleKey)
    if (!held) {
      slot.modules.push(moduleKey)
      if (slot.modules.length > WORKER_MODULES) slot.modules.shift()
    }
    const request: RunRequest = {
      type: 'run',
      id: job.id,
      moduleKey,
      ...(held ? {} : { module: compiled.module }),
      memoryImport: compiled.memoryImport,
      initialPages: compiled.initialPages,
      maximumPages: Math.min(compiled.maximumPages ?? Infinity, spec.memoryMiB * PAGES_PER_MIB),
      stdin,
      args: [PROGRAM_NAME, ...spec.args],
      env: Object.fromEntries(Object.entries(spec.env).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)),
      seed: new Uint8Array(spec.seed),
      maxStdoutBytes: this.maxStdoutBytes,
      maxStderrBytes: this.maxStderrBytes,
      files,
      fsLimits: jobLimits(spec, this.fsLimits),
      metered: compiled.metered,
      ...(spec.fuel === undefined ? {} : { fuelLimit: spec.fuel })
    }
    slot.worker.postMessage(request, transfer)
  }

  /** The worker finished its job: it is idle again. */
  private release (slot: Slot): void {
    slot.job = undefined
    slot.worker.unref()
    this.dispatch()
  }

  private abort (job: Job): void {
    const error = new ExecutionAbortedError(undefined, { cause: job.signal?.reason })
    if (job.slot === undefined) {
      const index = this.queue.indexOf(job)
      if (index >= 0) this.queue.splice(index, 1)
      this.settle(job, { error })
    } else if (job.slot.job === job) {
      this.kill(job.slot, job, 'aborted')
    }
  }

  /**
   * Ends a running job by terminating its worker (wasm cannot be interrupted any other way) and
   * starts a replacement at once, so the pool keeps its size.
   */
  private kill (slot: Slot, job: Job, reason: 'timeout' | 'aborted'): void {
    if (slot.job !== job) return
    log('killing worker running job %d: %s', job.id, reason)
    slot.job = undefined
    this.remove(slot)
    if (this.running) this.spawn()
    const wallMs = performance.now() - job.startedAt
    const done = (async () => {
      let cpuMs = 0
      try {
        // The worker is stuck in wasm and cannot report; read its thread's CPU clock from here.
        const usage = await slot.worker.cpuUsage()
        cpuMs = Math.max(0, (usage.user + usage.system - slot.cpuAtRunStartUs[0]) / 1000)
      } catch {
        // the thread is already gone: no CPU figure
      } finally {
        if (reason === 'aborted') {
          this.settle(job, { error: new ExecutionAbortedError(undefined, { cause: job.signal?.reason }) })
        } else {
          this.settle(job, { result: killedResult('timeout', wallMs, cpuMs) })
        }
      }
      await slot.worker.terminate()
    })()
    this.track(done)
  }

  private onWorkerGone (slot: Slot, err: Error): void {
    if (slot.gone) return
    slot.gone = true
    const wasReady = slot.ready
    this.remove(slot)
    if (!wasReady) {
      slot.onStartFailed(err instanceof WorkerStartError ? err : new WorkerStartError(`worker failed to start: ${err.message}`, { cause: err }))
      this.track(slot.worker.terminate())
    }
    if (!this.running) return
    log.error('worker died: %e', err)
    const job = slot.job
    if (job !== undefined) {
      slot.job = undefined
      this.settle(job, { result: killedResult(`worker crashed: ${err.message}`, performance.now() - job.startedAt, 0) })
    }
    // Replace a worker that had been working; one that never started would fail again.
    if (wasReady) this.spawn()
    this.dispatch()
  }

  private remove (slot: Slot): void {
    slot.gone = true
    const index = this.slots.indexOf(slot)
    if (index >= 0) this.slots.splice(index, 1)
  }

  private retire (slot: Slot): void {
    slot.gone = true
    if (!slot.ready) slot.onStartFailed(new ExecutorStoppedError('the executor stopped while its workers started'))
    this.track(slot.worker.terminate())
  }

  private track (promise: Promise<unknown>): void {
    const tracked = promise.catch(() => {}).finally(() => this.terminating.delete(tracked))
    this.terminating.add(tracked)
  }

  private settle (job: Job, outcome: Settled): void {
    if (job.settled) return
    job.settled = true
    if (job.timer !== undefined) clearTimeout(job.timer)
    if (job.onAbort !== undefined) job.signal?.removeEventListener('abort', job.onAbort)
    job.timer = undefined
    job.onAbort = undefined
    if ('result' in outcome) job.resolve(outcome.result)
    else job.reject(outcome.error)
  }
}

async function compileModule (bytes: Uint8Array, maxMemoryMiB: number, metering: boolean): Promise<CompiledModule> {
  const info = inspectModule(bytes, { maxMemoryMiB })
  const prepared = prepareModule(bytes, info)
  // instrumented after validation (inspectModule) and only then compiled: the engine validates the result again
  const code = metering ? (await instrumentModuleAsync(prepared.bytes)).bytes : prepared.bytes
  let module: WasmModule
  try {
    module = await wasm.compile(code)
  } catch (err) {
    throw new InvalidModuleError(`module does not compile: ${(err as Error).message}`, { cause: err })
  }
  return {
    module,
    info,
    memoryImport: prepared.memoryImport,
    initialPages: prepared.initialPages,
    maximumPages: prepared.maximumPages,
    metered: metering
  }
}

function killedResult (trap: string, wallMs: number, cpuMs: number): LocalExecResult {
  return {
    exitCode: -1,
    trap,
    stdout: new Uint8Array(0),
    stderr: new Uint8Array(0),
    stdoutTruncated: false,
    stderrTruncated: false,
    wallMs,
    cpuMs,
    outputs: emptyOutputs()
  }
}

/**
 * Input bytes as the worker gets them: bytes on a SharedArrayBuffer as they are (shared, no
 * copy, still the caller's); others copied once into a buffer of their own that is transferred
 * (transferring the caller's buffer would detach it, or Node's pool behind a small Buffer).
 */
function toWorker (bytes: Uint8Array, transfer: ArrayBuffer[]): Uint8Array {
  if (bytes.buffer instanceof SharedArrayBuffer) return bytes
  const copy = new Uint8Array(bytes.byteLength)
  copy.set(bytes)
  transfer.push(copy.buffer)
  return copy
}

function inRange (value: number, min: number, max: number, name: string): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`executor ${name} must be an integer in ${min}..${max}, got ${value}`)
  }
  return value
}

function positiveInteger (value: number, name: string): number {
  if (!Number.isInteger(value) || value < 1) throw new ConfigError(`executor ${name} must be a positive integer, got ${value}`)
  return value
}

function nonNegativeInteger (value: number, name: string): number {
  if (!Number.isInteger(value) || value < 0) throw new ConfigError(`executor ${name} must be a non-negative integer, got ${value}`)
  return value
}
