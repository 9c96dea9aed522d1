import { describe, it, expect } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createSigner, verifyBytes, signBody, assertSigned, signingBytes } from '../src/proofs/signing.ts'
import { encode, decode, rawCid, bytesMatchCid, valueCid } from '../src/proofs/encoding.ts'
import {
  ACK_DOMAIN, CHECKPOINT_DOMAIN, LEASE_DOMAIN, MAX_LEASE_SLOTS, leaseId, parseLease, signAck, signCheckpoint, signLeaseAsRequester,
  signLeaseAsWorker, leaseBodySchema, signedAckSchema, signedCheckpointSchema, verifyAck, verifyCheckpoint, verifyLease, type LeaseBody
} from '../src/proofs/lease.ts'
import { ResultChain, ZERO_ROOT, chainRoot, type ResultEntry } from '../src/proofs/commitment.ts'
import { parseWith } from '../src/proofs/schema.ts'
import { InvalidMessageError, InvalidSignatureError, MessageTooLargeError } from '../src/errors.ts'

async function signer () {
  return createSigner(await generateKeyPair('Ed25519'))
}

describe('signing', () => {
  it('verifies its own signatures and rejects tampered bytes, other keys and other domains', async () => {
    const a = await signer()
    const b = await signer()
    const sig = signBody(a, 'test/1', { x: 1 })
    expect(verifyBytes(a.peerId, signingBytes('test/1', { x: 1 }), sig)).toBe(true)
    expect(verifyBytes(a.peerId, signingBytes('test/1', { x: 2 }), sig)).toBe(false)
    expect(verifyBytes(b.peerId, signingBytes('test/1', { x: 1 }), sig)).toBe(false)
    expect(() => assertSigned(a.peerId, 'other/1', { x: 1 }, sig)).toThrow(InvalidSignatureError)
    expect(verifyBytes('not-a-peer', signingBytes('test/1', { x: 1 }), sig)).toBe(false)
    expect(verifyBytes(a.peerId, signingBytes('test/1', { x: 1 }), sig.subarray(1))).toBe(false)
  })
})

describe('leases, checkpoints and acknowledgements', () => {
  async function parties () {
    const requester = await signer()
    const worker = await signer()
    const body: LeaseBody = {
      v: 1, offerId: valueCid({ offer: 1 }), requester: requester.peerId, worker: worker.peerId, price: 2, slots: 4,
      maxCredits: 500, memoryMiB: 64, maxTaskMs: 10_000, maxTaskFuel: 100_000_000_000n, acceptedAt: 1_000, expiresAt: 61_000
    }
    const lease = { body, requesterSig: signLeaseAsRequester(requester, body), workerSig: signLeaseAsWorker(worker, body) }
    return { requester, worker, body, lease }
  }

  it('a lease carries both parties\' signatures over the same body, and its id is the CID of that body', async () => {
    const { requester, worker, body, lease } = await parties()
    const roundTripped = parseLease(decode(encode(lease), 4096))
    expect(verifyBytes(requester.peerId, signingBytes(LEASE_DOMAIN, roundTripped.body), roundTripped.requesterSig)).toBe(true)
    expect(verifyBytes(worker.peerId, signingBytes(LEASE_DOMAIN, roundTripped.body), roundTripped.workerSig)).toBe(true)
    expect(leaseId(roundTripped.body).equals(leaseId(body))).toBe(true)
    expect(leaseId(body).equals(valueCid(body))).toBe(true)
    expect(leaseId({ ...body, maxCredits: 501 }).equals(leaseId(body))).toBe(false)
  })

  it('refuses a lease with a changed body, a missing party\'s signature, or a third party\'s', async () => {
    const { requester, body, lease } = await parties()
    const third = await signer()
    expect(() => { verifyLease({ ...lease, body: { ...body, maxCredits: 5000 } }) }).toThrow(InvalidSignatureError)
    expect(() => { verifyLease({ ...lease, workerSig: lease.requesterSig }) }).toThrow(InvalidSignatureError)
    expect(() => { verifyLease({ ...lease, requesterSig: signBody(third, LEASE_DOMAIN, body) }) }).toThrow(InvalidSignatureError)
    expect(() => signLeaseAsWorker(requester, body)).toThrow(InvalidMessageError)
    expect(() => signLeaseAsRequester(third, body)).toThrow(InvalidMessageError)
  })

  it('parses only well-formed leases', async () => {
    const { requester, lease } = await parties()
    const bad = (body: Partial<LeaseBody> & Record<string, unknown>): unknown => ({ ...lease, body: { ...lease.body, ...body } })
    expect(() => parseLease({ ...lease, extra: 1 })).toThrow(InvalidMessageError)
    expect(() => parseLease(bad({ extra: 1 }))).toThrow(InvalidMessageError)
    expect(() => parseLease(bad({ worker: requester.peerId }))).toThrow(/requester and worker must differ/)
    expect(() => parseLease(bad({ expiresAt: lease.body.acceptedAt }))).toThrow(/expiresAt must be after acceptedAt/)
    expect(() => parseLease(bad({ slots: 0 }))).toThrow(InvalidMessageError)
    expect(() => parseLease(bad({ slots: MAX_LEASE_SLOTS + 1 }))).toThrow(InvalidMessageError)
    expect(() => parseLease(bad({ maxCredits: -1 }))).toThrow(InvalidMessageError)
    expect(() => parseLease(bad({ maxTaskFuel: -1n }))).toThrow(InvalidMessageError)
    expect(() => parseLease(bad({ maxTaskFuel: 2n ** 64n }))).toThrow(InvalidMessageError)
    expect(() => parseLease(bad({ maxTaskFuel: 1.5 as unknown as bigint }))).toThrow(InvalidMessageError)
    expect(() => parseLease(bad({ maxTaskFuel: undefined }))).toThrow(InvalidMessageError)
    expect(() => parseLease({ ...lease, workerSig: lease.workerSig.subarray(1) })).toThrow(InvalidMessageError)
  })

  it('a checkpoint is signed by the lease\'s worker, an acknowledgement by its requester, each in its own domain', async () => {
    const { requester, worker, body, lease } = await parties()
    const root = chainRoot([])
    const checkpoint = signCheckpoint(worker, { v: 1, lease: leaseId(body), worker: worker.peerId, seq: 1, count: 0, root, fuel: 0n, amount: 0, at: 5 })
    const cp = parseWith(signedCheckpointSchema, decode(encode(checkpoint), 4096), 'checkpoint')
    expect(verifyBytes(worker.peerId, signingBytes(CHECKPOINT_DOMAIN, cp.body), cp.sig)).toBe(true)
    expect(cp.body.fuel).toBe(0n)
    expect(() => { verifyCheckpoint({ ...cp, body: { ...cp.body, amount: 1 } }) }).toThrow(InvalidSignatureError)
    expect(() => { verifyCheckpoint({ ...cp, body: { ...cp.body, fuel: 1n } }) }).toThrow(InvalidSignatureError)
    expect(() => signCheckpoint(requester, cp.body)).toThrow(InvalidMessageError)
    const ack = signAck(requester, { v: 1, lease: leaseId(body), requester: requester.peerId, seq: 1, count: 0, root, paid: 0, refused: 0 })
    const a = parseWith(signedAckSchema, decode(encode(ack), 4096), 'ack')
    expect(verifyBytes(requester.peerId, signingBytes(ACK_DOMAIN, a.body), a.sig)).toBe(true)
    expect(() => { verifyAck({ ...a, body: { ...a.body, paid: 1 } }) }).toThrow(InvalidSignatureError)
    expect(() => signAck(worker, a.body)).toThrow(InvalidMessageError)
    // Domains: no signature stands in for another kind of message over the same body.
    expect(() => { assertSigned(worker.peerId, CHECKPOINT_DOMAIN, lease.body, lease.workerSig) }).toThrow(InvalidSignatureError)
    expect(() => { assertSigned(requester.peerId, LEASE_DOMAIN, a.body, a.sig) }).toThrow(InvalidSignatureError)
    // Schema: a checkpoint's seq starts at 1; roots are 32 bytes.
    expect(() => parseWith(signedCheckpointSchema, { ...cp, body: { ...cp.body, seq: 0 } }, 'checkpoint')).toThrow(InvalidMessageError)
    expect(() => parseWith(signedAckSchema, { ...a, body: { ...a.body, root: new Uint8Array(31) } }, 'ack')).toThrow(InvalidMessageError)
  })

  it('the hash chain commits to every result in order', () => {
    const entry = (i: number): ResultEntry => ({ task: valueCid({ task: i }), out: rawCid(Uint8Array.of(i)), exit: 0, fuel: BigInt(i) })
    const chain = new ResultChain()
    expect(chain.root).toEqual(ZERO_ROOT)
    for (let i = 0; i < 5; i++) chain.add(entry(i))
    expect({ root: chain.root, count: chain.count }).toEqual({ root: chainRoot([0, 1, 2, 3, 4].map(entry)), count: 5 })
    expect(chainRoot([1, 0, 2, 3, 4].map(entry))).not.toEqual(chain.root)
    expect(chainRoot([0, 1, 2, 3].map(entry))).not.toEqual(chain.root)
    expect(chainRoot([0, 1, 2, 3, 4].map((i) => ({ ...entry(i), exit: i === 4 ? 1 : 0 })))).not.toEqual(chain.root)
    // The fuel billed and the output files are committed to as well.
    expect(chainRoot([0, 1, 2, 3, 4].map((i) => ({ ...entry(i), fuel: i === 4 ? 5n : BigInt(i) })))).not.toEqual(chain.root)
    expect(chainRoot([0, 1, 2, 3, 4].map((i) => ({ ...entry(i), ...(i === 4 ? { files: valueCid({ files: 1 }) } : {}) })))).not.toEqual(chain.root)
  })

  it('fuel is a uint64: a bigint past 2^53 and a small one (which DAG-CBOR decodes as a number) round-trip to the same body and id', async () => {
    const { body } = await parties()
    for (const maxTaskFuel of [0n, 5n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 64n - 1n]) {
      const b = { ...body, maxTaskFuel }
      const decoded = decode(encode(b), 4096) as { maxTaskFuel: unknown }
      // As the wire gives it: a number while it is a safe integer, a bigint past that.
      expect(typeof decoded.maxTaskFuel).toBe(maxTaskFuel <= BigInt(Number.MAX_SAFE_INTEGER) ? 'number' : 'bigint')
      const parsed = parseWith(leaseBodySchema, decoded, 'lease body')
      expect(parsed.maxTaskFuel).toBe(maxTaskFuel)
      expect(leaseId(parsed).equals(leaseId(b))).toBe(true)
    }
    // A number and a bigint of the same value encode to the same bytes.
    expect(encode({ ...body, maxTaskFuel: 5 as unknown as bigint })).toEqual(encode({ ...body, maxTaskFuel: 5n }))
    // Chain entries alike: the root does not depend on how the fuel was decoded.
    const e = { task: valueCid({ task: 1 }), out: rawCid(Uint8Array.of(1)), exit: 0 }
    expect(chainRoot([{ ...e, fuel: 7n }])).toEqual(chainRoot([{ ...e, fuel: 7 as unknown as bigint }]))
    expect(chainRoot([{ ...e, fuel: 2n ** 64n - 1n }])).not.toEqual(chainRoot([{ ...e, fuel: 2n ** 64n - 2n }]))
  })
})

describe('encoding', () => {
  it('bounds size before decoding and refuses non-CBOR', () => {
    expect(() => decode(new Uint8Array(100), 10)).toThrow(MessageTooLargeError)
    expect(() => decode(Uint8Array.from([0xff, 0x00, 0x13]), 10)).toThrow(InvalidMessageError)
  })
  it('addresses bytes by CID', () => {
    const bytes = new TextEncoder().encode('hello')
    expect(bytesMatchCid(bytes, rawCid(bytes))).toBe(true)
    expect(bytesMatchCid(new TextEncoder().encode('hellp'), rawCid(bytes))).toBe(false)
  })
})

describe('strict decoding', () => {
  it('refuses a value whose map keys are out of canonical order (and other non-canonical encodings), naming it', async () => {
    const { decode, encode } = await import('../src/proofs/encoding.ts')
    // { a: 1, bb: 2 } canonically; here "bb" comes first.
    const outOfOrder = Uint8Array.from([0xa2, 0x62, 0x62, 0x62, 0x02, 0x61, 0x61, 0x01])
    expect(() => decode(outOfOrder, 100, 'offer')).toThrow(/offer is not canonical DAG-CBOR/)
    // A non-minimal integer (1 as a two-byte uint).
    expect(() => decode(Uint8Array.from([0x19, 0x00, 0x01]), 100)).toThrow(/DAG-CBOR/)
    expect(decode(encode({ a: 1, bb: 2 }), 100)).toEqual({ a: 1, bb: 2 })
  })
})
