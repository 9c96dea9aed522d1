/**
 * Network-group protection in the connection trimmer: its decision (planTrim with
 * `distinctGroups`) on made-up peers, and a real node over TCP loopback whose peers come from
 * distinct /16s (Linux routes all of 127.0.0.0/8 to loopback: 127.0.0.1 and 127.1.0.1 are two
 * groups) against a long-connected crowd from one.
 */
import { describe, it, expect, afterEach } from 'vitest'
import { createLibp2p, type Libp2p } from 'libp2p'
import { tcp, type TCPSocketOptions } from '@libp2p/tcp'
import { noise } from '@libp2p/noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { multiaddr } from '@multiformats/multiaddr'
import { peerIdFromString } from '@libp2p/peer-id'
import { createComputeNode } from '../src/node/compute-node.ts'
import { INBOUND_GRACE_MS, planTrim, type TrimPeer } from '../src/node/connection-trimmer.ts'
import { waitFor } from './helpers.ts'

const cleanups: Array<() => unknown> = []
afterEach(async () => { for (const c of cleanups.splice(0).reverse()) await c() })

/** A made-up established peer: one idle connection, worth nothing. */
function peer (id: string, group: string, since: number, over: Partial<TrimPeer<string>> = {}): TrimPeer<string> {
  return { id, connections: 1, since, newcomer: false, kept: false, requesting: false, value: 0, group, ...over }
}
/** `n` peers of one group, connected one after another from `since`. */
const crowd = (prefix: string, group: string, n: number, since: number, over: Partial<TrimPeer<string>> = {}): Array<TrimPeer<string>> =>
  Array.from({ length: n }, (_, i) => peer(`${prefix}${i}`, group, since + i, over))
/** `n` peers, each from a group of its own. */
const spread = (prefix: string, n: number, since: number, over: Partial<TrimPeer<string>> = {}): Array<TrimPeer<string>> =>
  Array.from({ length: n }, (_, i) => peer(`${prefix}${i}`, `${prefix}-group-${i}`, since + i, over))
const closedIds = (list: Array<TrimPeer<string>>): string[] => list.map((p) => p.id).sort()
const bounds = { maxConnections: 20, lowWater: 16, distinctGroups: 4 }

describe('planTrim with network groups', () => {
  it('a long-connected crowd from one group no longer takes every place: the best peer of each other group keeps its place', () => {
    // 20 attackers from one /16, connected long ago; 4 honest peers from 4 groups, newer.
    const peers = [...crowd('attacker', 'ip4:6.6', 20, 0), ...spread('honest', 4, 100)]
    // Without groups the newest go: the 4 honest peers among them.
    expect(closedIds(planTrim(peers, { ...bounds, distinctGroups: 0 }))).toEqual([
      'attacker16', 'attacker17', 'attacker18', 'attacker19', 'honest0', 'honest1', 'honest2', 'honest3'
    ])
    // With them, the crowd's newest go instead.
    expect(closedIds(planTrim(peers, bounds))).toEqual([
      'attacker12', 'attacker13', 'attacker14', 'attacker15', 'attacker16', 'attacker17', 'attacker18', 'attacker19'
    ])
  })

  it('protects at most distinctGroups peers, one per group: the rest goes by value and age as before', () => {
    // 6 honest groups for 4 places: the most valuable, then the longest connected, are protected.
    const peers = [...crowd('attacker', 'ip4:6.6', 20, 0), ...spread('honest', 6, 100), peer('honestMesh', 'ip4:9.9', 200, { value: 100 })]
    const closing = closedIds(planTrim(peers, bounds))
    expect(closing).toHaveLength(11)
    expect(closing.filter((id) => id.startsWith('honest'))).toEqual(['honest3', 'honest4', 'honest5'])
    // A second honest peer of a protected group has no protection of its own.
    const two = [...crowd('attacker', 'ip4:6.6', 20, 0), peer('h0', 'ip4:1.1', 100), peer('h1', 'ip4:1.1', 101)]
    expect(closedIds(planTrim(two, bounds))).toContain('h1')
    expect(closedIds(planTrim(two, bounds))).not.toContain('h0')
  })

  it('cannot be turned against honest peers: an attacker with many groups, against honest peers sharing one, changes at most distinctGroups places', () => {
    // 16 honest peers on one LAN /16, long connected; an attacker rents 10 groups, 2 peers in each.
    const attackers = Array.from({ length: 10 }, (_, g) => crowd(`a${g}-`, `ip4:50.${g}`, 2, 100 + g * 2)).flat()
    const peers = [...crowd('honest', 'ip4:10.0', 16, 0), ...attackers]
    const baseline = planTrim(peers, { ...bounds, distinctGroups: 0 })
    expect(baseline.filter((p) => p.id.startsWith('honest'))).toEqual([])
    // 4 attacker groups are protected (the smallest groups come first): 4 honest peers lose their place, no more.
    const closing = planTrim(peers, bounds)
    expect(closing.filter((p) => p.id.startsWith('honest')).length).toBe(4)
    expect(count(peers) - count(closing)).toBe(16)
    // (Closing from the most crowded group first, unbounded, would have left the honest peers 2 of the 16 places.)
  })

  it('newcomers and requests from an honest peer\'s group do not cost it its protection', () => {
    const peers = [
      ...crowd('attacker', 'ip4:6.6', 10, 0),
      peer('honest', 'ip4:1.2', 100),
      // The cheap things to make, in the honest peer's /16: fresh connections and requests in flight.
      ...crowd('flood', 'ip4:1.2', 10, 200, { newcomer: true }),
      ...crowd('busy', 'ip4:1.2', 5, 50, { requesting: true })
    ]
    const closing = closedIds(planTrim(peers, { maxConnections: 10, lowWater: 8, distinctGroups: 1 }))
    expect(closing).not.toContain('honest')
    expect(closing).toContain('attacker9')
  })

  it('groups where the node keeps a peer need no protection, and protection never takes the node above its low water', () => {
    const peers = [
      ...crowd('kept', 'ip4:1.1', 7, 0, { kept: true }),
      ...crowd('attacker', 'ip4:6.6', 6, 10),
      ...spread('honest', 3, 100),
      peer('sameAsKept', 'ip4:1.1', 90)
    ]
    // 7 kept peers leave 1 place of the 8 for a distinct group, though distinctGroups is 4.
    const closing = closedIds(planTrim(peers, { maxConnections: 10, lowWater: 8, distinctGroups: 4 }))
    expect(closing).toEqual(['attacker0', 'attacker1', 'attacker2', 'attacker3', 'attacker4', 'attacker5', 'honest1', 'honest2', 'sameAsKept'])
  })

  it('counts connections: a peer with two connections is not protected in the last single place', () => {
    const peers = [...crowd('attacker', 'ip4:6.6', 10, 0), peer('double', 'ip4:1.1', 100, { connections: 2 }), peer('single', 'ip4:2.2', 101)]
    const closing = closedIds(planTrim(peers, { maxConnections: 10, lowWater: 8, distinctGroups: 1 }))
    expect(closing).toContain('double')
    expect(closing).not.toContain('single')
  })
})

function count (list: Array<TrimPeer<string>>): number {
  return list.reduce((n, p) => n + p.connections, 0)
}

/** A bare libp2p host on `ip` (any of 127.0.0.0/8), dialling from it too. */
async function hostOn (ip: string): Promise<Libp2p> {
  const node = await createLibp2p({
    addresses: { listen: [`/ip4/${ip}/tcp/0`] },
    // The source address of its dials (net.connect's localAddress): the victim sees the peer in ip's /16.
    transports: [tcp({ dialOpts: { localAddress: ip } as TCPSocketOptions })],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionMonitor: { enabled: false },
    connectionManager: { maxConnections: 1000, inboundConnectionThreshold: 1000 },
    services: { identify: identify(), ping: ping() }
  })
  cleanups.push(async () => { await node.stop() })
  return node
}

describe('network groups on real nodes (TCP loopback, 127.0.0.1 and 127.x.0.1)', () => {
  it('peers from distinct /16s keep their places against a long-connected crowd from one /16', async () => {
    // Bound 10: the trimmer keeps 8 established places, 2 of them for distinct groups.
    const victim = createComputeNode({ mdns: false, listen: ['/ip4/127.0.0.1/tcp/0'], testnet: true, maxConnections: 10 })
    cleanups.push(async () => { await victim.stop() })
    await victim.start()
    const target = multiaddr(victim.multiaddrs.find((m) => m.includes('/tcp/')) as string)
    const connected = (p: Libp2p): boolean => victim.host.getConnections(peerIdFromString(p.peerId.toString())).some((c) => c.status === 'open')
    /** Every connection of the victim has left an inbound connection's grace (a clock, not the network). */
    const settled = (): boolean => victim.host.getConnections().every((c) => Date.now() - c.timeline.open > INBOUND_GRACE_MS)
    const dialIn = async (hosts: Libp2p[]): Promise<void> => {
      await Promise.all(hosts.map(async (h) => await h.dial(target, { signal: AbortSignal.timeout(15_000) })))
    }

    // A crowd from 127.0.0.0/16 fills the victim's places first and stays: long connected.
    const crowd = await Promise.all(Array.from({ length: 10 }, async () => await hostOn('127.0.0.1')))
    await dialIn(crowd)
    await waitFor(() => crowd.every(connected) && settled(), { timeoutMs: 30_000, what: 'the crowd to be established' })

    // Two honest peers from two other /16s arrive; the victim trims the crowd's newest to make room.
    const honest = await Promise.all(['127.1.0.1', '127.2.0.1'].map(async (ip) => await hostOn(ip)))
    const lost: string[] = []
    const honestIds = new Set(honest.map((h) => h.peerId.toString()))
    victim.host.addEventListener('peer:disconnect', (evt) => { if (honestIds.has(evt.detail.toString())) lost.push(evt.detail.toString()) })
    await dialIn(honest)
    await waitFor(() => victim.host.getConnections().length <= 10 && honest.every(connected) && settled(), { timeoutMs: 30_000, what: 'the honest peers to be established' })

    // More of the crowd dials in: the victim must close two established peers. Without groups the
    // honest peers were the newest established and went; with them, the crowd's own go.
    const more = await Promise.all(Array.from({ length: 2 }, async () => await hostOn('127.0.0.1')))
    await dialIn(more)
    const crowdIn = (): number => [...crowd, ...more].filter(connected).length
    await waitFor(() => victim.host.getConnections().length <= 10 && (crowdIn() <= 8 || lost.length > 0), { timeoutMs: 30_000, what: 'the victim to trim back to its bound' })
    expect(lost).toEqual([])
    for (const h of honest) expect(connected(h)).toBe(true)
  }, 90_000)
})
