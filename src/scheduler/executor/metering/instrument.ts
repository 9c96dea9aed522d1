/**
 * Module-level fuel instrumentation: rewrites a (validated) WebAssembly module so that it counts
 * its own fuel. What changes:
 *
 * - two mutable i64 globals are appended to the global index space (after every imported and
 *   defined global, so no existing index moves) and exported as `depin:fuel` (used, starts at 0)
 *   and `depin:fuel_limit` (starts at 2^64-1; the host sets it before the run);
 * - every function body is instrumented (function-body.ts) and gets two scratch locals;
 * - the start section, if any, is removed and its function exported as `depin:start`, so that
 *   the host can set the limit before any of the module's code runs;
 * - custom sections other than `name` are dropped (debug info would describe code that moved);
 *   `name` stays valid because no function, global or local index changes.
 *
 * Why a hand-written rewriter and not binaryen (the npm package): the fuel rule must be defined
 * on the submitted module's own instructions so that any implementation counts the same, and
 * binaryen rewrites code through its own IR (its output's instructions are not the input's);
 * and on a 25 MiB module binaryen's read + write alone took 8.5-12 s and ~600 MiB against 0.4-0.9 s
 * and ~110 MiB here (bench/cpu.ts). The runtime cost is the same either way: the inserted code is
 * what it is, and V8's optimizing compiler does the rest.
 *
 * Linear in the module's size in time and memory, and capped (`MAX_INSTRUMENTED_BYTES`) (one pass over the code; the output is at most
 * about twice the input). A module that exports a reserved name (`depin:` prefix) is refused with
 * `ReservedExportError`; one with an instruction outside metering/opcodes.ts or refused there
 * (relaxed SIMD, GC), GC struct or array types, a 64-bit table, or that instrumentation would
 * push over one of the engine's limits (locals, globals, exports, function size: `V8_MAX_*` in
 * constants.ts), with `UnmeterableModuleError`.
 */
import { ReservedExportError, UnmeterableModuleError } from '../errors.ts'
import {
  FUEL_LIMIT_EXPORT, FUEL_USED_EXPORT, INSTRUMENT_YIELD_BYTES, MAX_INSTRUMENTED_BYTES, RESERVED_EXPORT_PREFIX, START_EXPORT,
  V8_MAX_EXPORTS, V8_MAX_GLOBALS
} from './constants.ts'
import { malformed, Reader, Writer } from './binary.ts'
import { instrumentBody } from './function-body.ts'
import { CLOSE, decodeInstruction, FLAG_MASK, OPEN } from './opcodes.ts'
import type { BodyStats, MeterGlobals } from './function-body.ts'

const SECTION = { custom: 0, type: 1, import: 2, function: 3, table: 4, global: 6, export: 7, start: 8, code: 10 } as const
/** Position of each known section id in the module's section order (tag, 13, sits between memory and global). */
const ORDER: Record<number, number> = { 1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 13: 6, 6: 7, 7: 8, 8: 9, 9: 10, 12: 11, 10: 12, 11: 13 }
const KIND_FUNC = 0x00
const KIND_GLOBAL = 0x03

export interface InstrumentStats {
  /** Functions instrumented (bodies in the code section). */
  functions: number
  /** Metering segments over all functions (each gets its charge, when its cost is not 0). */
  segments: number
}

export interface InstrumentOptions {
  /** Refuse (`UnmeterableModuleError`) when the instrumented module would be larger. Default `MAX_INSTRUMENTED_BYTES`. */
  maxBytes?: number
}

export interface InstrumentedModule {
  bytes: Uint8Array
  stats: InstrumentStats
}

interface Section {
  id: number
  headerStart: number
  start: number
  end: number
}

/** Instruments a module synchronously. See the file comment; throws `InvalidModuleError` subclasses. */
export function instrumentModule (bytes: Uint8Array, options: InstrumentOptions = {}): InstrumentedModule {
  const steps = instrumentSteps(bytes, options.maxBytes ?? MAX_INSTRUMENTED_BYTES)
  for (;;) {
    const step = steps.next()
    if (step.done === true) return step.value
  }
}

/**
 * The same, yielding to the event loop after about every `INSTRUMENT_YIELD_BYTES` of code, so
 * that instrumenting a large module does not stall the thread it runs in (the node's main thread).
 */
export async function instrumentModuleAsync (bytes: Uint8Array, options: InstrumentOptions = {}): Promise<InstrumentedModule> {
  const steps = instrumentSteps(bytes, options.maxBytes ?? MAX_INSTRUMENTED_BYTES)
  for (;;) {
    const step = steps.next()
    if (step.done === true) return step.value
    await new Promise<void>(resolve => setImmediate(resolve))
  }
}

function * instrumentSteps (bytes: Uint8Array, maxBytes: number): Generator<void, InstrumentedModule> {
  if (bytes.byteLength < 8 || bytes[0] !== 0x00 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d) {
    throw malformed('no \\0asm magic', 0)
  }
  const sections = readSections(bytes)
  const find = (id: number): Section | undefined => sections.find(s => s.id === id)

  const typeParams = readTypeParams(bytes, find(SECTION.type))
  const { functions: importedFunctions, globals: importedGlobals } = countImports(bytes, find(SECTION.import))
  const functionTypes = readFunctionTypes(bytes, find(SECTION.function))
  checkTables(bytes, find(SECTION.table))
  const globalSection = find(SECTION.global)
  const definedGlobals = globalSection === undefined ? 0 : new Reader(bytes, globalSection.start, globalSection.end).u32()
  if (importedGlobals + definedGlobals + 2 > V8_MAX_GLOBALS) {
    throw new UnmeterableModuleError(`cannot meter a module with ${importedGlobals + definedGlobals} globals: metering adds 2, and the engine allows ${V8_MAX_GLOBALS}`)
  }
  const g: MeterGlobals = { used: importedGlobals + definedGlobals, limit: importedGlobals + definedGlobals + 1 }
  const startSection = find(SECTION.start)
  const startFunction = startSection === undefined ? undefined : new Reader(bytes, startSection.start, startSection.end).u32()

  const out = new Writer(Math.ceil(bytes.byteLength * 1.5) + 64)
  out.range(bytes, 0, 8)
  let stats: InstrumentStats = { functions: 0, segments: 0 }
  let globalsWritten = false
  let exportsWritten = false
  const writeExports = (section: Section | undefined): void => {
    writeSection(out, SECTION.export, rewriteExports(bytes, section, g, startFunction))
    exportsWritten = true
  }
  const writeGlobals = (): void => {
    const w = new Writer()
    if (globalSection === undefined) {
      w.u32(2)
    } else {
      const r = new Reader(bytes, globalSection.start, globalSection.end)
      w.u32(r.u32() + 2)
      w.range(bytes, r.pos, globalSection.end)
    }
    // (global (mut i64) (i64.const 0)), (global (mut i64) (i64.const -1))
    w.bytes(Uint8Array.of(0x7e, 0x01, 0x42, 0x00, 0x0b, 0x7e, 0x01, 0x42, 0x7f, 0x0b))
    writeSection(out, SECTION.global, w.view())
    globalsWritten = true
  }

  for (const s of sections) {
    if (!globalsWritten && s.id !== SECTION.custom && ORDER[s.id] > ORDER[SECTION.global]) writeGlobals()
    if (!exportsWritten && s.id !== SECTION.custom && ORDER[s.id] > ORDER[SECTION.export]) writeExports(undefined)
    switch (s.id) {
      case SECTION.custom: {
        const name = new Reader(bytes, s.start, s.end).name()
        if (name === 'name') out.range(bytes, s.headerStart, s.end)
        break
      }
      case SECTION.global:
        writeGlobals()
        break
      case SECTION.export:
        writeExports(s)
        break
      case SECTION.start:
        break // its function is exported as depin:start instead
      case SECTION.code: {
        const code = new Writer(Math.ceil((s.end - s.start) * 1.6) + 16)
        const fn = new Writer(4096)
        const seg = new Writer(256)
        const bodyStats: BodyStats = { segments: 0 }
        const r = new Reader(bytes, s.start, s.end)
        const count = r.u32()
        if (count !== functionTypes.length) throw malformed('code and function sections disagree', s.start)
        code.u32(count)
        let sinceYield = 0
        for (let i = 0; i < count; i++) {
          const size = r.u32()
          const bodyStart = r.pos
          r.skip(size)
          const params = typeParams[functionTypes[i]]
          if (params === undefined || params < 0) throw malformed(`function ${importedFunctions + i} has no function type`, bodyStart)
          // the rest of the module is at most its input size: what is left of the cap is the body's
          instrumentBody(bytes, bodyStart, bodyStart + size, params, g, code, fn, seg, bodyStats, maxBytes - code.length - bytes.byteLength)
          sinceYield += size
          if (sinceYield >= INSTRUMENT_YIELD_BYTES) {
            sinceYield = 0
            yield
          }
        }
        if (r.pos !== s.end) throw malformed('code section continues after its last body', r.pos)
        writeSection(out, SECTION.code, code.view())
        stats = { functions: count, segments: bodyStats.segments }
        break
      }
      default:
        out.range(bytes, s.headerStart, s.end)
    }
  }
  if (!globalsWritten) writeGlobals()
  if (!exportsWritten) writeExports(undefined)
  return { bytes: out.take(), stats }
}

function readSections (bytes: Uint8Array): Section[] {
  const sections: Section[] = []
  const r = new Reader(bytes, 8)
  while (r.pos < bytes.byteLength) {
    const headerStart = r.pos
    const id = r.byte()
    const size = r.u32()
    const start = r.pos
    r.skip(size)
    if (id !== SECTION.custom && ORDER[id] === undefined) throw malformed(`unknown section ${id}`, headerStart)
    sections.push({ id, headerStart, start, end: r.pos })
  }
  return sections
}

function writeSection (out: Writer, id: number, payload: Uint8Array): void {
  out.byte(id)
  out.u32(payload.byteLength)
  out.bytes(payload)
}

function valueType (r: Reader): void {
  const b = r.byte()
  if (b === 0x63 || b === 0x64) r.skipLeb(5)
}

/**
 * Parameter count of every type index; rec groups and subtype declarations of function types
 * included. Struct and array types are refused (GC objects are outside the job's memory limit,
 * see opcodes.ts), so no GC object can be made, not even by a global's initializer.
 */
function readTypeParams (bytes: Uint8Array, s: Section | undefined): number[] {
  const params: number[] = []
  if (s === undefined) return params
  const r = new Reader(bytes, s.start, s.end)
  const compositeType = (): void => {
    const form = r.byte()
    if (form === 0x60) {
      const n = r.u32()
      for (let i = 0; i < n; i++) valueType(r)
      for (let m = r.u32(); m > 0; m--) valueType(r)
      params.push(n)
    } else if (form === 0x5f || form === 0x5e) {
      throw new UnmeterableModuleError(`cannot meter a module with GC ${form === 0x5f ? 'struct' : 'array'} types (at byte ${r.pos - 1}): GC objects are outside the job's memory limit`)
    } else {
      throw new UnmeterableModuleError(`cannot meter a module with type form 0x${form.toString(16)} (at byte ${r.pos - 1})`)
    }
  }
  const subType = (): void => {
    const b = r.peek()
    if (b === 0x50 || b === 0x4f) {
      r.pos++
      for (let n = r.u32(); n > 0; n--) r.u32()
    }
    compositeType()
  }
  for (let count = r.u32(); count > 0; count--) {
    if (r.peek() === 0x4e) {
      r.pos++
      for (let n = r.u32(); n > 0; n--) subType()
    } else {
      subType()
    }
  }
  return params
}

function skipLimits (r: Reader): boolean {
  const flags = r.byte()
  r.skipLeb(10)
  if ((flags & 0x01) !== 0) r.skipLeb(10)
  return (flags & 0x04) !== 0
}

function countImports (bytes: Uint8Array, s: Section | undefined): { functions: number, globals: number } {
  let functions = 0
  let globals = 0
  if (s === undefined) return { functions, globals }
  const r = new Reader(bytes, s.start, s.end)
  for (let n = r.u32(); n > 0; n--) {
    r.name()
    r.name()
    const kind = r.byte()
    if (kind === KIND_FUNC) {
      r.u32()
      functions++
    } else if (kind === 0x01) {
      valueType(r)
      if (skipLimits(r)) throw new UnmeterableModuleError('cannot meter a module with a 64-bit table')
    } else if (kind === 0x02) {
      skipLimits(r)
    } else if (kind === KIND_GLOBAL) {
      valueType(r)
      r.byte()
      globals++
    } else if (kind === 0x04) {
      r.byte()
      r.u32()
    } else {
      throw malformed(`import kind ${kind}`, r.pos - 1)
    }
  }
  return { functions, globals }
}

function readFunctionTypes (bytes: Uint8Array, s: Section | undefined): number[] {
  if (s === undefined) return []
  const r = new Reader(bytes, s.start, s.end)
  const count = r.u32()
  if (count > s.end - r.pos) throw malformed('function section count', s.start)
  const types = new Array<number>(count)
  for (let i = 0; i < count; i++) types[i] = r.u32()
  return types
}

/** Refuses 64-bit tables: the dynamic cost of table ops reads their count as an i32. */
function checkTables (bytes: Uint8Array, s: Section | undefined): void {
  if (s === undefined) return
  const r = new Reader(bytes, s.start, s.end)
  for (let n = r.u32(); n > 0; n--) {
    const withInit = r.peek() === 0x40
    if (withInit) {
      r.pos++
      r.byte() // 0x00
    }
    valueType(r)
    if (skipLimits(r)) throw new UnmeterableModuleError('cannot meter a module with a 64-bit table')
    if (withInit) skipConstExpr(r)
  }
}

function skipConstExpr (r: Reader): void {
  let depth = 0
  for (;;) {
    const flags = decodeInstruction(r) & FLAG_MASK
    if ((flags & OPEN) !== 0) depth++
    if ((flags & CLOSE) !== 0 && depth-- === 0) return
  }
}

function rewriteExports (bytes: Uint8Array, s: Section | undefined, g: MeterGlobals, startFunction: number | undefined): Uint8Array {
  const r = s === undefined ? new Reader(Uint8Array.of(0)) : new Reader(bytes, s.start, s.end)
  const count = r.u32()
  const entriesAt = r.pos
  for (let i = 0; i < count; i++) {
    const name = r.name()
    if (name.startsWith(RESERVED_EXPORT_PREFIX)) throw new ReservedExportError(name)
    r.byte()
    r.u32()
  }
  const added = startFunction === undefined ? 2 : 3
  if (count + added > V8_MAX_EXPORTS) {
    throw new UnmeterableModuleError(`cannot meter a module with ${count} exports: metering adds ${added}, and the engine allows ${V8_MAX_EXPORTS}`)
  }
  const w = new Writer(r.end - entriesAt + 64)
  w.u32(count + added)
  w.range(r.bytes, entriesAt, r.end)
  w.name(FUEL_USED_EXPORT); w.byte(KIND_GLOBAL); w.u32(g.used)
  w.name(FUEL_LIMIT_EXPORT); w.byte(KIND_GLOBAL); w.u32(g.limit)
  if (startFunction !== undefined) {
    w.name(START_EXPORT); w.byte(KIND_FUNC); w.u32(startFunction)
  }
  return w.take()
}
