/**
 * What a node knows of other peers' capacity: verified adverts, each either *reachable* (the
 * peer answered a capacity query itself, or is connected, within `CAPACITY_REACHABLE_MS`) or a
 * *candidate* (its signed record came second-hand, from a sample or a provider lookup, and the
 * peer has not answered yet). Only reachable peers are listed; candidates are what a discovery
 * round tries. Peers that did not answer are remembered for a while and not taken again.
 *
 * Everything is bounded (`CAPACITY_VIEW_MAX`, `CAPACITY_CANDIDATES_MAX`,
 * `CAPACITY_UNREACHABLE_MAX`), and `reachable()` is a cached array, cheap enough for the
 * scheduler's hot path.
 */
import type { CapacityRecord } from './capacity-record.ts'
import type { CapacityAdvert } from '../shared/capacity.ts'
import {
  CAPACITY_CANDIDATES_MAX, CAPACITY_REACHABLE_MS, CAPACITY_UNREACHABLE_MAX, CAPACITY_UNREACHABLE_MS, CAPACITY_VIEW_MAX
} from './constants.ts'

export type { CapacityAdvert }

export function toAdvert (record: CapacityRecord): CapacityAdvert {
  const b = record.body
  return {
    peerId: b.peer,
    cores: b.cores,
    memoryMiB: b.memoryMiB,
    slots: b.slots,
    pricePerGigafuel: b.pricePerGigafuel,
    fuelPerSecond: b.fuelPerSecond,
    runtimes: b.runtimes,
    multiaddrs: b.multiaddrs,
    seq: b.seq,
    expiresAt: b.expiresAt
  }
}

interface Entry {
  advert: CapacityAdvert
  /** The signed record as it arrived, passed on unchanged in samples. */
  bytes: Uint8Array
  /** Last time the peer answered itself or was seen connected; 0 = never (a candidate). */
  seenAt: number
}

export interface CapacityViewStats {
  reachable: number
  candidates: number
  unreachable: number
}

export class CapacityView {
  private readonly entries = new Map<string, Entry>()
  private readonly connected = new Set<string>()
  private readonly unreachable = new Map<string, number>()
  private snapshot: CapacityAdvert[] = []
  private snapshotAt = 0
  private dirty = true
  private readonly self: string
  private readonly now: () => number

  constructor (self: string, now: () => number = Date.now) {
    this.self = self
    this.now = now
  }

  /** The peer answered with its own record: it is reachable. */
  confirm (record: CapacityRecord, bytes: Uint8Array): void {
    const peer = record.body.peer
    if (peer === this.self) return
    this.unreachable.delete(peer)
    this.put(peer, record, bytes, this.now())
  }

  /** A record learnt second-hand; kept as a candidate unless the peer recently did not answer. */
  suggest (record: CapacityRecord, bytes: Uint8Array): boolean {
    const peer = record.body.peer
    if (peer === this.self || this.isUnreachable(peer)) return false
    const existing = this.entries.get(peer)
    if (existing != null) {
      // Newer news of a known peer: take the record, keep what we know of its reachability.
      if (record.body.seq > existing.advert.seq) this.put(peer, record, bytes, existing.seenAt)
      return false
    }
    if (this.countCandidates() >= CAPACITY_CANDIDATES_MAX) this.evictCandidate()
    this.put(peer, record, bytes, 0)
    return true
  }

  /** The peer did not answer: drop it and do not take it again for a while. */
  forget (peer: string): void {
    if (this.entries.delete(peer)) this.dirty = true
    this.unreachable.delete(peer)
    this.unreachable.set(peer, this.now() + CAPACITY_UNREACHABLE_MS)
    while (this.unreachable.size > CAPACITY_UNREACHABLE_MAX) this.unreachable.delete(this.unreachable.keys().next().value as string)
  }

  isUnreachable (peer: string): boolean {
    const until = this.unreachable.get(peer)
    if (until == null) return false
    if (until > this.now()) return true
    this.unreachable.delete(peer)
    return false
  }

  peerConnected (peer: string): void {
    this.connected.add(peer)
    this.unreachable.delete(peer)
    const entry = this.entries.get(peer)
    if (entry != null) {
      entry.seenAt = this.now()
      this.dirty = true
    }
  }

  /** A closed connection is not a dead peer (connections are pruned): it stays reachable for a while. */
  peerDisconnected (peer: string): void {
    if (!this.connected.delete(peer)) return
    const entry = this.entries.get(peer)
    if (entry != null) {
      entry.seenAt = this.now()
      this.dirty = true
    }
  }

  isConnected (peer: string): boolean {
    return this.connected.has(peer)
  }

  /** The advert of a peer, reachable or not. */
  get (peer: string): CapacityAdvert | undefined {
    return this.entries.get(peer)?.advert
  }

  /** The record bytes of a peer as they arrived. */
  bytesOf (peer: string): Uint8Array | undefined {
    return this.entries.get(peer)?.bytes
  }

  /**
   * Reachable peers' unexpired adverts. A cached array, rebuilt when something changed or a
   * second has passed (records expire, reachability lapses): cheap to call on every placement.
   */
  reachable (): CapacityAdvert[] {
    const now = this.now()
    if (!this.dirty && now - this.snapshotAt < 1000) return this.snapshot
    const list: CapacityAdvert[] = []
    for (const [peer, entry] of this.entries) {
      if (entry.advert.expiresAt <= now) {
        this.entries.delete(peer)
        continue
      }
      if (this.isReachable(peer, entry, now)) list.push(entry.advert)
    }
    this.snapshot = list
    this.snapshotAt = now
    this.dirty = false
    return list
  }

  /** Unconfirmed (or lapsed) peers worth a direct query, oldest news first. */
  candidates (): CapacityAdvert[] {
    const now = this.now()
    const list: CapacityAdvert[] = []
    for (const [peer, entry] of this.entries) {
      if (entry.advert.expiresAt > now && !this.isReachable(peer, entry, now)) list.push(entry.advert)
    }
    return list
  }

  /** Connected peers whose record runs out within `marginMs` (to be asked again). */
  connectedExpiringWithin (marginMs: number): string[] {
    const limit = this.now() + marginMs
    const list: string[] = []
    for (const peer of this.connected) {
      const entry = this.entries.get(peer)
      if (entry == null || entry.advert.expiresAt <= limit) list.push(peer)
    }
    return list
  }

  connectedPeers (): string[] {
    return [...this.connected]
  }

  stats (): CapacityViewStats {
    const reachable = this.reachable().length
    return { reachable, candidates: this.entries.size - reachable, unreachable: this.unreachable.size }
  }

  private isReachable (peer: string, entry: Entry, now: number): boolean {
    return this.connected.has(peer) || (entry.seenAt > 0 && now - entry.seenAt < CAPACITY_REACHABLE_MS)
  }

  private put (peer: string, record: CapacityRecord, bytes: Uint8Array, seenAt: number): void {
    const existing = this.entries.get(peer)
    const advert = existing != null && existing.advert.seq > record.body.seq ? existing.advert : toAdvert(record)
    const kept = advert === existing?.advert ? existing.bytes : bytes
    this.entries.delete(peer)
    this.entries.set(peer, { advert, bytes: kept, seenAt })
    this.dirty = true
    if (this.entries.size > CAPACITY_VIEW_MAX) {
      if (!this.evictCandidate()) this.entries.delete(this.entries.keys().next().value as string)
    }
  }

  private countCandidates (): number {
    const now = this.now()
    let count = 0
    for (const [peer, entry] of this.entries) if (!this.isReachable(peer, entry, now)) count++
    return count
  }

  /** Drops the oldest candidate; false when there is none. */
  private evictCandidate (): boolean {
    const now = this.now()
    for (const [peer, entry] of this.entries) {
      if (!this.isReachable(peer, entry, now)) {
        this.entries.delete(peer)
        this.dirty = true
        return true
      }
    }
    return false
  }
}
