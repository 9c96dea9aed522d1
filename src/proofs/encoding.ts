/**
 * Canonical encoding. Everything that is signed, hashed or addressed in depin is DAG-CBOR
 * (deterministic: sorted map keys, shortest integers, no floats' alternative forms), so one
 * value has exactly one byte string and a signature or a hash over it is unambiguous.
 */
import { createHash, hash } from 'node:crypto'
import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { InvalidMessageError, MessageTooLargeError } from '../errors.ts'
import { encodeCanonical } from './cbor-writer.ts'

/** Multicodec code of DAG-CBOR (0x71). */
export const DAG_CBOR_CODE = dagCbor.code
/** Multicodec code of raw bytes (0x55): module and input blobs are addressed with it. */
export const RAW_CODE = 0x55
/** Multihash code of SHA2-256 (0x12). */
export const SHA256_CODE = 0x12

/** Encodes a value as canonical DAG-CBOR (`@ipld/dag-cbor`'s bytes, mostly written by a faster path: cbor-writer.ts). */
export function encode (value: unknown): Uint8Array {
  return encodeCanonical(value)
}

/**
 * Decodes DAG-CBOR that came from outside, with a size bound checked first. The decoder is
 * strict: duplicate map keys, indefinite lengths and non-minimal integers are refused by the
 * codec, and anything else that is not the canonical encoding (map keys out of order, say) by
 * encoding the value again and comparing: a decoded value always re-encodes to the same bytes.
 */
export function decode (bytes: Uint8Array, maxBytes: number, what = 'message'): unknown {
  if (bytes.byteLength > maxBytes) {
    throw new MessageTooLargeError(`${what} is ${bytes.byteLength} bytes, over the limit of ${maxBytes}`, maxBytes)
  }
  let value: unknown
  try {
    value = dagCbor.decode(bytes)
  } catch (err) {
    throw new InvalidMessageError(`${what} is not valid DAG-CBOR: ${(err as Error).message}`, { cause: err })
  }
  if (!sameBytes(encodeCanonical(value), bytes)) throw new InvalidMessageError(`${what} is not canonical DAG-CBOR (e.g. map keys out of order)`)
  return value
}

function sameBytes (a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && Buffer.compare(a, b) === 0
}

/** SHA-256 of bytes (one-shot `crypto.hash` where there is one: no Hash object per call). */
export const sha256: (bytes: Uint8Array) => Uint8Array = typeof hash === 'function'
  ? (bytes) => hash('sha256', bytes, 'buffer')
  : (bytes) => createHash('sha256').update(bytes).digest()

/** CIDv1 (sha2-256) of bytes under a codec. */
export function cidOf (bytes: Uint8Array, codec: number = RAW_CODE): CID {
  return CID.createV1(codec, Digest.create(SHA256_CODE, sha256(bytes)))
}

/** CIDv1 (raw, sha2-256) of a blob such as a module or an input. */
export function rawCid (bytes: Uint8Array): CID {
  return cidOf(bytes, RAW_CODE)
}

/** CIDv1 (dag-cbor, sha2-256) of a value's canonical encoding. */
export function valueCid (value: unknown): CID {
  return cidOf(encode(value), DAG_CBOR_CODE)
}

const BASE32 = Uint8Array.from('abcdefghijklmnopqrstuvwxyz234567', (c) => c.charCodeAt(0))
/** Where `cidText` spells a CID before it becomes a string (any CID of a sha2-256 digest fits). */
const TEXT_SCRATCH = Buffer.alloc(256)

/**
 * `cid.toString()`, faster: the same text (a CIDv1 in base32 with multibase prefix `b`; a CIDv0
 * in base58btc). multiformats' generic base32 takes ~3.5 µs a CID, this ~0.2 µs, and the hot
 * paths of a lease name every task, output and input by its CID's text. (Not cached: a WeakMap
 * by CID would cost more than the encoding.)
 */
export function cidText (cid: CID): string {
  if (cid.version !== 1) return cid.toString()
  const bytes = cid.bytes
  const length = 1 + Math.ceil(bytes.byteLength * 8 / 5)
  const out = length <= TEXT_SCRATCH.byteLength ? TEXT_SCRATCH : Buffer.allocUnsafe(length)
  out[0] = 0x62 // 'b'
  let o = 1
  let acc = 0
  let bits = 0
  for (let i = 0; i < bytes.byteLength; i++) {
    acc = ((acc << 8) | bytes[i]) & 0xfff
    bits += 8
    while (bits >= 5) {
      bits -= 5
      out[o++] = BASE32[(acc >>> bits) & 31]
    }
  }
  if (bits > 0) out[o++] = BASE32[(acc << (5 - bits)) & 31]
  return out.toString('latin1', 0, o)
}

/** Parses a CID string from outside, with a clear error. */
export function parseCid (text: string, what = 'CID'): CID {
  try {
    return CID.parse(text)
  } catch (err) {
    throw new InvalidMessageError(`${what} is not a valid CID: ${JSON.stringify(text.slice(0, 80))}`, { cause: err })
  }
}

/** True when `bytes` hash to `cid` (sha2-256 only; anything else does not match). */
export function bytesMatchCid (bytes: Uint8Array, cid: CID): boolean {
  if (cid.multihash.code !== SHA256_CODE) return false
  const digest = sha256(bytes)
  const expected = cid.multihash.digest
  if (digest.length !== expected.length) return false
  for (let i = 0; i < digest.length; i++) if (digest[i] !== expected[i]) return false
  return true
}

export { CID }
