/**
 * Capacity advertisement and discovery through the DHT.
 *
 * Publishing: a signed capacity record under `/depin-capacity/<peer id>` and a provider record for
 * each runtime capability key, re-published before the record expires and whenever the node's
 * neighbourhood grows (a record PUT while the node knew one peer reached only that peer).
 *
 * Finding: provider records name capable peers; each peer's record is fetched, verified, and
 * filtered. A record that fails verification is dropped and logged, never returned.
 */
import type { PeerId } from '@libp2p/interface'
import type { KadDHT } from '@libp2p/kad-dht'
import type { Multiaddr } from '@multiformats/multiaddr'
import { logger } from '@libp2p/logger'
import type { Signer } from '../proofs/signing.ts'
import {
  capacityKey, runtimeCapabilityKey, signCapacityRecord, verifyCapacityRecord,
  type Capacity, type CapacityRecord
} from './capacity-record.ts'
import {
  CAPACITY_GET_QUORUM, CAPACITY_GET_TIMEOUT_MS, CAPACITY_RECORD_TTL_MS, CAPACITY_REFRESH_MARGIN_MS,
  FIND_CAPACITY_CONCURRENCY, FIND_CAPACITY_TIMEOUT_MS
} from './constants.ts'
import type { CapacityAdvert, FindCapacityQuery } from '../shared/capacity.ts'

const log = logger('depin:capacity')

export type { CapacityAdvert, FindCapacityQuery }

/** What the capacity service needs from the node. */
export interface CapacityComponents {
  dht: KadDHT
  signer: Signer
  /** The node's current dialable addresses. */
  multiaddrs: () => string[]
  /** Adds addresses learnt from provider records so the peer can be dialled. */
  addPeerAddresses: (peer: PeerId, multiaddrs: Multiaddr[]) => Promise<void>
}

export interface CapacityStats {
  published: number
  lastPublishedAt?: number
  seq: number
  dropped: number
}

function toAdvert (record: CapacityRecord): CapacityAdvert {
  const b = record.body
  return {
    peerId: b.peer,
    cores: b.cores,
    memoryMiB: b.memoryMiB,
    slots: b.slots,
    pricePerCpuSecond: b.pricePerCpuSecond,
    runtimes: b.runtimes,
    multiaddrs: b.multiaddrs,
    seq: b.seq,
    expiresAt: b.expiresAt
  }
}

function matches (advert: CapacityAdvert, query: FindCapacityQuery, runtime: string): boolean {
  if (!advert.runtimes.includes(runtime)) return false
  if (query.minCores != null && advert.cores < query.minCores) return false
  if (query.minMemoryMiB != null && advert.memoryMiB < query.minMemoryMiB) return false
  if (query.maxPrice != null && advert.pricePerCpuSecond > query.maxPrice) return false
  return advert.slots > 0
}

export class CapacityService {
  private readonly components: CapacityComponents
  private capacity: Capacity
  private seq = 0
  private timer?: ReturnType<typeof setTimeout>
  private publishing?: Promise<void>
  private republishWanted = false
  private controller?: AbortController
  private readonly known = new Map<string, CapacityAdvert>()
  private readonly stats: CapacityStats = { published: 0, seq: 0, dropped: 0 }

  constructor (components: CapacityComponents, capacity: Capacity) {
    this.components = components
    this.capacity = capacity
  }

  start (): void {
    this.controller = new AbortController()
    this.schedulePublish(0)
  }

  stop (): void {
    this.controller?.abort()
    this.controller = undefined
    clearTimeout(this.timer)
    this.timer = undefined
  }

  /** What this node advertises. */
  current (): Capacity {
    return { ...this.capacity, runtimes: [...this.capacity.runtimes] }
  }

  /** Changes the advertised capacity and re-publishes. */
  update (capacity: Partial<Capacity>): void {
    this.capacity = { ...this.capacity, ...capacity }
    this.schedulePublish(0)
  }

  /** Asks for a re-publish soon (e.g. the neighbourhood grew). Coalesces bursts. */
  requestRepublish (): void {
    this.schedulePublish(250)
  }

  getStats (): CapacityStats {
    return { ...this.stats }
  }

  /** Verified adverts seen by earlier lookups, freshest first, expired ones removed. */
  cached (): CapacityAdvert[] {
    const now = Date.now()
    for (const [peer, advert] of this.known) if (advert.expiresAt <= now) this.known.delete(peer)
    return [...this.known.values()]
  }

  /** Signs the current capacity and publishes record and provider records. */
  async publish (signal?: AbortSignal): Promise<void> {
    const { dht, signer } = this.components
    this.seq = Math.max(this.seq + 1, Date.now())
    const value = signCapacityRecord(signer, this.capacity, { seq: this.seq, multiaddrs: this.components.multiaddrs() })
    const opts = { signal }
    let puts = 0
    for await (const event of dht.put(capacityKey(signer.peerId), value, opts)) {
      if (event.name === 'PEER_RESPONSE') puts++
    }
    for (const runtime of this.capacity.runtimes) {
      for await (const _ of dht.provide(runtimeCapabilityKey(runtime), opts)) {} // eslint-disable-line no-empty
    }
    this.stats.published++
    this.stats.lastPublishedAt = Date.now()
    this.stats.seq = this.seq
    log('published capacity record seq %d to %d peers', this.seq, puts)
  }

  /** Finds peers that can run `runtime`, verified and filtered. */
  async find (query: FindCapacityQuery = {}): Promise<CapacityAdvert[]> {
    const runtime = query.runtime ?? 'wasi-p1'
    const timeoutMs = query.timeoutMs ?? FIND_CAPACITY_TIMEOUT_MS
    const deadline = AbortSignal.timeout(timeoutMs)
    const signal = query.signal != null ? AbortSignal.any([query.signal, deadline]) : deadline
    const self = this.components.signer.peerId
    const limit = query.limit ?? Number.POSITIVE_INFINITY
    const found: CapacityAdvert[] = []
    const seen = new Set<string>()
    const pending: string[] = []
    let providersDone = false
    // Workers waiting for the provider lookup to yield more peers (or finish).
    const waiters: Array<() => void> = []
    const wakeAll = (): void => { waiters.splice(0).forEach((w) => { w() }) }

    // Provider lookup streams peers into `pending`; workers fetch records while it runs.
    const lookup = (async () => {
      try {
        for await (const event of this.components.dht.findProviders(runtimeCapabilityKey(runtime), { signal })) {
          if (event.name !== 'PROVIDER') continue
          for (const provider of event.providers) {
            const id = provider.id.toString()
            if (seen.has(id) || (id === self && query.includeSelf !== true)) continue
            seen.add(id)
            if (provider.multiaddrs.length > 0) await this.components.addPeerAddresses(provider.id, provider.multiaddrs).catch(() => {})
            pending.push(id)
            wakeAll()
          }
          if (found.length >= limit) break
        }
      } catch (err) {
        if (!signal.aborted) log('provider lookup for %s failed: %e', runtime, err)
      } finally {
        providersDone = true
        wakeAll()
      }
    })()
    if (query.includeSelf === true && !seen.has(self)) { seen.add(self); pending.push(self) }

    const worker = async (): Promise<void> => {
      while (found.length < limit && !signal.aborted) {
        const peer = pending.shift()
        if (peer == null) {
          if (providersDone) return
          await new Promise<void>((resolve) => { waiters.push(resolve); signal.addEventListener('abort', () => { resolve() }, { once: true }) })
          continue
        }
        const advert = await this.fetch(peer, signal)
        if (advert != null && matches(advert, query, runtime) && found.length < limit) found.push(advert)
      }
    }
    await Promise.all(Array.from({ length: FIND_CAPACITY_CONCURRENCY }, worker))
    await lookup
    if (query.signal?.aborted === true) throw query.signal.reason
    return found.sort((a, b) => a.pricePerCpuSecond - b.pricePerCpuSecond || b.cores - a.cores)
  }

  /** Fetches, verifies and caches one peer's newest capacity record; undefined when none is valid. */
  async fetch (peerId: string, signal?: AbortSignal): Promise<CapacityAdvert | undefined> {
    const key = capacityKey(peerId)
    const timeout = AbortSignal.timeout(CAPACITY_GET_TIMEOUT_MS)
    const opts = { signal: signal != null ? AbortSignal.any([signal, timeout]) : timeout }
    let best: CapacityRecord | undefined
    const answered = new Set<string>()
    const consider = (value: Uint8Array, from: string): void => {
      try {
        const record = verifyCapacityRecord(key, value)
        answered.add(from)
        if (best == null || record.body.seq > best.body.seq) best = record
      } catch (err) {
        this.stats.dropped++
        log('dropped capacity record for %s from %s: %s', peerId, from, (err as Error).message)
      }
    }
    try {
      // Records arrive in PEER_RESPONSE events as the lookup walks (kad-dht verified them with our
      // validator already; we verify again because the local datastore is not checked). The owner
      // always holds its newest record, so its answer, or answers from a few holders, end the
      // walk early instead of visiting every close peer.
      for await (const event of this.components.dht.get(key, opts)) {
        if (event.name === 'PEER_RESPONSE' && event.record != null) {
          consider(event.record.value, event.from.toString())
        } else if (event.name === 'VALUE') {
          consider(event.value, event.from.toString())
        }
        if (answered.has(peerId) || answered.size >= CAPACITY_GET_QUORUM) break
      }
    } catch (err) {
      log('capacity lookup of %s failed: %s', peerId, (err as Error).message)
    }
    if (best == null) return undefined
    const advert = toAdvert(best)
    const previous = this.known.get(peerId)
    if (previous == null || previous.seq <= advert.seq) this.known.set(peerId, advert)
    return this.known.get(peerId)
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
    this.publishing = this.publish(controller.signal)
      .catch((err) => { if (!controller.signal.aborted) log('publishing capacity failed: %e', err) })
      .finally(() => {
        this.publishing = undefined
        if (this.controller == null) return
        if (this.republishWanted) {
          this.republishWanted = false
          this.schedulePublish(250)
        } else {
          this.schedulePublish(CAPACITY_RECORD_TTL_MS - CAPACITY_REFRESH_MARGIN_MS)
        }
      })
  }
}

