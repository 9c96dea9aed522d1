/**
 * The fuel instrumenter (src/scheduler/executor/metering/) on real clang-built modules and on
 * small hand-assembled ones whose fuel is worked out by hand from the rule in docs/protocol.md.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  createExecutor, FUEL_LIMIT_EXPORT, FUEL_USED_EXPORT, inspectModule, instrumentModule, instrumentModuleAsync,
  InvalidModuleError, ReservedExportError, UnmeterableModuleError
} from '../src/scheduler/executor/index.ts'
import type { ExecSpec, WasiExecutor } from '../src/scheduler/executor/index.ts'
import { wasm } from '../src/scheduler/executor/wasm-api.ts'
import { withClonedFunctions } from './wasm-gen.ts'
import { execSpec as spec } from './executor-helpers.ts'

const root = new URL('../', import.meta.url)
const load = (path: string): Uint8Array => new Uint8Array(readFileSync(new URL(path, root)))
const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes)
const utf8 = (s: string): number[] => [...new TextEncoder().encode(s)]
const name = (s: string): number[] => [utf8(s).length, ...utf8(s)]
const vec = (items: number[][]): number[] => [items.length, ...items.flat()]
const section = (id: number, payload: number[]): number[] => [id, ...leb(payload.length), ...payload]
function leb (n: number): number[] {
  const out: number[] = []
  do {
    let b = n & 0x7f
    n >>>= 7
    if (n !== 0) b |= 0x80
    out.push(b)
  } while (n !== 0)
  return out
}

/**
 * A command module assembled by hand: every function is () -> (), `bodies[i]` is function i's
 * code (locals included, final `end` included), `_start` is function `startExport`, and an
 * optional start section runs function `start`.
 */
function assemble (bodies: number[][], { startExport = 0, start }: { startExport?: number, start?: number } = {}): Uint8Array {
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec([[0x60, 0x00, 0x00]])),
    ...section(3, vec(bodies.map(() => [0x00]))),
    ...section(5, vec([[0x00, 0x01]])),
    ...section(7, vec([[...name('_start'), 0x00, startExport]])),
    ...(start === undefined ? [] : section(8, [start])),
    ...section(10, vec(bodies.map(b => [...leb(b.length), ...b])))
  ])
}

/**
 * One i32 local set to 3, then a loop that counts it down to 0:
 *   entry segment   i32.const 3; local.set 0; loop          = 2 (loop weighs 0)
 *   loop segment    local.get 0; i32.const 1; i32.sub; local.tee 0; br_if 0   = 5, three times
 *   after br_if     end (of the loop)                        = 0
 *   after the loop  end (of the function)                    = 0
 * Fuel: 2 + 3 × 5 = 17.
 */
const COUNTDOWN = [0x01, 0x01, 0x7f, 0x41, 0x03, 0x21, 0x00, 0x03, 0x40, 0x20, 0x00, 0x41, 0x01, 0x6b, 0x22, 0x00, 0x0d, 0x00, 0x0b, 0x0b]
const COUNTDOWN_FUEL = 17n
/** `loop br 0 end`: never ends. */
const SPIN = [0x00, 0x03, 0x40, 0x0c, 0x00, 0x0b, 0x0b]
const EMPTY = [0x00, 0x0b]


function catchError (fn: () => unknown): unknown {
  try {
    fn()
  } catch (err) {
    return err
  }
  throw new Error('expected an error')
}

describe('instrumentModule', () => {
  const modules = [
    ...readdirSync(new URL('examples/', root)).filter(f => f.endsWith('.wasm')).map(f => `examples/${f}`),
    ...readdirSync(new URL('test/fixtures/wasm/', root)).filter(f => f.endsWith('.wasm') && f !== 'reserved-export.wasm').map(f => `test/fixtures/wasm/${f}`)
  ]

  it.each(modules)('turns %s into a module the engine validates, exporting the counter and the limit', path => {
    const original = load(path)
    const { bytes, stats } = instrumentModule(original)
    expect(wasm.validate(bytes)).toBe(true)
    expect(bytes.byteLength).toBeLessThan(original.byteLength * 2)
    expect(stats.functions).toBeGreaterThan(0)
    const exports = (globalThis as any).WebAssembly.Module.exports(new (globalThis as any).WebAssembly.Module(bytes)) as Array<{ name: string, kind: string }>
    expect(exports).toContainEqual({ name: FUEL_USED_EXPORT, kind: 'global' })
    expect(exports).toContainEqual({ name: FUEL_LIMIT_EXPORT, kind: 'global' })
  })

  it('is the same bytes every time, and the same from the async variant', async () => {
    const primes = load('examples/primes.wasm')
    const once = instrumentModule(primes).bytes
    expect(Buffer.from(instrumentModule(primes).bytes).equals(once)).toBe(true)
    expect(Buffer.from((await instrumentModuleAsync(primes)).bytes).equals(once)).toBe(true)
  })

  it('refuses an already instrumented module with ReservedExportError', () => {
    const instrumented = instrumentModule(load('examples/primes.wasm')).bytes
    const err = catchError(() => instrumentModule(instrumented))
    expect(err).toBeInstanceOf(ReservedExportError)
    expect(err).toBeInstanceOf(InvalidModuleError)
    expect((err as ReservedExportError).code).toBe('ERR_RESERVED_EXPORT')
    expect((err as ReservedExportError).exportName).toBe(FUEL_USED_EXPORT)
    // and admission says so before anything is compiled
    expect(catchError(() => inspectModule(instrumented, { maxMemoryMiB: 64 }))).toBeInstanceOf(ReservedExportError)
  })

  it('refuses a module that exports the counter name itself', () => {
    const module = load('test/fixtures/wasm/reserved-export.wasm')
    const err = catchError(() => instrumentModule(module))
    expect(err).toBeInstanceOf(ReservedExportError)
    expect((err as ReservedExportError).exportName).toBe('depin:fuel')
    expect(catchError(() => inspectModule(module, { maxMemoryMiB: 64 }))).toBeInstanceOf(ReservedExportError)
  })

  it('refuses an opcode it does not know with UnmeterableModuleError', () => {
    // 0xfd 0x200 (no such SIMD instruction) in _start's body
    const err = catchError(() => instrumentModule(assemble([[0x00, 0xfd, 0x80, 0x04, 0x0b]])))
    expect(err).toBeInstanceOf(UnmeterableModuleError)
    expect((err as UnmeterableModuleError).code).toBe('ERR_UNMETERABLE_MODULE')
  })

  it('refuses a truncated body with InvalidModuleError, not a RangeError', () => {
    const module = assemble([[0x00, 0x41]]) // i32.const without its immediate, no end
    expect(catchError(() => instrumentModule(module))).toBeInstanceOf(InvalidModuleError)
  })

  it('refuses a module whose instrumented code would pass the size cap', () => {
    // 10,000 empty loops: 30,000 bytes of code that instrument to 4 times their size (a check per loop)
    const body = [0x00, ...Array.from({ length: 10_000 }, () => [0x03, 0x40, 0x0b]).flat(), 0x0b]
    const module = assemble([body])
    expect(wasm.validate(module)).toBe(true)
    expect(instrumentModule(module).bytes.byteLength).toBeGreaterThan(module.byteLength * 3)
    expect(catchError(() => instrumentModule(module, { maxBytes: module.byteLength * 2 }))).toBeInstanceOf(UnmeterableModuleError)
  })

  it('instruments a module of 100,000 functions in one linear pass', () => {
    const exit3 = load('test/fixtures/wasm/exit3.wasm')
    const many = withClonedFunctions(exit3, 100_000)
    const { bytes, stats } = instrumentModule(many)
    expect(stats.functions).toBeGreaterThan(100_000)
    expect(bytes.byteLength).toBeLessThan(many.byteLength * 3)
    expect(wasm.validate(bytes)).toBe(true)
  })
})

describe('the fuel rule, on hand-assembled modules', () => {
  let executor: WasiExecutor

  beforeAll(async () => {
    executor = createExecutor({ workers: 1 })
    await executor.start()
  })

  afterAll(async () => {
    await executor.stop()
  })

  it('charges each segment on entry: a countdown loop costs 2 + 3 × 5', async () => {
    const result = await executor.run(spec(assemble([COUNTDOWN])))
    expect(result).toMatchObject({ exitCode: 0, trap: undefined, fuel: COUNTDOWN_FUEL })
  })

  it('reaching the limit exactly is allowed; one unit less stops with out of fuel and reports the limit', async () => {
    const module = assemble([COUNTDOWN])
    expect(await executor.run(spec(module, { fuel: COUNTDOWN_FUEL }))).toMatchObject({ exitCode: 0, trap: undefined, fuel: COUNTDOWN_FUEL })
    expect(await executor.run(spec(module, { fuel: COUNTDOWN_FUEL - 1n }))).toMatchObject({ exitCode: -1, trap: 'out of fuel', fuel: COUNTDOWN_FUEL - 1n })
  })

  it('sets the limit before a start function runs: an endless start function stops by fuel', async () => {
    const module = assemble([SPIN, EMPTY], { startExport: 1, start: 0 })
    const result = await executor.run(spec(module, { fuel: 1000n }))
    expect(result).toMatchObject({ exitCode: -1, trap: 'out of fuel', fuel: 1000n })
  })

  it('handles exception-handling blocks: try … catch_all and try_table', async () => {
    // try; i32.const 1; drop; catch_all | end (of try) | end: 0 + 1 + 1 + 0, then 0 (never entered: nothing throws), then 0
    const legacy = await executor.run(spec(assemble([[0x00, 0x06, 0x40, 0x41, 0x01, 0x1a, 0x19, 0x0b, 0x0b]])))
    expect(legacy).toMatchObject({ exitCode: 0, fuel: 2n })
    // try_table (no catches); i32.const 1; drop; end | end: 0 + 1 + 1 + 0, then 0
    const table = await executor.run(spec(assemble([[0x00, 0x1f, 0x40, 0x00, 0x41, 0x01, 0x1a, 0x0b, 0x0b]])))
    expect(table).toMatchObject({ exitCode: 0, fuel: 2n })
  })

  it('meters tail calls (return_call) a million deep, and stops them by fuel', async () => {
    const module = load('test/fixtures/wasm/tail-calls.wasm')
    const [a, b] = await Promise.all([executor.run(spec(module)), executor.run(spec(module))])
    expect(a).toMatchObject({ exitCode: 0, trap: undefined })
    expect(text(a.stdout)).toBe('even\n')
    expect(b.fuel).toBe(a.fuel)
    expect(a.fuel).toBeGreaterThan(1_000_000n) // at least one unit per call
    const half = (a.fuel as bigint) / 2n
    expect(await executor.run(spec(module, { fuel: half }))).toMatchObject({ exitCode: -1, trap: 'out of fuel', fuel: half })
  })

  it('counts the same whatever dead code a module carries (100,000 extra functions)', async () => {
    const exit3 = load('test/fixtures/wasm/exit3.wasm')
    const plain = await executor.run(spec(exit3))
    const many = await executor.run(spec(withClonedFunctions(exit3, 100_000)))
    expect(plain.exitCode).toBe(3)
    expect(many).toMatchObject({ exitCode: 3, fuel: plain.fuel })
    expect(text(many.stdout)).toBe(text(plain.stdout))
  })
})
