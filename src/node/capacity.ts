/**
 * Capacity advertisement and discovery (design and numbers: docs/protocol.md, "Finding capacity").
 *
 * Advertising: a signed capacity record, served to anyone who asks over
 * `/depin/capacity/1.0.0`, also PUT in the DHT under `/depin-capacity/<peer id>`, and a provider
 * record under this peer's shard of each runtime key. Published once the node has a peer, once
 * more when the neighbourhood has settled, then 20 minutes before the record expires (and at
 * once when the capacity changes) — not on every new connection.
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
import {
  capacityKey, runtimeShardKey, shardOf, signCapacityRecord, verifyCapacityRecord, verifyCapacityRecordOf,
  type Capacity, type CapacityRecord
} from './capacity-record.ts'
import { CapacityView, toAdvert, type CapacityAdvert, type CapacityViewStats } from './capacity-view.ts'
import {
  CAPABILITY_SHARDS, CAPACITY_GET_QUORUM, CAPACITY_GET_TIMEOUT_MS, CAPACITY_PROTOCOL, CAPACITY_QUERY_TIMEOUT_MS,
  CAPACITY_RECORD_TTL_MS, CAPACITY_REFRESH_MARGIN_MS, CAPACITY_REQUERY_MARGIN_MS, CAPACITY_SAMPLE_MAX,
  CAPACITY_SAMPLE_ON_CONNECT, CONNECT_QUERY_CONCURRENCY, CONNECT_QUERY_QUEUE_MAX, EXPLORE_MIN_INTERVAL_MS,
  FIND_CAPACITY_CONCURRENCY, FIND_CAPACITY_TIMEOUT_MS, FIND_QUERY_BUDGET, FIND_SAMPLE_PEERS, FIND_SHARDS_PER_ROUND,
  FIRST_PUBLISH_DELAY_MS, MAX_CAPACITY_QUERY_BYTES, MAX_PROVIDERS_PER_SHARD,
  SETTLE_PUBLISH_DELAY_MS
} from './constants.ts'

export type { CapacityAdvert } from './capacity-view.ts'

const log = logger('depin:capacity')

/** Direct queries of one background exploration round. */
const EXPLORE_QUERY_BUDGET = 8
/** How often connected peers' records are checked for expiry (and re-asked). */
const MAINTENANCE_INTERVAL_MS = 60_000
/** Connected peers re-asked per maintenance tick at most. */
const MAINTENANCE_QUERIES_MAX = 8
/** A peer asked on connect is not asked again on reconnect within this long. */
const ASKED_RECENTLY_MS = 5 * 60 * 1000
const ASKED_MAX = 2048

export interface FindCapacityQuery {
  /** Runtime the peer must offer. @default 'wasi-p1' */
  runtime?: string
  minCores?: number
  minMemoryMiB?: number
  /** Highest acceptable price in credits per CPU-second. */
  maxPrice?: number
  /** Stop after this many matching peers. @default unlimited */
  limit?: number
  /** Include this node's own record. @default false */
  includeSelf?: boolean
  signal?: AbortSignal
  /** Overall deadline; what was found by then is returned. @default 15 s */
  timeoutMs?: number
}

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
  /** Penalises a peer that answered a capacity query with garbage. */
  reportPeer: (peer: string, action: 'MalformedMessage') => void
  /** Peers connected when the service starts. */
  connectedPeers: () => string[]
}

export interface CapacityInit {
  /** Publish and serve this node's own record. @default true */
  advertise?: boolean
}

export interface CapacityStats {
  published: number
  lastPublishedAt?: number
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
  if (query.maxPrice != null && advert.pricePerCpuSecond > query.maxPrice) return false
  return advert.slots > 0
}

interface Target { peer: string, addrs: string[] }

/** Spread of the periodic re-publish, so nodes started together do not publish together. */
const PUBLISH_JITTER_MS = 5 * 60 * 1000

/** Between half and one and a half times `ms`: nodes that start together publish apart. */
function jitter (ms: number): number {
  return ms * (0.5 + Math.random())
}

export class CapacityService {
  private readonly components: CapacityComponents
  private readonly advertise: boolean
  private capacity: Capacity
  private seq = 0
  private own?: { record: CapacityRecord, bytes: Uint8Array }
  private view: CapacityView
  private timer?: ReturnType<typeof setTimeout>
  private maintenance?: ReturnType<typeof setInterval>
  private publishing?: Promise<void>
  private republishWanted = false
  private waitingForPeer = false
  private settled = false
  private controller?: AbortController
  private readonly asked = new Map<string, number>()
  private readonly connectQueue = new Set<string>()
  private connectRunning = 0
  private lastExplore = 0
  private shardCursor = Math.floor(Math.random() * CAPABILITY_SHARDS)
  private readonly sampledAt = new Map<string, number>()
  private readonly stats = { published: 0, seq: 0, dropped: 0, queries: 0, lastPublishedAt: undefined as number | undefined }

  constructor (components: CapacityComponents, capacity: Capacity, init: CapacityInit = {}) {
    this.components = components
    this.capacity = capacity
    this.advertise = init.advertise !== false
    this.view = new CapacityView(components.signer.peerId)
  }

  async start (): Promise<void> {
    if (this.controller != null) return
    this.controller = new AbortController()
    this.view = new CapacityView(this.components.signer.peerId)
    await this.components.protocols.handle(CAPACITY_PROTOCOL, async (channel) => {
      await serveCapacityQuery(channel, (query, from) => this.answer(query, from))
    }, { maxFrameBytes: MAX_CAPACITY_QUERY_BYTES, idleTimeoutMs: CAPACITY_QUERY_TIMEOUT_MS, maxInboundStreams: 2, maxOutboundStreams: 4 })
    for (const peer of this.components.connectedPeers()) this.view.peerConnected(peer)
    if (this.advertise) {
      this.sign()
      this.waitingForPeer = true
      if (this.components.connectedPeers().length > 0) this.peerArrived()
    }
    this.maintenance = setInterval(() => { this.maintain() }, MAINTENANCE_INTERVAL_MS)
    this.maintenance.unref?.()
  }

  async stop (): Promise<void> {
    this.controller?.abort()
    this.controller = undefined
    clearTimeout(this.timer)
    clearInterval(this.maintenance)
    this.timer = undefined
    this.maintenance = undefined
    this.connectQueue.clear()
    await this.components.protocols.unhandle(CAPACITY_PROTOCOL).catch(() => {})
  }

  /** What this node advertises. */
  current (): Capacity {
    return { ...this.capacity, runtimes: [...this.capacity.runtimes] }
  }

  /** Changes the advertised capacity: re-signs at once and re-publishes soon. */
  update (capacity: Partial<Capacity>): void {
    this.capacity = { ...this.capacity, ...capacity }
    if (!this.advertise || this.controller == null) return
    this.sign()
    if (!this.waitingForPeer) this.schedulePublish(0)
  }

  /** Asks for a re-publish soon. Coalesces bursts. */
  requestRepublish (): void {
    if (!this.waitingForPeer) this.schedulePublish(250)
  }

  getStats (): CapacityStats {
    return { ...this.stats, view: this.view.stats() }
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
    if (this.waitingForPeer) this.peerArrived()
  }

  peerDisconnected (peer: string): void {
    this.view.peerDisconnected(peer)
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

  /**
   * Signs the current capacity and publishes this node's shard provider records and (except on
   * the first publish after start, when the node knows few peers and peers ask it directly
   * anyway) the record itself.
   */
  async publish (signal?: AbortSignal, options: { record?: boolean } = {}): Promise<void> {
    const { dht, signer } = this.components
    const value = this.sign()
    const opts = { signal }
    let puts = 0
    if (options.record !== false) {
      for await (const event of dht.put(capacityKey(signer.peerId), value, opts)) {
        if (event.name === 'PEER_RESPONSE') puts++
      }
    }
    const shard = shardOf(signer.peerId)
    for (const runtime of this.capacity.runtimes) {
      for await (const _ of dht.provide(runtimeShardKey(runtime, shard), opts)) {} // eslint-disable-line no-empty
    }
    this.stats.published++
    this.stats.lastPublishedAt = Date.now()
    log('published capacity record seq %d to %d peers, provider of shard %d', this.seq, puts, shard)
  }

  /** Finds peers that can run `runtime`, verified, reachable and filtered; see the file comment. */
  async find (query: FindCapacityQuery = {}): Promise<CapacityAdvert[]> {
    const runtime = query.runtime ?? 'wasi-p1'
    const limit = query.limit ?? Number.POSITIVE_INFINITY
    const deadline = AbortSignal.timeout(query.timeoutMs ?? FIND_CAPACITY_TIMEOUT_MS)
    const signal = query.signal != null ? AbortSignal.any([query.signal, deadline]) : deadline
    const collect = (): CapacityAdvert[] => {
      const found = this.view.reachable().filter((a) => matches(a, query, runtime))
      if (query.includeSelf === true && this.own != null) {
        const self = toAdvert(this.own.record)
        if (matches(self, query, runtime)) found.push(self)
      }
      return found
    }
    if (collect().length >= limit) {
      this.exploreSoon(runtime)
    } else if (this.controller != null) {
      await this.discover(runtime, query, FIND_QUERY_BUDGET, () => collect().length >= limit, signal)
    }
    if (query.signal?.aborted === true) throw query.signal.reason
    const connected = (a: CapacityAdvert): number => this.view.isConnected(a.peerId) ? 0 : 1
    return collect()
      .sort((a, b) => a.pricePerCpuSecond - b.pricePerCpuSecond || connected(a) - connected(b) || b.cores - a.cores)
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
    return { t: 'capacity', ...(this.advertise && this.own != null ? { record: this.own.bytes } : {}), sample }
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

  /**
   * One bounded discovery round: direct queries to candidates, samples from a few connected
   * peers, providers from the next shards of the runtime key. Ends when `enough()`, when the
   * budget of direct queries is spent, when every source is exhausted, or at `signal`.
   */
  private async discover (runtime: string, query: FindCapacityQuery, budget: number, enough: () => boolean, outer: AbortSignal): Promise<void> {
    const round = new AbortController()
    const signal = AbortSignal.any([outer, round.signal])
    const tried = new Set<string>()
    const queue: Target[] = []
    let sources = 0
    const waiters: Array<() => void> = []
    const wake = (): void => { waiters.splice(0).forEach((w) => { w() }) }
    const push = (target: Target): void => {
      if (tried.has(target.peer) || this.view.isUnreachable(target.peer) || target.peer === this.components.signer.peerId) return
      if (this.view.reachable().some((a) => a.peerId === target.peer)) return
      queue.push(target)
      wake()
    }
    const source = (work: () => Promise<void>): Promise<void> => {
      sources++
      return work().catch((err) => { if (!signal.aborted) log('discovery source failed: %e', err) })
        .finally(() => { sources--; wake() })
    }

    for (const advert of this.view.candidates()) if (matches(advert, query, runtime)) push({ peer: advert.peerId, addrs: advert.multiaddrs })
    const feeds: Array<Promise<void>> = []
    // Samples from connected peers, the ones asked longest ago first.
    const connected = this.view.connectedPeers()
      .sort((a, b) => (this.sampledAt.get(a) ?? 0) - (this.sampledAt.get(b) ?? 0))
      .slice(0, FIND_SAMPLE_PEERS)
    for (const peer of connected) {
      feeds.push(source(async () => {
        if (budget <= 0) return
        budget--
        tried.add(peer)
        this.sampledAt.set(peer, Date.now())
        if (this.sampledAt.size > ASKED_MAX) this.sampledAt.delete(this.sampledAt.keys().next().value as string)
        const before = new Set(this.view.candidates().map((a) => a.peerId))
        await this.ask(peer, runtime, CAPACITY_SAMPLE_MAX, signal)
        for (const advert of this.view.candidates()) {
          if (!before.has(advert.peerId) && matches(advert, query, runtime)) push({ peer: advert.peerId, addrs: advert.multiaddrs })
        }
      }))
    }
    // Providers from the next shards.
    for (let i = 0; i < FIND_SHARDS_PER_ROUND; i++) {
      const shard = this.shardCursor
      this.shardCursor = (this.shardCursor + 1) % CAPABILITY_SHARDS
      feeds.push(source(async () => { await this.readShard(runtime, shard, signal, push) }))
    }

    const worker = async (): Promise<void> => {
      while (!signal.aborted && !enough() && budget > 0) {
        const next = queue.shift()
        if (next == null) {
          if (sources === 0) return
          await new Promise<void>((resolve) => {
            waiters.push(resolve)
            signal.addEventListener('abort', () => { resolve() }, { once: true })
          })
          continue
        }
        if (tried.has(next.peer)) continue
        tried.add(next.peer)
        budget--
        if (next.addrs.length > 0) await this.components.addPeerAddresses(next.peer, next.addrs).catch(() => {})
        await this.ask(next.peer, runtime, 0, signal)
      }
    }
    await Promise.all(Array.from({ length: FIND_CAPACITY_CONCURRENCY }, worker))
    round.abort()
    wake()
    await Promise.all(feeds)
  }

  /** Reads one shard's providers (at most `MAX_PROVIDERS_PER_SHARD`, only those the shard can hold). */
  private async readShard (runtime: string, shard: number, signal: AbortSignal, push: (target: Target) => void): Promise<void> {
    let taken = 0
    for await (const event of this.components.dht.findProviders(runtimeShardKey(runtime, shard), { signal })) {
      if (event.name !== 'PROVIDER') continue
      for (const provider of event.providers) {
        const peer = provider.id.toString()
        // [IGNORE] a provider whose peer id does not hash to this shard does not belong here.
        if (shardOf(peer) !== shard) continue
        push({ peer, addrs: provider.multiaddrs.slice(0, 16).map((m) => m.toString()) })
        if (++taken >= MAX_PROVIDERS_PER_SHARD) return
      }
    }
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
      this.discover(runtime, {}, EXPLORE_QUERY_BUDGET, () => false, signal)
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
      void this.ask(peer, this.capacity.runtimes[0] ?? 'wasi-p1', CAPACITY_SAMPLE_ON_CONNECT, controller.signal)
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

  /** Signs the current capacity into this node's own record. */
  private sign (): Uint8Array {
    this.seq = Math.max(this.seq + 1, Date.now())
    const bytes = signCapacityRecord(this.components.signer, this.capacity, { seq: this.seq, multiaddrs: this.components.multiaddrs() })
    this.own = { record: verifyCapacityRecordOf(bytes), bytes }
    this.stats.seq = this.seq
    return bytes
  }

  private peerArrived (): void {
    this.waitingForPeer = false
    this.schedulePublish(jitter(FIRST_PUBLISH_DELAY_MS))
  }

  private schedulePublish (delayMs: number): void {
    if (this.controller == null) return
    if (this.publishing != null) {
      this.republishWanted = true
      return
    }
    clearTimeout(this.timer)
    this.timer = setTimeout(() => { this.runPublish() }, delayMs)
    this.timer.unref?.()
  }

  private runPublish (): void {
    const controller = this.controller
    if (controller == null) return
    this.publishing = this.publish(controller.signal, { record: this.stats.published > 0 })
      .catch((err) => { if (!controller.signal.aborted) log('publishing capacity failed: %e', err) })
      .finally(() => {
        this.publishing = undefined
        if (this.controller == null) return
        if (this.republishWanted) {
          this.republishWanted = false
          this.schedulePublish(250)
        } else if (!this.settled) {
          this.settled = true
          this.schedulePublish(jitter(SETTLE_PUBLISH_DELAY_MS))
        } else {
          this.schedulePublish(CAPACITY_RECORD_TTL_MS - CAPACITY_REFRESH_MARGIN_MS - Math.random() * PUBLISH_JITTER_MS)
        }
      })
  }
}
