/**
 * Canonical encoding. Everything that is signed, hashed or addressed in depin is DAG-CBOR
 * (deterministic: sorted map keys, shortest integers, no floats' alternative forms), so one
 * value has exactly one byte string and a signature or a hash over it is unambiguous.
 */
import { createHash, hash } from 'node:crypto'
import * as dagCbor from '@ipld/dag-cbor'
import * as cborg from 'cborg'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { InvalidMessageError, MessageTooLargeError } from '../errors.ts'
import { InterningTokenizer } from './cbor-reader.ts'
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
    // (a Buffer read as a plain Uint8Array, as cborg does itself: its slices are then copies)
    const data = Buffer.isBuffer(bytes) ? new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) : bytes
    value = cborg.decode(data, { ...DECODE_OPTIONS, tokenizer: new InterningTokenizer(data, TOKENIZER_OPTIONS) })
  } catch (err) {
    throw new InvalidMessageError(`${what} is not valid DAG-CBOR: ${(err as Error).message}`, { cause: err })
  }
  if (!sameBytes(encodeCanonical(value), bytes)) throw new InvalidMessageError(`${what} is not canonical DAG-CBOR (e.g. map keys out of order)`)
  return value
}

function sameBytes (a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && Buffer.compare(a, b) === 0
}

/*
 * Digests and CIDs are carved from small shared slabs. Why: a lease names every task, input and
 * output by CID and hashes each result, thousands a second; as separate arrays, each digest and
 * CID costs V8 an ArrayBuffer of its own (multiformats reads `.buffer` of every CID's bytes,
 * which moves a small array off V8's heap; node's hash output is a fresh Buffer), about 0.25-0.4
 * µs apiece and garbage-collector work after. A slab is 1 KiB (28 CIDs), so a CID kept long
 * holds at most that much beside it.
 */
const SLAB_BYTES = 1024
let slabBuffer = Buffer.allocUnsafeSlow(SLAB_BYTES)
let slab = new Uint8Array(slabBuffer.buffer, slabBuffer.byteOffset, SLAB_BYTES)
let slabUsed = 0

/** Reserves `length` bytes of the current slab (a new slab when it is full); returns their offset. */
function carve (length: number): number {
  if (slabUsed + length > SLAB_BYTES) {
    slabBuffer = Buffer.allocUnsafeSlow(SLAB_BYTES)
    slab = new Uint8Array(slabBuffer.buffer, slabBuffer.byteOffset, SLAB_BYTES)
    slabUsed = 0
  }
  const offset = slabUsed
  slabUsed += length
  return offset
}

/** Writes SHA-256 of `bytes` at `offset` of the current slab (one-shot `crypto.hash` where there is one). */
function sha256Into (bytes: Uint8Array, offset: number): void {
  if (typeof hash === 'function') slabBuffer.write(hash('sha256', bytes, 'binary'), offset, 32, 'latin1')
  else slab.set(createHash('sha256').update(bytes).digest(), offset)
}

/** SHA-256 of bytes (32 bytes; a view that stays valid: slabs are never reused). */
export function sha256 (bytes: Uint8Array): Uint8Array {
  const offset = carve(32)
  sha256Into(bytes, offset)
  return slab.subarray(offset, offset + 32)
}

/** A CIDv1 of a sha2-256 digest from its 36 bytes (`0x01, codec, 0x12, 0x20, digest`: a codec under 0x80). */
function sha256CidV1 (bytes: Uint8Array): CID {
  return new CID(1, bytes[1], new Digest.Digest(SHA256_CODE, 32, bytes.subarray(4), bytes.subarray(2)), bytes)
}

/** CIDv1 (sha2-256) of bytes under a codec. */
export function cidOf (bytes: Uint8Array, codec: number = RAW_CODE): CID {
  if (codec >= 0x80) return CID.createV1(codec, Digest.create(SHA256_CODE, sha256(bytes)))
  const offset = carve(36)
  slab[offset] = 1
  slab[offset + 1] = codec
  slab[offset + 2] = SHA256_CODE
  slab[offset + 3] = 32
  sha256Into(bytes, offset + 4)
  return sha256CidV1(slab.subarray(offset, offset + 36))
}

/**
 * DAG-CBOR's CID tag (42), decoded as @ipld/dag-cbor does (a leading 0x00, then the CID's
 * bytes), the usual form (CIDv1, a one-byte codec, sha2-256) into a slab, anything else by
 * multiformats.
 */
function decodeCidTag (decode: () => unknown): CID {
  const bytes = decode() as Uint8Array
  if (!(bytes instanceof Uint8Array) || bytes[0] !== 0) throw new Error('Invalid CID for CBOR tag 42; expected leading 0x00')
  if (bytes.byteLength === 37 && bytes[1] === 1 && bytes[2] < 0x80 && bytes[3] === SHA256_CODE && bytes[4] === 32) {
    const offset = carve(36)
    slab.set(bytes.subarray(1), offset)
    return sha256CidV1(slab.subarray(offset, offset + 36))
  }
  return CID.decode(bytes.subarray(1))
}

/** @ipld/dag-cbor's strict decoding options, with the CID tag decoded by `decodeCidTag`. */
const DECODE_OPTIONS: cborg.DecodeOptions = { ...dagCbor.decodeOptions, tags: Object.assign([], dagCbor.decodeOptions.tags, { 42: decodeCidTag }) }
/** What cborg's own tokenizer would be given: its defaults under those options. */
const TOKENIZER_OPTIONS: cborg.DecodeOptions = { strict: false, allowIndefinite: true, allowUndefined: true, allowBigInt: true, ...DECODE_OPTIONS }

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
