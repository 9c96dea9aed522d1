/**
 * Counts the leases settled to each worker on the canonical chain, kept current from the
 * ledger's `block` and `reorg` events: for every lease a changed block settles, its receipt is
 * read again (a reorg may have removed it or put back an earlier one). It is the chain's half of
 * reputation evidence (the other half is what the requester observed itself); never what a peer
 * says about itself.
 */
import { logger } from '@libp2p/logger'
import type { BlockSummary, Ledger } from '../ledger/index.ts'
import type { ReceiptEvidence } from '../scheduler/reputation.ts'

const log = logger('depin:receipts')

/** Receipts loaded at start (newest first); older ones are not counted. */
const INITIAL_RECEIPTS = 1000
/** Leases remembered (the oldest are forgotten first). */
const MAX_LEASES = 50_000

export class ReceiptTally implements ReceiptEvidence {
  private readonly ledger: Ledger
  /** Lease id → its worker, for leases with a receipt on the canonical chain. */
  private readonly leases = new Map<string, string>()
  private readonly counts = new Map<string, number>()
  private readonly onBlock = (evt: CustomEvent<BlockSummary>): void => { void this.refresh([evt.detail]) }
  private readonly onReorg = (evt: CustomEvent<{ undone: BlockSummary[] }>): void => { void this.refresh(evt.detail.undone) }

  constructor (ledger: Ledger) {
    this.ledger = ledger
  }

  async start (): Promise<void> {
    for (const receipt of await this.ledger.receipts({ limit: INITIAL_RECEIPTS })) this.set(receipt.leaseId, receipt.worker)
    this.ledger.addEventListener('block', this.onBlock)
    this.ledger.addEventListener('reorg', this.onReorg)
  }

  stop (): void {
    this.ledger.removeEventListener('block', this.onBlock)
    this.ledger.removeEventListener('reorg', this.onReorg)
  }

  settledCount (peerId: string): number {
    return this.counts.get(peerId) ?? 0
  }

  /** Re-reads the receipts of every lease the blocks settle. */
  private async refresh (blocks: BlockSummary[]): Promise<void> {
    try {
      for (const summary of blocks) {
        const block = await this.ledger.block(summary.hash)
        for (const tx of block?.transactions ?? []) {
          if (tx.type !== 'settle' || tx.leaseId == null) continue
          const receipt = await this.ledger.receipt(tx.leaseId)
          if (receipt != null) this.set(tx.leaseId, receipt.worker)
          else this.unset(tx.leaseId)
        }
      }
    } catch (err) {
      log('could not read blocks for the receipt tally: %s', (err as Error).message)
    }
  }

  private set (leaseId: string, worker: string): void {
    if (this.leases.has(leaseId)) return
    this.leases.set(leaseId, worker)
    this.counts.set(worker, (this.counts.get(worker) ?? 0) + 1)
    if (this.leases.size > MAX_LEASES) this.unset(this.leases.keys().next().value as string)
  }

  private unset (leaseId: string): void {
    const worker = this.leases.get(leaseId)
    if (worker == null) return
    this.leases.delete(leaseId)
    const next = (this.counts.get(worker) ?? 1) - 1
    if (next <= 0) this.counts.delete(worker)
    else this.counts.set(worker, next)
  }
}
