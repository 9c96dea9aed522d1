import { describe, it, expect } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createSigner, verifyBytes, signBody, assertSigned, signingBytes } from '../src/proofs/signing.ts'
import { encode, decode, rawCid, bytesMatchCid, valueCid } from '../src/proofs/encoding.ts'
import { agreementId, signAgreementAsRequester, signAgreementAsWorker, verifyAgreement, parseAgreement, type AgreementBody } from '../src/proofs/agreement.ts'
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

  it('agreements need both signatures over the same body', async () => {
    const requester = await signer()
    const worker = await signer()
    const body: AgreementBody = {
      v: 1, jobId: valueCid({ job: 1 }), requester: requester.peerId, worker: worker.peerId,
      replica: 0, price: 2, maxCost: 20, acceptedAt: 1, deadline: 2
    }
    const agreement = { body, requesterSig: signAgreementAsRequester(requester, body), workerSig: signAgreementAsWorker(worker, body) }
    const roundTripped = parseAgreement(decode(encode(agreement), 4096))
    expect(() => verifyAgreement(roundTripped)).not.toThrow()
    expect(agreementId(roundTripped.body).equals(agreementId(body))).toBe(true)
    expect(() => verifyAgreement({ ...agreement, body: { ...body, maxCost: 21 } })).toThrow(InvalidSignatureError)
    expect(() => signAgreementAsWorker(requester, body)).toThrow(InvalidMessageError)
    expect(() => parseAgreement({ ...agreement, extra: 1 })).toThrow(InvalidMessageError)
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
