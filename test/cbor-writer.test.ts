/**
 * The fast paths of src/proofs against the libraries they stand in for: the canonical encoder
 * (cbor-writer.ts) against `@ipld/dag-cbor` (the same bytes, or the same error, for every kind
 * of value, the boundaries of every head size, and thousands of random nested values),
 * `cidText` against `CID.toString()`, and the slab-backed digests and CIDs (`sha256`, `cidOf`,
 * the CID tag in `decode`) against node:crypto and multiformats.
 */
import { describe, expect, it } from 'vitest'
import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { encodeCanonical } from '../src/proofs/cbor-writer.ts'
import { createHash } from 'node:crypto'
import * as Digest from 'multiformats/hashes/digest'
import { identity } from 'multiformats/hashes/identity'
import { cidOf, cidText, decode, encode, rawCid, sha256, valueCid } from '../src/proofs/encoding.ts'
import { chainNext, chainRoot, ZERO_ROOT } from '../src/proofs/commitment.ts'

type Outcome = { bytes: string } | { error: string }

function outcome (f: () => Uint8Array): Outcome {
  try {
    return { bytes: Buffer.from(f()).toString('hex') }
  } catch (err) {
    return { error: (err as Error).message }
  }
}

function expectSame (value: unknown): void {
  expect(outcome(() => encodeCanonical(value))).toEqual(outcome(() => dagCbor.encode(value)))
}

/** A small deterministic PRNG (xorshift32), so a failure can be replayed. */
function prng (seed: number): () => number {
  let x = seed >>> 0 || 1
  return () => {
    x ^= x << 13; x >>>= 0
    x ^= x >>> 17
    x ^= x << 5; x >>>= 0
    return x / 0x100000000
  }
}

const cidA = rawCid(new TextEncoder().encode('a'))
const cidB = valueCid({ b: 1 })

const boundaries = [0, 1, 23, 24, 25, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1]
const numbers = [
  ...boundaries, ...boundaries.map((n) => -n), ...boundaries.map((n) => -n - 1).filter(Number.isSafeInteger),
  -0, 0.5, -1.25, 1e300, 5e-324, 2 ** 53, -(2 ** 53), 2 ** 64, 1.7976931348623157e308, NaN, Infinity, -Infinity
]
const bigints = [0n, 1n, 23n, 24n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 53n, 2n ** 64n - 1n, 2n ** 64n, -1n, -(2n ** 64n), -(2n ** 64n) - 1n]
const strings = ['', 'a', 'x'.repeat(23), 'x'.repeat(24), 'x'.repeat(255), 'x'.repeat(256), 'x'.repeat(70_000), 'héllo', '日本', '\u{1F600}', '\uD800', 'a\uDC00b', '\0', '\x7f', '\x80']

class Point { x = 1; y = 2 }

describe('encodeCanonical', () => {
  it('writes what dag-cbor writes for every scalar, and fails where it fails', () => {
    for (const n of numbers) expectSame(n)
    for (const b of bigints) expectSame(b)
    for (const s of strings) expectSame(s)
    for (const v of [true, false, null, undefined, Symbol('s'), () => 1]) expectSame(v)
  })

  it('bytes of every head size, Buffers, other typed arrays, ArrayBuffers, DataViews', () => {
    for (const n of [0, 1, 23, 24, 255, 256, 65535, 65536, 100_000]) expectSame(new Uint8Array(n).fill(n & 0xff))
    expectSame(Buffer.from('buffer'))
    expectSame(new Uint8Array(new ArrayBuffer(16), 4, 8))
    expectSame(new Uint16Array([1, 2, 3]))
    expectSame(new Float64Array([1.5]))
    expectSame(new ArrayBuffer(4))
    expectSame(new DataView(new ArrayBuffer(4)))
  })

  it('CIDs (any version and codec), objects that look like CIDs, and CIDs inside structures', () => {
    expectSame(cidA)
    expectSame(cidB)
    expectSame(CID.parse('QmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1n'))
    expectSame({ cid: cidA, list: [cidB, cidA] })
    expectSame({ '/': cidA.bytes, bytes: cidA.bytes })
    expectSame({ '/': 'x' })
    expectSame({ asCID: 1 })
  })

  it('maps: keys sorted by length then bytes, non-ASCII keys, empty keys, undefined values, odd objects', () => {
    expectSame({})
    expectSame({ b: 1, a: 2, aa: 3, B: 4, '': 5, 10: 6, 9: 7, z: { y: { x: [] } } })
    expectSame({ é: 1, e: 2, f: 3 })
    expectSame({ a: undefined })
    expectSame({ a: 1, b: undefined })
    expectSame(Object.assign(Object.create(null) as object, { b: 1, a: 2 }))
    expectSame(new Point())
    expectSame(new Map([['b', 1], ['a', 2]]))
    expectSame(new Map([[1, 2]]))
    expectSame(new Set([1]))
    expectSame(new Date(0))
    expectSame(/x/)
    expectSame(Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`k${i}`, i])))
  })

  it('arrays: every head size, holes, deep nesting, cycles', () => {
    for (const n of [0, 1, 23, 24, 255, 256, 70_000]) expectSame(Array.from({ length: n }, (_, i) => i))
    expectSame([1, , 3]) // eslint-disable-line no-sparse-arrays
    let deep: unknown = 'leaf'
    for (let i = 0; i < 100; i++) deep = i % 2 === 0 ? [deep] : { d: deep }
    expectSame(deep)
    const cycle: { self?: unknown } = {}
    cycle.self = { back: cycle }
    expectSame(cycle)
  })

  it('thousands of random nested values', () => {
    const rand = prng(20241127)
    const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)]
    const key = (): string => pick(['a', 'b', 'spec', 'task', 'out', 'exit', 'fuel', 'deadline', 'stdin', 'k' + Math.floor(rand() * 1000), pick(strings).slice(0, 8)])
    const gen = (depth: number): unknown => {
      const r = rand()
      if (depth > 4 || r < 0.45) {
        return pick<() => unknown>([
          () => pick(numbers), () => pick(bigints), () => pick(strings).slice(0, 40), () => pick([true, false, null]),
          () => new Uint8Array(Math.floor(rand() * 40)).map(() => Math.floor(rand() * 256)), () => pick([cidA, cidB]),
          () => Math.floor((rand() - 0.5) * 2 ** 40), () => rand() * 1000
        ])()
      }
      if (r < 0.7) return Array.from({ length: Math.floor(rand() * 6) }, () => gen(depth + 1))
      const o: Record<string, unknown> = {}
      for (let i = Math.floor(rand() * 8); i > 0; i--) o[key()] = gen(depth + 1)
      return o
    }
    for (let i = 0; i < 5000; i++) expectSame(gen(0))
  })

  it('returns a fresh buffer each time (the next encoding does not overwrite it)', () => {
    const a = encodeCanonical({ a: 1 })
    const b = encodeCanonical({ a: 2, big: new Uint8Array(2 * 1024 * 1024) })
    const c = encodeCanonical({ a: 3 })
    expect(Buffer.from(a).toString('hex')).toBe(Buffer.from(dagCbor.encode({ a: 1 })).toString('hex'))
    expect(b.byteLength).toBe(dagCbor.encode({ a: 2, big: new Uint8Array(2 * 1024 * 1024) }).byteLength)
    expect(Buffer.from(c).toString('hex')).toBe(Buffer.from(dagCbor.encode({ a: 3 })).toString('hex'))
    expect(a.buffer).not.toBe(c.buffer)
    expect(a.byteLength).toBe(a.buffer.byteLength)
  })
})

describe('cidText', () => {
  it('is CID.toString() for v1 CIDs of every codec and length, and for v0', () => {
    const rand = prng(7)
    for (let i = 0; i < 3000; i++) {
      const bytes = new Uint8Array(Math.floor(rand() * 200)).map(() => Math.floor(rand() * 256))
      const cid = i % 3 === 0 ? valueCid({ i, bytes }) : i % 3 === 1 ? rawCid(bytes) : cidOf(bytes, 0x70)
      // a CID decoded afresh, as one from a frame (toString has no cached text on it)
      expect(cidText(CID.decode(cid.bytes))).toBe(cid.toString())
    }
    const v0 = CID.parse('QmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1n')
    expect(cidText(v0)).toBe(v0.toString())
  })
})

describe('slab-backed digests and CIDs', () => {
  const bytesOf = (i: number): Uint8Array => new TextEncoder().encode(`blob ${i} `.repeat(i % 7))

  it('sha256 and cidOf give what node:crypto and multiformats give, and earlier views stay intact as slabs fill', () => {
    const digests: Array<[Uint8Array, string]> = []
    const cids: Array<[CID, string]> = []
    for (let i = 0; i < 200; i++) { // several slabs' worth
      const b = bytesOf(i)
      const reference = createHash('sha256').update(b).digest()
      digests.push([sha256(b), reference.toString('hex')])
      for (const codec of [0x55, 0x71]) {
        const expected = CID.createV1(codec, Digest.create(0x12, reference))
        const cid = cidOf(b, codec)
        expect(cid.equals(expected)).toBe(true)
        expect(Buffer.from(cid.multihash.digest).toString('hex')).toBe(reference.toString('hex'))
        cids.push([cid, expected.toString()])
      }
    }
    for (const [d, hex] of digests) expect(Buffer.from(d).toString('hex')).toBe(hex)
    for (const [cid, text] of cids) expect([cid.toString(), cidText(cid)]).toEqual([text, text])
    // A codec of two varint bytes takes multiformats' own path, with the same result.
    const wide = cidOf(bytesOf(3), 0x300)
    expect(wide.equals(CID.createV1(0x300, Digest.create(0x12, createHash('sha256').update(bytesOf(3)).digest())))).toBe(true)
  })

  it('decodes CID tags as @ipld/dag-cbor does: sha2-256 CIDv1 by the fast path, other CIDs by multiformats, bad tags refused', () => {
    const v1 = [rawCid(bytesOf(1)), valueCid({ a: 1 })]
    const other = [
      CID.parse('QmWATWQ7fVPP2EFGu71UkfnqhYXDYH566qy47CnJDgvs8u'), // CIDv0
      CID.createV1(0x55, identity.digest(new Uint8Array([1, 2, 3]))), // identity hash
      CID.createV1(0x300, Digest.create(0x12, createHash('sha256').update('x').digest())) // two-byte codec
    ]
    const value = { fast: v1, other }
    const bytes = encode(value)
    expect(Buffer.from(bytes).equals(Buffer.from(dagCbor.encode(value)))).toBe(true)
    const decoded = decode(bytes, 1 << 20) as { fast: CID[], other: CID[] }
    const reference = dagCbor.decode(bytes) as { fast: CID[], other: CID[] }
    expect([...decoded.fast, ...decoded.other].map(String)).toEqual([...reference.fast, ...reference.other].map(String))
    for (const [i, cid] of [...decoded.fast, ...decoded.other].entries()) {
      expect(cid).toBeInstanceOf(CID)
      expect(cid.equals([...v1, ...other][i])).toBe(true)
    }
    // A CID tag without the leading 0x00, or over something that is not bytes: refused.
    const tagged = (content: Uint8Array): Uint8Array => Buffer.concat([Buffer.from([0xd8, 0x2a, 0x58, content.byteLength]), content])
    expect(() => decode(tagged(v1[0].bytes), 1 << 20)).toThrow(/not valid DAG-CBOR/)
    expect(() => decode(Buffer.from([0xd8, 0x2a, 0x01]), 1 << 20)).toThrow(/not valid DAG-CBOR/)
    expect((dagCbor.decode(Buffer.concat([Buffer.from([0xd8, 0x2a, 0x58, 37, 0]), v1[0].bytes])) as CID).toString()).toBe(v1[0].toString())
  })

  it('the result chain: each head is SHA-256 of the previous head and the entry\'s DAG-CBOR, also for entries longer than the scratch space', () => {
    let root: Uint8Array = ZERO_ROOT
    const entries = Array.from({ length: 50 }, (_, i) => ({
      task: valueCid({ i }), out: rawCid(bytesOf(i)), exit: i % 3 - 1, fuel: BigInt(i) * 1_000_003n,
      ...(i % 5 === 0 ? { files: valueCid({ files: 'x'.repeat(i * 40) }) } : {})
    }))
    const long = { ...entries[0], task: CID.createV1(0x55, identity.digest(new Uint8Array(2000))) } // over 1 KiB encoded
    for (const entry of [...entries, long]) {
      const expected = createHash('sha256').update(root).update(dagCbor.encode(entry)).digest()
      const next = chainNext(root, entry)
      expect(Buffer.from(next).toString('hex')).toBe(expected.toString('hex'))
      root = next
    }
    expect(Buffer.from(chainRoot([...entries, long])).toString('hex')).toBe(Buffer.from(root).toString('hex'))
  })

  it('decode (strings interned) reads what @ipld/dag-cbor reads, and refuses what it refuses, for random values and their truncations', () => {
    const rand = prng(7)
    const text = (): string => {
      const n = Math.floor(rand() * 30)
      const kind = rand()
      return Array.from({ length: n }, () => kind < 0.6 ? String.fromCharCode(32 + Math.floor(rand() * 95)) : kind < 0.8 ? pick(['é', 'ж', '€', '😀', 'a']) : String.fromCharCode(Math.floor(rand() * 128))).join('')
    }
    const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)]
    for (let i = 0; i < 3000; i++) {
      // many distinct short keys: more than the interning table has slots
      const value: Record<string, unknown> = {}
      for (let k = Math.floor(rand() * 6); k > 0; k--) value[pick([text(), `k${Math.floor(rand() * 5000)}`, 'spec', 'stdout', ''])] = pick([text(), [text(), text()], { [text()]: text() }, 1, rawCid(new Uint8Array([i & 255]))])
      const bytes = dagCbor.encode(value)
      expect(decode(bytes, 1 << 20)).toEqual(dagCbor.decode(bytes))
      // a buffer (a Buffer view of a larger allocation) reads the same
      expect(decode(Buffer.from(bytes), 1 << 20)).toEqual(dagCbor.decode(bytes))
      const cut = bytes.subarray(0, Math.floor(rand() * bytes.byteLength))
      let ours: unknown
      let theirs: unknown
      try { decode(cut, 1 << 20) } catch (err) { ours = err }
      try { dagCbor.decode(cut) } catch (err) { theirs = err }
      expect(ours != null, `cut at ${cut.byteLength} of ${bytes.byteLength}`).toBe(theirs != null)
    }
    // invalid UTF-8 in a short string: cborg reads it as U+FFFD, which does not encode back to the same bytes: refused
    const bad = Buffer.from([0xa1, 0x61, 0x61, 0x62, 0xc3, 0x28])
    expect(() => decode(bad, 1 << 20)).toThrow(/not canonical/)
  })
})
