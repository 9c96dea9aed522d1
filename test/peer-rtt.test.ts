/**
 * A fresh peer's round trip: measured once identify has run on its connection, so `depin peers`
 * and the dashboard show a number within seconds instead of `-` until the first liveness ping
 * (KEEPALIVE_MIN_INTERVAL_MS, 30 s, after the connection opened). Real nodes over TCP loopback;
 * the bounds (a few pings at a time, a bounded queue, aborted by stop()) on a hand-made host. That
 * ping and kad-dht's of a new contact both start on identify, and the protocol allows one
 * outbound ping stream per peer: they take turns (ping-turns.ts), or kad-dht's failed and the
 * peer never entered its routing table (three nodes no longer found each other).
 */
import { describe, it, expect, afterEach, beforeEach, vi } from 'vitest'
import { createLibp2p, type Libp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@libp2p/noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { ping, type Ping } from '@libp2p/ping'
import type { Connection } from '@libp2p/interface'
import { pingsTakeTurns } from '../src/node/ping-turns.ts'
import { createComputeNode, type ComputeNode } from '../src/node/compute-node.ts'
import { KeepAlive } from '../src/node/keepalive.ts'
import { FIRST_PING_CONCURRENCY, FIRST_PING_DELAY_MS, FIRST_PING_QUEUE, KEEPALIVE_MIN_INTERVAL_MS } from '../src/node/constants.ts'
import { waitFor } from './helpers.ts'

describe('a new peer\'s round trip', () => {
  const nodes: ComputeNode[] = []
  afterEach(async () => { await Promise.all(nodes.splice(0).map(async (n) => { await n.stop() })) })

  it('is known on both sides soon after they connect, well before the first liveness ping', async () => {
    const a = createComputeNode({ listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, testnet: true })
    nodes.push(a)
    await a.start()
    const b = createComputeNode({ listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, testnet: true, bootstrap: [a.multiaddrs[0]] })
    nodes.push(b)
    await b.start()
    const latency = async (node: ComputeNode, peer: string): Promise<number | undefined> =>
      (await node.peers()).find((p) => p.peerId === peer)?.latencyMs
    // The liveness pings cannot have measured it before KEEPALIVE_MIN_INTERVAL_MS: poll for less.
    const deadline = { timeoutMs: KEEPALIVE_MIN_INTERVAL_MS * 2 / 3 }
    const ab = await waitFor(async () => await latency(a, b.peerId), { ...deadline, what: 'a to know its round trip to b' })
    const ba = await waitFor(async () => await latency(b, a.peerId), { ...deadline, what: 'b to know its round trip to a' })
    expect(ab).toBeGreaterThanOrEqual(0)
    expect(ba).toBeGreaterThanOrEqual(0)
  })

  it('leaves kad-dht its ping of new contacts: two nodes that know only a third find each other', async () => {
    const hub = createComputeNode({ listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, testnet: true })
    nodes.push(hub)
    await hub.start()
    const spokes = [0, 1].map(() => createComputeNode({ listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, testnet: true, bootstrap: [hub.multiaddrs[0]] }))
    nodes.push(...spokes)
    await Promise.all(spokes.map(async (n) => { await n.start() }))
    // Each learns of the other from the hub's routing table (its DHT self-query), and dials it.
    await waitFor(async () => (await spokes[0].peers()).some((p) => p.peerId === spokes[1].peerId), { timeoutMs: 30_000, what: 'the two spokes to connect' })
  })
})

describe('pings of one peer', () => {
  const hosts: Libp2p[] = []
  afterEach(async () => { await Promise.all(hosts.splice(0).map(async (h) => { await h.stop() })) })

  const host = async (turns: boolean): Promise<Libp2p<{ ping: Ping }>> => {
    const h = await createLibp2p({
      addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      connectionMonitor: { enabled: false },
      services: { ping: turns ? (c: Parameters<ReturnType<typeof ping>>[0]) => pingsTakeTurns(ping()(c)) : ping() }
    })
    hosts.push(h)
    return h
  }

  it('take turns: several at once all answer (libp2p allows one outbound ping stream per peer)', async () => {
    for (const turns of [false, true]) {
      const [a, b] = [await host(turns), await host(turns)]
      await a.dial(b.getMultiaddrs()[0])
      const results = await Promise.allSettled([1, 2, 3].map(async () => await a.services.ping.ping(b.peerId, { signal: AbortSignal.timeout(10_000) })))
      const failed = results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason.name)
      if (turns) expect(failed).toEqual([])
      // Without turns some fail: libp2p refuses the second stream (what kad-dht's ping met), or,
      // when the first one's stream is closing as the next opens, the next fails on its state.
      else {
        expect(failed.length).toBeGreaterThan(0)
        for (const name of failed) expect(['TooManyOutboundProtocolStreamsError', 'StreamStateError']).toContain(name)
      }
    }
  })

  it('one still waiting for its turn gives up when its signal aborts, and the next still waits its turn', async () => {
    const [a, b] = [await host(true), await host(true)]
    await a.dial(b.getMultiaddrs()[0])
    const first = a.services.ping.ping(b.peerId)
    const controller = new AbortController()
    const second = a.services.ping.ping(b.peerId, { signal: controller.signal })
    const third = a.services.ping.ping(b.peerId)
    controller.abort(new Error('no longer wanted'))
    await expect(second).rejects.toThrow('no longer wanted')
    expect(await first).toBeGreaterThanOrEqual(0)
    expect(await third).toBeGreaterThanOrEqual(0)
  })
})

/** A host whose pings wait until the test answers them. */
function fakeHost () {
  const events = new EventTarget()
  const pings: Array<{ peer: string, signal: AbortSignal, answer: (rtt: number) => void, fail: (err: Error) => void }> = []
  const connections: Connection[] = []
  const host = {
    getConnections: () => connections,
    addEventListener: events.addEventListener.bind(events),
    removeEventListener: events.removeEventListener.bind(events),
    services: {
      ping: {
        ping: async (peer: { toString: () => string }, options: { signal: AbortSignal }) => await new Promise<number>((resolve, reject) => {
          options.signal.addEventListener('abort', () => { reject(new Error('aborted')) })
          pings.push({ peer: peer.toString(), signal: options.signal, answer: resolve, fail: reject })
        })
      }
    }
  }
  const connect = (id: string): Connection => {
    const connection = { remotePeer: { toString: () => id }, status: 'open', timeline: { open: Date.now() } } as unknown as Connection
    connections.push(connection)
    return connection
  }
  const identify = (connection: Connection): void => { events.dispatchEvent(new CustomEvent('peer:identify', { detail: { connection } })) }
  return { host: host as any, pings, connect, identify }
}

const settle = async (): Promise<void> => { await new Promise((resolve) => setImmediate(resolve)) }

describe('first pings', () => {
  // (the delay after identify on fake timers; pings answer through promises)
  beforeEach(() => { vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] }) })
  afterEach(() => { vi.useRealTimers() })

  it('go a few at a time from a bounded queue, a moment after identify; one per connection; the rest are left to the liveness pings', async () => {
    const { host, pings, connect, identify } = fakeHost()
    const keepAlive = new KeepAlive(host)
    keepAlive.start()
    try {
      const connections = Array.from({ length: 100 }, (_, i) => connect(`peer-${i}`))
      for (const c of connections) identify(c)
      identify(connections[0]) // (identify runs again on a connection: identify push)
      expect(pings).toHaveLength(0)
      vi.advanceTimersByTime(FIRST_PING_DELAY_MS)
      let answered = 0
      while (pings.length > answered) {
        expect(pings.length - answered).toBeLessThanOrEqual(FIRST_PING_CONCURRENCY)
        pings[answered].answer(answered + 1)
        answered++
        await settle()
      }
      expect(answered).toBe(FIRST_PING_QUEUE)
      expect(new Set(pings.map((p) => p.peer)).size).toBe(answered)
      expect(connections.filter((c) => typeof c.rtt === 'number')).toHaveLength(answered)
      expect(connections[0].rtt).toBe(1)
    } finally {
      keepAlive.stop()
    }
  })

  it('a failed first ping leaves the connection open and its round trip unknown; stop() aborts those in flight and ends the queue', async () => {
    const { host, pings, connect, identify } = fakeHost()
    const keepAlive = new KeepAlive(host)
    keepAlive.start()
    const connections = Array.from({ length: 4 }, (_, i) => connect(`peer-${i}`))
    const aborted = connections.map(() => false)
    connections.forEach((c, i) => { (c as any).abort = () => { aborted[i] = true } })
    for (const c of connections) identify(c)
    vi.advanceTimersByTime(FIRST_PING_DELAY_MS)
    pings[0].fail(new Error('no answer'))
    await settle()
    expect(connections[0].rtt).toBeUndefined()
    expect(aborted[0]).toBe(false)
    expect(pings).toHaveLength(3) // the next in the queue took its place
    identify(connect('waiting')) // (its delay not over when the keepalive stops)
    keepAlive.stop()
    expect(pings.slice(1).every((p) => p.signal.aborted)).toBe(true)
    await settle()
    expect(pings).toHaveLength(3) // nothing more after stop()
    identify(connect('late'))
    vi.advanceTimersByTime(FIRST_PING_DELAY_MS)
    expect(pings).toHaveLength(3)
  })
})
