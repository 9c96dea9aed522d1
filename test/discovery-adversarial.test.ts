/**
 * Discovery under attack, with real nodes on libp2p's memory transport: peers that answer
 * capacity queries with garbage (10,000 entries, another peer's record, a record with 1,000
 * addresses), a flood of provider records on the runtime's shard keys from 30 throwaway
 * identities, and 10,000 provider records from one peer. The victim penalises the liars, lists
 * only peers that answered for themselves, keeps its memory bounded and keeps finding the honest
 * peers.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { createLibp2p, type Libp2p } from 'libp2p'
import { memory } from '@libp2p/memory'
import { noise } from '@libp2p/noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { kadDHT, passthroughMapper, type KadDHT, type SingleKadDHT } from '@libp2p/kad-dht'
import { multiaddr } from '@multiformats/multiaddr'
import { peerIdFromString } from '@libp2p/peer-id'
import { lpStream } from '@libp2p/utils'
import type { Stream } from '@libp2p/interface'
import { createTestnet, type Testnet } from '../src/node/testnet.ts'
import { createComputeNode, type ComputeNode } from '../src/node/compute-node.ts'
import { capacitySelector, capacityValidator, measureCapacity, runtimeShardKey, signCapacityRecord } from '../src/node/capacity-record.ts'
import {
  CAPABILITY_SHARDS, CAPACITY_DOMAIN, CAPACITY_NAMESPACE, CAPACITY_PROTOCOL, DATASTORE_LIMITS, DHT_PROTOCOL, FIND_QUERY_BUDGET
} from '../src/node/constants.ts'
import { encode, rawCid } from '../src/proofs/encoding.ts'
import { signBody } from '../src/proofs/signing.ts'
import { waitFor } from './helpers.ts'

const HONEST = 4
let net: Testnet
const extra: Array<{ stop: () => void | Promise<void> }> = []

beforeAll(async () => {
  net = await createTestnet({ nodes: HONEST, transport: 'memory' })
  await waitFor(() => net.nodes.every((n) => n.services().capacity.cached().length === HONEST - 1), { what: 'the honest nodes to know each other' })
})

afterAll(async () => {
  await Promise.all(extra.map(async (n) => { await n.stop() }))
  await net?.stop()
})

const honestIds = (): string[] => net.nodes.map((n) => n.peerId).sort()

async function startNode (bootstrap: ComputeNode[], init: Parameters<typeof createComputeNode>[0] = {}): Promise<ComputeNode> {
  const node = createComputeNode({ transport: 'memory', testnet: true, network: net.network, bootstrap: bootstrap.map((b) => b.multiaddrs[0]), ...init })
  extra.push(node)
  await node.start()
  await waitFor(() => bootstrap.every((b) => node.host.getConnections(peerIdFromString(b.peerId)).length > 0), { what: 'the node to connect' })
  return node
}

/** Replaces a node's capacity handler with one that reads the query and writes `answer` as one frame. */
async function answerWith (node: ComputeNode, answer: () => Uint8Array): Promise<void> {
  await node.host.unhandle(CAPACITY_PROTOCOL)
  await node.host.handle(CAPACITY_PROTOCOL, async (stream: Stream) => {
    const lp = lpStream(stream, { maxDataLength: 1024 })
    try {
      await lp.read({ signal: AbortSignal.timeout(5000) })
      await lp.write(answer(), { signal: AbortSignal.timeout(5000) })
      await stream.close()
    } catch (err) {
      stream.abort(err as Error)
    }
  }, { maxInboundStreams: 8 })
}

describe('capacity answers from a lying peer', () => {
  const cases: Array<{ name: string, answer: (liar: ComputeNode) => unknown }> = [
    {
      name: '10,000 sampled entries',
      answer: () => ({ t: 'capacity', sample: Array.from({ length: 10_000 }, () => new Uint8Array(1)) })
    },
    {
      name: '10,000 copies of a valid record (an oversized frame)',
      answer: () => {
        const record = signCapacityRecord(net.nodes[1].signer, measureCapacity(), { seq: 1, multiaddrs: [] })
        return { t: 'capacity', sample: Array.from({ length: 10_000 }, () => record) }
      }
    },
    {
      name: 'the record of another peer as its own',
      answer: () => ({ t: 'capacity', record: signCapacityRecord(net.nodes[2].signer, measureCapacity({ cores: 99 }), { seq: Date.now() + 1, multiaddrs: [] }), sample: [] })
    },
    {
      name: 'its own record with 1,000 addresses',
      answer: (liar) => {
        const body = {
          v: 1, peer: liar.peerId, seq: Date.now(), issuedAt: Date.now(), expiresAt: Date.now() + 3_600_000, cores: 64, memoryMiB: 1024, slots: 8,
          pricePerGigafuel: 0, runtimes: ['wasi-p1'], multiaddrs: Array.from({ length: 1000 }, (_, i) => `/memory/fake-${i}/p2p/${liar.peerId}`)
        }
        return { t: 'capacity', record: encode({ body, sig: signBody(liar.signer, CAPACITY_DOMAIN, body) }), sample: [] }
      }
    }
  ]

  for (const { name, answer } of cases) {
    it(`drops an answer with ${name}, penalises the sender and still finds the honest peers`, async () => {
      const liar = await startNode([net.nodes[0]])
      await answerWith(liar, () => encode(answer(liar)))
      // The victim knows only the liar at first: its question on connect gets the bad answer.
      const victim = await startNode([liar])
      await waitFor(() => victim.peerScore.score(liar.peerId) < 0, { what: 'the liar to be penalised' })
      expect(victim.services().capacity.cached().map((a) => a.peerId)).not.toContain(liar.peerId)
      const found = await waitFor(async () => {
        const ids = (await victim.findCapacity({ timeoutMs: 5000 })).map((a) => a.peerId).sort()
        return honestIds().every((id) => ids.includes(id)) ? ids : undefined
      }, { timeoutMs: 60_000, what: 'the victim to find every honest node' })
      expect(found).not.toContain(liar.peerId)
      // The peer whose record was passed off is listed with its own record, not the forged claim.
      const adverts = await victim.findCapacity()
      expect(adverts.find((a) => a.peerId === net.nodes[2].peerId)?.cores).not.toBe(99)
      await victim.stop()
      await liar.stop()
    })
  }
})

/** A throwaway DHT identity: libp2p with depin's kad-dht only (it speaks no capacity protocol). */
async function fakePeer (bootstrap: string): Promise<Libp2p<{ dht: KadDHT, identify: any, ping: any }>> {
  const node = await createLibp2p({
    addresses: { listen: [`/memory/fake-${crypto.randomUUID()}`] },
    transports: [memory()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionMonitor: { enabled: false },
    services: {
      identify: identify(),
      ping: ping(),
      dht: kadDHT({
        protocol: DHT_PROTOCOL,
        clientMode: false,
        peerInfoMapper: passthroughMapper,
        allowQueryWithZeroPeers: true,
        validators: { [CAPACITY_NAMESPACE]: capacityValidator },
        selectors: { [CAPACITY_NAMESPACE]: capacitySelector }
      })
    }
  })
  extra.push(node)
  await node.dial(multiaddr(bootstrap), { signal: AbortSignal.timeout(10_000) })
  // Its lookups need a routing table: wait until the peer it dialled is in it.
  await waitFor(() => (node.services.dht as SingleKadDHT).routingTable.size > 0, { what: 'the fake to know a DHT peer' })
  return node
}

describe('a provider flood on the runtime\'s shard keys', () => {
  it('reads a bounded, verified slice of each shard and never lists the fakes', async () => {
    const providersBefore = net.nodes.reduce((sum, n) => sum + n.status().dhtStore.providerRecords, 0)
    const fakes = await Promise.all(Array.from({ length: 30 }, async (_, i) => await fakePeer(net.nodes[i % HONEST].multiaddrs[0])))
    // Every fake announces itself under every shard; half of them then go away.
    await Promise.all(fakes.flatMap((fake) => Array.from({ length: CAPABILITY_SHARDS }, async (_, shard) => {
      try {
        // (a generous deadline: on a loaded machine 30 fakes × every shard take a while)
        for await (const _ of fake.services.dht.provide(runtimeShardKey('wasi-p1', shard), { signal: AbortSignal.timeout(30_000) })) {} // eslint-disable-line no-empty
      } catch {}
    })))
    // The flood reached the honest nodes (they hold the shard keys too), bounded per provider.
    const providers = (): number => net.nodes.reduce((sum, n) => sum + n.status().dhtStore.providerRecords, 0)
    await waitFor(() => providers() > providersBefore + 30, { what: 'the fakes\' provider records to reach the honest nodes' })
    await Promise.all(fakes.slice(0, 15).map(async (fake) => { await fake.stop() }))

    const requester = await startNode([net.nodes[0]], { advertise: false })
    const capacity = requester.services().capacity
    // Every call reads the next two shards: eight calls read them all.
    for (let call = 0; call < CAPABILITY_SHARDS / 2; call++) {
      const before = capacity.getStats().queries
      const found = (await requester.findCapacity({ timeoutMs: 10_000 })).map((a) => a.peerId)
      const queries = capacity.getStats().queries - before
      // A round makes at most its budget of direct queries (connect-time questions to peers the
      // round itself dialled are not repeated); a little room for peers that dialled us meanwhile.
      expect(queries).toBeLessThanOrEqual(FIND_QUERY_BUDGET + 4)
      for (const id of found) expect(honestIds()).toContain(id)
    }
    const found = (await requester.findCapacity()).map((a) => a.peerId).sort()
    expect(found).toEqual(honestIds())
    const fakeIds = new Set(fakes.map((f) => f.peerId.toString()))
    expect(capacity.cached().some((a) => fakeIds.has(a.peerId))).toBe(false)
    // Fakes that were asked and did not answer are remembered as unreachable, not retried.
    expect(capacity.getStats().view.unreachable).toBeGreaterThan(0)
    await requester.stop()
  }, 150_000)
})

/** A kad-dht ADD_PROVIDER message, protobuf by hand: type = 2, key = multihash, providerPeers = [{ id, addrs }]. */
function addProviderMessage (key: Uint8Array, peerId: Uint8Array, addr: Uint8Array): Uint8Array {
  const field = (tag: number, bytes: Uint8Array): number[] => [tag, ...varint(bytes.byteLength), ...bytes]
  const peer = Uint8Array.from([...field(0x0a, peerId), ...field(0x12, addr)])
  return Uint8Array.from([0x08, 0x02, ...field(0x12, key), ...field(0x4a, peer)])
}

function varint (n: number): number[] {
  const out: number[] = []
  while (n >= 0x80) { out.push((n & 0x7f) | 0x80); n >>>= 7 }
  out.push(n)
  return out
}

describe('10,000 provider records from one peer', () => {
  it('keeps at most a bounded number of them and keeps working', async () => {
    const victim = net.nodes[3]
    const attacker = await startNode([victim], { advertise: false })
    const before = victim.status().dhtStore
    const stream = await attacker.host.dialProtocol(peerIdFromString(victim.peerId), DHT_PROTOCOL, { signal: AbortSignal.timeout(10_000) })
    const lp = lpStream(stream, { maxDataLength: 4096 })
    const id = peerIdFromString(attacker.peerId).toMultihash().bytes
    const addr = multiaddr(attacker.multiaddrs[0]).bytes
    for (let i = 0; i < 10_000; i++) {
      await lp.write(addProviderMessage(rawCid(new TextEncoder().encode(`junk ${i}`)).multihash.bytes, id, addr), { signal: AbortSignal.timeout(10_000) })
    }
    // The victim has processed the flood once it evicted all but the last few.
    const after = await waitFor(() => {
      const stats = victim.status().dhtStore
      return stats.evicted - before.evicted >= 10_000 - DATASTORE_LIMITS.providers.maxPerOwner ? stats : undefined
    }, { timeoutMs: 120_000, what: 'the victim to take in the flood' })
    await stream.close({ signal: AbortSignal.timeout(10_000) }).catch(() => { stream.abort(new Error('done')) })
    expect(after.providerRecords).toBeLessThanOrEqual(before.providerRecords + DATASTORE_LIMITS.providers.maxPerOwner)
    // Honest provider records survived (the cap is per providing peer) and discovery works.
    const requester = await startNode([victim], { advertise: false })
    const found = await waitFor(async () => {
      const ids = (await requester.findCapacity({ timeoutMs: 5000 })).map((a) => a.peerId).sort()
      return honestIds().every((h) => ids.includes(h)) ? ids : undefined
    }, { timeoutMs: 60_000, what: 'discovery after the flood' })
    expect(found).not.toContain(attacker.peerId)
    await requester.stop()
    await attacker.stop()
  })
})

describe('a capacity record with 1,000 addresses in the DHT', () => {
  it('is refused by every node it is sent to', async () => {
    const attacker = await startNode([net.nodes[0]], { advertise: false })
    const body = {
      v: 1, peer: attacker.peerId, seq: Date.now(), issuedAt: Date.now(), expiresAt: Date.now() + 3_600_000, cores: 64, memoryMiB: 1024, slots: 8,
      pricePerGigafuel: 0, runtimes: ['wasi-p1'], multiaddrs: Array.from({ length: 1000 }, (_, i) => `/memory/fake-${i}/p2p/${attacker.peerId}`)
    }
    const value = encode({ body, sig: signBody(attacker.signer, CAPACITY_DOMAIN, body) })
    const key = new TextEncoder().encode(`/${CAPACITY_NAMESPACE}/${attacker.peerId}`)
    try {
      for await (const _ of attacker.host.services.dht.put(key, value, { signal: AbortSignal.timeout(10_000) })) {} // eslint-disable-line no-empty
    } catch {}
    const servedBy = async (node: ComputeNode): Promise<number> => {
      let served = 0
      try {
        for await (const event of node.host.services.dht.get(key, { signal: AbortSignal.timeout(5_000) })) {
          if (event.name === 'VALUE' && event.from.toString() !== attacker.peerId) served++
        }
      } catch {}
      return served
    }
    // No honest node stored it: a lookup from any of them finds it nowhere but at the attacker.
    for (const node of net.nodes) expect(await servedBy(node)).toBe(0)
    // Control: the same attacker's ordinary record under the same key is stored and served.
    const ordinary = signCapacityRecord(attacker.signer, measureCapacity(), { seq: Date.now() + 1, multiaddrs: attacker.multiaddrs })
    try {
      for await (const _ of attacker.host.services.dht.put(key, ordinary, { signal: AbortSignal.timeout(10_000) })) {} // eslint-disable-line no-empty
    } catch {}
    expect(await servedBy(net.nodes[1])).toBeGreaterThan(0)
    await attacker.stop()
  })
})
