/**
 * Signed capacity records: what a node offers, published under its own key in the DHT.
 *
 * Key:   utf8("/depin-capacity/" + peerId)
 * Value: DAG-CBOR { body: CapacityBody, sig: bytes(64) }, sig over domain "capacity/1".
 *
 * The kad-dht validator and selector for the namespace live here. kad-dht stores a PUT without
 * running the selector, so readers also call `selectNewest` over what a lookup returned.
 */
import { availableParallelism, freemem, totalmem } from 'node:os'
import { z } from 'zod'
import { decode, encode, rawCid, sha256 } from '../proofs/encoding.ts'
import { parseWith, peerIdSchema, signatureSchema, uint } from '../proofs/schema.ts'
import { assertSigned, signBody, type Signer } from '../proofs/signing.ts'
import type { CID } from 'multiformats/cid'
import type { CapacityOverrides } from './config.ts'
import type { Capacity } from '../shared/capacity.ts'
import { CAPABILITY_SHARDS, CAPACITY_DOMAIN, CAPACITY_NAMESPACE, CAPACITY_RECORD_TTL_MS, MAX_CAPACITY_RECORD_BYTES } from './constants.ts'
import { InvalidCapacityRecordError } from './errors.ts'

export type { Capacity }

/** Runtimes a depin node can execute. */
export const RUNTIMES = ['wasi-p1'] as const
export type Runtime = typeof RUNTIMES[number]

/** A record may claim to be issued at most this far in the future (clock skew allowance). */
const MAX_FUTURE_SKEW_MS = 5 * 60 * 1000

export const capacityBodySchema = z.object({
  v: z.literal(1),
  peer: peerIdSchema,
  /** Strictly increasing per peer; readers keep the highest. */
  seq: uint,
  issuedAt: uint,
  expiresAt: uint,
  cores: z.number().int().min(1).max(4096),
  memoryMiB: uint,
  /** How many jobs the node runs at once. */
  slots: z.number().int().min(0).max(4096),
  /** Price in credits per gigafuel (10^9 fuel). */
  pricePerGigafuel: uint,
  /** Fuel per second of CPU time, measured at start-up (0: not measured). */
  fuelPerSecond: uint,
  runtimes: z.array(z.string().max(32)).max(8),
  multiaddrs: z.array(z.string().max(256)).max(16)
}).strict()
export type CapacityBody = z.infer<typeof capacityBodySchema>

export const capacityRecordSchema = z.object({
  body: capacityBodySchema,
  sig: signatureSchema
}).strict()
export type CapacityRecord = z.infer<typeof capacityRecordSchema>


/**
 * Measures the machine: all cores, and half of total memory bounded by what is free now; the
 * fuel rate is what `measureFuelRate` found (or 0 when it was not measured).
 */
export function measureCapacity (overrides: CapacityOverrides = {}, fuelPerSecond = 0): Capacity {
  const cores = overrides.cores ?? availableParallelism()
  const mib = 1024 * 1024
  const memoryMiB = overrides.memoryMiB ?? Math.max(16, Math.floor(Math.min(totalmem() / 2, freemem()) / mib))
  return {
    cores,
    memoryMiB,
    slots: overrides.slots ?? cores,
    pricePerGigafuel: overrides.pricePerGigafuel ?? 1,
    fuelPerSecond,
    runtimes: [...RUNTIMES]
  }
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** The DHT key of a peer's capacity record. */
export function capacityKey (peerId: string): Uint8Array {
  return encoder.encode(`/${CAPACITY_NAMESPACE}/${peerId}`)
}

/** The peer id a capacity key names, or throws. */
export function peerOfCapacityKey (key: Uint8Array): string {
  const text = decoder.decode(key)
  const prefix = `/${CAPACITY_NAMESPACE}/`
  if (!text.startsWith(prefix)) throw new InvalidCapacityRecordError(`key is not in the ${CAPACITY_NAMESPACE} namespace`)
  return text.slice(prefix.length)
}

/** The provider-record key of a capability, e.g. CID(raw, sha256("depin:runtime:wasi-p1")). */
export function capabilityKey (capability: string): CID {
  return rawCid(encoder.encode(`depin:${capability}`))
}

export function runtimeCapabilityKey (runtime: string): CID {
  return capabilityKey(`runtime:${runtime}`)
}

/**
 * The shard a peer provides its capabilities under: the first byte of sha2-256(utf8(peer id))
 * modulo `CAPABILITY_SHARDS`. Spreading providers over shards keeps each provider key's set
 * within kad-dht's k (20), which is where `findProviders` stops.
 */
export function shardOf (peerId: string): number {
  return sha256(encoder.encode(peerId))[0] % CAPABILITY_SHARDS
}

/** The provider-record key of one shard of a runtime: CID(raw, sha256("depin:runtime:<runtime>:shard:<n>")). */
export function runtimeShardKey (runtime: string, shard: number): CID {
  return capabilityKey(`runtime:${runtime}:shard:${shard}`)
}

export interface SignCapacityOptions {
  seq: number
  multiaddrs: string[]
  now?: number
  ttlMs?: number
}

export function signCapacityRecord (signer: Signer, capacity: Capacity, options: SignCapacityOptions): Uint8Array {
  const now = options.now ?? Date.now()
  const body: CapacityBody = {
    v: 1,
    peer: signer.peerId,
    seq: options.seq,
    issuedAt: now,
    expiresAt: now + (options.ttlMs ?? CAPACITY_RECORD_TTL_MS),
    cores: capacity.cores,
    memoryMiB: capacity.memoryMiB,
    slots: capacity.slots,
    pricePerGigafuel: capacity.pricePerGigafuel,
    fuelPerSecond: capacity.fuelPerSecond,
    runtimes: capacity.runtimes,
    multiaddrs: options.multiaddrs.slice(0, 16).filter((m) => m.length <= 256)
  }
  return encode({ body, sig: signBody(signer, CAPACITY_DOMAIN, body) })
}

/**
 * Decodes and verifies a capacity record found under `key`: size bound, DAG-CBOR, schema, the
 * peer in the key, the signature, and expiry. Throws `InvalidCapacityRecordError` with the reason.
 */
export function verifyCapacityRecord (key: Uint8Array, value: Uint8Array, now = Date.now()): CapacityRecord {
  let record: CapacityRecord
  try {
    record = parseWith(capacityRecordSchema, decode(value, MAX_CAPACITY_RECORD_BYTES, 'capacity record'), 'capacity record')
  } catch (err) {
    throw new InvalidCapacityRecordError((err as Error).message, { cause: err })
  }
  const keyPeer = peerOfCapacityKey(key)
  if (record.body.peer !== keyPeer) {
    throw new InvalidCapacityRecordError(`record of ${record.body.peer} stored under the key of ${keyPeer}`)
  }
  try {
    assertSigned(record.body.peer, CAPACITY_DOMAIN, record.body, record.sig)
  } catch (err) {
    throw new InvalidCapacityRecordError(`bad signature on the capacity record of ${keyPeer}`, { cause: err })
  }
  if (record.body.expiresAt <= now) {
    throw new InvalidCapacityRecordError(`capacity record of ${keyPeer} expired at ${new Date(record.body.expiresAt).toISOString()}`)
  }
  if (record.body.issuedAt > now + MAX_FUTURE_SKEW_MS) {
    throw new InvalidCapacityRecordError(`capacity record of ${keyPeer} claims to be issued in the future`)
  }
  // Records are republished before they expire, so a lifetime over the TTL has no honest use: it
  // would keep a claim (a price, a capacity) in every cache long after its author changed it.
  // With issuedAt at most now + skew, this also bounds expiresAt at now + TTL + skew.
  if (record.body.expiresAt - record.body.issuedAt > CAPACITY_RECORD_TTL_MS) {
    throw new InvalidCapacityRecordError(`capacity record of ${keyPeer} lives ${record.body.expiresAt - record.body.issuedAt} ms, over the ${CAPACITY_RECORD_TTL_MS} ms TTL`)
  }
  return record
}

/**
 * Verifies a capacity record that arrives without a key (in a capacity exchange answer): under
 * the key of the peer it names. The caller decides whether that peer is the one it expected.
 */
export function verifyCapacityRecordOf (value: Uint8Array, now = Date.now()): CapacityRecord {
  if (value.byteLength > MAX_CAPACITY_RECORD_BYTES) throw new InvalidCapacityRecordError(`capacity record of ${value.byteLength} bytes is over ${MAX_CAPACITY_RECORD_BYTES}`)
  let peer: unknown
  try {
    peer = (decode(value, MAX_CAPACITY_RECORD_BYTES, 'capacity record') as { body?: { peer?: unknown } } | null)?.body?.peer
  } catch (err) {
    throw new InvalidCapacityRecordError((err as Error).message, { cause: err })
  }
  if (typeof peer !== 'string' || peer.length > 64) throw new InvalidCapacityRecordError('capacity record names no peer')
  return verifyCapacityRecord(capacityKey(peer), value, now)
}

/** kad-dht validator for the capacity namespace: throws unless the record verifies. */
export async function capacityValidator (key: Uint8Array, value: Uint8Array): Promise<void> {
  verifyCapacityRecord(key, value)
}

/**
 * Index of the newest valid record (highest `seq`; ties go to the earliest in the list), or -1
 * when none is valid.
 */
export function selectNewest (key: Uint8Array, values: Uint8Array[], now = Date.now()): number {
  let best = -1
  let bestSeq = -1
  values.forEach((value, i) => {
    try {
      const { body } = verifyCapacityRecord(key, value, now)
      if (body.seq > bestSeq) {
        best = i
        bestSeq = body.seq
      }
    } catch {}
  })
  return best
}

/** kad-dht selector for the capacity namespace. */
export function capacitySelector (key: Uint8Array, values: Uint8Array[]): number {
  const index = selectNewest(key, values)
  if (index < 0) throw new InvalidCapacityRecordError('no valid capacity record among the candidates')
  return index
}
