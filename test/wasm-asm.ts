/**
 * A tiny WebAssembly assembler for tests that need a module clang cannot produce (a host call
 * with hand-picked arguments, a given instruction, a module at an engine limit): sections from
 * byte arrays, LEB128 helpers, and the usual command-module layout.
 */

export const I32 = 0x7f
export const I64 = 0x7e

export function leb (n: number): number[] {
  const out: number[] = []
  let v = n >>> 0
  do {
    let b = v & 0x7f
    v >>>= 7
    if (v !== 0) b |= 0x80
    out.push(b)
  } while (v !== 0)
  return out
}

export function sleb (n: number | bigint): number[] {
  let v = BigInt(n)
  const out: number[] = []
  for (;;) {
    const b = Number(v & 0x7fn)
    v >>= 7n
    const done = (v === 0n && (b & 0x40) === 0) || (v === -1n && (b & 0x40) !== 0)
    out.push(done ? b : b | 0x80)
    if (done) return out
  }
}

const utf8 = (s: string): number[] => [...new TextEncoder().encode(s)]
export const name = (s: string): number[] => [...leb(utf8(s).length), ...utf8(s)]
export function vec (items: number[][]): number[] {
  const out = leb(items.length)
  for (const item of items) for (const b of item) out.push(b)
  return out
}
export function section (id: number, payload: number[]): number[] {
  const out = [id, ...leb(payload.length)]
  for (const b of payload) out.push(b)
  return out
}

export interface ModuleParts {
  /** Complete type entries, e.g. [0x60, 0, 0]. */
  types: number[][]
  /** Functions imported from wasi_snapshot_preview1: [name, type index]. */
  wasi?: Array<[string, number]>
  /** Defined functions: type index and body (locals vector, code, final `end`). */
  funcs: Array<{ type: number, body: number[] }>
  /** Initial pages of the memory (exported as `memory`; no maximum). */
  memory?: number
  /** Complete global entries. */
  globals?: number[][]
  /** Index of the function exported as `_start` (default: the first defined one). */
  start?: number
  /** Index of the function of a start section (none by default). */
  startSection?: number
}

/** A command module: imports, functions, memory, globals, `_start` and `memory` exported. */
export function assemble (m: ModuleParts): Uint8Array {
  const imports = (m.wasi ?? []).map(([n, t]) => [...name('wasi_snapshot_preview1'), ...name(n), 0x00, ...leb(t)])
  const exports = [[...name('_start'), 0x00, ...leb(m.start ?? imports.length)]]
  if (m.memory !== undefined) exports.push([...name('memory'), 0x02, 0x00])
  const bytes = [
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec(m.types)),
    ...(imports.length > 0 ? section(2, vec(imports)) : []),
    ...section(3, vec(m.funcs.map(f => leb(f.type)))),
    ...(m.memory !== undefined ? section(5, vec([[0x00, ...leb(m.memory)]])) : []),
    ...(m.globals !== undefined ? section(6, vec(m.globals)) : []),
    ...section(7, vec(exports)),
    ...(m.startSection !== undefined ? section(8, leb(m.startSection)) : []),
    ...section(10, vec(m.funcs.map(f => [...leb(f.body.length), ...f.body])))
  ]
  return Uint8Array.from(bytes)
}

/** `i32.const` of each argument then `call fn`: the instructions of one host call. */
export function callWith (fn: number, args: number[]): number[] {
  const out: number[] = []
  for (const a of args) out.push(0x41, ...sleb(a | 0))
  out.push(0x10, ...leb(fn))
  return out
}
