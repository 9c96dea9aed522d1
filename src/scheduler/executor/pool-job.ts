/**
 * A job in the executor pool, from admission to settlement: what it carries, how it settles
 * (once, dropping its deadline timer and abort listener), and the results the main thread makes
 * itself, for a worker's answer and for a job whose worker was killed or died.
 */
import type { ExecSpec, LocalExecResult } from './index.ts'
import type { CompiledModule } from './module-cache.ts'
import { emptyOutputs, outputsFromWire } from './outputs.ts'
import type { RunResponse } from './protocol.ts'
import type { Slot } from './worker-slot.ts'

export interface Job {
  id: number
  spec: ExecSpec
  /** The module's CID as text: the compile cache's and the workers' key. */
  moduleKey: string
  compiled: CompiledModule
  resolve: (result: LocalExecResult) => void
  reject: (err: Error) => void
  signal?: AbortSignal
  onAbort?: () => void
  /** Told when the job starts on a worker (`RunOptions.onStart`). */
  onStart?: () => void
  slot?: Slot
  timer?: ReturnType<typeof setTimeout>
  startedAt: number
  settled: boolean
}

export type Settled = { result: LocalExecResult } | { error: Error }

/** Resolves or rejects the job's `run()`; later outcomes (a kill racing an answer) are ignored. */
export function settleJob (job: Job, outcome: Settled): void {
  if (job.settled) return
  job.settled = true
  if (job.timer !== undefined) clearTimeout(job.timer)
  if (job.onAbort !== undefined) job.signal?.removeEventListener('abort', job.onAbort)
  job.timer = undefined
  job.onAbort = undefined
  if ('result' in outcome) job.resolve(outcome.result)
  else job.reject(outcome.error)
}

/** A worker's answer as `run()` returns it. */
export function resultFromWorker (message: RunResponse): LocalExecResult {
  const { type: _type, id: _id, outputs, ...rest } = message
  return { ...rest, outputs: outputsFromWire(outputs) }
}

/** The result of a job whose worker was terminated (timeout) or crashed: nothing of its output survives. */
export function killedResult (trap: string, wallMs: number, cpuMs: number): LocalExecResult {
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
