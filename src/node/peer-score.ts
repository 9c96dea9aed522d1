/**
 * App-level peer score. Gossipsub's score only shapes its mesh; this one decides disconnects and
 * bans from evidence that depin itself sees: malformed messages, bad signatures, wrong results,
 * timeouts. Scores decay toward zero with a half-life, so an old fault is forgiven in time.
 */
import { TypedEventEmitter } from 'main-event'
import type { PeerActionName } from '../shared/peer-actions.ts'

/** Named misbehaviours with their score deltas. Values are negative; a score starts at 0. */
export const PeerAction = {
  /** Undecodable, schema-invalid or oversized message. */
  MalformedMessage: -20,
  /** A signature that does not verify. */
  InvalidSignature: -40,
  /** A block or transaction that fails validation. */
  InvalidBlock: -40,
  /** Served invalid data over the sync protocol. */
  InvalidSyncData: -40,
  /** A result that disagreed with the quorum. */
  WrongResult: -30,
  /** Missed a deadline (negotiation, task, sync request). */
  Timeout: -5,
  /** Agreed to run a task, then did not start it. */
  NoShow: -10,
  /**
   * Broke a lease: let LEASE_STRIKES of its tasks run past their time plus grace (each of which
   * also cost `Timeout`). With those, one broken lease reaches the disconnect threshold.
   */
  BrokeLease: -40,
  /**
   * Bid above the price its own capacity record advertises (the bid is refused). Mild: an honest
   * worker that just raised its price may meet a requester holding its older record.
   */
  BidOverAdvert: -10,
  /** Sent something an honest peer may send but we did not want (duplicate, stale). */
  Ignored: -1
} as const satisfies Record<PeerActionName, number>
export type { PeerActionName }

export interface PeerScoreInit {
  /** Score at or below which the peer is disconnected. @default -50 */
  disconnectThreshold?: number
  /** Score at or below which the peer is banned. @default -100 */
  banThreshold?: number
  /** How long a ban lasts. @default 1 hour */
  banDurationMs?: number
  /** Half-life of a score. @default 10 minutes */
  halfLifeMs?: number
  /** Most peers tracked; the least recently reported are forgotten first. @default 10_000 */
  maxPeers?: number
  /**
   * A peer that falls to the disconnect threshold again, from above it, within this long of its
   * last disconnect is banned. @default 3 half-lives
   */
  reoffendWindowMs?: number
  /** Most bans kept; expired ones are dropped first, then those that end soonest. @default 10_000 */
  maxBans?: number
  /** Injected clock for tests. */
  now?: () => number
}

export interface PeerScoreEvents {
  /** The peer fell to the disconnect threshold. */
  disconnect: CustomEvent<{ peerId: string, score: number, action: PeerActionName }>
  /** The peer fell to the ban threshold, or to the disconnect threshold again soon after a disconnect. */
  ban: CustomEvent<{ peerId: string, score: number, until: number, action: PeerActionName }>
}

interface Entry {
  score: number
  at: number
  /** When the peer last fell to the disconnect threshold (from above it). */
  disconnectedAt?: number
}

export class PeerScore extends TypedEventEmitter<PeerScoreEvents> {
  private readonly entries = new Map<string, Entry>()
  private readonly bans = new Map<string, number>()
  private readonly disconnectThreshold: number
  private readonly banThreshold: number
  private readonly banDurationMs: number
  private readonly halfLifeMs: number
  private readonly maxPeers: number
  private readonly reoffendWindowMs: number
  private readonly maxBans: number
  private readonly now: () => number

  constructor (init: PeerScoreInit = {}) {
    super()
    this.disconnectThreshold = init.disconnectThreshold ?? -50
    this.banThreshold = init.banThreshold ?? -100
    this.banDurationMs = init.banDurationMs ?? 60 * 60 * 1000
    this.halfLifeMs = init.halfLifeMs ?? 10 * 60 * 1000
    this.maxPeers = init.maxPeers ?? 10_000
    this.reoffendWindowMs = init.reoffendWindowMs ?? 3 * this.halfLifeMs
    this.maxBans = init.maxBans ?? 10_000
    this.now = init.now ?? Date.now
  }

  /** The peer's current (decayed) score; 0 for an unknown peer. */
  score (peerId: string): number {
    const entry = this.entries.get(peerId)
    if (entry == null) return 0
    return this.decayed(entry, this.now())
  }

  /**
   * Records a misbehaviour and applies the thresholds. Returns the new score.
   *
   * Why the re-offence rule: a disconnected peer is not listened to, so what it sends while cut
   * off cannot take its score further down; once the score decays back above the disconnect
   * threshold it may reconnect under the same identity and offend again. Without the rule such a
   * peer would be disconnected over and over and never banned. Falling to the threshold again,
   * from above, within `reoffendWindowMs` of the last disconnect is a ban.
   */
  report (peerId: string, action: PeerActionName): number {
    const now = this.now()
    const entry = this.entries.get(peerId)
    const before = entry == null ? 0 : this.decayed(entry, now)
    const score = before + PeerAction[action]
    const next: Entry = { score, at: now, disconnectedAt: entry?.disconnectedAt }
    this.entries.delete(peerId)
    this.entries.set(peerId, next)
    if (this.entries.size > this.maxPeers) this.entries.delete(this.entries.keys().next().value as string)
    const crossed = score <= this.disconnectThreshold && before > this.disconnectThreshold
    const reoffended = crossed && next.disconnectedAt != null && now - next.disconnectedAt <= this.reoffendWindowMs
    if (crossed) next.disconnectedAt = now
    if (score <= this.banThreshold || reoffended) {
      const until = now + this.banDurationMs
      this.addBan(peerId, until, now)
      this.safeDispatchEvent('ban', { detail: { peerId, score, until, action } })
    } else if (score <= this.disconnectThreshold) {
      this.safeDispatchEvent('disconnect', { detail: { peerId, score, action } })
    }
    return score
  }

  /**
   * True for a peer at or below the disconnect threshold, or banned: nothing it sends is worth
   * validating (gossip refuses its messages on arrival until its score recovers by decay).
   */
  isPenalised (peerId: string): boolean {
    return this.isBanned(peerId) || this.score(peerId) <= this.disconnectThreshold
  }

  isBanned (peerId: string): boolean {
    const until = this.bans.get(peerId)
    if (until == null) return false
    if (until <= this.now()) {
      this.bans.delete(peerId)
      return false
    }
    return true
  }

  /** Number of bans held (expired ones may linger until the next ban prunes them). */
  get banCount (): number {
    return this.bans.size
  }

  /**
   * Every ban lasts `banDurationMs`, so insertion order is expiry order (a re-ban moves the peer
   * to the end): expired bans are at the front. Over `maxBans` the soonest to end goes.
   */
  private addBan (peerId: string, until: number, now: number): void {
    this.bans.delete(peerId)
    this.bans.set(peerId, until)
    for (const [id, end] of this.bans) {
      if (end > now && this.bans.size <= this.maxBans) break
      this.bans.delete(id)
    }
  }

  /** Peers with a non-zero score, worst first. */
  list (): Array<{ peerId: string, score: number, banned: boolean }> {
    return [...this.entries.keys()]
      .map((peerId) => ({ peerId, score: this.score(peerId), banned: this.isBanned(peerId) }))
      .filter((e) => e.score < -0.01 || e.banned)
      .sort((a, b) => a.score - b.score)
  }

  private decayed (entry: Entry, now: number): number {
    const elapsed = Math.max(0, now - entry.at)
    return entry.score * Math.pow(0.5, elapsed / this.halfLifeMs)
  }
}
