/**
 * Capacity discovery over real libp2p (TCP on loopback) with on-disk data dirs: every node finds
 * the others, a restarted node keeps its identity and is found again, and forged or stale records
 * planted in the DHT by a hostile peer are never returned.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { createTestnet, type Testnet } from '../src/node/testnet.ts'
import { createComputeNode, type ComputeNode } from '../src/node/compute-node.ts'
import { capacityKey, runtimeCapabilityKey, signCapacityRecord, measureCapacity } from '../src/node/capacity-record.ts'
import { decode, encode } from '../src/proofs/encoding.ts'
import { tempDir, waitFor } from './helpers.ts'

const NODES = 5

describe('capacity discovery on a 5-node testnet', () => {
  let net: Testnet
  let dir: { path: string, remove: () => Promise<void> }
  const extra: ComputeNode[] = []

  beforeAll(async () => {
    dir = await tempDir()
    net = await createTestnet({ nodes: NODES, dir: dir.path, nodeInit: (i) => ({ capacity: { cores: i + 1 } }) })
  })

  afterAll(async () => {
    await Promise.all(extra.map(async (n) => { await n.stop() }))
    await net?.stop()
    await dir?.remove()
  })

  it('every node finds the other four through findCapacity', async () => {
    for (const node of net.nodes) {
      const others = net.nodes.filter((n) => n !== node).map((n) => n.peerId).sort()
      const found = await waitFor(async () => {
        const adverts = await node.findCapacity({ timeoutMs: 5000 })
        const ids = adverts.map((a) => a.peerId).sort()
        return JSON.stringify(ids) === JSON.stringify(others) ? adverts : undefined
      }, { timeoutMs: 45_000, what: `node ${node.peerId} to find the other ${NODES - 1}` })
      for (const advert of found) {
        const index = net.nodes.findIndex((n) => n.peerId === advert.peerId)
        expect(advert.cores).toBe(index + 1)
        expect(advert.runtimes).toEqual(['wasi-p1'])
        expect(advert.multiaddrs.some((m) => m.includes('/tcp/'))).toBe(true)
      }
    }
  })

  it('filters by cores, price and limit', async () => {
    const node = net.nodes[0]
    const big = await node.findCapacity({ minCores: 4 })
    expect(big.map((a) => a.cores).sort()).toEqual([4, 5])
    expect(await node.findCapacity({ maxPrice: 0 })).toEqual([])
    expect(await node.findCapacity({ limit: 2 })).toHaveLength(2)
    expect(await node.findCapacity({ runtime: 'no-such-runtime', timeoutMs: 2000 })).toEqual([])
  })

  it('never returns forged, expired, misplaced or stale records planted by a hostile peer', async () => {
    const victim = net.nodes[1]
    const observer = net.nodes[3]
    const real = await waitFor(async () => (await observer.findCapacity()).find((a) => a.peerId === victim.peerId), { what: 'the victim\'s record' })

    // The attacker advertises the runtime but its own record is garbage.
    const attacker = createComputeNode({ listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, testnet: true, advertise: false, bootstrap: [net.nodes[0].multiaddrs[0]] })
    extra.push(attacker)
    await attacker.start()
    await waitFor(() => attacker.host.getConnections().length > 0, { what: 'the attacker to connect' })
    const dht = attacker.host.services.dht
    const put = async (key: Uint8Array, value: Uint8Array): Promise<void> => {
      // Remote validators refuse most of these; the attacker keeps them locally and serves them.
      try { for await (const _ of dht.put(key, value, { signal: AbortSignal.timeout(10_000) })) {} } catch {}
    }
    for await (const _ of dht.provide(runtimeCapabilityKey('wasi-p1'), { signal: AbortSignal.timeout(10_000) })) {}
    await put(capacityKey(attacker.peerId), new TextEncoder().encode('not dag-cbor at all'))

    const capacity = measureCapacity({ cores: 64 })
    const victimKey = capacityKey(victim.peerId)
    const signed = decode(signCapacityRecord(victim.signer, capacity, { seq: real.seq + 1000, multiaddrs: [] }), 4096) as { body: Record<string, unknown>, sig: Uint8Array }
    const badSignature = encode({ ...signed, body: { ...signed.body, pricePerGigafuel: 0 } })
    const expired = signCapacityRecord(victim.signer, capacity, { seq: real.seq + 2000, multiaddrs: [], now: Date.now() - 60_000, ttlMs: 1000 })
    const underVictimKey = signCapacityRecord(attacker.signer, capacity, { seq: real.seq + 3000, multiaddrs: [] })
    const older = signCapacityRecord(victim.signer, capacity, { seq: 1, multiaddrs: [] })
    for (const forged of [badSignature, expired, underVictimKey, older]) await put(victimKey, forged)

    const adverts = await observer.findCapacity()
    const ids = adverts.map((a) => a.peerId)
    expect(ids).not.toContain(attacker.peerId)
    const seen = adverts.find((a) => a.peerId === victim.peerId)
    expect(seen?.seq).toBeGreaterThanOrEqual(real.seq)
    expect(seen?.cores).toBe(real.cores)
    expect(seen?.seq).not.toBe(1)
    // Everyone is still up and answering.
    for (const node of net.nodes) expect(node.status().started).toBe(true)
    expect((await observer.findCapacity()).length).toBe(NODES - 1)
  })

  it('a node restarted on its data dir keeps its peer id and is found again', async () => {
    const index = 2
    const before = net.nodes[index]
    const { peerId } = before
    await before.stop()
    const restarted = createComputeNode({
      dataDir: before.init.dataDir,
      listen: ['/ip4/127.0.0.1/tcp/0'],
      mdns: false,
      testnet: true,
      capacity: { cores: 42 },
      network: net.network,
      // Every other node, as a restarted daemon's bootstrap list would: its first record then
      // reaches them all, however slowly the DHT walks on a loaded machine.
      bootstrap: net.nodes.filter((n) => n !== before).map((n) => n.multiaddrs[0])
    })
    net.nodes[index] = restarted
    await restarted.start()
    expect(restarted.peerId).toBe(peerId)
    // Wait for the restarted node's own record (its seq), not for "any seq newer than the last
    // one the old node finished publishing": the old node may have had a publish under way when
    // it stopped (a republish after the attacker above connected), whose record, with the old
    // capacity and a newer seq, can still be in the DHT.
    const published = await waitFor(() => {
      const stats = restarted.status().capacityRecord
      return stats.published > 0 ? stats.seq : undefined
    }, { what: 'the restarted node\'s first capacity record' })
    const observer = net.nodes[4]
    const advert = await waitFor(async () => {
      const found = (await observer.findCapacity({ timeoutMs: 5000 })).find((a) => a.peerId === peerId)
      return found != null && found.seq >= published ? found : undefined
    }, { timeoutMs: 45_000, what: 'the restarted node\'s new record' })
    expect(advert.cores).toBe(42)
    expect(advert.multiaddrs.some((m) => restarted.multiaddrs.includes(m))).toBe(true)
  })
})
