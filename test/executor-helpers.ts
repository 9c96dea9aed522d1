/** What the executor tests share. */
import { rawCid, sha256 } from '../src/proofs/encoding.ts'
import type { ExecSpec } from '../src/scheduler/executor/index.ts'

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
