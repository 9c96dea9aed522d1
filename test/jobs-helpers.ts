/**
 * Helpers shared by the job-market tests (jobs*, job-model, negotiation*, task*): module loading,
 * waiting until a requester can reach workers by gossip and by direct offers, and the varint
 * length prefix for hand-made frames.
 * (`createTestnet` gives every node credits on its own ledger network, so workers bid for every
 * node's jobs.)
 */
import { readFileSync } from 'node:fs'
import type { ComputeNode } from '../src/node/compute-node.ts'
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
