/**
 * One worker thread of the executor pool and what the pool knows about it: whether it started,
 * whether it is gone, the job it runs and the modules it holds. Starting a worker (its heap
 * limits, its start deadline, its events) lives here; what to do when it is ready, answers or
 * dies is the pool's (executor.ts), told through `SlotEvents`.
 */
import { Worker } from 'node:worker_threads'
import {
  WORKER_HEAP_BYTES_PER_OUT_FILE, WORKER_MAX_OLD_GENERATION_MIB, WORKER_MAX_YOUNG_GENERATION_MIB, WORKER_START_TIMEOUT_MS
} from './constants.ts'
import { WorkerStartError } from './errors.ts'
import type { Job } from './pool-job.ts'
import type { ExecutorWorkerData, RunResponse, WorkerMessage } from './protocol.ts'

/** Compiled modules each worker thread keeps (by CID), so a module is posted to it once, not per run. */
export const WORKER_MODULES = 16

/**
 * The worker script. Run from source (Node's type stripping, vitest) it is worker.ts next to this
 * file; from a build (tsc output) it is worker.js.
 */
export const WORKER_URL = new URL(import.meta.url.endsWith('.ts') ? './worker.ts' : './worker.js', import.meta.url)

export interface Slot {
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

/** What a slot's worker tells the pool. */
export interface SlotEvents {
  /** The worker loaded and listens (`slot.ready` is set and `readyPromise` resolved). */
  ready: (slot: Slot) => void
  /** The worker answered a run (maybe one the pool has given up on: the pool checks the id). */
  result: (slot: Slot, message: RunResponse) => void
  /** The worker failed, exited or did not start in time (may come more than once). */
  gone: (slot: Slot, err: Error) => void
}

/**
 * Starts a worker thread; its heap grows with `maxOutFiles` (the file system's nodes live there).
 * It does not keep the process alive while idle (the pool refs it while it runs a job).
 */
export function spawnSlot (workerUrl: URL, maxOutFiles: number, events: SlotEvents): Slot {
  const cpuAtRunStartUs = new SharedArrayBuffer(Float64Array.BYTES_PER_ELEMENT)
  const workerData: ExecutorWorkerData = { cpuAtRunStartUs }
  const worker = new Worker(workerUrl, {
    workerData,
    name: 'depin-executor',
    resourceLimits: {
      maxOldGenerationSizeMb: WORKER_MAX_OLD_GENERATION_MIB + Math.ceil(maxOutFiles * WORKER_HEAP_BYTES_PER_OUT_FILE / 2 ** 20),
      maxYoungGenerationSizeMb: WORKER_MAX_YOUNG_GENERATION_MIB
    }
  })
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
    events.gone(slot, new WorkerStartError(`worker did not start within ${WORKER_START_TIMEOUT_MS} ms`))
  }, WORKER_START_TIMEOUT_MS)
  startTimer.unref()
  worker.on('message', (message: WorkerMessage) => {
    if (message.type === 'ready') {
      clearTimeout(startTimer)
      slot.ready = true
      slot.onReady()
      events.ready(slot)
    } else {
      events.result(slot, message)
    }
  })
  worker.on('error', err => {
    clearTimeout(startTimer)
    events.gone(slot, err)
  })
  worker.on('exit', code => {
    clearTimeout(startTimer)
    events.gone(slot, new Error(`worker exited with code ${code}`))
  })
  return slot
}

/**
 * Whether the slot's worker already holds `moduleKey` (else the module goes with the request);
 * either way it holds it after this run, as the worker keeps the same last WORKER_MODULES.
 */
export function holdsModule (slot: Slot, moduleKey: string): boolean {
  if (slot.modules.includes(moduleKey)) return true
  slot.modules.push(moduleKey)
  if (slot.modules.length > WORKER_MODULES) slot.modules.shift()
  return false
}
