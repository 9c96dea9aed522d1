/**
 * A gossip flooder for tests and bench/flood.ts: throwaway identities (bare depin libp2p hosts,
 * no validators of their own) that connect to a network and publish malformed, oversized,
 * forged and replayed offers, blocks and transactions until every peer has cut them off.
 */
import { randomBytes } from 'node:crypto'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p, type Libp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@libp2p/noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify, type Identify } from '@libp2p/identify'
import { gossipsub, type GossipSub } from '@libp2p/gossipsub'
import { MAX_OFFER_BYTES, offersTopic } from '../src/node/constants.ts'
import { encode } from '../src/proofs/encoding.ts'
import { MAX_TARGET, NONCE_BYTES, targetToBytes } from '../src/proofs/pow.ts'
import { createSigner, type Signer } from '../src/proofs/signing.ts'
import { signOffer, type OfferBody, type SignedOffer } from '../src/scheduler/messages.ts'
import { blockTopic, transactionTopic, createTransfer, LEDGER_VERSION } from '../src/ledger/index.ts'
import { encodeBlock, txRootOf } from '../src/ledger/block.ts'

/** What the flood sends, in rotation. Every kind but the last is invalid ([REJECT]). */
export const FLOOD_KINDS = [
  'malformed-offer', // not DAG-CBOR
  'oversized-offer', // over the offer size bound
  'replayed-offer', // an honest requester's offer, re-gossiped by the attacker (author rule)
  'forged-offer', // the attacker's own offer with a signature that does not verify
  'malformed-block', // not DAG-CBOR
  'easy-block', // random parent, all-ones target: easier than the genesis target
  'forged-tx', // a transfer whose signature does not verify
  'future-nonce-tx' // a well-signed transfer a million nonces ahead ([IGNORE])
] as const
export type FloodKind = typeof FLOOD_KINDS[number]

export interface FloodTarget {
  networkId: string
  /** Multiaddrs (with /p2p/) of the peers to connect to. */
  addresses: string[]
  /** An honest requester's signed offer, to replay. */
  honestOffer: SignedOffer
}

/** A throwaway identity: its own key and a minimal libp2p host (TCP, Noise, Yamux, identify, gossipsub). */
export interface Flooder {
  peerId: string
  host: Libp2p<{ identify: Identify, pubsub: GossipSub }>
  signer: Signer
}

/**
 * A flooder has no DHT: it is a gossip tool, and a DHT would make it redial the nodes that cut
 * it off (kad-dht keeps its closest peers connected), which is a connection flood, not a gossip
 * flood (per-host connection limits are for those).
 */
export async function createFlooder (networkId: string): Promise<Flooder> {
  const privateKey = await generateKeyPair('Ed25519')
  const host = await createLibp2p({
    privateKey,
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionGater: { denyDialMultiaddr: async () => false },
    services: {
      identify: identify(),
      pubsub: gossipsub({ allowPublishToZeroTopicPeers: true, floodPublish: true, emitSelf: false, allowedTopics: [offersTopic(networkId), blockTopic(networkId), transactionTopic(networkId)] })
    }
  })
  return { peerId: host.peerId.toString(), host, signer: createSigner(privateKey) }
}

/** The `i`-th flood message of an identity: topic and bytes. */
export function floodMessage (kind: FloodKind, flooder: Flooder, target: FloodTarget): { topic: string, data: Uint8Array } {
  const net = target.networkId
  switch (kind) {
    case 'malformed-offer':
      return { topic: offersTopic(net), data: Uint8Array.from([0xff, ...randomBytes(64)]) }
    case 'oversized-offer':
      return { topic: offersTopic(net), data: randomBytes(MAX_OFFER_BYTES + 1) }
    case 'replayed-offer':
      // A fresh gossip envelope around the same honest offer (gossipsub would drop an exact copy).
      return { topic: offersTopic(net), data: encode(target.honestOffer) }
    case 'forged-offer': {
      const offer = leaseOffer(flooder.signer, { maxPrice: 0 })
      return { topic: offersTopic(net), data: encode({ ...offer, sig: randomBytes(64) }) }
    }
    case 'malformed-block':
      return { topic: blockTopic(net), data: Uint8Array.from([0xff, ...randomBytes(64)]) }
    case 'easy-block': {
      const header = {
        v: LEDGER_VERSION as 1,
        network: net,
        parent: randomBytes(32),
        height: 1 + Math.floor(Math.random() * 1000),
        timestamp: Date.now(),
        target: targetToBytes(MAX_TARGET),
        nonce: new Uint8Array(NONCE_BYTES),
        miner: flooder.peerId,
        txRoot: txRootOf([])
      }
      return { topic: blockTopic(net), data: encodeBlock({ header, txs: [] }) }
    }
    case 'forged-tx': {
      const tx = createTransfer(flooder.signer, { network: net, to: target.honestOffer.body.requester, amount: 1, nonce: 0 })
      return { topic: transactionTopic(net), data: encode({ ...tx, body: { ...tx.body, amount: 1_000_000 } }) }
    }
    case 'future-nonce-tx': {
      const tx = createTransfer(flooder.signer, { network: net, to: target.honestOffer.body.requester, amount: 1, nonce: 1_000_000 + Math.floor(Math.random() * 1_000_000) })
      return { topic: transactionTopic(net), data: encode(tx) }
    }
  }
}

export interface FloodReport {
  /** Messages each identity got out (reaching at least one peer), by identity. */
  sent: Map<string, number>
  /** Per identity and victim: messages that reached that victim before it cut the identity off. */
  reached: Map<string, Map<string, number>>
  /** Publishes that reached nobody (the identity was already cut off everywhere). */
  refused: number
}

export interface FloodInit {
  flooders: Flooder[]
  target: FloodTarget
  /** Total messages to attempt across all identities (in rotation). */
  messages: number
  /** Messages per second, all identities together (paced by deadlines, so a slow round is caught up). @default as fast as possible */
  ratePerSecond?: number
  /** The kinds to rotate through. @default FLOOD_KINDS */
  kinds?: readonly FloodKind[]
  /** Checked after every round: stop when it returns true. */
  until?: () => boolean
  signal?: AbortSignal
}

/** Connects every identity to the target peers (best effort: a banned identity is refused). */
export async function connectFlooders (flooders: Flooder[], addresses: string[]): Promise<void> {
  await Promise.all(flooders.flatMap((f) => addresses.map(async (a) => {
    await f.host.dial(multiaddr(a), { signal: AbortSignal.timeout(10_000) }).catch(() => {})
  })))
}

/** Sends `messages` flood messages, identities in rotation, kinds in rotation per identity. */
export async function flood (init: FloodInit): Promise<FloodReport> {
  const report: FloodReport = { sent: new Map(), reached: new Map(), refused: 0 }
  const next = new Map<string, number>()
  const started = Date.now()
  for (let i = 0; i < init.messages && init.signal?.aborted !== true; i++) {
    const flooder = init.flooders[i % init.flooders.length]
    const n = next.get(flooder.peerId) ?? 0
    next.set(flooder.peerId, n + 1)
    const kinds = init.kinds ?? FLOOD_KINDS
    const { topic, data } = floodMessage(kinds[n % kinds.length], flooder, init.target)
    const { recipients } = await flooder.host.services.pubsub.publish(topic, data).catch(() => ({ recipients: [] }))
    if (recipients.length === 0) {
      report.refused++
    } else {
      report.sent.set(flooder.peerId, (report.sent.get(flooder.peerId) ?? 0) + 1)
      const per = report.reached.get(flooder.peerId) ?? new Map<string, number>()
      for (const r of recipients) per.set(r.toString(), (per.get(r.toString()) ?? 0) + 1)
      report.reached.set(flooder.peerId, per)
    }
    if ((i + 1) % init.flooders.length === 0) {
      if (init.until?.() === true) break
      // Keep to the rate (and let the event loop breathe between rounds either way).
      const due = init.ratePerSecond == null ? 0 : started + (1000 * (i + 1)) / init.ratePerSecond - Date.now()
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, due)))
    }
  }
  return report
}

/** A lease offer signed by `signer`, live for 30 s (fields overridable). */
export function leaseOffer (signer: Signer, extra: Partial<OfferBody> = {}): SignedOffer {
  const now = Date.now()
  return signOffer(signer, {
    v: 1, requester: signer.peerId, nonce: randomBytes(16), runtime: 'wasi-p1', memoryMiB: 64, maxTaskMs: 1000, maxTaskFuel: 10_000_000_000n,
    maxPrice: 10, slots: 1, maxCredits: 1000, durationMs: 60_000, createdAt: now, expiresAt: now + 30_000, ...extra
  })
}

/** An honest offer (signed by `signer`) that no worker will act on: it names a peer that does not exist. */
export function honestOffer (signer: Signer): SignedOffer {
  return leaseOffer(signer, { peers: ['12D3KooWSUabNcdHDSvX4UgB2ZUeyfe7S5KUPJEnbvkdWPZE7oyt'] })
}
