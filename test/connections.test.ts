/**
 * Connection limits with real libp2p: per-host inbound limits in production (TCP on loopback,
 * 200 connection attempts from one host), their absence in loopback testnets, the trimmer that
 * keeps a node within its connection bound (its decision, planTrim, on made-up peers; the
 * trimmer on real hosts, and under eclipse attempts: a flood of fresh inbound connections from
 * many peers, on memory hosts and on real nodes over TCP), and one connection per pair of peers.
 */
import { describe, it, expect, afterEach } from 'vitest'
import { createLibp2p, type Libp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { memory } from '@libp2p/memory'
import { noise } from '@libp2p/noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { KEEP_ALIVE, type Stream } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { peerIdFromString } from '@libp2p/peer-id'
import { createComputeNode, type ComputeNode } from '../src/node/compute-node.ts'
import { ConnectionTrimmer, INBOUND_BUSY_MS, INBOUND_GRACE_MS, planTrim, type TrimPeer } from '../src/node/connection-trimmer.ts'
import { DHT_PROTOCOL, MAX_CONNECTIONS_PER_HOST } from '../src/node/constants.ts'
import { LEASE_PROTOCOL } from '../src/scheduler/constants.ts'
import { waitFor } from './helpers.ts'

const cleanups: Array<() => unknown> = []
afterEach(async () => { for (const c of cleanups.splice(0).reverse()) await c() })

async function bareHost (transport: 'tcp' | 'memory'): Promise<Libp2p> {
  const node = await createLibp2p({
    addresses: { listen: [transport === 'tcp' ? '/ip4/127.0.0.1/tcp/0' : `/memory/bare-${crypto.randomUUID()}`] },
    transports: [transport === 'tcp' ? tcp() : memory()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionMonitor: { enabled: false },
    connectionManager: { maxConnections: 1000, inboundConnectionThreshold: 1000 },
    services: { identify: identify(), ping: ping() }
  })
  cleanups.push(async () => { await node.stop() })
  return node
}

/** Waits for identify to be done on every connection: a stream still negotiating counts as a request starting. */
async function identified (host: Libp2p): Promise<void> {
  await waitFor(() => host.getConnections().every((c) => c.streams.every((s) => s.protocol !== '')), { what: 'identify to be done' })
}

async function node (init: Parameters<typeof createComputeNode>[0]): Promise<ComputeNode> {
  const n = createComputeNode({ mdns: false, ...init })
  cleanups.push(async () => { await n.stop() })
  await n.start()
  return n
}

/** 20 identities on this host dial the victim 10 times each, all at once: 200 attempts. */
async function flood (victim: ComputeNode): Promise<{ ok: number, failed: number, maxOpen: number }> {
  const attackers = await Promise.all(Array.from({ length: 20 }, async () => await bareHost('tcp')))
  const target = multiaddr(victim.multiaddrs.find((m) => m.includes('/tcp/')) as string)
  let maxOpen = 0
  const sampler = setInterval(() => { maxOpen = Math.max(maxOpen, victim.host.getConnections().length) }, 5)
  const results = await Promise.allSettled(attackers.flatMap((a) => Array.from({ length: 10 }, async () => {
    await a.dial(target, { force: true, signal: AbortSignal.timeout(15_000) })
  })))
  clearInterval(sampler)
  maxOpen = Math.max(maxOpen, victim.host.getConnections().length)
  return { ok: results.filter((r) => r.status === 'fulfilled').length, failed: results.filter((r) => r.status === 'rejected').length, maxOpen }
}

describe('200 inbound connection attempts from one host', () => {
  it('production: at most MAX_CONNECTIONS_PER_HOST stay open and the node keeps working', async () => {
    const victim = await node({ listen: ['/ip4/127.0.0.1/tcp/0'], testnet: false })
    const result = await flood(victim)
    expect(result.maxOpen).toBeLessThanOrEqual(MAX_CONNECTIONS_PER_HOST)
    // Most are refused before the handshake (rate limit, cap); a dial refused after its upgrade
    // looks successful to the dialer for a moment, then the victim closes it.
    expect(result.failed).toBeGreaterThanOrEqual(100)
    const open = victim.host.getConnections()
    expect(open.length).toBeLessThanOrEqual(MAX_CONNECTIONS_PER_HOST)
    // Still serving: a connected attacker's ping is answered.
    if (open.length > 0) expect(await victim.ping(open[0].remotePeer.toString())).toBeGreaterThanOrEqual(0)
    expect(victim.status().started).toBe(true)
  })

  it('loopback testnet: the host is allow-listed, every identity gets its connection', async () => {
    const victim = await node({ listen: ['/ip4/127.0.0.1/tcp/0'], testnet: true })
    const result = await flood(victim)
    // One connection per identity (the rest are duplicates of a pair), well over the production cap.
    await waitFor(() => victim.host.getPeers().length === 20, { what: 'all 20 identities to be connected' })
    expect(result.ok).toBeGreaterThanOrEqual(20)
    expect(victim.host.getPeers().length).toBeGreaterThan(MAX_CONNECTIONS_PER_HOST)
  })
})

describe('connection trimmer', () => {
  it('closes the least valuable idle connections down to its low water, sparing keep-alive peers', async () => {
    const hub = await bareHost('memory')
    const spokes = await Promise.all(Array.from({ length: 12 }, async () => await bareHost('memory')))
    for (const spoke of spokes) await spoke.dial(hub.getMultiaddrs()[0], { signal: AbortSignal.timeout(10_000) })
    await waitFor(() => hub.getConnections().length === 12, { what: 'the hub to hold 12 connections' })
    // Two peers are kept alive, three are valuable (tagged), the rest are worth nothing.
    for (const spoke of spokes.slice(0, 2)) await hub.peerStore.merge(spoke.peerId, { tags: { [`${KEEP_ALIVE}-test`]: { value: 1 } } })
    for (const spoke of spokes.slice(2, 5)) await hub.peerStore.merge(spoke.peerId, { tags: { valuable: { value: 100 } } })
    const trimmer = new ConnectionTrimmer(hub, { maxConnections: 6, lowWater: 5, graceMs: 0 })
    await trimmer.trim()
    await waitFor(() => hub.getConnections().length <= 5, { what: 'the hub to trim to 5' })
    const kept = new Set(hub.getPeers().map((p) => p.toString()))
    for (const spoke of spokes.slice(0, 5)) expect(kept.has(spoke.peerId.toString())).toBe(true)
    expect(trimmer.closed).toBe(7)
  })
})

/** A made-up peer: one idle connection, worth nothing, established since `since`. */
function peer (id: string, since: number, over: Partial<TrimPeer<string>> = {}): TrimPeer<string> {
  return { id, connections: 1, since, newcomer: false, kept: false, requesting: false, value: 0, ...over, group: over.group ?? 'g' }
}
const range = (prefix: string, n: number, since: number, over: Partial<TrimPeer<string>> = {}): Array<TrimPeer<string>> =>
  Array.from({ length: n }, (_, i) => peer(`${prefix}${i}`, since + i, over))
const closedIds = (list: Array<TrimPeer<string>>): string[] => list.map((p) => p.id).sort()
const bounds = { maxConnections: 10, lowWater: 8 }

describe('planTrim (the trimmer\'s decision)', () => {
  it('closes nothing while the node is within maxConnections', () => {
    expect(planTrim([...range('e', 5, 0), ...range('y', 5, 100, { newcomer: true })], bounds)).toEqual([])
  })

  it('a flood of newcomers closes the newest newcomers, never an established peer', () => {
    const closing = planTrim([...range('honest', 5, 0), ...range('flood', 10, 100, { newcomer: true })], bounds)
    expect(closedIds(closing)).toEqual(['flood5', 'flood6', 'flood7', 'flood8', 'flood9'])
  })

  it('peers with requests in flight are spared but hold no place: they close no established peer', () => {
    // Newcomers and established attackers that each keep a fresh request open.
    expect(planTrim([...range('honest', 5, 0), ...range('flood', 10, 100, { newcomer: true, requesting: true })], bounds)).toEqual([])
    expect(planTrim([...range('honest', 5, 0), ...range('flood', 10, 100, { requesting: true })], bounds)).toEqual([])
    // Once their requests end they are the newest established peers, and go first.
    expect(closedIds(planTrim([...range('honest', 5, 0), ...range('flood', 10, 100)], bounds))).toEqual(['flood3', 'flood4', 'flood5', 'flood6', 'flood7', 'flood8', 'flood9'])
  })

  it('each trim leaves room for newcomers: a peer reconnecting after its restart is not starved', () => {
    // Full of established peers; the one that restarted dials in again.
    const closing = planTrim([...range('e', 10, 0), peer('restarted', 100, { newcomer: true })], bounds)
    expect(closedIds(closing)).toEqual(['e8', 'e9'])
  })

  it('established peers go by value, then the most recently connected; peers kept by this node hold their place', () => {
    const peers = [
      ...range('kept', 3, 0, { kept: true }), // bootstrap peers, streams this node opened
      ...range('mesh', 3, 10, { value: 100 }),
      ...range('idle', 4, 20)
    ]
    // Six hold places past the three kept: down to 5, the four idle and the newest mesh peer go.
    expect(closedIds(planTrim(peers, { maxConnections: 8, lowWater: 5 }))).toEqual(['idle0', 'idle1', 'idle2', 'idle3', 'mesh2'])
  })

  it('connections this node just dialled are spared and hold no place; left idle, they go first when the node is full', () => {
    expect(planTrim([...range('e', 6, 0), ...range('dialled', 6, 100, { newcomer: true, kept: true })], bounds)).toEqual([])
    expect(closedIds(planTrim([...range('e', 9, 0), ...range('dialled', 6, 100, { newcomer: true, kept: true })], bounds))).toEqual(['e8'])
    // What a DHT walk left behind (or a walk an attacker fed its own ids): newest first, down to the bound.
    expect(closedIds(planTrim([...range('e', 30, 0), ...range('walk', 25, 100, { newcomer: true })], { maxConnections: 48, lowWater: 38 })))
      .toEqual(['walk18', 'walk19', 'walk20', 'walk21', 'walk22', 'walk23', 'walk24'])
  })

  it('counts connections, not peers', () => {
    const closing = planTrim([...range('e', 8, 0), peer('double', 50, { connections: 2 }), peer('y', 100, { newcomer: true, connections: 3 })], bounds)
    expect(closedIds(closing)).toEqual(['double', 'y'])
  })
})

describe('connection trimmer checks', () => {
  it('a check asked for while one runs runs again when it ends', async () => {
    // A hand-made host whose peer store answers only when released: the first check is slow.
    const connection = (id: string): unknown => ({ remotePeer: { toString: () => id }, direction: 'inbound', timeline: { open: Date.now() - 60_000 }, streams: [] })
    const connections = ['a', 'b', 'c', 'd'].map(connection)
    const closed = new Set<string>()
    let release = (): void => {}
    let reads = 0
    const gate = new Promise<void>((resolve) => { release = resolve })
    const host = {
      getConnections: () => connections.filter((c: any) => !closed.has(c.remotePeer.toString())),
      peerStore: { get: async () => { reads++; await gate; return { tags: new Map() } }, merge: async () => {} },
      hangUp: async (id: { toString: () => string }) => { closed.add(id.toString()) },
      addEventListener: () => {},
      removeEventListener: () => {}
    }
    const trimmer = new ConnectionTrimmer(host as unknown as ConstructorParameters<typeof ConnectionTrimmer>[0], { maxConnections: 2, lowWater: 1, graceMs: 0 })
    trimmer.start()
    cleanups.push(() => { trimmer.stop() })
    const first = trimmer.trim()
    // Two more connect meanwhile; the check they ask for finds one running.
    connections.push(connection('e'), connection('f'))
    await trimmer.trim()
    release()
    await first
    // The second check started as the first ended (not at the next interval): it read the 3 peers left.
    expect(reads).toBe(4 + 3)
    // The first check closed 3 of the 4 it saw; the second closes 2 of the 3 left.
    await waitFor(() => trimmer.closed === 5, { what: 'the second check' })
    expect(host.getConnections()).toHaveLength(1)
  })
})

describe('connection trimmer after the spares end', () => {
  it('a node left above its bound by spared peers comes back to it when their spare ends, with no new connection and no interval', async () => {
    const hub = await bareHost('memory')
    const peers = await Promise.all(Array.from({ length: 5 }, async () => await bareHost('memory')))
    // The hub dials 5 peers itself: each is spared for its dial grace (here 1 s), so the first
    // check closes nothing and the hub sits above its bound of 3.
    for (const peer of peers) await hub.dial(peer.getMultiaddrs()[0], { signal: AbortSignal.timeout(10_000) })
    await identified(hub)
    // The periodic check never comes within the test: only the check when the spares end can trim.
    const trimmer = new ConnectionTrimmer(hub, { maxConnections: 3, lowWater: 2, graceMs: 1_000, checkIntervalMs: 3_600_000 })
    trimmer.start()
    cleanups.push(() => { trimmer.stop() })
    // Unless the machine is so slow the grace is already over, the first check spares them all.
    await trimmer.trim()
    await waitFor(() => hub.getConnections().length <= 3, { what: 'the hub to come back to its bound' })
    expect(trimmer.closed).toBeGreaterThanOrEqual(2)
    expect(hub.getConnections().length).toBeLessThanOrEqual(3)
  })
})

describe('connection trimmer under an eclipse attempt', () => {
  it('peers with kad-closeness tags, dialled in and holding a DHT stream open or dialled by the node, are trimmed before the honest peers', async () => {
    const hub = await bareHost('memory')
    // Streams on these protocols stay open until the other side closes them.
    const held: Stream[] = []
    for (const protocol of [DHT_PROTOCOL, LEASE_PROTOCOL]) await hub.handle(protocol, (stream) => { held.push(stream) })
    // Honest peers the hub dialled itself: four plain, two kad-close (a keep-alive tag).
    const honest = await Promise.all(Array.from({ length: 6 }, async () => await bareHost('memory')))
    for (const peer of honest) await hub.dial(peer.getMultiaddrs()[0], { signal: AbortSignal.timeout(10_000) })
    for (const peer of honest.slice(4)) await hub.peerStore.merge(peer.peerId, { tags: { [`${KEEP_ALIVE}-kad-dht`]: { value: 1 }, 'kad-close': { value: 50 } } })
    // A requester that dialled in and holds a lease stream (long-lived by design) stays busy.
    const requester = await bareHost('memory')
    await requester.dialProtocol(hub.getMultiaddrs()[0], LEASE_PROTOCOL, { signal: AbortSignal.timeout(10_000) })
    // Eight attackers; their ids were ground close to the hub's, so kad tags them as its closest
    // peers. Five dial in, each holding a DHT stream open; the hub dialled the other three itself
    // (a kad query, or libp2p redialling a trimmed keep-alive peer).
    const attackers = await Promise.all(Array.from({ length: 8 }, async () => await bareHost('memory')))
    for (const [i, a] of attackers.entries()) {
      if (i < 5) await a.dialProtocol(hub.getMultiaddrs()[0], DHT_PROTOCOL, { signal: AbortSignal.timeout(10_000) })
      else await hub.dial(a.getMultiaddrs()[0], { signal: AbortSignal.timeout(10_000) })
      await hub.peerStore.merge(a.peerId, { tags: { [`${KEEP_ALIVE}-kad-dht`]: { value: 1 }, 'kad-close': { value: 50 } } })
    }
    await waitFor(() => hub.getConnections().length === 15 && held.length === 6, { what: 'the hub to hold 15 connections and 6 streams' })
    // Later (no sleeping: the trimmer's clock moves), the attackers' streams are long past a request's life.
    const trimmer = new ConnectionTrimmer(hub, { maxConnections: 10, lowWater: 7, graceMs: 0, longLivedInbound: [LEASE_PROTOCOL], now: () => Date.now() + INBOUND_BUSY_MS + 1 })
    await trimmer.trim()
    // Eight closed: before the fix only the four plain honest peers could be, and were.
    expect(trimmer.closed).toBe(8)
    await waitFor(() => hub.getConnections().length <= 7, { what: 'the hub to trim to 7' })
    const kept = new Set(hub.getPeers().map((p) => p.toString()))
    for (const peer of [...honest, requester]) expect(kept.has(peer.peerId.toString())).toBe(true)
    for (const a of attackers) expect(kept.has(a.peerId.toString())).toBe(false)
    // A trimmed peer loses kad's keep-alive tag, so libp2p does not redial it at once.
    for (const a of attackers) expect((await hub.peerStore.get(a.peerId)).tags.has(`${KEEP_ALIVE}-kad-dht`)).toBe(false)
  })

  it('when the node is full, peers that just dialled in go, the newest first; peers it just dialled stay', async () => {
    const hub = await bareHost('memory')
    const outbound = await Promise.all(Array.from({ length: 2 }, async () => await bareHost('memory')))
    const inbound = await Promise.all(Array.from({ length: 3 }, async () => await bareHost('memory')))
    for (const peer of outbound) await hub.dial(peer.getMultiaddrs()[0], { signal: AbortSignal.timeout(10_000) })
    for (const [i, peer] of inbound.entries()) {
      await peer.dial(hub.getMultiaddrs()[0], { signal: AbortSignal.timeout(10_000) })
      await waitFor(() => hub.getConnections().length === 3 + i, { what: 'the hub to list the connection' })
      const opened = Math.max(...hub.getConnections().map((c) => c.timeline.open))
      await waitFor(() => Date.now() > opened, { what: 'the clock to move on' })
    }
    await identified(hub)
    const trimmer = new ConnectionTrimmer(hub, { maxConnections: 3, lowWater: 1 })
    await trimmer.trim()
    expect(trimmer.closed).toBe(2)
    await waitFor(() => hub.getConnections().length <= 3, { what: 'the hub to trim to 3' })
    expect(hub.getPeers().map(String).sort()).toEqual([inbound[0], ...outbound].map((p) => p.peerId.toString()).sort())
  })

  it('a peer that dialled in is established after INBOUND_GRACE_MS, one the node dialled after the whole grace', async () => {
    const hub = await bareHost('memory')
    const inbound = await Promise.all(Array.from({ length: 2 }, async () => await bareHost('memory')))
    const outbound = await Promise.all(Array.from({ length: 2 }, async () => await bareHost('memory')))
    for (const peer of inbound) await peer.dial(hub.getMultiaddrs()[0], { signal: AbortSignal.timeout(10_000) })
    for (const peer of outbound) await hub.dial(peer.getMultiaddrs()[0], { signal: AbortSignal.timeout(10_000) })
    await waitFor(() => hub.getConnections().length === 4, { what: 'the hub to hold 4 connections' })
    // A moment past the inbound grace, well inside the 30 s grace: the inbound peers are
    // established and judged (the newer one goes); the ones the hub dialled are spared.
    const trimmer = new ConnectionTrimmer(hub, { maxConnections: 3, lowWater: 1, now: () => Date.now() + INBOUND_GRACE_MS + 1 })
    await trimmer.trim()
    expect(trimmer.closed).toBe(1)
    await waitFor(() => hub.getConnections().length <= 3, { what: 'the hub to trim to 3' })
    expect(hub.getPeers().map(String).sort()).toEqual([inbound[0], ...outbound].map((p) => p.peerId.toString()).sort())
  })

  it('a request in flight keeps its connection, but holds it no place', async () => {
    const hub = await bareHost('memory')
    await hub.handle(DHT_PROTOCOL, () => {})
    const peers = await Promise.all(Array.from({ length: 3 }, async () => await bareHost('memory')))
    for (const peer of peers) await peer.dial(hub.getMultiaddrs()[0], { signal: AbortSignal.timeout(10_000) })
    await peers[0].dialProtocol(hub.getMultiaddrs()[0], DHT_PROTOCOL, { signal: AbortSignal.timeout(10_000) })
    await waitFor(() => hub.getConnections().some((c) => c.streams.some((s) => s.protocol === DHT_PROTOCOL)), { what: 'the request stream' })
    const trimmer = new ConnectionTrimmer(hub, { maxConnections: 2, lowWater: 1, graceMs: 0 })
    await trimmer.trim()
    // The requester stays; it is not counted against the low water, so one idle peer stays too.
    expect(trimmer.closed).toBe(1)
    await waitFor(() => hub.getConnections().length <= 2, { what: 'the hub to trim to 2' })
    expect(hub.getPeers().map(String)).toContain(peers[0].peerId.toString())
  })

  it('a flood of fresh inbound connections from many peers costs the established peers nothing', async () => {
    const hub = await bareHost('memory')
    // Five honest peers, established: three dialled in, the hub dialled two itself.
    const honest = await Promise.all(Array.from({ length: 5 }, async () => await bareHost('memory')))
    for (const [i, peer] of honest.entries()) {
      if (i < 3) await peer.dial(hub.getMultiaddrs()[0], { signal: AbortSignal.timeout(10_000) })
      else await hub.dial(peer.getMultiaddrs()[0], { signal: AbortSignal.timeout(10_000) })
    }
    await waitFor(() => hub.getConnections().length === 5, { what: 'the hub to hold 5 connections' })
    const settled = Math.max(...hub.getConnections().map((c) => c.timeline.open))
    // Then ten attackers (ten hosts: per-host limits do not stop them) dial in at once.
    await waitFor(() => Date.now() > settled, { what: 'the clock to move on' })
    const attackers = await Promise.all(Array.from({ length: 10 }, async () => await bareHost('memory')))
    await Promise.all(attackers.map(async (a) => await a.dial(hub.getMultiaddrs()[0], { signal: AbortSignal.timeout(10_000) })))
    await waitFor(() => hub.getConnections().length === 15, { what: 'the hub to hold 15 connections' })
    await identified(hub)
    // The trimmer's clock stands still where the honest connections have just left their grace
    // (the same for both directions here) and every attacker is still in its own.
    const trimmer = new ConnectionTrimmer(hub, { maxConnections: 10, lowWater: 8, graceMs: INBOUND_GRACE_MS, now: () => settled + INBOUND_GRACE_MS })
    await trimmer.trim()
    // Before the fix the attackers were exempt and all five honest peers were closed to reach 8.
    expect(trimmer.closed).toBe(5)
    await waitFor(() => hub.getConnections().length <= 10, { what: 'the hub to trim to 10' })
    const kept = new Set(hub.getPeers().map(String))
    for (const peer of honest) expect(kept.has(peer.peerId.toString())).toBe(true)
    expect(attackers.filter((a) => kept.has(a.peerId.toString()))).toHaveLength(5)
  })
})

describe('an eclipse attempt on real nodes (TCP loopback)', () => {
  /** True once every connection of the node has left an inbound connection's grace (a clock, not the network). */
  const settled = (n: ComputeNode): boolean => n.host.getConnections().every((c) => Date.now() - c.timeline.open > INBOUND_GRACE_MS)

  it('20 attacker nodes dialling at once: the 5 established honest peers stay, the node ends within its bound, and a new honest peer still gets in', async () => {
    const victim = await node({ listen: ['/ip4/127.0.0.1/tcp/0'], testnet: true, maxConnections: 10 })
    const target = multiaddr(victim.multiaddrs.find((m) => m.includes('/tcp/')) as string)
    const connected = (id: string): boolean => victim.host.getConnections(peerIdFromString(id)).some((c) => c.status === 'open')
    const honest = await Promise.all(Array.from({ length: 5 }, async () => await node({ listen: ['/ip4/127.0.0.1/tcp/0'], testnet: true })))
    for (const peer of honest) await peer.host.dial(target, { signal: AbortSignal.timeout(10_000) })
    await waitFor(() => honest.every((p) => connected(p.peerId)) && settled(victim), { timeoutMs: 30_000, what: 'the honest peers to be established' })
    const lost: string[] = []
    const honestIds = new Set(honest.map((p) => p.peerId))
    victim.host.addEventListener('peer:disconnect', (evt) => { if (honestIds.has(evt.detail.toString())) lost.push(evt.detail.toString()) })

    // Twenty identities dial in at once (a loopback testnet has no per-host limit, as if from
    // twenty hosts); libp2p takes up to 1.5 times the bound, the trimmer the rest.
    const attackers = await Promise.all(Array.from({ length: 20 }, async () => await bareHost('tcp')))
    const dials = await Promise.allSettled(attackers.map(async (a) => await a.dial(target, { force: true, signal: AbortSignal.timeout(15_000) })))
    expect(dials.filter((d) => d.status === 'fulfilled').length).toBeGreaterThan(5)
    const attackersIn = (): number => attackers.filter((a) => a.getConnections().some((c) => c.status === 'open')).length
    await waitFor(() => victim.host.getConnections().length <= 10 && attackersIn() <= 5, { what: 'the victim to be back within its bound' })
    expect(lost).toEqual([])
    for (const peer of honest) expect(connected(peer.peerId)).toBe(true)

    // Once the attackers left their grace they are the newest established peers: a new honest
    // peer dialling in makes the node trim them, not it.
    await waitFor(() => settled(victim), { timeoutMs: 30_000, what: 'the attackers to leave their grace' })
    const newcomer = await node({ listen: ['/ip4/127.0.0.1/tcp/0'], testnet: true })
    await newcomer.host.dial(target, { signal: AbortSignal.timeout(10_000) })
    await waitFor(() => victim.host.getConnections().length <= 10 && connected(newcomer.peerId), { what: 'the newcomer to be connected within the bound' })
    expect(lost).toEqual([])
    for (const peer of honest) expect(connected(peer.peerId)).toBe(true)
  }, 90_000)
})

describe('one connection per pair of peers', () => {
  it('peers that dial each other at once end up with one connection', async () => {
    const a = await node({ transport: 'memory', testnet: true })
    const b = await node({ transport: 'memory', testnet: true })
    for (let round = 0; round < 10; round++) {
      await Promise.allSettled([
        a.host.dial(multiaddr(b.multiaddrs[0]), { signal: AbortSignal.timeout(10_000) }),
        b.host.dial(multiaddr(a.multiaddrs[0]), { signal: AbortSignal.timeout(10_000) })
      ])
      await waitFor(() => a.host.getConnections(peerIdFromString(b.peerId)).length === 1 && b.host.getConnections(peerIdFromString(a.peerId)).length === 1,
        { what: 'a single connection between a and b' })
      // kad-dht keeps its closest peers connected, so b may redial at once: wait for the event.
      const gone = new Promise<void>((resolve) => {
        const onDisconnect = (evt: CustomEvent<string>): void => {
          if (evt.detail !== a.peerId) return
          b.removeEventListener('peer:disconnect', onDisconnect)
          resolve()
        }
        b.addEventListener('peer:disconnect', onDisconnect)
      })
      await a.host.hangUp(peerIdFromString(b.peerId))
      await gone
    }
  })
})
