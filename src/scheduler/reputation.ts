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

export class Reputation {
  private readonly peers = new Map<string, PeerRecord>()
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
