/**
 * Running one task in the executor, the same way for a worker serving a lease and for a
 * requester's spot check: the task's own limits and seed, and a module that cannot run (not
 * WebAssembly, a forbidden import, memory over the cap) turned into the task's deterministic
 * outcome, which every honest replica reports alike. Anything else (the executor is busy or
 * stopping, the run was aborted) says nothing about the task and is thrown.
 */
import type { CID } from 'multiformats/cid'
import type { ExecResult, Executor, InputFile } from './executor/index.ts'
import { InvalidModuleError, MemoryLimitError, ModuleCidMismatchError } from './executor/index.ts'
import { taskSeed, type TaskSpec } from './task.ts'

export type TaskOutcome = ExecResult

/** True for executor errors that are the task's own deterministic outcome. */
export function isModuleFault (err: unknown): boolean {
  return err instanceof InvalidModuleError || err instanceof MemoryLimitError || err instanceof ModuleCidMismatchError
}

/**
 * Runs a task: its module, stdin and input files (the files of `spec.files`' manifest, already
 * fetched and checked), under its memory, time and fuel limits and with its seed. A run the
 * executor did not count fuel for (a timeout, a crash) reports fuel 0: it is not billed.
 * `onStart`: told when the run starts on an executor thread (its time limit counts from then).
 */
export async function runTask (executor: Executor, spec: TaskSpec, id: CID, module: Uint8Array, stdin: Uint8Array, files?: InputFile[], signal?: AbortSignal, onStart?: () => void): Promise<TaskOutcome> {
  try {
    const result = await executor.run({
      moduleCid: spec.module,
      module,
      stdin,
      args: spec.args,
      env: spec.env,
      memoryMiB: spec.memoryMiB,
      timeoutMs: spec.timeoutMs,
      seed: taskSeed(id),
      fuel: spec.fuel,
      ...(files != null && files.length > 0 ? { files } : {})
    }, { signal, onStart })
    const fuel = result.fuel == null ? 0n : result.fuel > spec.fuel ? spec.fuel : result.fuel
    return { ...result, exitCode: Math.max(-1, Math.min(255, result.exitCode)), trap: result.trap?.slice(0, 512), fuel }
  } catch (err) {
    if (!isModuleFault(err)) throw err
    const e = err as Error
    return {
      exitCode: -1,
      trap: `${e.name}: ${e.message}`.slice(0, 512),
      stdout: new Uint8Array(0),
      stderr: new Uint8Array(0),
      stdoutTruncated: false,
      stderrTruncated: false,
      wallMs: 0,
      cpuMs: 0,
      fuel: 0n
    }
  }
}
