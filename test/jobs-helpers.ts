/**
 * Helpers shared by the job-market tests (jobs*, job-model, negotiation*, lease*): module loading,
 * waiting until a requester can reach workers by gossip and by direct offers, hand-made lease
 * offers and accepts, and the varint length prefix for hand-made frames.
 * (`createTestnet` gives every node credits on its own ledger network, so workers bid for every
 * node's jobs.)
 */
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { ComputeNode } from '../src/node/compute-node.ts'
import { valueCid } from '../src/proofs/encoding.ts'
import { signLeaseAsRequester, signLeaseAsWorker, type Lease, type LeaseBody } from '../src/proofs/lease.ts'
import type { TaskWork } from '../src/scheduler/requester/types.ts'
import type { Signer } from '../src/proofs/signing.ts'
import { offerId, signOffer, type Accept, type OfferBody, type SignedBid, type SignedOffer } from '../src/scheduler/messages.ts'
import { defaultFuel } from '../src/scheduler/task.ts'
import { waitFor } from './helpers.ts'

export const example = (name: string): Uint8Array => new Uint8Array(readFileSync(new URL(`../examples/${name}.wasm`, import.meta.url)))
export const fixture = (name: string): Uint8Array => new Uint8Array(readFileSync(new URL(`./fixtures/wasm/${name}.wasm`, import.meta.url)))
export const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes)
export const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)

/** Waits until `node` sees each of `peers` subscribed to the offers topic (gossiped offers reach them). */
export async function waitForOfferMesh (node: ComputeNode, peers: string[]): Promise<void> {
  const pubsub = node.host.services.pubsub
  await waitFor(() => peers.every((id) => pubsub.getSubscribers(node.topics.offers).some((p) => p.toString() === id)), { what: 'offer subscriptions' })
}

/** Waits until `node` finds at least `count` capacity records in the DHT (direct offers go to them). */
export async function waitForCapacity (node: ComputeNode, count: number): Promise<void> {
  await waitFor(async () => (await node.findCapacity({ timeoutMs: 5000 })).length >= count, { what: `${count} capacity records` })
}

/** Unsigned LEB128, the length prefix of every frame. */
export function varint (n: number): Uint8Array {
  const out: number[] = []
  do {
    let byte = n % 128
    n = Math.floor(n / 128)
    if (n > 0) byte |= 0x80
    out.push(byte)
  } while (n > 0)
  return Uint8Array.from(out)
}

/** A signed lease offer from `signer` (64 MiB, 10 s tasks with the default fuel limit of 10 s, price cap 10), with overrides. */
export function leaseOffer (signer: Signer, fields: Partial<OfferBody> = {}): SignedOffer {
  const now = Date.now()
  return signOffer(signer, {
    v: 1,
    requester: signer.peerId,
    nonce: randomBytes(16),
    runtime: 'wasi-p1',
    memoryMiB: 64,
    maxTaskMs: 10_000,
    maxTaskFuel: defaultFuel(10_000),
    maxPrice: 10,
    slots: 2,
    maxCredits: 10_000,
    durationMs: 60_000,
    createdAt: now,
    expiresAt: now + 30_000,
    ...fields
  })
}

/** The requester's accept of a bid on `offer`: a lease body it signed. */
export function acceptOf (signer: Signer, offer: SignedOffer, bid: SignedBid, fields: Partial<LeaseBody> = {}): { t: 'accept', accept: Accept } {
  const now = Date.now()
  const body: LeaseBody = {
    v: 1,
    offerId: offerId(offer.body),
    requester: signer.peerId,
    worker: bid.body.worker,
    price: bid.body.price,
    slots: bid.body.slots,
    maxCredits: offer.body.maxCredits,
    memoryMiB: offer.body.memoryMiB,
    maxTaskMs: offer.body.maxTaskMs,
    maxTaskFuel: offer.body.maxTaskFuel,
    acceptedAt: now,
    expiresAt: now + offer.body.durationMs,
    ...fields
  }
  return { t: 'accept', accept: { body, requesterSig: signLeaseAsRequester(signer, body) } }
}

/** A lease co-signed by both sides (price 10, 2 slots, 10 minutes), with `fields` over the defaults. */
export function coSignedLease (requester: Signer, worker: Signer, fields: Partial<LeaseBody> = {}): Lease {
  const now = Date.now()
  const body: LeaseBody = {
    v: 1, offerId: valueCid({ offer: now }), requester: requester.peerId, worker: worker.peerId, price: 10, slots: 2,
    maxCredits: 1_000_000, memoryMiB: 64, maxTaskMs: 60_000, maxTaskFuel: defaultFuel(60_000), acceptedAt: now, expiresAt: now + 10 * 60_000, ...fields
  }
  return { body, requesterSig: signLeaseAsRequester(requester, body), workerSig: signLeaseAsWorker(worker, body) }
}

export interface HoldingDispatcher {
  submitted: Map<string, TaskWork>
  submit: (w: TaskWork) => void
  cancel: (id: string, error: { code: string, message: string }) => void
}

/**
 * A dispatcher that holds the tasks it is given (the test decides them); a cancel ends a held
 * task `cancelled` at once, or (`answersCancels: false`, as for a task in its spot check) not.
 */
export function holdingDispatcher (answersCancels = true): HoldingDispatcher {
  const submitted = new Map<string, TaskWork>()
  return {
    submitted,
    submit (w) { submitted.set(w.idText, w) },
    cancel (id, error) {
      const w = submitted.get(id)
      if (w == null || !answersCancels) return
      submitted.delete(id)
      void w.onVerdict({ status: 'cancelled', verified: false, replicas: [], agreeing: [], cost: 0, error })
    }
  }
}
