/**
 * Keeps a node's connections within its bound.
 *
 * libp2p's own pruner closes a connection only when every stream on it belongs to identify or
 * autonat; gossipsub keeps a stream open on every connection to a subscriber, so in a depin
 * network the pruner never closes anything and every DHT walk left its connections behind (the
 * full mesh of the scale issue). This trimmer runs when connections pass `maxConnections` and
 * closes down to `lowWater`: peers kept alive by a `keep-alive` tag (kad-dht's closest peers,
 * bootstrap peers) and peers with a stream in use (a negotiation, a task, a sync, a DHT request)
 * are spared, and so are connections younger than 30 s; of the rest, the least valuable by peer-store tags (gossip mesh peers carry 100
 * per topic) and, among equals, the newest connection go first.
 */
import { KEEP_ALIVE, type Connection, type Libp2p, type PeerId } from '@libp2p/interface'
import { logger } from '@libp2p/logger'

const log = logger('depin:connections')

/** Streams that live as long as the connection and do not make it busy. */
const IDLE_PROTOCOLS = new Set([
  '/meshsub/1.0.0', '/meshsub/1.1.0', '/meshsub/1.2.0', '/floodsub/1.0.0',
  '/ipfs/id/1.0.0', '/ipfs/id/push/1.0.0', '/ipfs/ping/1.0.0'
])

/**
 * Connections younger than this are not trimmed: a new connection is usually about to carry a
 * request (a DHT hop, a capacity query, an offer), and a peer that redials at once after a trim
 * would otherwise be trimmed again at once.
 */
const GRACE_MS = 30_000
/** How often the bound is checked besides on new connections. */
const CHECK_INTERVAL_MS = 10_000
/** New connections trigger at most one check per this long. */
const DEBOUNCE_MS = 500

export interface ConnectionTrimmerInit {
  maxConnections: number
  /** Trim down to this many. @default 80 % of maxConnections */
  lowWater?: number
  /** Connections younger than this are spared. @default 30 s */
  graceMs?: number
}

type TrimmerHost = Pick<Libp2p, 'getConnections' | 'peerStore' | 'hangUp' | 'addEventListener' | 'removeEventListener'>

export class ConnectionTrimmer {
  private readonly host: TrimmerHost
  private readonly maxConnections: number
  private readonly lowWater: number
  private readonly graceMs: number
  private interval?: ReturnType<typeof setInterval>
  private pending?: ReturnType<typeof setTimeout>
  private running = false
  private trimmed = 0

  constructor (host: TrimmerHost, init: ConnectionTrimmerInit) {
    this.host = host
    this.maxConnections = init.maxConnections
    this.lowWater = Math.max(1, Math.min(init.maxConnections, init.lowWater ?? Math.floor(init.maxConnections * 0.8)))
    this.graceMs = init.graceMs ?? GRACE_MS
    this.onOpen = this.onOpen.bind(this)
  }

  start (): void {
    this.host.addEventListener('connection:open', this.onOpen)
    this.interval = setInterval(() => { void this.trim() }, CHECK_INTERVAL_MS)
    this.interval.unref?.()
  }

  stop (): void {
    this.host.removeEventListener('connection:open', this.onOpen)
    clearInterval(this.interval)
    clearTimeout(this.pending)
    this.interval = undefined
    this.pending = undefined
  }

  /** Connections closed by the trimmer so far. */
  get closed (): number {
    return this.trimmed
  }

  /** Closes the least valuable idle connections when over the bound. */
  async trim (): Promise<void> {
    if (this.running) return
    const connections = this.host.getConnections()
    if (connections.length <= this.maxConnections) return
    this.running = true
    try {
      const byPeer = new Map<string, { id: PeerId, connections: Connection[] }>()
      for (const connection of connections) {
        const key = connection.remotePeer.toString()
        const entry = byPeer.get(key) ?? { id: connection.remotePeer, connections: [] }
        entry.connections.push(connection)
        byPeer.set(key, entry)
      }
      const candidates: Array<{ id: PeerId, count: number, value: number, openedAt: number }> = []
      const young = Date.now() - this.graceMs
      for (const { id, connections: list } of byPeer.values()) {
        if (list.some((c) => c.timeline.open > young)) continue
        if (list.some((c) => c.streams.some((s) => s.protocol != null && !IDLE_PROTOCOLS.has(s.protocol)))) continue
        let value = 0
        let keepAlive = false
        try {
          const peer = await this.host.peerStore.get(id)
          for (const [name, tag] of peer.tags) {
            if (name.startsWith(KEEP_ALIVE)) keepAlive = true
            value += tag.value
          }
        } catch {}
        if (keepAlive) continue
        candidates.push({ id, count: list.length, value, openedAt: Math.max(...list.map((c) => c.timeline.open)) })
      }
      candidates.sort((a, b) => a.value - b.value || b.openedAt - a.openedAt)
      let excess = this.host.getConnections().length - this.lowWater
      const closing: Array<Promise<void>> = []
      for (const candidate of candidates) {
        if (excess <= 0) break
        excess -= candidate.count
        this.trimmed += candidate.count
        closing.push(this.host.hangUp(candidate.id, { signal: AbortSignal.timeout(2_000) }).catch((err) => { log('closing %p failed: %e', candidate.id, err) }))
      }
      await Promise.all(closing)
      if (closing.length > 0) log('trimmed %d peers, %d connections left', closing.length, this.host.getConnections().length)
    } finally {
      this.running = false
    }
  }

  private onOpen (): void {
    if (this.pending != null || this.host.getConnections().length <= this.maxConnections) return
    this.pending = setTimeout(() => {
      this.pending = undefined
      void this.trim()
    }, DEBOUNCE_MS)
    this.pending.unref?.()
  }
}
