/**
 * Modules the instrumenter refuses with `UnmeterableModuleError` although the engine would run
 * them, because honest replicas could not agree on their outcome or their cost
 * (docs/protocol.md, "Modules"): refused by `instrumentModule` and, through the executor, before
 * anything runs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { rawCid, sha256 } from '../src/proofs/encoding.ts'
import { createExecutor, instrumentModule, UnmeterableModuleError } from '../src/scheduler/executor/index.ts'
import type { ExecSpec, WasiExecutor } from '../src/scheduler/executor/index.ts'
import { wasm } from '../src/scheduler/executor/wasm-api.ts'
import { assemble, leb } from './wasm-asm.ts'

function spec (module: Uint8Array, overrides: Partial<ExecSpec> = {}): ExecSpec {
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

function refusal (module: Uint8Array): UnmeterableModuleError {
  try {
    instrumentModule(module)
  } catch (err) {
    expect(err).toBeInstanceOf(UnmeterableModuleError)
    return err as UnmeterableModuleError
  }
  throw new Error('expected UnmeterableModuleError')
}

/** `_start` () -> () with `code` (no locals; the final `end` is added). */
const withCode = (code: number[]): Uint8Array => assemble({ types: [[0x60, 0, 0]], funcs: [{ type: 0, body: [0x00, ...code, 0x0b] }], memory: 1 })

const f32x4 = (bits: number): number[] => {
  const b = Buffer.alloc(16)
  for (let i = 0; i < 4; i++) b.writeUInt32LE(bits, i * 4)
  return [...b]
}

/**
 * a × b + c per lane with a = b = 1 + 2^-23, c = -(1 + 2^-22): 2^-46 when fused, 0 when not
 * (f32x4.relaxed_madd, 0xFD 0x105); `_start` drops the result.
 */
const RELAXED_MADD = withCode([
  0xfd, 0x0c, ...f32x4(0x3f800001), 0xfd, 0x0c, ...f32x4(0x3f800001), 0xfd, 0x0c, ...f32x4(0xbf800002),
  0xfd, ...leb(0x105), 0x1a
])

describe('refused modules', () => {
  let executor: WasiExecutor

  beforeAll(async () => {
    executor = createExecutor({ workers: 1 })
    await executor.start()
  })

  afterAll(async () => {
    await executor.stop()
  })

  it('refuses every relaxed SIMD instruction (0xFD 0x100..0x113), reached or not', () => {
    expect(wasm.validate(RELAXED_MADD)).toBe(true)
    expect(refusal(RELAXED_MADD).message).toMatch(/relaxed SIMD \(opcode 0xfd 261 /)
    for (let op = 0x100; op <= 0x113; op++) {
      // after `return`: never executed, still refused (the decoder does not guess at reachability)
      expect(refusal(withCode([0x0f, 0xfd, ...leb(op)])).message).toMatch(/relaxed SIMD/)
    }
    // the last plain SIMD opcode is still metered
    expect(() => instrumentModule(withCode([0x0f, 0xfd, ...leb(0xff)]))).not.toThrow()
  })

  it('a job with relaxed SIMD is refused before it runs', async () => {
    await expect(executor.run(spec(RELAXED_MADD))).rejects.toBeInstanceOf(UnmeterableModuleError)
  })

  it('plain SIMD and float code still runs', async () => {
    // f32x4.mul of the same constants, lane 0 extracted and dropped: 5 instructions
    const module = withCode([0xfd, 0x0c, ...f32x4(0x3f800001), 0xfd, 0x0c, ...f32x4(0x3f800001), 0xfd, 0xe6, 0x01, 0xfd, 0x1f, 0x00, 0x1a])
    expect(await executor.run(spec(module))).toMatchObject({ exitCode: 0, trap: undefined, fuel: 5n })
  })
})

