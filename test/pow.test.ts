import { describe, it, expect } from 'vitest'
import { encode } from '../src/proofs/encoding.ts'
import {
  MAX_TARGET, NONCE_BYTES, bytesToBigint, hashMeetsTarget, mineRange, powHash, prepareMining, targetForWork,
  targetFromBytes, targetToBytes, workOf
} from '../src/proofs/pow.ts'

describe('hashcash proof of work', () => {
  it('encodes targets as 32 big-endian bytes', () => {
    const t = (1n << 240n) + 12345n
    const bytes = targetToBytes(t)
    expect(bytes.byteLength).toBe(32)
    expect(bytes[1]).toBe(1)
    expect(targetFromBytes(bytes)).toBe(t)
    expect(() => targetToBytes(MAX_TARGET + 1n)).toThrow(RangeError)
    expect(() => targetToBytes(-1n)).toThrow(RangeError)
  })

  it('computes work as floor(2^256 / (target + 1))', () => {
    expect(workOf(MAX_TARGET)).toBe(1n)
    expect(workOf((1n << 255n) - 1n)).toBe(2n)
    expect(workOf(0n)).toBe(1n << 256n)
    expect(workOf(targetForWork(1000n))).toBe(1000n)
  })

  it('compares a hash with a target as 256-bit big-endian integers', () => {
    const target = targetToBytes(1n << 200n)
    const below = targetToBytes((1n << 200n) - 1n)
    const above = targetToBytes((1n << 200n) + 1n)
    expect(hashMeetsTarget(below, target)).toBe(true)
    expect(hashMeetsTarget(target, target)).toBe(true)
    expect(hashMeetsTarget(above, target)).toBe(false)
  })

  it('locates the fixed-width nonce and mines by overwriting only those bytes', () => {
    const header = { v: 1, parent: new Uint8Array(32), height: 7, miner: 'someone', nonce: new Uint8Array(NONCE_BYTES), target: targetToBytes(targetForWork(64n)) }
    const template = prepareMining((nonce) => encode({ ...header, nonce }))
    expect(template.bytes.byteLength).toBe(encode(header).byteLength)
    const found = mineRange(template, header.target, 0, 0, 1 << 16)
    expect(found).toBeDefined()
    const solved = { ...header, nonce: found!.nonce }
    const hash = powHash(encode(solved))
    expect(Buffer.from(hash).equals(Buffer.from(found!.hash))).toBe(true)
    expect(bytesToBigint(hash) <= targetFromBytes(header.target)).toBe(true)
  })

  it('gives up after the requested number of tries on an impossible target', () => {
    const header = { nonce: new Uint8Array(NONCE_BYTES), x: 1 }
    const template = prepareMining((nonce) => encode({ ...header, nonce }))
    expect(mineRange(template, new Uint8Array(32), 0, 0xfffffff0, 64)).toBeUndefined()
  })
})
