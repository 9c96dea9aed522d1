/**
 * Credits a node earned and paid, read from the canonical chain once a block has
 * `CREDIT_CONFIRMATIONS` blocks on top of it, each height once. Why not as blocks are applied: a
 * reorg takes blocks back and applies others, often holding the same transactions again (a
 * settle taken back is mined again), or the same blocks again when it reverts; counting every
 * applied block counted those credits twice, and a counter cannot go down for a block taken
 * away. A block that deep is taken back only by a reorg deeper than that, which proof-of-work
 * chains rarely see; the blocks such a reorg brings at heights already counted are not counted
 * (never twice). The price is a delay: credits show `CREDIT_CONFIRMATIONS` blocks late (about a
 * minute at 10 s blocks). The balance gauge reads the tip itself.
 */
import type { BlockSummary, BlockView } from '../../ledger/index.ts'
import { blockFlows, type CreditFlows } from '../credit-flows.ts'

/** Blocks on top of a block before its credits are counted. */
export const CREDIT_CONFIRMATIONS = 6

/** What the counting reads of a ledger. */
export interface ConfirmedCreditsLedger {
  tip: () => BlockSummary
  block: (height: number) => Promise<BlockView | undefined>
  addEventListener: (type: 'tip', listener: (evt: CustomEvent<BlockSummary>) => void) => void
  removeEventListener: (type: 'tip', listener: (evt: CustomEvent<BlockSummary>) => void) => void
}

/**
 * Calls `count` with `account`'s flows of each canonical block as it reaches `confirmations`
 * blocks deep, from the blocks after those already that deep now (history is not counted again
 * at every start). Returns the function that stops it.
 */
export function countConfirmedCredits (ledger: ConfirmedCreditsLedger, account: string, count: (flows: CreditFlows) => void, confirmations = CREDIT_CONFIRMATIONS): () => void {
  let counted = Math.max(0, ledger.tip().height - confirmations)
  let stopped = false
  // One pass at a time, in height order: tips arrive faster than blocks are read.
  let pass: Promise<void> = Promise.resolve()
  const onTip = (evt: CustomEvent<BlockSummary>): void => {
    const upTo = evt.detail.height - confirmations
    pass = pass.then(async () => {
      while (!stopped && counted < upTo) {
        const block = await ledger.block(counted + 1)
        if (block == null) return // not there (the ledger is stopping): the next tip tries again
        counted++
        count(blockFlows(block.transactions, account))
      }
    }).catch(() => {})
  }
  ledger.addEventListener('tip', onTip)
  return () => {
    stopped = true
    ledger.removeEventListener('tip', onTip)
  }
}
