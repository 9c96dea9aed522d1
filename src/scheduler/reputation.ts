/**
 * Reputation from evidence only: outcomes this node observed itself (a result that matched the
 * quorum, a mismatch, a timeout, a no-show) and, with the ledger, settled leases. Never from
 * what a peer says about itself.
 */

export type Outcome = 'success' | 'mismatch' | 'timeout' | 'no-show' | 'failure'

export interface PeerRecord {
  success: number
  mismatch: number
  timeout: number
  noShow: number
  failure: number
  /** Leases settled to this peer on the chain (filled in by the ledger). */
  settled: number
}

/** Where receipts come from, when a ledger is present. */
export interface ReceiptEvidence {
  settledCount(peerId: string): number
}

const MAX_PEERS = 10_000
/** Runs shorter than this say little about a worker's speed (start-up, timer resolution). */
const SPEED_MIN_RUN_MS = 20
/** Runs observed before a worker's delivered speed is believed. */
const SPEED_MIN_SAMPLES = 3
/** Weight of a new observation in the delivered speed's moving average. */
const SPEED_EWMA = 0.2

interface Speed { fuelPerSecond: number, samples: number }

export class Reputation {
  private readonly peers = new Map<string, PeerRecord>()
  private readonly speeds = new Map<string, Speed>()
  private evidence?: ReceiptEvidence

  /** Adds chain evidence (settled receipts) to the local observations. */
  useReceipts (evidence: ReceiptEvidence): void {
    this.evidence = evidence
  }

  record (peerId: string, outcome: Outcome): void {
    const entry = this.peers.get(peerId) ?? { success: 0, mismatch: 0, timeout: 0, noShow: 0, failure: 0, settled: 0 }
    if (outcome === 'success') entry.success++
    else if (outcome === 'mismatch') entry.mismatch++
    else if (outcome === 'timeout') entry.timeout++
    else if (outcome === 'no-show') entry.noShow++
    else entry.failure++
    this.peers.delete(peerId)
    this.peers.set(peerId, entry)
    if (this.peers.size > MAX_PEERS) this.peers.delete(this.peers.keys().next().value as string)
  }

  get (peerId: string): PeerRecord {
    const entry = this.peers.get(peerId) ?? { success: 0, mismatch: 0, timeout: 0, noShow: 0, failure: 0, settled: 0 }
    return { ...entry, settled: this.evidence?.settledCount(peerId) ?? 0 }
  }

  /**
   * Records how fast a worker ran a task whose result agreed with the quorum: its fuel (agreed
   * by the replicas) over the run's time as this node observed it (not the worker's own figure).
   */
  observeSpeed (peerId: string, fuel: bigint, wallMs: number): void {
    if (wallMs < SPEED_MIN_RUN_MS || fuel <= 0n) return
    const rate = Number(fuel) / (wallMs / 1000)
    const s = this.speeds.get(peerId)
    const next = s == null ? { fuelPerSecond: rate, samples: 1 } : { fuelPerSecond: s.fuelPerSecond + SPEED_EWMA * (rate - s.fuelPerSecond), samples: s.samples + 1 }
    this.speeds.delete(peerId)
    this.speeds.set(peerId, next)
    if (this.speeds.size > MAX_PEERS) this.speeds.delete(this.speeds.keys().next().value as string)
  }

  /**
   * The speed to rank a worker by: what it advertised (fuel per second of its own CPU), checked
   * against what it delivered here (agreed fuel over the wall time of its runs) once there are
   * a few runs: the lower of the two, so a worker that overstates its speed ranks by what it
   * does. 0: nothing known.
   */
  speed (peerId: string, advertised: number): number {
    const s = this.speeds.get(peerId)
    if (s == null || s.samples < SPEED_MIN_SAMPLES) return advertised
    return advertised > 0 ? Math.min(advertised, s.fuelPerSecond) : s.fuelPerSecond
  }

  /**
   * Reliability in (0, 1): a Laplace-smoothed success rate where a wrong result weighs three
   * failures and settled receipts count as successes. An unknown peer scores 0.5.
   */
  reliability (peerId: string): number {
    const r = this.get(peerId)
    const good = r.success + r.settled
    const bad = 3 * r.mismatch + r.timeout + r.noShow + r.failure
    return (good + 1) / (good + bad + 2)
  }
}
