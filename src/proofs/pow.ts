/**
 * Hashcash proof of work.
 *
 * - The PoW hash of a header is SHA-256 of the header's canonical DAG-CBOR encoding.
 * - A header is valid when that hash, read as a 256-bit big-endian unsigned integer, is <= its
 *   target. The target travels in the header as 32 bytes, big-endian (no compact form: the
 *   comparison is a plain byte-wise compare, and there is no rounding to document).
 * - The work of a block is floor(2^256 / (target + 1)): the expected number of hashes needed to
 *   find it. Chains are compared by the sum of their blocks' work.
 *
 * The miner loop encodes the header once with a fixed-width nonce (8 bytes of a CBOR byte
 * string, so the encoding's length never changes) and then only overwrites those 8 bytes before
 * each hash.
 */
import { hash as oneShotHash } from 'node:crypto'

/** Bytes of an encoded target. */
export const TARGET_BYTES = 32
/** Bytes of a nonce. */
export const NONCE_BYTES = 8
/** The easiest possible target: every hash meets it. */
export const MAX_TARGET = (1n << 256n) - 1n
const TWO_256 = 1n << 256n

/** SHA-256 of bytes through node:crypto's one-shot API (the fastest path measured here). */
export function powHash (bytes: Uint8Array): Uint8Array {
  return oneShotHash('sha256', bytes, 'buffer')
}

/** A target as 32 big-endian bytes. Throws for a target outside [0, 2^256 - 1]. */
export function targetToBytes (target: bigint): Uint8Array {
  if (target < 0n || target > MAX_TARGET) throw new RangeError('target out of range')
  return bigintToBytes(target, TARGET_BYTES)
}

/** Reads a 32-byte big-endian target. */
export function targetFromBytes (bytes: Uint8Array): bigint {
  if (bytes.byteLength !== TARGET_BYTES) throw new RangeError(`a target is ${TARGET_BYTES} bytes`)
  return bytesToBigint(bytes)
}

/** floor(2^256 / (target + 1)): the expected number of hashes to meet `target`. */
export function workOf (target: bigint): bigint {
  return TWO_256 / (target + 1n)
}

/** The target whose work is about `hashes` (handy for configs: "one block per ~2^20 hashes"). */
export function targetForWork (hashes: bigint): bigint {
  if (hashes < 1n) throw new RangeError('work must be >= 1')
  const t = TWO_256 / hashes - 1n
  return t > MAX_TARGET ? MAX_TARGET : t
}

/** True when `hash` (32 bytes, big-endian) is <= `target` (32 bytes, big-endian). */
export function hashMeetsTarget (hash: Uint8Array, target: Uint8Array): boolean {
  for (let i = 0; i < TARGET_BYTES; i++) {
    const h = hash[i]
    const t = target[i]
    if (h !== t) return h < t
  }
  return true
}

/** Unsigned big-endian bytes of fixed width. */
export function bigintToBytes (value: bigint, width: number): Uint8Array {
  const out = new Uint8Array(width)
  let v = value
  for (let i = width - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn)
    v >>= 8n
  }
  if (v !== 0n) throw new RangeError(`value does not fit in ${width} bytes`)
  return out
}

/** Unsigned big-endian bytes to a bigint. */
export function bytesToBigint (bytes: Uint8Array): bigint {
  let v = 0n
  for (const b of bytes) v = (v << 8n) | BigInt(b)
  return v
}

/** A header encoded once for mining, with the offset of its nonce bytes. */
export interface MiningTemplate {
  /** The encoded header; the miner overwrites `bytes[nonceOffset .. nonceOffset + 8]`. */
  bytes: Uint8Array
  nonceOffset: number
}

/**
 * Encodes a header for mining and locates its nonce. `encodeWithNonce` must encode the same
 * header with the given 8-byte nonce; it is called twice (all-zero and all-0xff nonce) and the 8
 * bytes that differ are the nonce. This does not depend on field order or on what the other
 * fields contain.
 */
export function prepareMining (encodeWithNonce: (nonce: Uint8Array) => Uint8Array): MiningTemplate {
  const a = encodeWithNonce(new Uint8Array(NONCE_BYTES))
  const b = encodeWithNonce(new Uint8Array(NONCE_BYTES).fill(0xff))
  if (a.byteLength !== b.byteLength) throw new Error('the header encoding must not change length with the nonce')
  let first = -1
  let count = 0
  for (let i = 0; i < a.byteLength; i++) {
    if (a[i] !== b[i]) {
      if (first < 0) first = i
      count++
    }
  }
  if (count !== NONCE_BYTES) throw new Error('could not locate the nonce in the header encoding')
  for (let i = first; i < first + NONCE_BYTES; i++) {
    if (a[i] === b[i]) throw new Error('the nonce bytes are not contiguous in the header encoding')
  }
  return { bytes: a, nonceOffset: first }
}

/** A nonce that met the target. */
export interface MinedNonce {
  nonce: Uint8Array
  hash: Uint8Array
}

/**
 * Tries `count` nonces starting at `start` (a 64-bit counter split in two 32-bit halves so the
 * loop never touches a bigint). Mutates `template.bytes` in place. Returns the first nonce that
 * meets `target`, or undefined.
 */
export function mineRange (template: MiningTemplate, target: Uint8Array, startHi: number, startLo: number, count: number): MinedNonce | undefined {
  const bytes = template.bytes
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const off = template.nonceOffset
  let hi = startHi >>> 0
  let lo = startLo >>> 0
  view.setUint32(off, hi)
  for (let i = 0; i < count; i++) {
    view.setUint32(off + 4, lo)
    const h = oneShotHash('sha256', bytes, 'buffer')
    // Fast reject on the first byte before the full compare.
    if (h[0] <= target[0] && hashMeetsTarget(h, target)) {
      return { nonce: bytes.slice(off, off + NONCE_BYTES), hash: new Uint8Array(h) }
    }
    lo = (lo + 1) >>> 0
    if (lo === 0) {
      hi = (hi + 1) >>> 0
      view.setUint32(off, hi)
    }
  }
  return undefined
}
