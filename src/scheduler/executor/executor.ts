/**
 * The worker pool behind `createExecutor`: admission checks, the compile cache, a bounded queue,
 * one job per worker at a time, deadlines, and replacement of workers that were killed or died.
 * Its pieces live next to it: the checked settings (pool-config.ts), compiling a module
 * (compile-module.ts), a worker thread and its slot (worker-slot.ts), a job and how it settles
 * (pool-job.ts), and the message that starts a job on a worker (run-request.ts).
 */
import { logger } from '@libp2p/logger'
import { bytesMatchCid, cidText } from '../../proofs/encoding.ts'
import { PAGES_PER_MIB } from './constants.ts'
import {
  ExecutionAbortedError, ExecutorQueueFullError, ExecutorStoppedError, MemoryLimitError, ModuleCidMismatchError, WorkerStartError
} from './errors.ts'
import { compileModule } from './compile-module.ts'
import { ModuleCache } from './module-cache.ts'
import { poolConfig, type PoolConfig } from './pool-config.ts'
import { killedResult, resultFromWorker, settleJob, type Job } from './pool-job.ts'
import { runRequest } from './run-request.ts'
import { validateSpec } from './spec.ts'
import { preferOptimizingCompiler } from './tiering.ts'
import { holdsModule, spawnSlot, type Slot, type SlotEvents } from './worker-slot.ts'
import type { ExecSpec, ExecutorInit, ExecutorStats, LocalExecResult, RunOptions, WasiExecutor } from './index.ts'
import type { RunResponse } from './protocol.ts'

export { WORKER_MODULES, WORKER_URL } from './worker-slot.ts'

const log = logger('depin:executor')

export class WasiExecutorPool implements WasiExecutor {
  /** `run` calls `onStart` when a thread takes the job. */
  readonly reportsStart = true
  private readonly config: PoolConfig
  private readonly cache: ModuleCache
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

  /** What the pool does when a worker is ready, answers or dies (one set for every worker). */
  private readonly slotEvents: SlotEvents = {
    ready: () => { this.dispatch() },
    result: (slot, message) => { this.onResult(slot, message) },
    gone: (slot, err) => { this.onWorkerGone(slot, err) }
  }

  constructor (init: ExecutorInit & { workers: number }) {
    const config = this.config = poolConfig(init)
    const { maxMemoryMiB, metering } = config
    this.cache = new ModuleCache(config.moduleCacheEntries, async bytes => compileModule(bytes, maxMemoryMiB, metering))
  }

  async start (): Promise<void> {
    if (this.running) return
    preferOptimizingCompiler(this.config.workerUrl)
    this.running = true
    const slots = Array.from({ length: this.config.size }, () => this.spawn())
    try {
      await Promise.all(slots.map(async slot => slot.readyPromise))
    } catch (err) {
      await this.stop()
      throw err
    }
    log('started %d workers', this.config.size)
  }

  async stop (): Promise<void> {
    if (this.running) {
      this.running = false
      const stopped = (): ExecutorStoppedError => new ExecutorStoppedError('the executor stopped before the job finished')
      for (const job of this.queue.splice(0)) settleJob(job, { error: stopped() })
      for (const slot of this.slots.splice(0)) {
        if (slot.job !== undefined) settleJob(slot.job, { error: stopped() })
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
    const { signal, onStart } = options
    if (!this.running) throw new ExecutorStoppedError('the executor is not started')
    if (signal?.aborted === true) throw new ExecutionAbortedError(undefined, { cause: signal.reason })
    const config = this.config
    validateSpec(spec, config.maxMemoryMiB, config.fsLimits, config.metering)
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
    if (this.accepted >= config.size + config.maxQueue) throw new ExecutorQueueFullError(config.maxQueue)

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
        const job: Job = { id: this.nextJobId++, spec, moduleKey, compiled, resolve, reject, signal, onStart, startedAt: 0, settled: false }
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
    const slot = spawnSlot(this.config.workerUrl, this.config.fsLimits.maxOutFiles, this.slotEvents)
    this.workersStarted++
    this.slots.push(slot)
    return slot
  }

  /** A worker answered: when it is the job it runs (not one killed meanwhile), the job is done. */
  private onResult (slot: Slot, message: RunResponse): void {
    const job = slot.job
    if (job?.id !== message.id) return
    this.release(slot)
    settleJob(job, { result: resultFromWorker(message) })
  }

  /** Starts queued jobs on idle, ready workers. */
  private dispatch (): void {
    if (this.slots.length === 0 && this.queue.length > 0) {
      // every worker died and none could be started again: nothing would ever run these
      for (const job of this.queue.splice(0)) {
        settleJob(job, { error: new WorkerStartError('no executor worker is running') })
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
    slot.job = job
    job.slot = slot
    job.startedAt = performance.now()
    job.timer = setTimeout(() => { this.kill(slot, job, 'timeout') }, job.spec.timeoutMs)
    slot.worker.ref()
    const transfer: ArrayBuffer[] = []
    const request = runRequest(job, holdsModule(slot, job.moduleKey), this.config, transfer)
    slot.worker.postMessage(request, transfer)
    try {
      job.onStart?.()
    } catch (err) {
      log.error('start hook of job %d failed: %e', job.id, err)
    }
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
      settleJob(job, { error })
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
          settleJob(job, { error: new ExecutionAbortedError(undefined, { cause: job.signal?.reason }) })
        } else {
          settleJob(job, { result: killedResult('timeout', wallMs, cpuMs) })
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
      settleJob(job, { result: killedResult(`worker crashed: ${err.message}`, performance.now() - job.startedAt, 0) })
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
}
