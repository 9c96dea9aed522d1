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
import { assemble, I32, leb, sleb } from './wasm-asm.ts'

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

  it('refuses GC struct and array types, and every 0xFB instruction', () => {
    // types: 0 = array (mut i8), 1 = func () -> (); _start makes a 64-byte array and drops it
    const array = assemble({
      types: [[0x5e, 0x78, 0x01], [0x60, 0x00, 0x00]],
      funcs: [{ type: 1, body: [0x00, 0x41, 0xc0, 0x00, 0xfb, 0x07, 0x00, 0x1a, 0x0b] }]
    })
    expect(wasm.validate(array)).toBe(true)
    expect(refusal(array).message).toMatch(/GC array types/)
    // a struct type, never used
    const struct = assemble({ types: [[0x5f, 0x01, 0x7e, 0x01], [0x60, 0x00, 0x00]], funcs: [{ type: 1, body: [0x00, 0x0b] }] })
    expect(wasm.validate(struct)).toBe(true)
    expect(refusal(struct).message).toMatch(/GC struct types/)
    // no GC type at all: ref.i31 (0xFB 28) on an i32, dropped
    const i31 = withCode([0x41, 0x07, 0xfb, 0x1c, 0x1a])
    expect(wasm.validate(i31)).toBe(true)
    expect(refusal(i31).message).toMatch(/GC instructions \(opcode 0xfb 28 /)
    // rec groups and subtypes of function types are still fine: (rec (sub final (func)))
    const rec = assemble({ types: [[0x4e, 0x01, 0x4f, 0x00, 0x60, 0x00, 0x00]], funcs: [{ type: 0, body: [0x00, 0x0b] }] })
    expect(wasm.validate(rec)).toBe(true)
    expect(() => instrumentModule(rec)).not.toThrow()
  })

  it('a job that would fill the worker\'s heap with GC arrays is refused before it runs', async () => {
    // keeps 400 arrays of 1 MB each in an array of arrays, with memoryMiB 1
    const body = [0x02, 0x01, 0x63, 0x01, 0x01, I32,
      0x41, ...sleb(400), 0xfb, 0x07, 0x01, 0x21, 0x00,
      0x03, 0x40,
      0x20, 0x00, 0x20, 0x01, 0x41, ...sleb(1_000_000), 0xfb, 0x07, 0x00, 0xfb, 0x0e, 0x01,
      0x20, 0x01, 0x41, 0x01, 0x6a, 0x22, 0x01, 0x41, ...sleb(400), 0x49, 0x0d, 0x00,
      0x0b, 0x0b]
    const module = assemble({ types: [[0x5e, 0x78, 0x01], [0x5e, 0x63, 0x00, 0x01], [0x60, 0, 0]], funcs: [{ type: 2, body }], memory: 1 })
    expect(wasm.validate(module)).toBe(true)
    await expect(executor.run(spec(module, { memoryMiB: 1 }))).rejects.toBeInstanceOf(UnmeterableModuleError)
  })

  it('plain SIMD and float code still runs', async () => {
    // f32x4.mul of the same constants, lane 0 extracted and dropped: 5 instructions
    const module = withCode([0xfd, 0x0c, ...f32x4(0x3f800001), 0xfd, 0x0c, ...f32x4(0x3f800001), 0xfd, 0xe6, 0x01, 0xfd, 0x1f, 0x00, 0x1a])
    expect(await executor.run(spec(module))).toMatchObject({ exitCode: 0, trap: undefined, fuel: 5n })
  })
})

