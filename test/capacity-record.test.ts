import { describe, it, expect } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createSigner } from '../src/proofs/signing.ts'
import { decode, encode } from '../src/proofs/encoding.ts'
import {
  capacityKey, capacitySelector, capacityValidator, selectNewest, signCapacityRecord, verifyCapacityRecord,
  measureCapacity, runtimeCapabilityKey, type Capacity
} from '../src/node/capacity-record.ts'
import { InvalidCapacityRecordError } from '../src/node/errors.ts'
import { capacityOverridesSchema } from '../src/node/config.ts'
import { machineFuelRate, measureInChild } from '../src/node/fuel-rate.ts'
import { Reputation } from '../src/scheduler/reputation.ts'

const capacity: Capacity = { cores: 4, memoryMiB: 2048, slots: 4, pricePerGigafuel: 2, fuelPerSecond: 20_000_000_000, runtimes: ['wasi-p1'] }

async function signer () {
  return createSigner(await generateKeyPair('Ed25519'))
}

describe('capacity records', () => {
  it('verify when signed by the peer in the key and not expired', async () => {
    const s = await signer()
    const value = signCapacityRecord(s, capacity, { seq: 7, multiaddrs: ['/ip4/127.0.0.1/tcp/1'] })
    const record = verifyCapacityRecord(capacityKey(s.peerId), value)
    expect(record.body).toMatchObject({ peer: s.peerId, seq: 7, cores: 4, memoryMiB: 2048, slots: 4, pricePerGigafuel: 2, runtimes: ['wasi-p1'] })
    await expect(capacityValidator(capacityKey(s.peerId), value)).resolves.toBeUndefined()
  })

  it('reject a bad signature', async () => {
    const s = await signer()
    const value = signCapacityRecord(s, capacity, { seq: 1, multiaddrs: [] })
    // Same signature, one field changed: the body no longer matches what was signed.
    const record = decode(value, 4096) as { body: { cores: number }, sig: Uint8Array }
    const tampered = encode({ ...record, body: { ...record.body, cores: 64 } })
    expect(() => verifyCapacityRecord(capacityKey(s.peerId), tampered)).toThrow(/bad signature/)
    await expect(capacityValidator(capacityKey(s.peerId), tampered)).rejects.toBeInstanceOf(InvalidCapacityRecordError)
  })

  it('reject an expired record', async () => {
    const s = await signer()
    const value = signCapacityRecord(s, capacity, { seq: 1, multiaddrs: [], now: Date.now() - 10_000, ttlMs: 5_000 })
    expect(() => verifyCapacityRecord(capacityKey(s.peerId), value)).toThrow(/expired/)
  })

  it('reject a record that lives longer than the TTL (a lie would stay in every cache), and the one that outranks its author\'s later records', async () => {
    const s = await signer()
    const key = capacityKey(s.peerId)
    const yearLong = signCapacityRecord(s, { ...capacity, pricePerGigafuel: 0 }, { seq: Number.MAX_SAFE_INTEGER, multiaddrs: [], ttlMs: 365 * 24 * 3600e3 })
    expect(() => verifyCapacityRecord(key, yearLong)).toThrow(/over the 3600000 ms TTL/)
    await expect(capacityValidator(key, yearLong)).rejects.toBeInstanceOf(InvalidCapacityRecordError)
    // The author's real record wins although the lie carries a higher seq.
    const real = signCapacityRecord(s, capacity, { seq: 5, multiaddrs: [] })
    expect(selectNewest(key, [yearLong, real])).toBe(1)
    // Exactly the TTL is fine.
    expect(verifyCapacityRecord(key, signCapacityRecord(s, capacity, { seq: 6, multiaddrs: [], ttlMs: 3600e3 })).body.seq).toBe(6)
  })

  it('reject a record stored under another peer\'s key', async () => {
    const attacker = await signer()
    const victim = await signer()
    const value = signCapacityRecord(attacker, capacity, { seq: 1, multiaddrs: [] })
    expect(() => verifyCapacityRecord(capacityKey(victim.peerId), value)).toThrow(/stored under the key of/)
  })

  it('reject bytes that are not DAG-CBOR, and valid CBOR of the wrong shape', async () => {
    const s = await signer()
    expect(() => verifyCapacityRecord(capacityKey(s.peerId), new TextEncoder().encode('{"json":true}'))).toThrow(InvalidCapacityRecordError)
    expect(() => verifyCapacityRecord(capacityKey(s.peerId), encode({ body: { peer: s.peerId }, sig: new Uint8Array(64) }))).toThrow(InvalidCapacityRecordError)
    expect(() => verifyCapacityRecord(capacityKey(s.peerId), new Uint8Array(10_000))).toThrow(/over the limit/)
  })

  it('a key outside the namespace is refused', async () => {
    const s = await signer()
    const value = signCapacityRecord(s, capacity, { seq: 1, multiaddrs: [] })
    expect(() => verifyCapacityRecord(new TextEncoder().encode(`/pk/${s.peerId}`), value)).toThrow(/namespace/)
  })

  it('the selector keeps the highest sequence among valid records, whatever the order', async () => {
    const s = await signer()
    const key = capacityKey(s.peerId)
    const older = signCapacityRecord(s, capacity, { seq: 1, multiaddrs: [] })
    const newer = signCapacityRecord(s, capacity, { seq: 2, multiaddrs: [] })
    const expiredButHigher = signCapacityRecord(s, capacity, { seq: 99, multiaddrs: [], now: Date.now() - 10_000, ttlMs: 1 })
    const garbage = Uint8Array.from([1, 2, 3])
    expect(selectNewest(key, [older, newer])).toBe(1)
    expect(selectNewest(key, [newer, older])).toBe(0)
    expect(selectNewest(key, [garbage, expiredButHigher, older, newer])).toBe(3)
    expect(selectNewest(key, [garbage])).toBe(-1)
    expect(capacitySelector(key, [older, garbage, newer])).toBe(2)
    expect(() => capacitySelector(key, [garbage])).toThrow(InvalidCapacityRecordError)
  })

  it('measures the machine and applies operator overrides', () => {
    const measured = measureCapacity()
    expect(measured.cores).toBeGreaterThanOrEqual(1)
    expect(measured.slots).toBe(measured.cores)
    expect(measured.runtimes).toEqual(['wasi-p1'])
    expect(measureCapacity({ cores: 3, memoryMiB: 512, pricePerGigafuel: 9, slots: 1 }, 21_000_000_000)).toEqual({ cores: 3, memoryMiB: 512, pricePerGigafuel: 9, slots: 1, fuelPerSecond: 21_000_000_000, runtimes: ['wasi-p1'] })
  })

  it('a config that still names the price per CPU-second is read as the price per gigafuel', () => {
    expect(capacityOverridesSchema.parse({ pricePerCpuSecond: 4, slots: 2 })).toEqual({ pricePerGigafuel: 4, slots: 2 })
    expect(capacityOverridesSchema.parse({ pricePerCpuSecond: 4, pricePerGigafuel: 7 })).toEqual({ pricePerGigafuel: 7 })
    expect(() => capacityOverridesSchema.parse({ pricePerDay: 4 })).toThrow()
  })

  it('a node measures its fuel rate once per process and advertises it; a requester ranks by the lower of advertised and delivered speed', async () => {
    const rate = await machineFuelRate()
    expect(rate).toBeGreaterThan(100_000_000) // any machine runs more than 0.1 Gfuel per CPU second
    expect(await machineFuelRate()).toBe(rate) // the same measurement, not a second one
    // It is measured in a child process (the node keeps none of what it needed): that works here.
    expect(await measureInChild()).toBeGreaterThan(100_000_000)
    const reputation = new Reputation()
    expect(reputation.speed('w', 30e9)).toBe(30e9) // nothing observed: the advertised figure
    for (let i = 0; i < 3; i++) reputation.observeSpeed('w', 10_000_000_000n, 1000) // delivers 10 Gfuel/s
    expect(reputation.speed('w', 30e9)).toBeCloseTo(10e9, -3) // overstated: ranked by what it delivers
    expect(reputation.speed('w', 5e9)).toBe(5e9) // understated: its own figure
    reputation.observeSpeed('x', 1_000_000n, 5) // too short a run to say anything
    expect(reputation.speed('x', 7e9)).toBe(7e9)
  })

  it('capability keys are stable CIDs', () => {
    expect(runtimeCapabilityKey('wasi-p1').toString()).toBe(runtimeCapabilityKey('wasi-p1').toString())
    expect(runtimeCapabilityKey('wasi-p1').equals(runtimeCapabilityKey('other'))).toBe(false)
  })
})
