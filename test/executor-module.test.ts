/**
 * inspectModule (the pure check admission runs before accepting a job) and the memory rewrite,
 * on real clang-built modules and on small hand-assembled ones.
 */
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { ForbiddenImportError, InvalidModuleError, MemoryLimitError, inspectModule } from '../src/scheduler/executor/index.ts'
import { wasm } from '../src/scheduler/executor/wasm-api.ts'
import { prepareModule } from '../src/scheduler/executor/wasm-module.ts'

const load = (path: string): Uint8Array => new Uint8Array(readFileSync(new URL(`../${path}`, import.meta.url)))
const utf8 = (s: string): number[] => [...new TextEncoder().encode(s)]
const name = (s: string): number[] => [utf8(s).length, ...utf8(s)]
const section = (id: number, payload: number[]): number[] => [id, payload.length, ...payload]
const HEADER = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]
const TYPE_VOID = section(1, [0x01, 0x60, 0x00, 0x00])
const FUNC = section(3, [0x01, 0x00])
const CODE = section(10, [0x01, 0x02, 0x00, 0x0b])
const START_EXPORT = [...name('_start'), 0x00, 0x00]

/** A hand-assembled module: optional imports, a memory with the given limits bytes, `_start`. */
function build ({ imports = [], funcImports = 0, memory = [0x00, 0x01], exportStart = true }: {
  imports?: number[][]
  /** How many of `imports` are functions (they come first in the function index space). */
  funcImports?: number
  memory?: number[] | null
  exportStart?: boolean
} = {}): Uint8Array {
  const exports = exportStart ? [0x01, ...name('_start'), 0x00, funcImports] : [0x00]
  return Uint8Array.from([
    ...HEADER,
    ...TYPE_VOID,
    ...(imports.length > 0 ? section(2, [imports.length, ...imports.flat()]) : []),
    ...FUNC,
    ...(memory !== null ? section(5, [0x01, ...memory]) : []),
    ...section(7, exports),
    ...CODE
  ])
}
const importFunc = (module: string, field: string): number[] => [...name(module), ...name(field), 0x00, 0x00]

describe('inspectModule', () => {
  it('describes a clang-built example: WASI imports, _start, a memory without maximum', () => {
    const info = inspectModule(load('examples/primes.wasm'), { maxMemoryMiB: 64 })
    expect(info.imports.every(i => i.module === 'wasi_snapshot_preview1' && i.kind === 'function')).toBe(true)
    expect(info.imports.map(i => i.name)).toContain('fd_write')
    expect(info.exports).toContainEqual({ name: '_start', kind: 'function' })
    expect(info.memory.imported).toBeUndefined()
    expect(info.memory.maximumPages).toBeUndefined()
    expect(info.memory.initialPages).toBeGreaterThan(0)
    expect(info.initialMemoryMiB).toBe(Math.ceil(info.memory.initialPages / 16))
  })

  it('reports an imported memory and where it comes from', () => {
    const info = inspectModule(load('test/fixtures/wasm/grow-imported.wasm'), { maxMemoryMiB: 64 })
    expect(info.memory.imported).toEqual({ module: 'env', name: 'memory' })
  })

  it('reports a declared maximum', () => {
    const info = inspectModule(load('test/fixtures/wasm/grow-declared-max.wasm'), { maxMemoryMiB: 64 })
    expect(info.memory.maximumPages).toBe(256 * 16)
  })

  it('refuses empty bytes as not WebAssembly', () => {
    expect(() => inspectModule(new Uint8Array(0), { maxMemoryMiB: 64 })).toThrow(InvalidModuleError)
  })

  it('refuses an ELF binary as not WebAssembly', () => {
    const elf = Uint8Array.from([0x7f, 0x45, 0x4c, 0x46, 0x02, 0x01, 0x01, 0x00, 0x00, 0x00])
    expect(() => inspectModule(elf, { maxMemoryMiB: 64 })).toThrow(/not a WebAssembly module/)
  })

  it('refuses a component (binary version other than 1)', () => {
    const component = Uint8Array.from([0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00])
    expect(() => inspectModule(component, { maxMemoryMiB: 64 })).toThrow(/version/)
  })

  it('refuses a module that does not validate, with the engine\'s reason', () => {
    const truncated = load('examples/echo.wasm').subarray(0, 200)
    const err = catchError(() => inspectModule(truncated, { maxMemoryMiB: 64 }))
    expect(err).toBeInstanceOf(InvalidModuleError)
    expect(err).toMatchObject({ code: 'ERR_INVALID_MODULE' })
    expect(err.message).toMatch(/^module does not compile: .+/)
  })

  it('refuses a function import outside WASI, naming it', () => {
    const err = catchError(() => inspectModule(load('test/fixtures/wasm/evil.wasm'), { maxMemoryMiB: 64 }))
    expect(err).toBeInstanceOf(ForbiddenImportError)
    expect(err).toMatchObject({ code: 'ERR_FORBIDDEN_IMPORT', module: 'env', field: 'evil', kind: 'function' })
  })

  it('refuses an import from wasi_snapshot_preview1 that is not a preview1 function', () => {
    const err = catchError(() => inspectModule(build({ imports: [importFunc('wasi_snapshot_preview1', 'host_shell')], funcImports: 1 }), { maxMemoryMiB: 64 }))
    expect(err).toBeInstanceOf(ForbiddenImportError)
    expect(err).toMatchObject({ module: 'wasi_snapshot_preview1', field: 'host_shell' })
  })

  it('refuses a preview2-style import module', () => {
    const err = catchError(() => inspectModule(build({ imports: [importFunc('wasi:cli/environment@0.2.0', 'get-environment')], funcImports: 1 }), { maxMemoryMiB: 64 }))
    expect(err).toBeInstanceOf(ForbiddenImportError)
  })

  it('refuses an imported table', () => {
    const table = [...name('env'), ...name('table'), 0x01, 0x70, 0x00, 0x01]
    const err = catchError(() => inspectModule(build({ imports: [table] }), { maxMemoryMiB: 64 }))
    expect(err).toBeInstanceOf(ForbiddenImportError)
    expect(err).toMatchObject({ kind: 'table', field: 'table' })
  })

  it('refuses an imported global', () => {
    const global = [...name('env'), ...name('g'), 0x03, 0x7f, 0x00]
    const err = catchError(() => inspectModule(build({ imports: [global] }), { maxMemoryMiB: 64 }))
    expect(err).toMatchObject({ name: 'ForbiddenImportError', kind: 'global' })
  })

  it('refuses a module without _start (a reactor or library)', () => {
    const err = catchError(() => inspectModule(build({ exportStart: false }), { maxMemoryMiB: 64 }))
    expect(err).toBeInstanceOf(InvalidModuleError)
    expect(err.message).toMatch(/_start/)
  })

  it('refuses a module without memory', () => {
    const err = catchError(() => inspectModule(build({ memory: null }), { maxMemoryMiB: 64 }))
    expect(err.message).toMatch(/no memory/)
  })

  it('refuses a shared memory', () => {
    const err = catchError(() => inspectModule(build({ memory: [0x03, 0x01, 0x02] }), { maxMemoryMiB: 64 }))
    expect(err).toBeInstanceOf(InvalidModuleError)
    expect(err.message).toMatch(/shared memory/)
  })

  it('refuses initial memory above the cap with MemoryLimitError', () => {
    const err = catchError(() => inspectModule(load('test/fixtures/wasm/big-initial.wasm'), { maxMemoryMiB: 32 }))
    expect(err).toBeInstanceOf(MemoryLimitError)
    expect(err).toMatchObject({ code: 'ERR_MEMORY_LIMIT', requiredMiB: 64, limitMiB: 32 })
  })

  it('accepts a declared maximum above the cap (the executor caps it)', () => {
    expect(() => inspectModule(build({ memory: [0x01, 0x01, 0x80, 0x80, 0x04] }), { maxMemoryMiB: 1 })).not.toThrow()
  })
})

describe('prepareModule', () => {
  const importsOf = (bytes: Uint8Array): Array<{ module: string, name: string, kind: string }> =>
    (globalThis as unknown as { WebAssembly: { Module: { imports: (m: unknown) => Array<{ module: string, name: string, kind: string }> } } })
      .WebAssembly.Module.imports(new wasm.Module(bytes))

  it('turns a defined memory into an import after the existing imports', () => {
    const bytes = load('examples/primes.wasm')
    const info = inspectModule(bytes, { maxMemoryMiB: 64 })
    const prepared = prepareModule(bytes, info)
    expect(prepared.memoryImport).toEqual({ module: 'depin', name: 'memory' })
    const imports = importsOf(prepared.bytes)
    expect(imports.slice(0, -1)).toEqual(importsOf(bytes))
    expect(imports.at(-1)).toEqual({ module: 'depin', name: 'memory', kind: 'memory' })
    // the rewritten module is itself accepted, now with an imported memory
    expect(inspectModule(prepared.bytes, { maxMemoryMiB: 64 }).memory).toEqual({
      initialPages: info.memory.initialPages, maximumPages: undefined, imported: { module: 'depin', name: 'memory' }
    })
  })

  it('adds an import section to a module that has none', () => {
    const bytes = build()
    const prepared = prepareModule(bytes, inspectModule(bytes, { maxMemoryMiB: 1 }))
    expect(importsOf(prepared.bytes)).toEqual([{ module: 'depin', name: 'memory', kind: 'memory' }])
  })

  it('keeps the bytes of a module that already imports its memory', () => {
    const bytes = load('test/fixtures/wasm/grow-imported.wasm')
    const prepared = prepareModule(bytes, inspectModule(bytes, { maxMemoryMiB: 64 }))
    expect(prepared.bytes).toBe(bytes)
    expect(prepared.memoryImport).toEqual({ module: 'env', name: 'memory' })
  })

  it('makes memory.grow fail at the maximum of the memory it is given', () => {
    // _start-less helper module: (func (export "grow") (param i32) (result i32) local.get 0 memory.grow)
    const bytes = Uint8Array.from([
      ...HEADER,
      ...section(1, [0x01, 0x60, 0x01, 0x7f, 0x01, 0x7f]),
      ...section(3, [0x01, 0x00]),
      ...section(5, [0x01, 0x00, 0x01]),
      ...section(7, [0x02, ...name('grow'), 0x00, 0x00, ...START_EXPORT]),
      ...section(10, [0x01, 0x06, 0x00, 0x20, 0x00, 0x40, 0x00, 0x0b])
    ])
    const prepared = prepareModule(bytes, inspectModule(bytes, { maxMemoryMiB: 1 }))
    const memory = new wasm.Memory({ initial: 1, maximum: 4 })
    const instance = new wasm.Instance(new wasm.Module(prepared.bytes), { depin: { memory } })
    const grow = instance.exports.grow as (pages: number) => number
    expect(grow(3)).toBe(1) // 1 → 4 pages: allowed, returns the old size
    expect(grow(1)).toBe(-1) // past the maximum: fails like malloc's NULL
  })
})

function catchError (fn: () => unknown): Error & Record<string, unknown> {
  try {
    fn()
  } catch (err) {
    return err as Error & Record<string, unknown>
  }
  throw new Error('expected an error')
}
