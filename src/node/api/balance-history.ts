/**
 * This node's balance over the last N blocks of the canonical chain, and what it earned (work,
 * mining, transfers in) and paid in each: the dashboard's chart. Read from the chain itself, so
 * it survives restarts; computed backwards from the current balance. Cached per tip.
 */
import type { ComputeNode } from '../compute-node.ts'
import { blockFlows, netFlow } from '../credit-flows.ts'

export interface BalancePoint {
  height: number
  timestamp: number
  /** Balance after this block. */
  balance: number
  earnedWork: number
  earnedMining: number
  received: number
  paid: number
}

export class BalanceHistory {
  private readonly node: ComputeNode
  private cache?: { tip: string, blocks: number, points: BalancePoint[] }

  constructor (node: ComputeNode) {
    this.node = node
  }

  async points (blocks: number): Promise<BalancePoint[]> {
    const ledger = this.node.ledger
    const tip = ledger.tip()
    if (this.cache?.tip === tip.hash && this.cache.blocks === blocks) return this.cache.points
    const me = this.node.peerId
    let balance = await ledger.balance(me)
    const points: BalancePoint[] = []
    // Newest first: each block's flows are undone to get the balance before it.
    for (let height = tip.height; height >= 0 && points.length < blocks; height--) {
      const block = await ledger.block(height)
      if (block == null) break
      const flows = blockFlows(block.transactions, me)
      points.push({
        height,
        timestamp: block.timestamp,
        balance,
        earnedWork: flows.work,
        earnedMining: flows.mining,
        received: flows.transfersIn,
        paid: flows.paidForWork + flows.transfersOut
      })
      balance -= netFlow(flows)
    }
    points.reverse()
    this.cache = { tip: tip.hash, blocks, points }
    return points
  }
}
