/**
 * Reading and rewriting WebAssembly module binaries, before anything is compiled or run.
 *
 * `inspectModule` is pure and synchronous: it says whether the executor will run a module, and
 * why not, without starting anything. Admission calls it before accepting a job.
 *
 * `prepareModule` makes the memory cap hold. Worker `resourceLimits` do not cover WebAssembly
 * memory, and clang-built modules usually declare no maximum, so `memory.grow` could take the
 * whole 4 GiB address space. A module that defines its memory is rewritten so that it imports
 * it instead (from `depin.memory`, `MEMORY_IMPORT_*`): the memory section is dropped and one
 * entry is appended to the import section (memory index 0 stays index 0, function indices do
 * not change because only function imports count for them). Each run then hands the instance a
 * `WebAssembly.Memory` whose `maximum` is that run's cap, so `memory.grow` returns -1 past it
 * (malloc returns NULL) and one compiled module serves every cap. A module that already imports
 * its memory gets the same treatment without a rewrite.
 */
import {
  MEMORY_IMPORT_MODULE, MEMORY_IMPORT_NAME, PAGES_PER_MIB, WASI_MODULE, WASI_PREVIEW1_FUNCTIONS
} from './constants.ts'
import { ForbiddenImportError, InvalidModuleError, MemoryLimitError, ReservedExportError } from './errors.ts'
import { RESERVED_EXPORT_PREFIX } from './metering/constants.ts'
import { wasm } from './wasm-api.ts'

export type ExternKind = 'function' | 'table' | 'memory' | 'global' | 'tag'

export interface ModuleImport {
  module: string
  name: string
  kind: ExternKind
}

export interface ModuleExport {
  name: string
  kind: ExternKind
}

export interface MemoryInfo {
  /** Initial size in 64 KiB pages. */
  initialPages: number
  /** Declared maximum in pages; undefined when the module declares none (clang's default). */
  maximumPages?: number
  /** Set when the module imports its memory instead of defining it. */
  imported?: { module: string, name: string }
}

/** What `inspectModule` learned about a module it accepts. */
export interface ModuleInfo {
  imports: ModuleImport[]
  exports: ModuleExport[]
  memory: MemoryInfo
  /** Initial memory in MiB, rounded up. */
  initialMemoryMiB: number
}

export interface InspectOptions {
  /** Memory cap the module will run under; a larger initial memory is refused. */
  maxMemoryMiB: number
}

/** A module ready to compile: bytes whose memory is imported, and where it is imported from. */
export interface PreparedModule {
  bytes: Uint8Array
  memoryImport: { module: string, name: string }
  initialPages: number
  maximumPages?: number
}

const KINDS: ExternKind[] = ['function', 'table', 'memory', 'global', 'tag']
const SECTION_TYPE = 1
const SECTION_IMPORT = 2
const SECTION_MEMORY = 5
const SECTION_EXPORT = 7
const KIND_MEMORY = 2
const utf8 = new TextDecoder('utf-8', { fatal: true })
const utf8Encoder = new TextEncoder()

/**
 * Checks that a module is one this executor runs and returns its imports, exports and memory.
 * Throws `InvalidModuleError` (not wasm, malformed, fails validation with the engine's reason, no
 * `_start`, no memory or a memory that cannot be capped), `ReservedExportError` (an export named
 * `depin:...`, e.g. an already instrumented module), `ForbiddenImportError` (an import
 * outside WASI preview1, named) or `MemoryLimitError` (initial memory above `maxMemoryMiB`).
 */
export function inspectModule (bytes: Uint8Array, options: InspectOptions): ModuleInfo {
  checkHeader(bytes)
  if (!wasm.validate(bytes)) {
    throw new InvalidModuleError(`module does not compile: ${compileErrorOf(bytes)}`)
  }
  const sections = readSections(bytes)
  const imports: ModuleImport[] = []
  const exports: ModuleExport[] = []
  const memories: MemoryInfo[] = []

  for (const section of sections) {
    const r = new Reader(bytes, section.start, section.end)
    if (section.id === SECTION_IMPORT) {
      for (let n = r.u32(); n > 0; n--) {
        const module = r.name()
        const name = r.name()
        const kind = kindOf(r.byte())
        if (kind === 'memory') {
          memories.push({ ...readMemoryLimits(r), imported: { module, name } })
        } else if (kind === 'function' && module === WASI_MODULE && WASI_PREVIEW1_FUNCTIONS.has(name)) {
          r.u32() // type index: node:wasi's functions are JS functions, linked without a type check
        } else {
          // refused: tables, globals, tags and functions from anywhere but WASI preview1
          throw new ForbiddenImportError(module, name, kind)
        }
        imports.push({ module, name, kind })
      }
    } else if (section.id === SECTION_MEMORY) {
      for (let n = r.u32(); n > 0; n--) memories.push(readMemoryLimits(r))
    } else if (section.id === SECTION_EXPORT) {
      for (let n = r.u32(); n > 0; n--) {
        const name = r.name()
        // reserved for the executor: a module cannot bring a fuel counter of its own
        if (name.startsWith(RESERVED_EXPORT_PREFIX)) throw new ReservedExportError(name)
        const kind = kindOf(r.byte())
        r.u32()
        exports.push({ name, kind })
      }
    }
  }

  if (!exports.some(e => e.name === '_start' && e.kind === 'function')) {
    throw new InvalidModuleError('module exports no _start function (only WASI commands run, not reactors or libraries)')
  }
  if (memories.length === 0) throw new InvalidModuleError('module has no memory')
  if (memories.length > 1) throw new InvalidModuleError(`module has ${memories.length} memories; one is supported`)
  const memory = memories[0]
  const initialMemoryMiB = Math.ceil(memory.initialPages / PAGES_PER_MIB)
  if (memory.initialPages > options.maxMemoryMiB * PAGES_PER_MIB) {
    throw new MemoryLimitError(
      `module needs ${initialMemoryMiB} MiB of initial memory, over the limit of ${options.maxMemoryMiB} MiB`,
      initialMemoryMiB, options.maxMemoryMiB)
  }
  return { imports, exports, memory, initialMemoryMiB }
}

/**
 * Turns an inspected module into bytes whose memory is imported (rewriting a defined memory into
 * an import, see the file comment). Pure; the result is what gets compiled and cached.
 */
export function prepareModule (bytes: Uint8Array, info: ModuleInfo): PreparedModule {
  const { initialPages, maximumPages, imported } = info.memory
  if (imported !== undefined) return { bytes, memoryImport: imported, initialPages, maximumPages }

  const entry = concat([
    encodeName(MEMORY_IMPORT_MODULE), encodeName(MEMORY_IMPORT_NAME),
    // limits without a maximum: any maximum the executor provides satisfies the import
    Uint8Array.of(KIND_MEMORY, 0x00), encodeU32(initialPages)
  ])
  const sections = readSections(bytes)
  const parts: Uint8Array[] = [bytes.subarray(0, 8)]
  const hasImportSection = sections.some(s => s.id === SECTION_IMPORT)
  const typeSection = sections.find(s => s.id === SECTION_TYPE)
  if (!hasImportSection && typeSection === undefined) parts.push(section(SECTION_IMPORT, concat([encodeU32(1), entry])))
  for (const s of sections) {
    if (s.id === SECTION_MEMORY) continue
    if (s.id === SECTION_IMPORT) {
      const r = new Reader(bytes, s.start, s.end)
      const count = r.u32()
      parts.push(section(SECTION_IMPORT, concat([encodeU32(count + 1), bytes.subarray(r.pos, s.end), entry])))
      continue
    }
    parts.push(bytes.subarray(s.headerStart, s.end))
    if (s === typeSection && !hasImportSection) parts.push(section(SECTION_IMPORT, concat([encodeU32(1), entry])))
  }
  return {
    bytes: concat(parts),
    memoryImport: { module: MEMORY_IMPORT_MODULE, name: MEMORY_IMPORT_NAME },
    initialPages,
    maximumPages
  }
}

function checkHeader (bytes: Uint8Array): void {
  if (bytes.byteLength < 8 || bytes[0] !== 0x00 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d) {
    throw new InvalidModuleError('not a WebAssembly module (no \\0asm magic)')
  }
  const version = bytes[4] | (bytes[5] << 8) | (bytes[6] << 16) | (bytes[7] << 24)
  if (version !== 1) {
    throw new InvalidModuleError(`unsupported WebAssembly binary version ${version} (only core modules, version 1)`)
  }
}

function compileErrorOf (bytes: Uint8Array): string {
  try {
    // Only reached for bytes that failed validation: compiling them again gives the reason.
    void new wasm.Module(bytes)
    return 'validation failed'
  } catch (err) {
    return (err as Error).message
  }
}

interface Section {
  id: number
  /** Offset of the section id byte. */
  headerStart: number
  /** Offset of the payload. */
  start: number
  end: number
}

function readSections (bytes: Uint8Array): Section[] {
  const sections: Section[] = []
  const r = new Reader(bytes, 8, bytes.byteLength)
  while (r.pos < bytes.byteLength) {
    const headerStart = r.pos
    const id = r.byte()
    const size = r.u32()
    const start = r.pos
    const end = start + size
    if (end > bytes.byteLength) throw malformed(`section ${id} runs past the end`, headerStart)
    sections.push({ id, headerStart, start, end })
    r.pos = end
  }
  return sections
}

function readMemoryLimits (r: Reader): Omit<MemoryInfo, 'imported'> {
  const at = r.pos
  const flags = r.byte()
  if ((flags & 0x04) !== 0) throw new InvalidModuleError('64-bit memory (memory64) is not supported')
  if ((flags & 0x02) !== 0) throw new InvalidModuleError('shared memory (wasm threads) is not supported')
  if (flags > 0x01) throw malformed(`memory limits flags 0x${flags.toString(16)}`, at)
  const initialPages = r.u32()
  const maximumPages = (flags & 0x01) !== 0 ? r.u32() : undefined
  return { initialPages, maximumPages }
}

function kindOf (byte: number): ExternKind {
  const kind = KINDS[byte]
  if (kind === undefined) throw new InvalidModuleError(`malformed module: unknown extern kind ${byte}`)
  return kind
}

function malformed (what: string, at: number): InvalidModuleError {
  return new InvalidModuleError(`malformed module: ${what} (at byte ${at})`)
}

/** Bounded reader of the binary format's primitives. */
class Reader {
  readonly bytes: Uint8Array
  readonly end: number
  pos: number

  constructor (bytes: Uint8Array, pos: number, end: number) {
    this.bytes = bytes
    this.pos = pos
    this.end = end
  }

  byte (): number {
    if (this.pos >= this.end) throw malformed('unexpected end', this.pos)
    return this.bytes[this.pos++]
  }

  /** Unsigned LEB128, at most 5 bytes, below 2^32. */
  u32 (): number {
    const at = this.pos
    let result = 0
    for (let i = 0; i < 5; i++) {
      const b = this.byte()
      result += (b & 0x7f) * 2 ** (7 * i)
      if ((b & 0x80) === 0) {
        if (result > 0xffffffff) break
        return result
      }
    }
    throw malformed('integer too long', at)
  }

  name (): string {
    const length = this.u32()
    const at = this.pos
    if (at + length > this.end) throw malformed('name runs past its section', at)
    this.pos += length
    try {
      return utf8.decode(this.bytes.subarray(at, at + length))
    } catch {
      throw malformed('name is not UTF-8', at)
    }
  }
}

function encodeU32 (value: number): Uint8Array {
  const out: number[] = []
  let v = value >>> 0
  do {
    let b = v & 0x7f
    v >>>= 7
    if (v !== 0) b |= 0x80
    out.push(b)
  } while (v !== 0)
  return Uint8Array.from(out)
}

function encodeName (text: string): Uint8Array {
  const bytes = utf8Encoder.encode(text)
  return concat([encodeU32(bytes.byteLength), bytes])
}

function section (id: number, payload: Uint8Array): Uint8Array {
  return concat([Uint8Array.of(id), encodeU32(payload.byteLength), payload])
}

function concat (parts: Uint8Array[]): Uint8Array {
  let length = 0
  for (const p of parts) length += p.byteLength
  const out = new Uint8Array(length)
  let offset = 0
  for (const p of parts) {
    out.set(p, offset)
    offset += p.byteLength
  }
  return out
}
