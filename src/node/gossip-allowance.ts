/**
 * Per-peer validation allowance: a token bucket that starts small for a peer not heard from
 * before and grows with every message of that peer that turns out valid. Each message taken
 * into validation costs a token; a valid one gives its token back. So valid messages are free
 * (a fast miner's blocks, a busy requester's settles are never throttled by this), and what a
 * peer spends is validation of messages that were no use: duplicates, stale or unpayable ones,
 * invalid ones. A fresh identity gets a short burst of those and then a trickle; a peer with a
 * record of useful messages gets more room.
 *
 * Bounded: at most `maxPeers` buckets; the least recently used is forgotten, and a forgotten
 * peer starts afresh (which only ever makes its allowance smaller).
 */
import {
  GOSSIP_ALLOWANCE_BURST, GOSSIP_ALLOWANCE_GROWTH_PER_SECOND, GOSSIP_ALLOWANCE_MAX_BURST, GOSSIP_ALLOWANCE_MAX_PEERS,
  GOSSIP_ALLOWANCE_MAX_PER_SECOND, GOSSIP_ALLOWANCE_PER_SECOND
} from './constants.ts'

export interface AllowanceInit {
  /** A new peer's burst. @default GOSSIP_ALLOWANCE_BURST */
  burst?: number
  /** A new peer's refill rate per second. @default GOSSIP_ALLOWANCE_PER_SECOND */
  perSecond?: number
  /** Rate added per accepted message (the burst grows by 1). @default GOSSIP_ALLOWANCE_GROWTH_PER_SECOND */
  growthPerSecond?: number
  /** @default GOSSIP_ALLOWANCE_MAX_BURST */
  maxBurst?: number
  /** @default GOSSIP_ALLOWANCE_MAX_PER_SECOND */
  maxPerSecond?: number
  /** @default GOSSIP_ALLOWANCE_MAX_PEERS */
  maxPeers?: number
  /** Injected clock for tests (ms). */
  now?: () => number
}

interface Bucket {
  tokens: number
  at: number
  /** Accepted messages so far (what the allowance grows with). */
  earned: number
}

export class Allowance {
  private readonly buckets = new Map<string, Bucket>()
  private readonly burst: number
  private readonly perSecond: number
  private readonly growth: number
  private readonly maxBurst: number
  private readonly maxPerSecond: number
  private readonly maxPeers: number
  private readonly now: () => number

  constructor (init: AllowanceInit = {}) {
    this.burst = init.burst ?? GOSSIP_ALLOWANCE_BURST
    this.perSecond = init.perSecond ?? GOSSIP_ALLOWANCE_PER_SECOND
    this.growth = init.growthPerSecond ?? GOSSIP_ALLOWANCE_GROWTH_PER_SECOND
    this.maxBurst = init.maxBurst ?? GOSSIP_ALLOWANCE_MAX_BURST
    this.maxPerSecond = init.maxPerSecond ?? GOSSIP_ALLOWANCE_MAX_PER_SECOND
    this.maxPeers = init.maxPeers ?? GOSSIP_ALLOWANCE_MAX_PEERS
    this.now = init.now ?? Date.now
  }

  /** Takes one message's worth of allowance; false when the peer has none left now. */
  take (peer: string): boolean {
    const bucket = this.refill(peer)
    if (bucket.tokens < 1) return false
    bucket.tokens -= 1
    return true
  }

  /** One of the peer's messages was valid: its token comes back and its allowance grows. */
  accepted (peer: string): void {
    const bucket = this.buckets.get(peer)
    if (bucket == null) return
    bucket.earned++
    bucket.tokens = Math.min(this.burstOf(bucket.earned), bucket.tokens + 1)
  }

  /** One of the peer's messages was invalid: it loses what it earned. */
  rejected (peer: string): void {
    const bucket = this.buckets.get(peer)
    if (bucket == null) return
    bucket.earned = 0
    bucket.tokens = Math.min(bucket.tokens, this.burst)
  }

  /** The peer's current limits (for stats and tests). */
  limits (peer: string): { tokens: number, burst: number, perSecond: number } {
    const bucket = this.buckets.get(peer)
    const earned = bucket?.earned ?? 0
    return { tokens: bucket == null ? this.burst : this.refill(peer).tokens, burst: this.burstOf(earned), perSecond: this.rateOf(earned) }
  }

  private burstOf (earned: number): number {
    return Math.min(this.maxBurst, this.burst + earned)
  }

  private rateOf (earned: number): number {
    return Math.min(this.maxPerSecond, this.perSecond + earned * this.growth)
  }

  private refill (peer: string): Bucket {
    const now = this.now()
    let bucket = this.buckets.get(peer)
    if (bucket == null) {
      bucket = { tokens: this.burst, at: now, earned: 0 }
    } else {
      const elapsedS = Math.max(0, now - bucket.at) / 1000
      bucket.tokens = Math.min(this.burstOf(bucket.earned), bucket.tokens + elapsedS * this.rateOf(bucket.earned))
      bucket.at = now
      this.buckets.delete(peer)
    }
    // Re-inserted: the map's order is least recently used first.
    this.buckets.set(peer, bucket)
    if (this.buckets.size > this.maxPeers) this.buckets.delete(this.buckets.keys().next().value as string)
    return bucket
  }
}
