/**
 * Keeps a node's connections within its bound.
 *
 * libp2p's own pruner closes a connection only when every stream on it belongs to identify or
 * autonat; gossipsub keeps a stream open on every connection to a subscriber, so in a depin
 * network the pruner never closes anything and every DHT walk left its connections behind (the
 * full mesh of the scale issue). This trimmer runs when connections pass `maxConnections` and
 * closes down to `lowWater`: peers kept alive by a `keep-alive` tag (bootstrap peers; not
 * kad-dht's, see below) and peers with a stream in use (a negotiation, a task, a sync, a DHT
 * request) are spared, and so are connections younger than 30 s (inbound ones: 5 s); of the
 * rest, the least valuable by peer-store tags (gossip mesh peers carry 100 per topic) and, among
 * equals, the newest connection go first.
 *
 * What a remote peer controls does not buy it a place (else attackers keep their connections
 * and the trimmer closes the honest ones: an eclipse):
 * - an inbound stream is "in use" only while it is young (`INBOUND_BUSY_MS`), unless its
 *   protocol is long-lived by design and costly to open (a lease: the worker signed it and the
 *   requester must be able to pay). A DHT stream kept open with a PING every few seconds is not
 *   a request in progress. Streams this node opened are in use for as long as they are open.
 * - kad-dht's closeness (its `keep-alive-kad-dht` and `kad-close` tags) earns neither the
 *   exemption nor tag value: kad ids are cheap to grind close to a victim's, so the 20 closest
 *   peers may all be an attacker's. Nor does the connection's direction help: this node dials
 *   such peers itself (kad queries and refreshes, and libp2p redials a keep-alive peer that
 *   disconnects, which is why a trimmed peer loses kad's keep-alive tag first). Other keep-alive
 *   tags (bootstrap peers) are this node's own choice and still count. Kad's closest peers are
 *   kept like any other by their value and age, and kad dials a peer again when a query needs it.
 * - an inbound connection's grace is 5 s, not 30: a flood of fresh inbound connections must not
 *   stay exempt while the node's older connections are trimmed.
 */
import { KEEP_ALIVE, type Connection, type Libp2p, type PeerId, type Stream } from '@libp2p/interface'
import { logger } from '@libp2p/logger'

const log = logger('depin:connections')

/** Streams that live as long as the connection and do not make it busy. */
const IDLE_PROTOCOLS = new Set([
  '/meshsub/1.0.0', '/meshsub/1.1.0', '/meshsub/1.2.0', '/floodsub/1.0.0',
  '/ipfs/id/1.0.0', '/ipfs/id/push/1.0.0', '/ipfs/ping/1.0.0'
])

/**
 * An inbound stream (not long-lived by design) counts as a request in use for this long after it
 * opened. Requests on depin's protocols end well within it (5 s idle deadlines; DHT queries a few
 * seconds); an older inbound stream is a peer holding it open, which earns nothing.
 */
export const INBOUND_BUSY_MS = 10_000
/** kad-dht's keep-alive tag on its closest peers. */
const KAD_KEEP_ALIVE_TAG = `${KEEP_ALIVE}-kad-dht`
/** kad-dht's tags on its closest peers (its default close tag and its keep-alive tag): not counted (see above). */
const KAD_CLOSENESS_TAGS = new Set(['kad-close', KAD_KEEP_ALIVE_TAG])
/**
 * An inbound connection is spared this long (instead of `graceMs`): long enough for the peer to
 * open the request it came for (which then makes the connection busy), too short for a flood of
 * fresh inbound connections to stay exempt while the node's older connections are trimmed.
 */
export const INBOUND_GRACE_MS = 5_000

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
  /** Inbound connections younger than this are spared (at most `graceMs`). @default INBOUND_GRACE_MS */
  inboundGraceMs?: number
  /** Protocols whose inbound streams count as in use however old they are (e.g. the lease protocol). */
  longLivedInbound?: Iterable<string>
  /** Injected clock for tests. */
  now?: () => number
}

type TrimmerHost = Pick<Libp2p, 'getConnections' | 'peerStore' | 'hangUp' | 'addEventListener' | 'removeEventListener'>

export class ConnectionTrimmer {
  private readonly host: TrimmerHost
  private readonly maxConnections: number
  private readonly lowWater: number
  private readonly graceMs: number
  private readonly inboundGraceMs: number
  private readonly longLivedInbound: Set<string>
  private readonly now: () => number
  private interval?: ReturnType<typeof setInterval>
  private pending?: ReturnType<typeof setTimeout>
  private running = false
  private trimmed = 0

  constructor (host: TrimmerHost, init: ConnectionTrimmerInit) {
    this.host = host
    this.maxConnections = init.maxConnections
    this.lowWater = Math.max(1, Math.min(init.maxConnections, init.lowWater ?? Math.floor(init.maxConnections * 0.8)))
    this.graceMs = init.graceMs ?? GRACE_MS
    this.inboundGraceMs = Math.min(this.graceMs, init.inboundGraceMs ?? INBOUND_GRACE_MS)
    this.longLivedInbound = new Set(init.longLivedInbound ?? [])
    this.now = init.now ?? Date.now
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
      const now = this.now()
      const young = (c: Connection): boolean => now - c.timeline.open < (c.direction === 'inbound' ? this.inboundGraceMs : this.graceMs)
      for (const { id, connections: list } of byPeer.values()) {
        if (list.some(young)) continue
        if (list.some((c) => c.streams.some((s) => this.inUse(s, now)))) continue
        let value = 0
        let keepAlive = false
        try {
          const peer = await this.host.peerStore.get(id)
          for (const [name, tag] of peer.tags) {
            // kad closeness is not evidence of anything (see above).
            if (KAD_CLOSENESS_TAGS.has(name)) continue
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
        closing.push(this.close(candidate.id))
      }
      await Promise.all(closing)
      if (closing.length > 0) log('trimmed %d peers, %d connections left', closing.length, this.host.getConnections().length)
    } finally {
      this.running = false
    }
  }

  /**
   * Hangs up on a peer. Kad's keep-alive tag goes first: libp2p redials a keep-alive peer as soon
   * as it disconnects, and the redialled connection, young and so spared, would push out another
   * (honest) connection at the next trim. Kad tags the peer again if it re-enters its closest set.
   */
  private async close (id: PeerId): Promise<void> {
    try {
      await this.host.peerStore.merge(id, { tags: { [KAD_KEEP_ALIVE_TAG]: undefined } })
    } catch {}
    await this.host.hangUp(id, { signal: AbortSignal.timeout(2_000) }).catch((err) => { log('closing %p failed: %e', id, err) })
  }

  /** A stream that makes its connection busy (see the module comment). */
  private inUse (stream: Stream, now: number): boolean {
    if (stream.protocol == null || IDLE_PROTOCOLS.has(stream.protocol)) return false
    if (stream.direction === 'outbound' || this.longLivedInbound.has(stream.protocol)) return true
    return now - stream.timeline.open < INBOUND_BUSY_MS
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
