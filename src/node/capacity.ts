/**
 * Capacity advertisement and discovery (design and numbers: docs/protocol.md, "Finding capacity").
 *
 * Advertising: a signed capacity record, served to anyone who asks over
 * `/depin/capacity/1.0.0` and published in the DHT by `CapacityPublisher`.
 *
 * Finding: every peer that connects is asked once for its record (and a sample of records it
 * knows), so the capacity of connected peers is known without a DHT round trip. `find()` answers
 * from that view when it holds enough matching peers; otherwise it runs one bounded round: direct
 * queries to candidates it holds, samples from a few connected peers, and providers from two
 * shards of the runtime key (rotating, so every shard, and so every node, is read over time).
 * A round makes at most `FIND_QUERY_BUDGET` direct queries and two provider lookups whatever the
 * size of the network, and stops as soon as it has `limit` peers. Every record is verified; only
 * peers that answered themselves (or are connected) are returned, and peers that do not answer
 * are forgotten.
 */
import type { KadDHT } from '@libp2p/kad-dht'
import { logger } from '@libp2p/logger'
import { InvalidMessageError, MessageTooLargeError } from '../errors.ts'
import type { Signer } from '../proofs/signing.ts'
import type { ChannelOpener, ProtocolRegistrar } from '../transport.ts'
import { queryCapacity, serveCapacityQuery, type CapacityAnswer, type CapacityQuery } from './capacity-exchange.ts'
import { capacityKey, verifyCapacityRecord, type Capacity, type CapacityRecord } from './capacity-record.ts'
import { discoveryRound } from './capacity-discovery.ts'
import { CapacityPublisher } from './capacity-publisher.ts'
import { CapacityView, toAdvert, type CapacityViewStats } from './capacity-view.ts'
import {
  CAPABILITY_SHARDS, CAPACITY_GET_QUORUM, CAPACITY_GET_TIMEOUT_MS, CAPACITY_PROTOCOL, CAPACITY_QUERY_TIMEOUT_MS,
  CAPACITY_REQUERY_MARGIN_MS, CAPACITY_SAMPLE_MAX, CAPACITY_SAMPLE_ON_CONNECT, CONNECT_QUERY_CONCURRENCY,
  CONNECT_QUERY_QUEUE_MAX, EXPLORE_MIN_INTERVAL_MS, FIND_CAPACITY_TIMEOUT_MS, FIND_QUERY_BUDGET, FIND_SAMPLE_PEERS,
  FIND_SHARDS_PER_ROUND, MAX_CAPACITY_QUERY_BYTES
} from './constants.ts'
import type { CapacityAdvert, FindCapacityQuery } from '../shared/capacity.ts'

const log = logger('depin:capacity')

export type { CapacityAdvert, FindCapacityQuery }

/** Direct queries of one background exploration round. */
const EXPLORE_QUERY_BUDGET = 8
/** How often connected peers' records are checked for expiry (and re-asked). */
const MAINTENANCE_INTERVAL_MS = 60_000
/** Connected peers re-asked per maintenance tick at most. */
const MAINTENANCE_QUERIES_MAX = 8
/** A peer asked on connect is not asked again on reconnect within this long. */
const ASKED_RECENTLY_MS = 5 * 60 * 1000
const ASKED_MAX = 2048
/** A peer whose bid was above its advertised price is asked for its record again at most this often. */
const REFRESH_MIN_MS = 60_000


/** What the capacity service needs from the node. */
export interface CapacityComponents {
  dht: Pick<KadDHT, 'put' | 'get' | 'provide' | 'findProviders'>
  signer: Signer
  channels: ChannelOpener
  protocols: ProtocolRegistrar
  /** The node's current dialable addresses. */
  multiaddrs: () => string[]
  /** Adds addresses (from a signed record or a provider record) so the peer can be dialled. */
  addPeerAddresses: (peer: string, multiaddrs: string[]) => Promise<void>
  /** Penalises a peer that answered a capacity query with garbage, or sent one (or none in time). */
  reportPeer: (peer: string, action: 'MalformedMessage' | 'Timeout') => void
  /** Peers connected when the service starts. */
  connectedPeers: () => string[]
}

export interface CapacityInit {
  /** Publish and serve this node's own record. @default true */
  advertise?: boolean
}

export interface CapacityStats {
  /** Publishes to the DHT so far. */
  published: number
  lastPublishedAt?: number
  /** Sequence number of this node's current record. */
  seq: number
  /** Records (or answers) dropped because they failed verification. */
  dropped: number
  /** Direct capacity queries made. */
  queries: number
  view: CapacityViewStats
}

function matches (advert: CapacityAdvert, query: FindCapacityQuery, runtime: string): boolean {
  if (!advert.runtimes.includes(runtime)) return false
  if (query.minCores != null && advert.cores < query.minCores) return false
  if (query.minMemoryMiB != null && advert.memoryMiB < query.minMemoryMiB) return false
  if (query.maxPrice != null && advert.pricePerGigafuel > query.maxPrice) return false
  return advert.slots > 0
}


export class CapacityService {
  private readonly components: CapacityComponents
  private readonly advertise: boolean
  private readonly publisher: CapacityPublisher
  private view: CapacityView
  private maintenance?: ReturnType<typeof setInterval>
  private controller?: AbortController
  private readonly asked = new Map<string, number>()
  private readonly connectQueue = new Set<string>()
  private connectRunning = 0
  private lastExplore = 0
  private shardCursor = Math.floor(Math.random() * CAPABILITY_SHARDS)
  private readonly sampledAt = new Map<string, number>()
  private readonly stats = { dropped: 0, queries: 0 }
  /** When each peer was last asked by `refresh` (bounded: the oldest forgotten first). */
  private readonly refreshed = new Map<string, number>()

  constructor (components: CapacityComponents, capacity: Capacity, init: CapacityInit = {}) {
    this.components = components
    this.advertise = init.advertise !== false
    this.view = new CapacityView(components.signer.peerId)
    this.publisher = new CapacityPublisher(components, capacity)
  }

  async start (): Promise<void> {
    if (this.controller != null) return
    this.controller = new AbortController()
    this.view = new CapacityView(this.components.signer.peerId)
    await this.components.protocols.handle(CAPACITY_PROTOCOL, async (channel) => {
      await serveCapacityQuery(channel, (query, from) => this.answer(query, from), this.components.reportPeer)
    }, { maxFrameBytes: MAX_CAPACITY_QUERY_BYTES, idleTimeoutMs: CAPACITY_QUERY_TIMEOUT_MS, maxInboundStreams: 2, maxOutboundStreams: 4 })
    const connected = this.components.connectedPeers()
    for (const peer of connected) this.view.peerConnected(peer)
    if (this.advertise) this.publisher.start(connected.length > 0)
    this.maintenance = setInterval(() => { this.maintain() }, MAINTENANCE_INTERVAL_MS)
    this.maintenance.unref?.()
  }

  async stop (): Promise<void> {
    this.controller?.abort()
    this.controller = undefined
    this.publisher.stop()
    clearInterval(this.maintenance)
    this.maintenance = undefined
    this.connectQueue.clear()
    await this.components.protocols.unhandle(CAPACITY_PROTOCOL).catch(() => {})
  }

  /** What this node advertises. */
  current (): Capacity {
    return this.publisher.current()
  }

  /** Changes the advertised capacity: re-signs at once and re-publishes soon. */
  update (capacity: Partial<Capacity>): void {
    this.publisher.update(capacity)
  }

  /** Asks for a re-publish soon. Coalesces bursts. */
  requestRepublish (): void {
    this.publisher.requestRepublish()
  }

  /** Signs the current capacity and publishes it in the DHT now. */
  async publish (signal?: AbortSignal): Promise<void> {
    await this.publisher.publish(signal)
  }

  getStats (): CapacityStats {
    return { ...this.publisher.getStats(), ...this.stats, view: this.view.stats() }
  }

  /**
   * Verified adverts of peers that are reachable now (connected, or answered within
   * `CAPACITY_REACHABLE_MS`), without any network round trip. Synchronous and cached: the
   * scheduler calls it on every placement.
   */
  cached (): CapacityAdvert[] {
    return this.view.reachable()
  }

  /** A peer connected (libp2p `peer:connect`). */
  peerConnected (peer: string): void {
    this.view.peerConnected(peer)
    if (this.advertise && this.controller != null) this.publisher.peerArrived()
  }

  peerDisconnected (peer: string): void {
    this.view.peerDisconnected(peer)
  }

  /**
   * A dial to the peer failed and it is not connected: it left (or its addresses are stale). It
   * is listed no longer, nor taken from samples, until it connects again or `CAPACITY_UNREACHABLE_MS`.
   */
  peerUnreachable (peer: string): void {
    if (!this.view.isConnected(peer)) this.view.forget(peer)
  }

  /** A peer's protocols are known (libp2p `peer:identify`): ask it for its capacity once. */
  peerIdentified (peer: string, protocols: string[]): void {
    if (this.controller == null || !protocols.includes(CAPACITY_PROTOCOL)) return
    const advert = this.view.get(peer)
    const fresh = advert != null && advert.expiresAt - Date.now() > CAPACITY_REQUERY_MARGIN_MS
    const askedAt = this.asked.get(peer)
    if (fresh || (askedAt != null && Date.now() - askedAt < ASKED_RECENTLY_MS)) return
    this.enqueueConnectQuery(peer)
  }

  /** Finds peers that can run `runtime`, verified, reachable and filtered; see the file comment. */
  async find (query: FindCapacityQuery = {}): Promise<CapacityAdvert[]> {
    const runtime = query.runtime ?? 'wasi-p1'
    const limit = query.limit ?? Number.POSITIVE_INFINITY
    const deadline = AbortSignal.timeout(query.timeoutMs ?? FIND_CAPACITY_TIMEOUT_MS)
    const signal = query.signal != null ? AbortSignal.any([query.signal, deadline]) : deadline
    const collect = (): CapacityAdvert[] => {
      const found = this.view.reachable().filter((a) => matches(a, query, runtime))
      const own = this.advertise ? this.publisher.record() : undefined
      if (query.includeSelf === true && own != null) {
        const self = toAdvert(own.record)
        if (matches(self, query, runtime)) found.push(self)
      }
      return found
    }
    if (collect().length >= limit) {
      this.exploreSoon(runtime)
    } else if (this.controller != null) {
      await this.discover(runtime, (a) => matches(a, query, runtime), FIND_QUERY_BUDGET, () => collect().length >= limit, signal)
    }
    if (query.signal?.aborted === true) throw query.signal.reason
    const connected = (a: CapacityAdvert): number => this.view.isConnected(a.peerId) ? 0 : 1
    return collect()
      .sort((a, b) => a.pricePerGigafuel - b.pricePerGigafuel || connected(a) - connected(b) || b.cores - a.cores)
      .slice(0, limit)
  }

  /**
   * Looks one peer's record up in the DHT (not used by `find`, which asks peers directly):
   * verified, newest wins; the peer becomes a candidate. Undefined when no valid record is found.
   */
  async fetch (peerId: string, signal?: AbortSignal): Promise<CapacityAdvert | undefined> {
    const key = capacityKey(peerId)
    const timeout = AbortSignal.timeout(CAPACITY_GET_TIMEOUT_MS)
    const opts = { signal: signal != null ? AbortSignal.any([signal, timeout]) : timeout }
    let best: { record: CapacityRecord, bytes: Uint8Array } | undefined
    const answered = new Set<string>()
    const consider = (value: Uint8Array, from: string): void => {
      try {
        const record = verifyCapacityRecord(key, value)
        answered.add(from)
        if (best == null || record.body.seq > best.record.body.seq) best = { record, bytes: value }
      } catch (err) {
        this.stats.dropped++
        log('dropped capacity record for %s from %s: %s', peerId, from, (err as Error).message)
      }
    }
    try {
      for await (const event of this.components.dht.get(key, opts)) {
        if (event.name === 'PEER_RESPONSE' && event.record != null) consider(event.record.value, event.from.toString())
        else if (event.name === 'VALUE') consider(event.value, event.from.toString())
        if (answered.has(peerId) || answered.size >= CAPACITY_GET_QUORUM) break
      }
    } catch (err) {
      log('capacity lookup of %s failed: %s', peerId, (err as Error).message)
    }
    if (best == null) return undefined
    this.view.suggest(best.record, best.bytes)
    return toAdvert(best.record)
  }

  /**
   * Asks one peer for its record again (a requester saw it bid above the price its record here
   * advertises: it may have raised its price since). At most once a minute per peer; in the
   * background; the view keeps what the answer confirms.
   */
  refresh (peer: string): void {
    const controller = this.controller
    if (controller == null || peer === this.components.signer.peerId) return
    const now = Date.now()
    if ((this.refreshed.get(peer) ?? 0) > now - REFRESH_MIN_MS) return
    this.refreshed.delete(peer)
    this.refreshed.set(peer, now)
    if (this.refreshed.size > 1024) this.refreshed.delete(this.refreshed.keys().next().value as string)
    void this.ask(peer, 'wasi-p1', 0, AbortSignal.any([controller.signal, AbortSignal.timeout(CAPACITY_QUERY_TIMEOUT_MS)]))
  }

  /** Builds the answer to a capacity query: our record and a random sample of reachable peers. */
  private answer (query: CapacityQuery, from: string): CapacityAnswer {
    const wanted = Math.min(query.sample, CAPACITY_SAMPLE_MAX)
    const pool = wanted > 0 ? this.view.reachable().filter((a) => a.peerId !== from && a.runtimes.includes(query.runtime)) : []
    const sample: Uint8Array[] = []
    for (let i = 0; i < pool.length && sample.length < wanted; i++) {
      const j = i + Math.floor(Math.random() * (pool.length - i));
      [pool[i], pool[j]] = [pool[j], pool[i]]
      const bytes = this.view.bytesOf(pool[i].peerId)
      if (bytes != null) sample.push(bytes)
    }
    const own = this.advertise ? this.publisher.record() : undefined
    return { t: 'capacity', ...(own != null ? { record: own.bytes } : {}), sample }
  }

  /**
   * Asks one peer directly. Its own record confirms it; sampled records become candidates. A
   * peer that does not answer is forgotten; one that answers with garbage also loses score.
   */
  private async ask (peer: string, runtime: string, sample: number, signal?: AbortSignal): Promise<boolean> {
    this.stats.queries++
    this.markAsked(peer)
    try {
      const reply = await queryCapacity(this.components.channels, peer, { runtime, sample }, { signal })
      this.stats.dropped += reply.dropped
      for (const item of reply.sample) {
        if (this.view.suggest(item.record, item.bytes)) {
          void this.components.addPeerAddresses(item.record.body.peer, item.record.body.multiaddrs).catch(() => {})
        }
      }
      if (reply.own == null) {
        // A peer that advertises nothing is asked again only after a while (see `asked`).
        this.view.forget(peer)
        return false
      }
      this.view.confirm(reply.own.record, reply.own.bytes)
      return true
    } catch (err) {
      if (signal?.aborted === true && !(err instanceof InvalidMessageError || err instanceof MessageTooLargeError)) return false
      if (err instanceof InvalidMessageError || err instanceof MessageTooLargeError) {
        this.stats.dropped++
        this.components.reportPeer(peer, 'MalformedMessage')
      }
      log('capacity query to %s failed: %s', peer, (err as Error).message)
      this.view.forget(peer)
      return false
    }
  }

  /** One bounded discovery round (capacity-discovery.ts) with this node's samplers and next shards. */
  private async discover (runtime: string, wanted: (a: CapacityAdvert) => boolean, budget: number, enough: () => boolean, signal: AbortSignal): Promise<void> {
    // Samples from the connected peers asked longest ago.
    const samplers = this.view.connectedPeers()
      .sort((a, b) => (this.sampledAt.get(a) ?? 0) - (this.sampledAt.get(b) ?? 0))
      .slice(0, FIND_SAMPLE_PEERS)
    for (const peer of samplers) {
      this.sampledAt.delete(peer)
      this.sampledAt.set(peer, Date.now())
    }
    while (this.sampledAt.size > ASKED_MAX) this.sampledAt.delete(this.sampledAt.keys().next().value as string)
    const shards = Array.from({ length: FIND_SHARDS_PER_ROUND }, () => {
      const shard = this.shardCursor
      this.shardCursor = (this.shardCursor + 1) % CAPABILITY_SHARDS
      return shard
    })
    await discoveryRound({
      view: this.view,
      self: this.components.signer.peerId,
      findProviders: this.components.dht.findProviders.bind(this.components.dht),
      addPeerAddresses: this.components.addPeerAddresses,
      ask: async (peer, rt, sample, s) => await this.ask(peer, rt, sample, s)
    }, { runtime, wanted, budget, enough, samplers, shards, signal })
  }

  /** After an answer from the view alone: explore a little in the background, now and then. */
  private exploreSoon (runtime: string): void {
    const controller = this.controller
    if (controller == null || Date.now() - this.lastExplore < EXPLORE_MIN_INTERVAL_MS) return
    this.lastExplore = Date.now()
    // After the caller has its answer.
    setTimeout(() => {
      if (controller.signal.aborted) return
      const signal = AbortSignal.any([controller.signal, AbortSignal.timeout(FIND_CAPACITY_TIMEOUT_MS)])
      this.discover(runtime, (a) => a.runtimes.includes(runtime) && a.slots > 0, EXPLORE_QUERY_BUDGET, () => false, signal)
        .catch((err) => { log('background discovery failed: %e', err) })
    }, 0)
  }

  private enqueueConnectQuery (peer: string): void {
    if (this.connectQueue.has(peer) || this.connectQueue.size >= CONNECT_QUERY_QUEUE_MAX) return
    this.connectQueue.add(peer)
    this.drainConnectQueue()
  }

  private drainConnectQueue (): void {
    const controller = this.controller
    while (controller != null && this.connectRunning < CONNECT_QUERY_CONCURRENCY && this.connectQueue.size > 0) {
      const peer = this.connectQueue.values().next().value as string
      this.connectQueue.delete(peer)
      this.connectRunning++
      void this.ask(peer, this.publisher.current().runtimes[0] ?? 'wasi-p1', CAPACITY_SAMPLE_ON_CONNECT, controller.signal)
        .finally(() => {
          this.connectRunning--
          this.drainConnectQueue()
        })
    }
  }

  private markAsked (peer: string): void {
    this.asked.delete(peer)
    this.asked.set(peer, Date.now())
    if (this.asked.size > ASKED_MAX) this.asked.delete(this.asked.keys().next().value as string)
  }

  /** Re-asks connected peers whose records are about to run out (a few per tick). */
  private maintain (): void {
    for (const peer of this.view.connectedExpiringWithin(CAPACITY_REQUERY_MARGIN_MS).slice(0, MAINTENANCE_QUERIES_MAX)) {
      const askedAt = this.asked.get(peer)
      if (askedAt == null || Date.now() - askedAt > ASKED_RECENTLY_MS) this.enqueueConnectQuery(peer)
    }
  }
}
