/**
 * Decodes one instruction of a function body: skips its immediates and says what the fuel rule
 * needs to know about it (its weight, whether a metering segment ends after it, whether it opens
 * or closes a block, whether it has a dynamic cost).
 *
 * Covers every instruction V8 (Node 24) validates by default: the 1.0 MVP, sign extension,
 * saturating float-to-int, bulk memory, reference types, multi-value, SIMD (0xFD), tail calls,
 * exception handling (legacy try/catch/delegate and try_table/throw_ref), typed function
 * references and atomics (0xFE). An opcode outside these is refused with
 * `UnmeterableModuleError` rather than guessed at: a wrong guess about immediates would
 * desynchronise the decoder. (Modules are validated by the engine before they get here, so an
 * opcode the engine knows is one of the above.)
 *
 * Refused although known, with `UnmeterableModuleError`, because replicas could not agree on
 * them:
 * - relaxed SIMD (0xFD 0x100..0x113): their results are implementation-defined and V8 picks the
 *   CPU's (f32x4.relaxed_madd is fused on a CPU with FMA and not without; relaxed_swizzle,
 *   relaxed_trunc, relaxed_laneselect, relaxed_min/max, relaxed_q15mulr and relaxed_dot differ
 *   between x86 and arm64), so two honest workers could report other outputs and other fuel.
 * - GC (every 0xFB instruction; instrument.ts refuses struct and array types): its objects live in
 *   the worker thread's JS heap, outside the job's memory limit, so a job could crash the worker
 *   (an outcome that depends on the node's heap settings, and unpaid) or allocate megabytes for a
 *   few fuel. Refused until that heap can be capped and charged.
 */
import { UnmeterableModuleError } from '../errors.ts'
import { INSTRUCTION_FUEL, ZERO_WEIGHT_OPCODES } from './constants.ts'
import type { Reader } from './binary.ts'

/** A metering segment ends after this instruction. */
export const BOUNDARY = 1
/** The segment after this instruction is a loop header (fuel is checked there). */
export const LOOP = 2
/** Opens a block (block, loop, if, try, try_table). */
export const OPEN = 4
/** Closes a block (end, delegate); the `end` that closes the function body too. */
export const CLOSE = 8
/** Dynamic cost before it: n for n bytes (`BYTES_PER_FUEL_SHIFT`). */
export const DYN_BYTES = 16
/** Dynamic cost before it: floor(n / 8) for n elements. */
export const DYN_ELEMENTS = 32
/** Dynamic cost before it: n × 256 for n pages. */
export const DYN_PAGES = 64
/** `decodeInstruction` returns flags + weight × WEIGHT. */
export const WEIGHT = 128
export const FLAG_MASK = WEIGHT - 1

const W = INSTRUCTION_FUEL * WEIGHT
const SEGMENT_END = W | BOUNDARY

function blockType (r: Reader): void {
  const b = r.peek()
  if (b === 0x63 || b === 0x64) {
    r.pos++
    r.skipLeb(5) // heap type (s33)
  } else {
    r.skipLeb(5) // 0x40, a one-byte value type, or a type index (s33)
  }
}

function valueType (r: Reader): void {
  const b = r.byte()
  if (b === 0x63 || b === 0x64) r.skipLeb(5)
}

function memarg (r: Reader): void {
  const align = r.u32()
  if ((align & 0x40) !== 0) r.u32() // multi-memory: a memory index follows
  r.skipLeb(10) // offset (u64 for memory64)
}

/** Reads one instruction at `r.pos`; returns its flags plus its weight × `WEIGHT`. */
export function decodeInstruction (r: Reader): number {
  const at = r.pos
  const op = r.byte()
  switch (op) {
    case 0x00: return SEGMENT_END // unreachable
    case 0x01: return 0 // nop
    case 0x02: blockType(r); return OPEN // block
    case 0x03: blockType(r); return OPEN | BOUNDARY | LOOP // loop
    case 0x04: blockType(r); return W | OPEN | BOUNDARY // if
    case 0x05: return BOUNDARY // else
    case 0x06: blockType(r); return OPEN // try (legacy)
    case 0x07: r.u32(); return BOUNDARY // catch (legacy)
    case 0x08: r.u32(); return SEGMENT_END // throw
    case 0x09: r.u32(); return SEGMENT_END // rethrow
    case 0x0a: return SEGMENT_END // throw_ref
    case 0x0b: return CLOSE | BOUNDARY // end
    case 0x0c: case 0x0d: r.u32(); return SEGMENT_END // br, br_if
    case 0x0e: { // br_table
      for (let n = r.u32(); n >= 0; n--) r.u32() // n labels and the default
      return SEGMENT_END
    }
    case 0x0f: return SEGMENT_END // return
    case 0x10: r.u32(); return W // call
    case 0x11: r.u32(); r.u32(); return W // call_indirect
    case 0x12: r.u32(); return SEGMENT_END // return_call
    case 0x13: r.u32(); r.u32(); return SEGMENT_END // return_call_indirect
    case 0x14: r.u32(); return W // call_ref
    case 0x15: r.u32(); return SEGMENT_END // return_call_ref
    case 0x18: r.u32(); return CLOSE | BOUNDARY // delegate
    case 0x19: return BOUNDARY // catch_all (legacy)
    case 0x1a: case 0x1b: return W // drop, select
    case 0x1c: for (let n = r.u32(); n > 0; n--) valueType(r); return W // select t*
    case 0x1f: { // try_table
      blockType(r)
      for (let n = r.u32(); n > 0; n--) {
        const kind = r.byte()
        if (kind === 0x00 || kind === 0x01) r.u32() // catch / catch_ref: a tag
        else if (kind !== 0x02 && kind !== 0x03) throw unknown(`try_table catch kind 0x${kind.toString(16)}`, at)
        r.u32() // label
      }
      return OPEN
    }
    case 0x20: case 0x21: case 0x22: case 0x23: case 0x24: case 0x25: case 0x26:
      r.u32(); return W // local.*, global.*, table.get, table.set
    case 0x3f: r.u32(); return W // memory.size
    case 0x40: r.u32(); return W | DYN_PAGES // memory.grow
    case 0x41: r.skipLeb(5); return W // i32.const
    case 0x42: r.skipLeb(10); return W // i64.const
    case 0x43: r.skip(4); return W // f32.const
    case 0x44: r.skip(8); return W // f64.const
    case 0xd0: r.skipLeb(5); return W // ref.null
    case 0xd1: case 0xd3: case 0xd4: return W // ref.is_null, ref.eq, ref.as_non_null
    case 0xd2: r.u32(); return W // ref.func
    case 0xd5: case 0xd6: r.u32(); return SEGMENT_END // br_on_null, br_on_non_null
    case 0xfb: return gc(r, at)
    case 0xfc: return misc(r, at)
    case 0xfd: return simd(r, at)
    case 0xfe: return atomic(r, at)
  }
  if (op >= 0x28 && op <= 0x3e) { memarg(r); return W } // loads and stores
  if (op >= 0x45 && op <= 0xc4) return W // numeric, no immediates
  throw unknown(`opcode 0x${op.toString(16)}`, at)
}

function misc (r: Reader, at: number): number {
  const sub = r.u32()
  if (sub <= 7) return W // trunc_sat
  switch (sub) {
    case 8: r.u32(); r.u32(); return W | DYN_BYTES // memory.init
    case 9: r.u32(); return W // data.drop
    case 10: r.u32(); r.u32(); return W | DYN_BYTES // memory.copy
    case 11: r.u32(); return W | DYN_BYTES // memory.fill
    case 12: r.u32(); r.u32(); return W | DYN_ELEMENTS // table.init
    case 13: r.u32(); return W // elem.drop
    case 14: r.u32(); r.u32(); return W | DYN_ELEMENTS // table.copy
    case 15: r.u32(); return W | DYN_ELEMENTS // table.grow
    case 16: r.u32(); return W // table.size
    case 17: r.u32(); return W | DYN_ELEMENTS // table.fill
  }
  throw unknown(`opcode 0xfc ${sub}`, at)
}

function simd (r: Reader, at: number): number {
  const sub = r.u32()
  if (sub <= 11 || sub === 92 || sub === 93) { memarg(r); return W } // loads, store, load*_zero
  if (sub === 12 || sub === 13) { r.skip(16); return W } // v128.const, i8x16.shuffle
  if (sub >= 21 && sub <= 34) { r.skip(1); return W } // extract_lane, replace_lane
  if (sub >= 84 && sub <= 91) { memarg(r); r.skip(1); return W } // load_lane, store_lane
  if (sub <= 0xff) return W // everything else: no immediates
  if (sub <= 0x113) {
    throw new UnmeterableModuleError(`cannot meter relaxed SIMD (opcode 0xfd ${sub} at byte ${at}): its result depends on the worker's CPU`)
  }
  throw unknown(`opcode 0xfd ${sub}`, at)
}

function atomic (r: Reader, at: number): number {
  const sub = r.u32()
  if (sub === 3) { r.skip(1); return W } // atomic.fence
  if (sub <= 2 || (sub >= 0x10 && sub <= 0x4e)) { memarg(r); return W }
  throw unknown(`opcode 0xfe ${sub}`, at)
}

function gc (r: Reader, at: number): never {
  const sub = r.u32()
  throw new UnmeterableModuleError(`cannot meter GC instructions (opcode 0xfb ${sub} at byte ${at}): GC objects are outside the job's memory limit`)
}

function unknown (what: string, at: number): UnmeterableModuleError {
  return new UnmeterableModuleError(`cannot meter ${what} at byte ${at}`)
}
