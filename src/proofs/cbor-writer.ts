/**
 * A fast path for the canonical DAG-CBOR encoding of the values depin hashes, signs and sends
 * most: plain objects with ASCII keys, arrays, ASCII strings, integers (numbers and bigints),
 * floats, booleans, null, bytes and CIDs. It writes the same bytes as `@ipld/dag-cbor`'s
 * `encode` (map keys sorted by length, then bytewise; shortest integer heads; floats as
 * float64; CIDs as tag 42 over 0x00 ‖ the CID's bytes), straight into one reused buffer, with
 * none of the per-value token objects and per-key byte arrays the general encoder makes (it was
 * a third of the garbage a lease makes per task). Anything else it meets (a non-ASCII string,
 * `undefined`, NaN, a Map, a class instance, a typed array other than Uint8Array, nesting past
 * 64 levels, an integer past 64 bits) makes it hand the whole value to `@ipld/dag-cbor`, which
 * encodes it or throws exactly as before. test/cbor-writer.test.ts compares the two on many
 * values.
 */
import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'

/** Thrown inside the writer for a value the fast path leaves to `@ipld/dag-cbor`. */
const FALLBACK = Symbol('fallback')

/** Deeper than this, the general encoder takes over (it detects cycles). */
const MAX_DEPTH = 64
/** The reused buffer starts at this size, and is dropped after a value that needed more than `KEEP_BYTES`. */
const START_BYTES = 16 * 1024
const KEEP_BYTES = 1024 * 1024

const MAJOR_UINT = 0x00
const MAJOR_NEGINT = 0x20
const MAJOR_BYTES = 0x40
const MAJOR_STRING = 0x60
const MAJOR_ARRAY = 0x80
const MAJOR_MAP = 0xa0
const CID_TAG = 42
const MAX_UINT64 = 0xffffffffffffffffn

let buf = new Uint8Array(START_BYTES)
let view = new DataView(buf.buffer)
let pos = 0

function ensure (n: number): void {
  if (pos + n <= buf.byteLength) return
  let size = buf.byteLength * 2
  while (size < pos + n) size *= 2
  const next = new Uint8Array(size)
  next.set(buf.subarray(0, pos))
  buf = next
  view = new DataView(next.buffer)
}

/** A head: major type and argument, in the fewest bytes. `n` is a safe integer ≥ 0. */
function head (major: number, n: number): void {
  ensure(9)
  if (n < 24) {
    buf[pos++] = major | n
  } else if (n < 0x100) {
    buf[pos++] = major | 24
    buf[pos++] = n
  } else if (n < 0x10000) {
    buf[pos++] = major | 25
    view.setUint16(pos, n)
    pos += 2
  } else if (n < 0x100000000) {
    buf[pos++] = major | 26
    view.setUint32(pos, n)
    pos += 4
  } else {
    buf[pos++] = major | 27
    view.setBigUint64(pos, BigInt(n))
    pos += 8
  }
}

function bigHead (major: number, n: bigint): void {
  if (n < 0x100000000n) {
    head(major, Number(n))
    return
  }
  if (n > MAX_UINT64) throw FALLBACK
  ensure(9)
  buf[pos++] = major | 27
  view.setBigUint64(pos, n)
  pos += 8
}

function bytes (b: Uint8Array): void {
  head(MAJOR_BYTES, b.byteLength)
  ensure(b.byteLength)
  buf.set(b, pos)
  pos += b.byteLength
}

/** An ASCII string (its UTF-8 bytes are its char codes); anything else is left to dag-cbor. */
function ascii (s: string): void {
  const n = s.length
  head(MAJOR_STRING, n)
  ensure(n)
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i)
    if (c > 0x7f) throw FALLBACK
    buf[pos + i] = c
  }
  pos += n
}

/** DAG-CBOR's map key order for ASCII keys: shorter first, then bytewise (= char code order). */
function compareKeys (a: string, b: string): number {
  if (a.length !== b.length) return a.length - b.length
  return a < b ? -1 : a > b ? 1 : 0
}

/** Sorts keys in that order; an insertion sort for the usual few keys (Array#sort allocates). */
function sortKeys (keys: string[]): void {
  const n = keys.length
  if (n > 24) {
    keys.sort(compareKeys)
    return
  }
  for (let i = 1; i < n; i++) {
    const k = keys[i]
    let j = i - 1
    while (j >= 0 && compareKeys(keys[j], k) > 0) {
      keys[j + 1] = keys[j]
      j--
    }
    keys[j + 1] = k
  }
}

function write (value: unknown, depth: number): void {
  switch (typeof value) {
    case 'string':
      ascii(value)
      return
    case 'number':
      if (Number.isSafeInteger(value)) {
        if (value >= 0) head(MAJOR_UINT, value)
        else head(MAJOR_NEGINT, -value - 1)
        return
      }
      if (!Number.isFinite(value)) throw FALLBACK
      ensure(9)
      buf[pos++] = 0xfb
      view.setFloat64(pos, value)
      pos += 8
      return
    case 'bigint':
      if (value >= 0n) bigHead(MAJOR_UINT, value)
      else bigHead(MAJOR_NEGINT, -1n - value)
      return
    case 'boolean':
      ensure(1)
      buf[pos++] = value ? 0xf5 : 0xf4
      return
    case 'object':
      break
    default:
      throw FALLBACK
  }
  if (value === null) {
    ensure(1)
    buf[pos++] = 0xf6
    return
  }
  if (++depth > MAX_DEPTH) throw FALLBACK
  if (value instanceof Uint8Array) {
    bytes(value)
    return
  }
  if (Array.isArray(value)) {
    const n = value.length
    head(MAJOR_ARRAY, n)
    for (let i = 0; i < n; i++) write(value[i], depth)
    return
  }
  const o = value as Record<string, unknown>
  // dag-cbor's test for a CID (its cidEncoder), then CID.asCID as there
  if (o.asCID === o || o['/'] === o.bytes) {
    const cid = CID.asCID(o)
    if (cid != null) {
      ensure(2)
      buf[pos++] = 0xd8
      buf[pos++] = CID_TAG
      const b = cid.bytes
      head(MAJOR_BYTES, b.byteLength + 1)
      ensure(b.byteLength + 1)
      buf[pos++] = 0
      buf.set(b, pos)
      pos += b.byteLength
      return
    }
  }
  if (o.constructor !== Object) throw FALLBACK
  const keys = Object.keys(o)
  if (keys.length > 1) sortKeys(keys)
  head(MAJOR_MAP, keys.length)
  for (const key of keys) {
    const v = o[key]
    if (v === undefined) throw FALLBACK
    ascii(key)
    write(v, depth)
  }
}

/** The canonical DAG-CBOR encoding of `value`: the same bytes (or error) as `@ipld/dag-cbor`'s `encode`. */
export function encodeCanonical (value: unknown): Uint8Array {
  pos = 0
  try {
    write(value, 0)
    return buf.slice(0, pos)
  } catch (err) {
    if (err !== FALLBACK) throw err
    return dagCbor.encode(value)
  } finally {
    // a large value (a chunk frame, a big manifest) does not keep its buffer alive
    if (buf.byteLength > KEEP_BYTES) {
      buf = new Uint8Array(START_BYTES)
      view = new DataView(buf.buffer)
    }
  }
}
