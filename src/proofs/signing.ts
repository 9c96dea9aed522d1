/**
 * Ed25519 signatures over canonical DAG-CBOR, with domain separation.
 *
 * Uses node:crypto directly rather than a pure-JS signer: measured here it is over 10x faster,
 * and settlement validation is bound by signature checks. Peer ids are Ed25519 identity-multihash
 * peer ids, so a peer id string alone carries the public key needed to verify what it signed.
 *
 * Signed bytes = utf8("depin/" + domain + "\n") || dagCbor(body)
 * The domain (e.g. "offer/1") stops a signature made for one message type from being
 * replayed as another that happens to share its fields.
 */
import { createHash, createPrivateKey, createPublicKey, sign as edSign, verify as edVerify, type KeyObject } from 'node:crypto'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { InvalidMessageError, InvalidSignatureError } from '../errors.ts'
import { encode } from './encoding.ts'

/** Ed25519 signature length in bytes. */
export const SIGNATURE_BYTES = 64

const PKCS8_ED25519_PREFIX = Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20])
const SPKI_ED25519_PREFIX = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00])

/** Something that signs as one peer. The node hands this to scheduler and ledger. */
export interface Signer {
  /** The signer's peer id as a string (base58btc, `12D3KooW…`). */
  readonly peerId: string
  /** Raw 32-byte Ed25519 public key. */
  readonly publicKey: Uint8Array
  /** Signs raw bytes. */
  sign(bytes: Uint8Array): Uint8Array
}

/** Creates a signer from a libp2p Ed25519 private key. */
export function createSigner (privateKey: PrivateKey): Signer {
  if (privateKey.type !== 'Ed25519') {
    throw new InvalidMessageError(`only Ed25519 identities are supported, got ${privateKey.type}`)
  }
  const seed = privateKey.raw.subarray(0, 32)
  const keyObject = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' })
  const peerId = privateKey.publicKey.toString()
  return {
    peerId,
    publicKey: privateKey.publicKey.raw,
    sign: (bytes) => {
      const signature = new Uint8Array(edSign(null, bytes, keyObject))
      // What this process signed itself verifies without another Ed25519 check (e.g. the
      // requester's own signature inside the receipt it settles).
      rememberVerified(peerId, bytes, signature)
      return signature
    }
  }
}

/**
 * Verified (signer, message, signature) triples. One object is often checked at several layers
 * (a result when it arrives and again inside the settle transaction that pays for it); each
 * Ed25519 verification costs ~60 µs, a lookup ~1 µs. The key covers the message digest, so a
 * known-good signature replayed over other bytes is never taken from the cache.
 */
const VERIFIED_CACHE_MAX = 65_536
const verifiedCache = new Set<string>()

/**
 * Forgets every remembered verification. For benchmarks that must measure the Ed25519 work itself
 * (and tests that want a cold cache); a running node never needs it.
 */
export function clearVerifiedSignatures (): void {
  verifiedCache.clear()
}

function cacheKey (peerId: string, bytes: Uint8Array, signature: Uint8Array): string {
  return `${peerId}:${Buffer.from(signature).toString('base64')}:${createHash('sha256').update(bytes).digest('base64')}`
}

function rememberVerified (peerId: string, bytes: Uint8Array, signature: Uint8Array): void {
  if (verifiedCache.size >= VERIFIED_CACHE_MAX) verifiedCache.delete(verifiedCache.values().next().value as string)
  verifiedCache.add(cacheKey(peerId, bytes, signature))
}

// Parsing a peer id and building a KeyObject costs more than the verification itself; peers sign
// many messages, so keep a bounded cache of their keys.
const KEY_CACHE_MAX = 4096
const keyCache = new Map<string, KeyObject>()

/** Returns the raw Ed25519 public key embedded in a peer id string, or throws. */
export function publicKeyOfPeer (peerId: string): Uint8Array {
  let parsed
  try {
    parsed = peerIdFromString(peerId)
  } catch (err) {
    throw new InvalidMessageError(`not a peer id: ${JSON.stringify(peerId.slice(0, 64))}`, { cause: err })
  }
  if (parsed.type !== 'Ed25519' || parsed.publicKey == null) {
    throw new InvalidMessageError(`peer id ${peerId} is not an Ed25519 peer id`)
  }
  return parsed.publicKey.raw
}

function verifyKey (peerId: string): KeyObject {
  let key = keyCache.get(peerId)
  if (key == null) {
    const raw = publicKeyOfPeer(peerId)
    key = createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, raw]), format: 'der', type: 'spki' })
    if (keyCache.size >= KEY_CACHE_MAX) keyCache.delete(keyCache.keys().next().value as string)
    keyCache.set(peerId, key)
  }
  return key
}

/** True when `signature` is `peerId`'s signature over `bytes`. Malformed peer ids verify false. */
export function verifyBytes (peerId: string, bytes: Uint8Array, signature: Uint8Array): boolean {
  if (signature.byteLength !== SIGNATURE_BYTES) return false
  const cached = cacheKey(peerId, bytes, signature)
  if (verifiedCache.has(cached)) return true
  let key: KeyObject
  try {
    key = verifyKey(peerId)
  } catch {
    return false
  }
  const valid = edVerify(null, bytes, key, signature)
  if (valid) {
    if (verifiedCache.size >= VERIFIED_CACHE_MAX) verifiedCache.delete(verifiedCache.values().next().value as string)
    verifiedCache.add(cached)
  }
  return valid
}

/** The exact bytes signed for a body under a domain. */
export function signingBytes (domain: string, body: unknown): Uint8Array {
  const prefix = new TextEncoder().encode(`depin/${domain}\n`)
  const payload = encode(body)
  const out = new Uint8Array(prefix.length + payload.length)
  out.set(prefix, 0)
  out.set(payload, prefix.length)
  return out
}

/** Signs a body under a domain. */
export function signBody (signer: Signer, domain: string, body: unknown): Uint8Array {
  return signer.sign(signingBytes(domain, body))
}

/** Throws `InvalidSignatureError` unless `peerId` signed `body` under `domain`. */
export function assertSigned (peerId: string, domain: string, body: unknown, signature: Uint8Array): void {
  if (!verifyBytes(peerId, signingBytes(domain, body), signature)) {
    throw new InvalidSignatureError(`${domain} signature does not verify for ${peerId}`)
  }
}
