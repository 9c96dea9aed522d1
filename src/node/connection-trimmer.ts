/**
 * Keeps a node's connections within its bound.
 *
 * libp2p's own pruner closes a connection only when every stream on it belongs to identify or
 * autonat; gossipsub keeps a stream open on every connection to a subscriber, so in a depin
 * network the pruner never closes anything and every DHT walk left its connections behind (the
 * full mesh of the scale issue). This trimmer runs when connections pass `maxConnections`, every
 * 10 s, and, when a check leaves the node above its bound because peers are spared, again as the
 * first of those spares ends (a newcomer's grace, a fresh dial's, a request's `INBOUND_BUSY_MS`):
 * a node over its bound comes back to it then, without waiting for a new connection or the next
 * interval.
 *
 * Never closed: peers kept alive by a `keep-alive` tag (bootstrap peers; not kad-dht's, see
 * below), peers with a stream in use (a negotiation, a task, a sync, a DHT request) and peers
 * this node dialled less than 5 s ago (the request it dialled them for is about to open its
 * stream). Of the rest, established peers go the least valuable first by peer-store tags (gossip
 * mesh peers carry 100 per topic) and, among equals, the most recently connected first, except
 * the best peer of each of a few network groups (below); newcomers go the newest first.
 *
 * A newcomer never costs an established peer its place (as in Bitcoin Core's eviction, where a
 * new inbound peer cannot push out the long-connected ones). A peer is a newcomer for its grace
 * (30 s after this node dialled it, 5 s after it dialled in), established after. Established
 * peers are trimmed down to `lowWater` counting established peers alone, so newcomers, however
 * many, close none of them; each trim thereby leaves `maxConnections - lowWater` places for
 * newcomers (a restarting peer gets back in). Past that, newcomers are closed, the newest first,
 * until the node is within `maxConnections`: when the node is full it is the newcomer that goes.
 *
 * Network groups (net-group.ts: an IPv4 /16, an IPv6 /32): an attacker holds many addresses in
 * one group cheaply (a cloud provider's block), many groups dearly. By age alone a crowd from one
 * block, connected long ago, outranks newer honest peers of equal value, and with time holds
 * every place: an eclipse. So of the established peers, the best (most valuable, then longest
 * connected) of each of up to a quarter of `lowWater` groups keeps its place ahead of value and
 * age, the groups with the fewest peers first (a crowd's group comes last). This only protects,
 * and a bounded number of places: an attacker with many groups, against a node whose honest
 * peers share one group (a LAN, a loopback testnet), changes at most that many of its choices.
 * Closing from the most crowded group first, without such a bound, would let an attacker with a
 * handful of groups evict those honest peers instead. Groups where this node keeps a peer need no
 * protection; newcomers and requests in flight do not count towards a group's size (they are
 * what is cheap to make in an honest peer's block). No cap on connections per group at
 * admission: the newcomer rule already keeps a flood from costing established peers anything,
 * and such a cap would refuse honest peers that share a block (a datacenter's nodes), a
 * requester dialling its worker among them.
 *
 * What a remote peer controls does not buy it a place (else attackers keep their connections
 * and the trimmer closes the honest ones: an eclipse):
 * - a flood of fresh inbound connections (from many hosts, so per-host limits do not stop it) is
 *   what the newcomer rule is for: it fills the free places and the rest is closed at once; once
 *   past their grace, those peers are the newest established ones and go first at the next trim.
 *   The same holds for peers this node was made to dial (kad query answers full of an
 *   attacker's ids): newcomers, closed first, never in place of an established peer.
 * - an inbound stream is "in use" only while it is young (`INBOUND_BUSY_MS`), unless its
 *   protocol is long-lived by design and costly to open (a lease: the worker signed it and the
 *   requester must be able to pay). A DHT stream kept open with a PING every few seconds is not
 *   a request in progress. And a request spares its peer for the moment but holds it no place:
 *   a peer that opens a fresh request every few seconds is never closed mid-request, but is not
 *   counted against `lowWater` either, so it cannot make the trimmer close another peer. Streams
 *   this node opened are in use for as long as they are open, and hold their peer's place.
 * - kad-dht's closeness (its `keep-alive-kad-dht` and `kad-close` tags) earns neither the
 *   exemption nor tag value: kad ids are cheap to grind close to a victim's, so the 20 closest
 *   peers may all be an attacker's. Nor does the connection's direction help an established
 *   peer: this node dials such peers itself (kad queries and refreshes). Other keep-alive tags
 *   (bootstrap peers) are this node's own choice and still count. Kad's closest peers are kept
 *   like any other by their value and age, and kad dials a peer again when a query needs it (its
 *   keep-alive tag, which made libp2p redial a trimmed peer, is taken off: kad-keep-alive.ts).
 *
 * So under a flood the node may sit above `maxConnections` while requests are in flight (libp2p
 * refuses inbound connections past 1.5 times it), but its established peers stay.
 */
import { KEEP_ALIVE, type Connection, type Libp2p, type PeerId, type Stream } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import { KAD_KEEP_ALIVE_TAG } from './kad-keep-alive.ts'
import { netGroup } from './net-group.ts'
import { planTrim, type TrimPeer } from './trim-plan.ts'

export { planTrim, distinctGroupPeers, type TrimPeer, type TrimBounds } from './trim-plan.ts'

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
/** kad-dht's tags on its closest peers (its default close tag and its keep-alive tag): not counted (see above). */
const KAD_CLOSENESS_TAGS = new Set(['kad-close', KAD_KEEP_ALIVE_TAG])
/**
 * A peer that dialled in is a newcomer this long (instead of `graceMs`): long enough to open the
 * request it came for (which then spares it). A newcomer holds no place (see `planTrim`), so a
 * flood of them cannot push out the node's established peers.
 */
export const INBOUND_GRACE_MS = 5_000
/**
 * A peer this node dialled is a newcomer this long: the connections a DHT walk leaves behind
 * stay newcomers, closed first, rather than count against the established peers.
 */
const GRACE_MS = 30_000
/**
 * A peer this node dialled is never closed this long: the request it was dialled for opens its
 * stream (which then keeps it) well within it.
 */
const DIAL_GRACE_MS = 5_000
/**
 * The share of `lowWater` kept for peers from distinct network groups: enough that a crowd from
 * one address block cannot hold every place (an eclipse needs them all), small enough that an
 * attacker with many groups changes few of the node's choices (see `distinctGroupPeers`).
 */
const DISTINCT_GROUP_SHARE = 0.25
/** How often the bound is checked besides on new connections and when a spare ends. */
const CHECK_INTERVAL_MS = 10_000
/** New connections trigger at most one check per this long. */
const DEBOUNCE_MS = 500

export interface ConnectionTrimmerInit {
  maxConnections: number
  /** Established peers are trimmed down to this many (see `planTrim`). @default 80 % of maxConnections */
  lowWater?: number
  /** Places kept for peers from distinct network groups (see `distinctGroupPeers`). @default a quarter of lowWater */
  distinctGroups?: number
  /** A peer this node dialled is a newcomer this long. @default 30 s */
  graceMs?: number
  /** A peer that dialled in is a newcomer this long (at most `graceMs`). @default INBOUND_GRACE_MS */
  inboundGraceMs?: number
  /** Protocols whose inbound streams count as in use however old they are (e.g. the lease protocol). */
  longLivedInbound?: Iterable<string>
  /** How often the bound is checked regardless. @default 10 s */
  checkIntervalMs?: number
  /** Injected clock for tests. */
  now?: () => number
}

type TrimmerHost = Pick<Libp2p, 'getConnections' | 'peerStore' | 'hangUp' | 'addEventListener' | 'removeEventListener'>

export class ConnectionTrimmer {
  private readonly host: TrimmerHost
  private readonly maxConnections: number
  private readonly lowWater: number
  private readonly distinctGroups: number
  private readonly graceMs: number
  private readonly inboundGraceMs: number
  private readonly dialGraceMs: number
  private readonly longLivedInbound: Set<string>
  private readonly checkIntervalMs: number
  private readonly now: () => number
  private interval?: ReturnType<typeof setInterval>
  private pending?: ReturnType<typeof setTimeout>
  /** The check when the first spare ends, while the node is above its bound (see `recheck`). */
  private recheckTimer?: ReturnType<typeof setTimeout>
  private running = false
  /** A check was asked for while one ran (a new connection): run again when it ends. */
  private again = false
  private trimmed = 0

  constructor (host: TrimmerHost, init: ConnectionTrimmerInit) {
    this.host = host
    this.maxConnections = init.maxConnections
    this.lowWater = Math.max(1, Math.min(init.maxConnections, init.lowWater ?? Math.floor(init.maxConnections * 0.8)))
    this.distinctGroups = Math.max(0, Math.min(this.lowWater, init.distinctGroups ?? Math.max(1, Math.floor(this.lowWater * DISTINCT_GROUP_SHARE))))
    this.graceMs = init.graceMs ?? GRACE_MS
    this.inboundGraceMs = Math.min(this.graceMs, init.inboundGraceMs ?? INBOUND_GRACE_MS)
    this.dialGraceMs = Math.min(this.graceMs, DIAL_GRACE_MS)
    this.longLivedInbound = new Set(init.longLivedInbound ?? [])
    this.checkIntervalMs = init.checkIntervalMs ?? CHECK_INTERVAL_MS
    this.now = init.now ?? Date.now
    this.onOpen = this.onOpen.bind(this)
  }

  start (): void {
    this.host.addEventListener('connection:open', this.onOpen)
    this.interval = setInterval(() => { void this.trim() }, this.checkIntervalMs)
    this.interval.unref?.()
  }

  stop (): void {
    this.host.removeEventListener('connection:open', this.onOpen)
    clearInterval(this.interval)
    clearTimeout(this.pending)
    clearTimeout(this.recheckTimer)
    this.interval = undefined
    this.pending = undefined
    this.recheckTimer = undefined
  }

  /** Connections closed by the trimmer so far. */
  get closed (): number {
    return this.trimmed
  }

  /** Closes connections when over the bound, as `planTrim` decides. */
  async trim (): Promise<void> {
    if (this.running) {
      this.again = true
      return
    }
    if (this.host.getConnections().length <= this.maxConnections) return
    this.running = true
    try {
      const { peers, nextChange } = await this.judge()
      const closing = planTrim(peers, { maxConnections: this.maxConnections, lowWater: this.lowWater, distinctGroups: this.distinctGroups })
      for (const peer of closing) this.trimmed += peer.connections
      await Promise.all(closing.map(async (peer) => { await this.close(peer.id) }))
      if (closing.length > 0) log('trimmed %d peers, %d connections left', closing.length, this.host.getConnections().length)
      const left = this.host.getConnections().length
      if (left > this.maxConnections) {
        // Why the node stays above its bound (the peers planTrim spared), for a churn or flood run.
        const spared = peers.filter((p) => !closing.includes(p))
        log('still %d connections (bound %d): %d peers kept, %d requesting, %d newcomers', left, this.maxConnections,
          spared.filter((p) => p.kept).length, spared.filter((p) => p.requesting && !p.kept).length, spared.filter((p) => p.newcomer && !p.kept && !p.requesting).length)
        this.recheck(nextChange)
      }
    } finally {
      this.running = false
      // Connections that opened meanwhile are checked now, not at the next interval (on a busy
      // event loop a check takes a while, and a burst of connections would wait 10 s).
      if (this.again && this.interval != null) {
        this.again = false
        void this.trim()
      }
    }
  }

  /**
   * Still above the bound after a check: checks again when the first spare ends (`nextChange`,
   * on this trimmer's clock), unless the interval comes first. One timer at a time, at least
   * `DEBOUNCE_MS` away (no busy loop); only while started; cancelled by stop().
   */
  private recheck (nextChange: number): void {
    if (this.interval == null || this.recheckTimer != null || !Number.isFinite(nextChange)) return
    const delay = Math.max(DEBOUNCE_MS, nextChange - this.now() + 1)
    if (delay >= this.checkIntervalMs) return
    this.recheckTimer = setTimeout(() => {
      this.recheckTimer = undefined
      void this.trim()
    }, delay)
    this.recheckTimer.unref?.()
  }

  /**
   * The node's peers as `planTrim` sees them (see the module comment), and when the first of
   * their spares that time ends (grace, dial grace, a request's busy time): the judgement may
   * change then. Infinity if none does.
   */
  private async judge (): Promise<{ peers: Array<TrimPeer<PeerId>>, nextChange: number }> {
    const byPeer = new Map<string, { id: PeerId, connections: Connection[] }>()
    for (const connection of this.host.getConnections()) {
      const key = connection.remotePeer.toString()
      const entry = byPeer.get(key) ?? { id: connection.remotePeer, connections: [] }
      entry.connections.push(connection)
      byPeer.set(key, entry)
    }
    const now = this.now()
    let nextChange = Infinity
    const endsAt = (time: number): void => { if (time > now && time < nextChange) nextChange = time }
    // The peer-store reads run together: one at a time, on a busy event loop (a testnet of many
    // nodes in one process) a check took seconds.
    const peers = await Promise.all([...byPeer.values()].map(async ({ id, connections }) => {
      // A peer is as old as its oldest connection; that one's direction sets its grace.
      const oldest = connections.reduce((a, b) => b.timeline.open < a.timeline.open ? b : a)
      const grace = oldest.direction === 'inbound' ? this.inboundGraceMs : this.graceMs
      // A stream still negotiating its protocol ('') is not idle: this node's is a request starting.
      const streams = connections.flatMap((c) => c.streams).filter((s) => s.protocol != null && !IDLE_PROTOCOLS.has(s.protocol))
      const inUse = streams.some((s) => this.ownUse(s)) ||
        connections.some((c) => c.direction === 'outbound' && now - c.timeline.open < this.dialGraceMs)
      endsAt(oldest.timeline.open + grace)
      for (const c of connections) if (c.direction === 'outbound') endsAt(c.timeline.open + this.dialGraceMs)
      for (const s of streams) if (!this.ownUse(s)) endsAt(s.timeline.open + INBOUND_BUSY_MS)
      // Tags decide only for peers not already kept by this node's use.
      const { value, keepAlive } = inUse ? { value: 0, keepAlive: false } : await this.tags(id)
      return {
        id,
        connections: connections.length,
        since: oldest.timeline.open,
        newcomer: now - oldest.timeline.open < grace,
        kept: inUse || keepAlive,
        requesting: streams.some((s) => !this.ownUse(s) && now - s.timeline.open < INBOUND_BUSY_MS),
        value,
        group: netGroup(oldest.remoteAddr)
      }
    }))
    return { peers, nextChange }
  }

  /** A peer's tag value and whether this node keeps it alive (kad closeness counts for neither, see above). */
  private async tags (id: PeerId): Promise<{ value: number, keepAlive: boolean }> {
    let value = 0
    let keepAlive = false
    try {
      for (const [name, tag] of (await this.host.peerStore.get(id)).tags) {
        if (KAD_CLOSENESS_TAGS.has(name)) continue
        if (name.startsWith(KEEP_ALIVE)) keepAlive = true
        value += tag.value
      }
    } catch {}
    return { value, keepAlive }
  }

  /**
   * Hangs up on a peer. Kad's keep-alive tag goes first (the node takes it off as kad puts it on,
   * see kad-keep-alive.ts; this covers a trimmer on a host without that): libp2p redials a
   * keep-alive peer as soon as it disconnects, and the redialled connection would be trimmed
   * again in turn: a loop of dials and trims.
   */
  private async close (id: PeerId): Promise<void> {
    try {
      await this.host.peerStore.merge(id, { tags: { [KAD_KEEP_ALIVE_TAG]: undefined } })
    } catch {}
    await this.host.hangUp(id, { signal: AbortSignal.timeout(2_000) }).catch((err) => { log('closing %p failed: %e', id, err) })
  }

  /** A (non-idle) stream this node opened, or a long-lived inbound one: in use while open. */
  private ownUse (stream: Stream): boolean {
    return stream.direction === 'outbound' || this.longLivedInbound.has(stream.protocol ?? '')
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
