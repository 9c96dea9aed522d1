/**
 * Instruments one function body: splits it into metering segments and adds, at the start of
 * each segment, code that adds the segment's fuel to the counter; at the function's entry and at
 * every loop header it also checks the counter against the limit and traps (`unreachable`) when
 * it is over. Dynamic costs (bulk memory, table ops, memory.grow) are added just before
 * their instruction from its count operand. See docs/protocol.md, "Fuel", for the rule.
 *
 * Inserted code (u = the fuel-used global, l = the limit global, s64/s32 = two scratch locals
 * appended to the function's locals):
 *
 *   segment start:            global.get u; i64.const COST; i64.add; global.set u   (nothing if COST is 0)
 *   entry and loop headers:   global.get u; i64.const COST; i64.add; local.tee s64; global.set u;
 *                             local.get s64; global.get l; i64.gt_u; if; unreachable; end
 *   before a dynamic cost:    local.tee s32; i64.extend_i32_u; i64.const K; i64.shr_u|i64.shl;
 *                             global.get u; i64.add; global.set u; local.get s32
 *                             (no i64.const K and shift when K is 0: bulk memory's n bytes)
 *
 * All of it leaves the operand stack as it was, adds no label that outlives it, and is valid in
 * unreachable code, so branch depths, block types and validation are unaffected.
 */
import {
  BYTES_PER_FUEL_SHIFT, ELEMENTS_PER_FUEL_SHIFT, FUEL_PER_PAGE_SHIFT, V8_MAX_FUNCTION_BYTES, V8_MAX_FUNCTION_LOCALS
} from './constants.ts'
import { UnmeterableModuleError } from '../errors.ts'
import { malformed, Reader, Writer } from './binary.ts'
import {
  BOUNDARY, CLOSE, decodeInstruction, DYN_BYTES, DYN_ELEMENTS, DYN_PAGES, FLAG_MASK, LOOP, OPEN, WEIGHT
} from './opcodes.ts'

const I32 = 0x7f
const I64 = 0x7e
const GLOBAL_GET = 0x23
const GLOBAL_SET = 0x24
const LOCAL_GET = 0x20
const LOCAL_TEE = 0x22
const I64_CONST = 0x42
const I64_ADD = 0x7c
const I64_GT_U = 0x56
const I64_SHL = 0x86
const I64_SHR_U = 0x88
const I64_EXTEND_I32_U = 0xad
const IF = 0x04
const EMPTY = 0x40
const UNREACHABLE = 0x00
const END = 0x0b

export interface MeterGlobals {
  /** Index of the fuel-used global. */
  used: number
  /** Index of the fuel-limit global. */
  limit: number
}

/** Counters of what was instrumented (for benchmarks and tests). */
export interface BodyStats {
  segments: number
}

/**
 * Reads the body at `src[start, end)` (locals and code, without its size prefix) of a function
 * with `params` parameters and writes the instrumented body, size prefix included, to `out`.
 * `fn` and `seg` are scratch writers reused across calls. Throws `UnmeterableModuleError` as soon
 * as the instrumented body passes `maxBytes` or the engine's function size limit, or when its
 * two scratch locals would take it past the engine's locals limit.
 */
export function instrumentBody (
  src: Uint8Array, start: number, end: number, params: number, g: MeterGlobals,
  out: Writer, fn: Writer, seg: Writer, stats: BodyStats, maxBytes: number
): void {
  const r = new Reader(src, start, end)
  fn.reset()
  seg.reset()

  // locals: the original groups, then one i64 and one i32 scratch local
  const groups = r.u32()
  const groupsAt = r.pos
  let locals = params
  for (let i = 0; i < groups; i++) {
    locals += r.u32()
    const t = r.byte()
    if (t === 0x63 || t === 0x64) r.skipLeb(5)
  }
  if (locals + 2 > V8_MAX_FUNCTION_LOCALS) {
    throw new UnmeterableModuleError(`cannot meter a function with ${locals} parameters and locals (at byte ${start}): metering adds 2, and the engine allows ${V8_MAX_FUNCTION_LOCALS}`)
  }
  const s64 = locals
  const s32 = locals + 1
  fn.u32(groups + 2)
  fn.range(src, groupsAt, r.pos)
  fn.byte(1); fn.byte(I64)
  fn.byte(1); fn.byte(I32)

  let runStart = r.pos // input not yet copied out
  let cost = 0 // static fuel of the current segment
  let checkpoint = true // the current segment starts at the entry or a loop header
  let depth = 0

  const flush = (upTo: number, nextIsLoopHeader: boolean): void => {
    if (checkpoint) {
      fn.byte(GLOBAL_GET); fn.u32(g.used)
      if (cost > 0) {
        fn.byte(I64_CONST); fn.sNonNegative(cost); fn.byte(I64_ADD)
        fn.byte(LOCAL_TEE); fn.u32(s64)
        fn.byte(GLOBAL_SET); fn.u32(g.used)
        fn.byte(LOCAL_GET); fn.u32(s64)
      }
      fn.byte(GLOBAL_GET); fn.u32(g.limit)
      fn.byte(I64_GT_U); fn.byte(IF); fn.byte(EMPTY); fn.byte(UNREACHABLE); fn.byte(END)
    } else if (cost > 0) {
      fn.byte(GLOBAL_GET); fn.u32(g.used)
      fn.byte(I64_CONST); fn.sNonNegative(cost); fn.byte(I64_ADD)
      fn.byte(GLOBAL_SET); fn.u32(g.used)
    }
    if (seg.length > 0) {
      fn.bytes(seg.view())
      seg.reset()
    }
    fn.range(src, runStart, upTo)
    if (fn.length > maxBytes) throw new UnmeterableModuleError('instrumented module would be over its size cap (code made of tiny loops and branches grows the most)')
    if (fn.length > V8_MAX_FUNCTION_BYTES) {
      throw new UnmeterableModuleError(`cannot meter the function at byte ${start}: instrumented, its body would pass the engine's ${V8_MAX_FUNCTION_BYTES} bytes (code made of tiny loops and branches grows the most)`)
    }
    runStart = upTo
    cost = 0
    checkpoint = nextIsLoopHeader
    stats.segments++
  }

  for (;;) {
    const at = r.pos
    const k = decodeInstruction(r)
    const flags = k & FLAG_MASK
    if ((flags & (DYN_BYTES | DYN_ELEMENTS | DYN_PAGES)) !== 0) {
      seg.range(src, runStart, at)
      runStart = at
      seg.byte(LOCAL_TEE); seg.u32(s32)
      seg.byte(I64_EXTEND_I32_U)
      if ((flags & DYN_PAGES) !== 0) {
        seg.byte(I64_CONST); seg.byte(FUEL_PER_PAGE_SHIFT); seg.byte(I64_SHL)
      } else {
        const shift = (flags & DYN_BYTES) !== 0 ? BYTES_PER_FUEL_SHIFT : ELEMENTS_PER_FUEL_SHIFT
        if (shift !== 0) { seg.byte(I64_CONST); seg.byte(shift); seg.byte(I64_SHR_U) } // (shifts are < 64: one-byte LEB)
      }
      seg.byte(GLOBAL_GET); seg.u32(g.used)
      seg.byte(I64_ADD)
      seg.byte(GLOBAL_SET); seg.u32(g.used)
      seg.byte(LOCAL_GET); seg.u32(s32)
    }
    cost += (k - flags) / WEIGHT
    if ((flags & OPEN) !== 0) depth++
    if ((flags & CLOSE) !== 0) {
      if (depth === 0) {
        flush(r.pos, false)
        break
      }
      depth--
    }
    if ((flags & BOUNDARY) !== 0) flush(r.pos, (flags & LOOP) !== 0)
  }
  if (r.pos !== end) throw malformed('function body continues after its final end', r.pos)

  out.u32(fn.length)
  out.bytes(fn.view())
}
