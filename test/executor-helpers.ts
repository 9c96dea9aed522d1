/** What the executor tests share. */
import { afterAll, beforeAll } from 'vitest'
import { rawCid, sha256 } from '../src/proofs/encoding.ts'
import { createExecutor, type ExecSpec, type ExecutorInit, type WasiExecutor } from '../src/scheduler/executor/index.ts'

/** A run of `module` with no input, args or env, 64 MiB, a minute, seeded by the module's hash. */
export function execSpec (module: Uint8Array, overrides: Partial<ExecSpec> = {}): ExecSpec {
  return {
    moduleCid: rawCid(module),
    module,
    stdin: new Uint8Array(0),
    args: [],
    env: {},
    memoryMiB: 64,
    timeoutMs: 60_000,
    seed: sha256(module),
    ...overrides
  }
}

/**
 * A one-worker executor started before the file's tests and stopped after them; call in a
 * `describe`, read `.executor` inside tests.
 */
export function useExecutor (options: Omit<ExecutorInit, 'workers'> = {}): { readonly executor: WasiExecutor } {
  let executor: WasiExecutor | undefined
  beforeAll(async () => {
    executor = createExecutor({ ...options, workers: 1 })
    await executor.start()
  })
  afterAll(async () => {
    await executor?.stop()
  })
  return {
    get executor (): WasiExecutor {
      if (executor === undefined) throw new Error('the executor starts in beforeAll')
      return executor
    }
  }
}
