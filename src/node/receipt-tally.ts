/**
 * Counts work receipts settled to each worker on the canonical chain, kept current from the
 * ledger's `block` and `reorg` events. It is the chain's half of reputation evidence (the other
 * half is what the requester observed itself); never what a peer says about itself.
 */
import { logger } from '@libp2p/logger'
import type { BlockSummary, Ledger } from '../ledger/index.ts'
import type { ReceiptEvidence } from '../scheduler/reputation.ts'

const log = logger('depin:receipts')

/** Receipts loaded at start (newest first); older ones are not counted. */
const INITIAL_RECEIPTS = 1000
const MAX_WORKERS = 10_000

export class ReceiptTally implements ReceiptEvidence {
  private readonly ledger: Ledger
  private readonly counts = new Map<string, number>()
  private readonly onBlock = (evt: CustomEvent<BlockSummary>): void => { void this.apply(evt.detail.hash, 1) }
  private readonly onReorg = (evt: CustomEvent<{ undone: BlockSummary[] }>): void => {
    for (const block of evt.detail.undone) void this.apply(block.hash, -1)
  }

  constructor (ledger: Ledger) {
    this.ledger = ledger
  }

  async start (): Promise<void> {
    for (const receipt of await this.ledger.receipts({ limit: INITIAL_RECEIPTS })) this.add(receipt.worker, 1)
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

  private async apply (hash: string, delta: 1 | -1): Promise<void> {
    try {
      const block = await this.ledger.block(hash)
      for (const tx of block?.transactions ?? []) if (tx.type === 'settle') this.add(tx.to, delta)
    } catch (err) {
      log('could not read block %s: %s', hash, (err as Error).message)
    }
  }

  private add (worker: string, delta: number): void {
    const next = (this.counts.get(worker) ?? 0) + delta
    if (next <= 0) this.counts.delete(worker)
    else this.counts.set(worker, next)
    if (this.counts.size > MAX_WORKERS) this.counts.delete(this.counts.keys().next().value as string)
  }
}
