/**
 * Modules the instrumenter refuses with `UnmeterableModuleError` although the engine would run
 * them, because honest replicas could not agree on their outcome or their cost
 * (docs/protocol.md, "Modules"): refused by `instrumentModule` and, through the executor, before
 * anything runs.
 */
import { describe, expect, it } from 'vitest'
import { instrumentModule, UnmeterableModuleError } from '../src/scheduler/executor/index.ts'
import type { ExecSpec } from '../src/scheduler/executor/index.ts'
import { wasm } from '../src/scheduler/executor/wasm-api.ts'
import { assemble, I32, leb, section, sleb, vec } from './wasm-asm.ts'
import { execSpec as spec, useExecutor } from './executor-helpers.ts'


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
  const pool = useExecutor()

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
    await expect(pool.executor.run(spec(RELAXED_MADD))).rejects.toBeInstanceOf(UnmeterableModuleError)
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
    await expect(pool.executor.run(spec(module, { memoryMiB: 1 }))).rejects.toBeInstanceOf(UnmeterableModuleError)
  })

  it('refuses a function that two more locals would take past the engine\'s 50,000', async () => {
    // one i32 parameter and n locals
    const withLocals = (n: number): Uint8Array => assemble({
      types: [[0x60, 0x01, I32, 0x00], [0x60, 0x00, 0x00]],
      funcs: [{ type: 0, body: [0x01, ...leb(n), I32, 0x0b] }, { type: 1, body: [0x00, 0x0b] }],
      memory: 1,
      start: 1
    })
    expect(wasm.validate(instrumentModule(withLocals(49_997)).bytes)).toBe(true)
    expect(wasm.validate(withLocals(49_998))).toBe(true)
    expect(refusal(withLocals(49_998)).message).toMatch(/49999 parameters and locals/)
    // through the executor: refused as unmeterable, not as a module that does not compile
    const err = await pool.executor.run(spec(withLocals(49_999))).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(UnmeterableModuleError)
    expect((err as Error).message).toMatch(/50000 parameters and locals .*metering adds 2/)
  })

  it('refuses a module that two more globals would take past the engine\'s 1,000,000', () => {
    const withGlobals = (n: number): Uint8Array => assemble({
      types: [[0x60, 0x00, 0x00]],
      funcs: [{ type: 0, body: [0x00, 0x0b] }],
      globals: Array.from({ length: n }, () => [I32, 0x00, 0x41, 0x00, 0x0b])
    })
    expect(wasm.validate(instrumentModule(withGlobals(999_998)).bytes)).toBe(true)
    expect(wasm.validate(withGlobals(999_999))).toBe(true)
    expect(refusal(withGlobals(999_999)).message).toMatch(/999999 globals: metering adds 2/)
  })

  it('refuses a module that two more exports would take past the engine\'s 1,000,000', () => {
    // n exports of function 0 (() -> ()), named by 7 ASCII digits, written straight into bytes (fast)
    const withExports = (n: number): Uint8Array => {
      const entries = new Uint8Array(n * 10)
      for (let i = 0; i < n; i++) {
        entries[i * 10] = 7
        const digits = String(i).padStart(7, '0')
        for (let d = 0; d < 7; d++) entries[i * 10 + 1 + d] = digits.charCodeAt(d)
        // kind 0 (function), index 0: already zero
      }
      const payload = [...leb(n)]
      const head = [
        0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
        ...section(1, vec([[0x60, 0x00, 0x00]])), ...section(3, vec([[0x00]])),
        0x07, ...leb(payload.length + entries.byteLength), ...payload
      ]
      const tail = section(10, vec([[0x02, 0x00, 0x0b]]))
      const out = new Uint8Array(head.length + entries.byteLength + tail.length)
      out.set(head)
      out.set(entries, head.length)
      out.set(tail, head.length + entries.byteLength)
      return out
    }
    // (validating a million exports takes the engine seconds: the limit itself is checked in the engine's own words above)
    expect(() => instrumentModule(withExports(999_998))).not.toThrow()
    expect(refusal(withExports(999_999)).message).toMatch(/999999 exports: metering adds 2/)
  })

  it('refuses a function whose instrumented body would pass the engine\'s 7,654,321 bytes', () => {
    // 1,200,000 empty loops: 3.6 MB, about 4 times that once every loop header checks the fuel
    const body: number[] = [0x00]
    for (let i = 0; i < 1_200_000; i++) body.push(0x03, 0x40, 0x0b)
    body.push(0x0b)
    const module = withCode(body.slice(1, -1))
    expect(wasm.validate(module)).toBe(true)
    expect(refusal(module).message).toMatch(/would pass the engine's 7654321 bytes/)
    // a tenth of it is fine
    expect(wasm.validate(instrumentModule(withCode(body.slice(1, 360_001))).bytes)).toBe(true)
  })

  it('plain SIMD and float code still runs', async () => {
    // f32x4.mul of the same constants, lane 0 extracted and dropped: 5 instructions
    const module = withCode([0xfd, 0x0c, ...f32x4(0x3f800001), 0xfd, 0x0c, ...f32x4(0x3f800001), 0xfd, 0xe6, 0x01, 0xfd, 0x1f, 0x00, 0x1a])
    expect(await pool.executor.run(spec(module))).toMatchObject({ exitCode: 0, trap: undefined, fuel: 5n })
  })
})

