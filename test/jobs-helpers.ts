/**
 * Helpers shared by the job-market tests (jobs*, scheduler*, negotiation*, task*): a testnet whose
 * nodes hold credits on the ledger (workers bid only for requesters that can pay), module
 * loading, and waiting for the offer mesh.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { createTestnet, type Testnet, type TestnetInit } from '../src/node/testnet.ts'
import type { ComputeNode } from '../src/node/compute-node.ts'
import { loadOrCreateIdentity } from '../src/node/data-dir.ts'
import { createGenesisConfig } from '../src/ledger/genesis.ts'
import { waitFor } from './helpers.ts'

export const example = (name: string): Uint8Array => new Uint8Array(readFileSync(new URL(`../examples/${name}.wasm`, import.meta.url)))
export const fixture = (name: string): Uint8Array => new Uint8Array(readFileSync(new URL(`./fixtures/wasm/${name}.wasm`, import.meta.url)))
export const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes)
export const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)

/**
 * A testnet on its own ledger network in which every node starts with credits, so workers bid
 * for every node's jobs. With `dir`, identities live in the data dirs (node i in `dir/node-i`),
 * so a node restarted on its data dir keeps its peer id and its credits.
 */
export async function fundedTestnet (init: TestnetInit & { nodes: number }): Promise<Testnet> {
  const keys: PrivateKey[] = []
  for (let i = 0; i < init.nodes; i++) {
    keys.push(init.dir != null ? (await loadOrCreateIdentity(join(init.dir, `node-${i}`))).privateKey : await generateKeyPair('Ed25519'))
  }
  const network = createGenesisConfig({ peers: keys.map((k) => k.publicKey.toString()) })
  return await createTestnet({
    ...init,
    nodeInit: (i) => ({ privateKey: keys[i], network, ...init.nodeInit?.(i) })
  })
}

/** Waits until `node` sees each of `peers` subscribed to the offers topic (gossiped offers reach them). */
export async function waitForOfferMesh (node: ComputeNode, peers: string[]): Promise<void> {
  const pubsub = node.host.services.pubsub
  await waitFor(() => peers.every((id) => pubsub.getSubscribers(node.topics.offers).some((p) => p.toString() === id)), { what: 'offer subscriptions' })
}

/** Waits until `node` finds at least `count` capacity records in the DHT (direct offers go to them). */
export async function waitForCapacity (node: ComputeNode, count: number): Promise<void> {
  await waitFor(async () => (await node.findCapacity({ timeoutMs: 5000 })).length >= count, { what: `${count} capacity records` })
}
