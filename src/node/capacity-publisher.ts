/**
 * This node's own capacity record: signed at start and whenever the capacity changes, served
 * by the capacity service, and published in the DHT (the record under `/depin-capacity/<peer>`
 * and a provider record under this node's shard of each runtime key).
 *
 * When: once the node has a first peer (after 0.5–1.5 s; provider records only, the node knows
 * few peers yet), once more 30–90 s later when its neighbourhood has settled, then 20 minutes
 * before the record expires less a random spread of up to 5 minutes, and soon after a capacity
 * change. Not on every new connection: that made a 100-node start-up publish 5.6 times per node.
 */
import type { KadDHT } from '@libp2p/kad-dht'
import { logger } from '@libp2p/logger'
import type { Signer } from '../proofs/signing.ts'
import {
  capacityKey, runtimeShardKey, shardOf, signCapacityRecord, verifyCapacityRecordOf, type Capacity, type CapacityRecord
} from './capacity-record.ts'
import {
  CAPACITY_RECORD_TTL_MS, CAPACITY_REFRESH_MARGIN_MS, FIRST_PUBLISH_DELAY_MS, SETTLE_PUBLISH_DELAY_MS
} from './constants.ts'

const log = logger('depin:capacity:publish')

/** Spread of the periodic re-publish, so nodes started together do not publish together. */
const PUBLISH_JITTER_MS = 5 * 60 * 1000

/** Between half and one and a half times `ms`. */
function jitter (ms: number): number {
  return ms * (0.5 + Math.random())
}

export interface PublisherComponents {
  dht: Pick<KadDHT, 'put' | 'provide'>
  signer: Signer
  /** The node's current dialable addresses. */
  multiaddrs: () => string[]
}

export interface PublisherStats {
  published: number
  lastPublishedAt?: number
  seq: number
}

export class CapacityPublisher {
  private readonly components: PublisherComponents
  private capacity: Capacity
  private seq = 0
  private own?: { record: CapacityRecord, bytes: Uint8Array }
  private timer?: ReturnType<typeof setTimeout>
  private publishing?: Promise<void>
  private republishWanted = false
  private waitingForPeer = false
  private settled = false
  private controller?: AbortController
  private readonly stats: PublisherStats = { published: 0, seq: 0 }

  constructor (components: PublisherComponents, capacity: Capacity) {
    this.components = components
    this.capacity = capacity
  }

  /** Signs the record; publishing waits for `peerArrived()` unless the node has peers already. */
  start (hasPeers: boolean): void {
    if (this.controller != null) return
    this.controller = new AbortController()
    this.sign()
    this.waitingForPeer = true
    if (hasPeers) this.peerArrived()
  }

  stop (): void {
    this.controller?.abort()
    this.controller = undefined
    clearTimeout(this.timer)
    this.timer = undefined
  }

  /** A peer connected; the first one starts publishing. */
  peerArrived (): void {
    if (!this.waitingForPeer) return
    this.waitingForPeer = false
    this.schedule(jitter(FIRST_PUBLISH_DELAY_MS))
  }

  current (): Capacity {
    return { ...this.capacity, runtimes: [...this.capacity.runtimes] }
  }

  /** The signed record and its bytes (undefined before `start()`). */
  record (): { record: CapacityRecord, bytes: Uint8Array } | undefined {
    return this.own
  }

  getStats (): PublisherStats {
    return { ...this.stats }
  }

  /** Changes the capacity: re-signs at once and publishes soon. */
  update (capacity: Partial<Capacity>): void {
    this.capacity = { ...this.capacity, ...capacity }
    if (this.controller == null) return
    this.sign()
    if (!this.waitingForPeer) this.schedule(0)
  }

  /** Publishes soon; bursts coalesce. */
  requestRepublish (): void {
    if (!this.waitingForPeer) this.schedule(250)
  }

  /** Re-signs and publishes the provider records of this node's shard and (unless `record: false`) the record. */
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
    log('published capacity seq %d (record to %d peers), provider of shard %d', this.seq, puts, shard)
  }

  private sign (): Uint8Array {
    this.seq = Math.max(this.seq + 1, Date.now())
    const bytes = signCapacityRecord(this.components.signer, this.capacity, { seq: this.seq, multiaddrs: this.components.multiaddrs() })
    this.own = { record: verifyCapacityRecordOf(bytes), bytes }
    this.stats.seq = this.seq
    return bytes
  }

  private schedule (delayMs: number): void {
    if (this.controller == null) return
    if (this.publishing != null) {
      this.republishWanted = true
      return
    }
    clearTimeout(this.timer)
    this.timer = setTimeout(() => { this.run() }, delayMs)
    this.timer.unref?.()
  }

  private run (): void {
    const controller = this.controller
    if (controller == null) return
    this.publishing = this.publish(controller.signal, { record: this.stats.published > 0 })
      .catch((err) => { if (!controller.signal.aborted) log('publishing capacity failed: %e', err) })
      .finally(() => {
        this.publishing = undefined
        if (this.controller == null) return
        if (this.republishWanted) {
          this.republishWanted = false
          this.schedule(250)
        } else if (!this.settled) {
          this.settled = true
          this.schedule(jitter(SETTLE_PUBLISH_DELAY_MS))
        } else {
          this.schedule(CAPACITY_RECORD_TTL_MS - CAPACITY_REFRESH_MARGIN_MS - Math.random() * PUBLISH_JITTER_MS)
        }
      })
  }
}
