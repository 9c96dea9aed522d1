/**
 * Verification beyond the replica vote, on real nodes: spot checks catch a majority that agrees
 * on a wrong output; a quorum counts hosts, not peer ids; and a worker that is not in the DHT
 * still gets work through gossiped offers.
 */
import { describe, it, expect, afterEach } from 'vitest'
import { readFile } from 'node:fs/promises'
import { createTestnet } from '../src/node/testnet.ts'
import { outputRewritingExecutor, waitFor } from './helpers.ts'

const primes = new Uint8Array(await readFile(new URL('../examples/primes.wasm', import.meta.url)))
const echo = new Uint8Array(await readFile(new URL('../examples/echo.wasm', import.meta.url)))

/** Runs jobs for real, then changes the output the same way on every node (collusion). */
const colluding = () => outputRewritingExecutor(() => new TextEncoder().encode('42\n'))

describe('verification', () => {
  const cleanups: Array<() => Promise<void>> = []
  afterEach(async () => { for (const c of cleanups.splice(0).reverse()) await c() })

  it('a spot check catches two workers that agree on a wrong output: nobody is paid, the local output wins', async () => {
    const net = await createTestnet({ nodes: 3, nodeInit: (i) => (i > 0 ? { executor: colluding() } : {}) })
    cleanups.push(net.stop)
    const [requester, a, b] = net.nodes
    await waitFor(async () => (await requester.findCapacity()).length >= 2, { what: 'capacity records' })
    const handle = await requester.submitJob({ module: primes, args: ['1000000'], replicas: 2, peers: [a.peerId, b.peerId] }, { spotCheck: true })
    const result = await handle.result()
    expect(result.status).toBe('unverified')
    expect(result.error?.code).toBe('ERR_NOT_VERIFIED')
    expect(result.spotCheck).toBe('failed')
    expect(result.verified).toBe(false)
    expect(new TextDecoder().decode(result.stdout)).toBe('78498\n')
    expect(result.cost).toBe(0)
    expect(result.workers.every((w) => w.agreed === false && w.cost === 0)).toBe(true)
    expect(requester.peerScore.score(a.peerId)).toBeLessThan(0)
    expect(requester.scheduler.reputation.get(b.peerId).mismatch).toBe(1)
  })

  it('a spot check of honest workers passes and they are paid', async () => {
    const net = await createTestnet({ nodes: 3 })
    cleanups.push(net.stop)
    const [requester] = net.nodes
    await waitFor(async () => (await requester.findCapacity()).length >= 2, { what: 'capacity records' })
    const result = await (await requester.submitJob({ module: primes, args: ['3000000'], replicas: 2 }, { spotCheck: true })).result()
    expect(result.spotCheck).toBe('passed')
    expect(result.verified).toBe(true)
    expect(new TextDecoder().decode(result.stdout)).toBe('216816\n')
    expect(result.cost).toBeGreaterThan(0)
  })

  it('peers on one host are one vote: outside a testnet, two workers on 127.0.0.1 cannot make a quorum of two', async () => {
    // testnet: false, so hosts are compared (a loopback testnet switches that off).
    const net = await createTestnet({ nodes: 3, nodeInit: () => ({ testnet: false }) })
    cleanups.push(net.stop)
    const [requester] = net.nodes
    await waitFor(async () => (await requester.findCapacity()).length >= 2, { what: 'capacity records' })
    const now = Date.now()
    const result = await (await requester.submitJob({ module: echo, input: new TextEncoder().encode('one host'), replicas: 2, quorum: 2, timeoutMs: 2_000, deadline: now + 6_000 })).result()
    // One replica ran; a second worker on the same host was never given the job. Its output is
    // shown, labelled unverified, and nobody is paid for it; the error says the host was why.
    expect(result.workers).toHaveLength(1)
    expect(result.status).toBe('unverified')
    expect(result.verified).toBe(false)
    expect(result.error?.code).toBe('ERR_NOT_ENOUGH_WORKERS')
    // (the other worker is `on a host that already has a replica` when its record is in this node's view then)
    expect(result.error?.message).toMatch(/^too few replicas for the quorum \(1 of 2 needed\) by the deadline: 1 of 2 replicas placed; no other capable worker known \(.*\); nobody is paid$/)
    expect(result.cost).toBe(0)
    expect(new TextDecoder().decode(result.stdout)).toBe('one host')
  })

  it('a worker that is not in the DHT still gets work through the gossiped offer', async () => {
    // Node 1 takes work but does not advertise: the requester cannot find it in the DHT, so the
    // offer reaches it only on the offers topic, and its bid comes back on its own stream.
    const net = await createTestnet({ nodes: 2, nodeInit: (i) => (i === 0 ? { capacity: { slots: 0 } } : { advertise: false }) })
    cleanups.push(net.stop)
    const [requester, hidden] = net.nodes
    await waitFor(() => requester.host.services.pubsub.getSubscribers(requester.topics.offers).some((p) => p.toString() === hidden.peerId), { what: 'the offers subscription' })
    expect(await requester.findCapacity({ timeoutMs: 2000 })).toEqual([])
    const rounds: Array<{ direct: number, gossip: boolean }> = []
    requester.scheduler.addEventListener('lease:offered', (evt) => { rounds.push(evt.detail) })
    const result = await (await requester.submitJob({ module: echo, input: new TextEncoder().encode('via gossip') })).result()
    expect(result.status).toBe('completed')
    expect(new TextDecoder().decode(result.stdout)).toBe('via gossip')
    expect(result.workers.map((w) => w.peerId)).toEqual([hidden.peerId])
    expect(rounds).toContainEqual({ direct: 0, gossip: true })
  })
})
