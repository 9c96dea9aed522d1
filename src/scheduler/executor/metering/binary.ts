/**
 * The WebAssembly binary format's primitives for the instrumenter: a bounded reader and a
 * growable writer. Hand-written (not shared with wasm-module.ts) because this one is the hot
 * path of instrumentation: no allocation per read, and every read is bounds-checked so a
 * malformed module fails with `InvalidModuleError`, never with a RangeError or a hang.
 */
import { InvalidModuleError } from '../errors.ts'

export function malformed (what: string, at: number): InvalidModuleError {
  return new InvalidModuleError(`malformed module: ${what} (at byte ${at})`, { code: 'ERR_INVALID_MODULE' })
}

/** Reads a slice of a module: `pos` moves forward, reads past `end` throw. */
export class Reader {
  readonly bytes: Uint8Array
  end: number
  pos: number

  constructor (bytes: Uint8Array, pos = 0, end = bytes.byteLength) {
    this.bytes = bytes
    this.pos = pos
    this.end = end
  }

  byte (): number {
    if (this.pos >= this.end) throw malformed('unexpected end', this.pos)
    return this.bytes[this.pos++]
  }

  peek (): number {
    if (this.pos >= this.end) throw malformed('unexpected end', this.pos)
    return this.bytes[this.pos]
  }

  /** Unsigned LEB128 below 2^32 (at most 5 bytes). */
  u32 (): number {
    const at = this.pos
    let result = 0
    let shift = 0
    for (let i = 0; i < 5; i++) {
      const b = this.byte()
      result += (b & 0x7f) * 2 ** shift
      shift += 7
      if ((b & 0x80) === 0) {
        if (result > 0xffffffff) break
        return result
      }
    }
    throw malformed('integer too long', at)
  }

  /** Skips a LEB128 of at most `maxBytes` bytes (signed or unsigned; the value is not needed). */
  skipLeb (maxBytes: number): void {
    const at = this.pos
    for (let i = 0; i < maxBytes; i++) {
      if ((this.byte() & 0x80) === 0) return
    }
    throw malformed('integer too long', at)
  }

  skip (n: number): void {
    if (n > this.end - this.pos) throw malformed('unexpected end', this.pos)
    this.pos += n
  }

  /** A name (length-prefixed UTF-8), decoded leniently: only compared against ASCII names. */
  name (): string {
    const length = this.u32()
    const at = this.pos
    this.skip(length)
    return Buffer.from(this.bytes.buffer, this.bytes.byteOffset + at, length).toString('utf8')
  }
}

/** An append-only byte buffer that doubles when full. */
export class Writer {
  private buffer: Uint8Array
  length = 0

  constructor (capacity = 1024) {
    this.buffer = new Uint8Array(Math.max(16, capacity))
  }

  private reserve (n: number): void {
    if (this.length + n <= this.buffer.byteLength) return
    let capacity = this.buffer.byteLength * 2
    while (capacity < this.length + n) capacity *= 2
    const grown = new Uint8Array(capacity)
    grown.set(this.buffer.subarray(0, this.length))
    this.buffer = grown
  }

  byte (b: number): void {
    this.reserve(1)
    this.buffer[this.length++] = b
  }

  bytes (bytes: Uint8Array): void {
    this.reserve(bytes.byteLength)
    this.buffer.set(bytes, this.length)
    this.length += bytes.byteLength
  }

  /** Copies `source[start, end)`. */
  range (source: Uint8Array, start: number, end: number): void {
    const n = end - start
    this.reserve(n)
    if (n < 32) {
      // most segments are a few bytes: a loop beats creating a subarray for TypedArray.set
      const buffer = this.buffer
      let at = this.length
      for (let i = start; i < end; i++) buffer[at++] = source[i]
    } else {
      this.buffer.set(source.subarray(start, end), this.length)
    }
    this.length += n
  }

  u32 (value: number): void {
    let v = value >>> 0
    do {
      let b = v & 0x7f
      v >>>= 7
      if (v !== 0) b |= 0x80
      this.byte(b)
    } while (v !== 0)
  }

  /** Signed LEB128 of a bigint in -2^63..2^64-1 (values from 2^63 are written as their i64 bit pattern). */
  s64 (value: bigint): void {
    let v = BigInt.asIntN(64, value)
    for (;;) {
      const b = Number(v & 0x7fn)
      v >>= 7n
      const done = (v === 0n && (b & 0x40) === 0) || (v === -1n && (b & 0x40) !== 0)
      this.byte(done ? b : b | 0x80)
      if (done) return
    }
  }

  /** Signed LEB128 of a non-negative safe integer (a segment's cost): the fast path of `s64`. */
  sNonNegative (value: number): void {
    let v = value
    for (;;) {
      const b = v % 128
      v = Math.floor(v / 128)
      const done = v === 0 && b < 0x40
      this.byte(done ? b : b | 0x80)
      if (done) return
    }
  }

  name (text: string): void {
    const bytes = Buffer.from(text, 'utf8')
    this.u32(bytes.byteLength)
    this.bytes(bytes)
  }

  reset (): void {
    this.length = 0
  }

  /** The bytes written so far (a view; copy before writing more if it must last). */
  view (): Uint8Array {
    return this.buffer.subarray(0, this.length)
  }

  /** The bytes written so far, in an exact-size copy. */
  take (): Uint8Array {
    return this.buffer.slice(0, this.length)
  }
}

/** Bytes of the unsigned LEB128 encoding of `value`. */
export function u32Size (value: number): number {
  let n = 1
  let v = value >>> 7
  while (v !== 0) {
    n++
    v >>>= 7
  }
  return n
}
