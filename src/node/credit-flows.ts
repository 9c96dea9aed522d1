/**
 * What a block's transactions mean for one account: credits earned for work (settles paid to it),
 * by mining (coinbase), by transfers in; credits paid for work and transferred out. Used by the
 * metrics, the operator log and the balance history.
 */
import type { TxView } from '../ledger/index.ts'

export interface CreditFlows {
  work: number
  mining: number
  transfersIn: number
  paidForWork: number
  transfersOut: number
}

export function blockFlows (transactions: TxView[], account: string): CreditFlows {
  const flows: CreditFlows = { work: 0, mining: 0, transfersIn: 0, paidForWork: 0, transfersOut: 0 }
  for (const tx of transactions) {
    // A settle's `amount` is what its lease was paid in all; `moved` is what this one paid.
    const settled = tx.moved ?? tx.amount
    if (tx.to === account) {
      if (tx.type === 'settle') flows.work += settled
      else if (tx.type === 'coinbase') flows.mining += tx.amount
      else flows.transfersIn += tx.amount
    }
    if (tx.from === account) {
      if (tx.type === 'settle') flows.paidForWork += settled
      else if (tx.type === 'transfer') flows.transfersOut += tx.amount
    }
  }
  return flows
}

/** Net change of the account's balance in a block. */
export function netFlow (flows: CreditFlows): number {
  return flows.work + flows.mining + flows.transfersIn - flows.paidForWork - flows.transfersOut
}
