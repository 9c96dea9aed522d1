import type { Ledger } from '../ledger/index.ts'

/**
 * A requester's spendable credits, read from the ledger at most every half second per requester:
 * admission asks for every offer, and a burst of offers should not be a burst of reads.
 */
export class SpendableCache {
  private readonly ledger: Ledger
  private readonly entries = new Map<string, { at: number, value: Promise<number> }>()
  private static readonly TTL_MS = 500
  private static readonly MAX = 4096

  constructor (ledger: Ledger) {
    this.ledger = ledger
  }

  async get (peer: string): Promise<number> {
    const now = Date.now()
    const entry = this.entries.get(peer)
    if (entry != null && now - entry.at < SpendableCache.TTL_MS) return await entry.value
    const value = this.ledger.spendable(peer)
    value.catch(() => { this.entries.delete(peer) })
    this.entries.set(peer, { at: now, value })
    if (this.entries.size > SpendableCache.MAX) this.entries.delete(this.entries.keys().next().value as string)
    return await value
  }
}
