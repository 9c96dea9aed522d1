/**
 * The checks on a block that read no chain state: its header alone (network, height, minimum
 * difficulty, PoW), its header against its ancestry (target, timestamp), and its transactions'
 * composition (the coinbase) and signatures. Each throws the LedgerError that says whether the
 * sender is to be penalised ([REJECT]); the chain runs them before it touches state, gossip and
 * sync run the cheap ones before a block waits for full validation.
 */
import { hashMeetsTarget, targetFromBytes } from '../proofs/pow.ts'
import type { BlockHeader } from './block.ts'
import { expectedTarget, medianTimePast, type AncestorLookup } from './difficulty.ts'
import { BadCoinbaseError, BadHeightError, BadTargetError, BadTimestampError, InvalidPowError, TargetTooEasyError, WrongNetworkError } from './errors.ts'
import type { NetworkParams } from './genesis.ts'
import { toHex } from './hex.ts'
import { verifyTransaction, type TxInfo, type VerifiedTxCache } from './tx.ts'

/** The chain context a header is checked against. */
export interface HeaderParent {
  height: number
  target: bigint
}

/** Checks a header's target and timestamp against its ancestry. [REJECT] on failure. */
export async function checkHeaderContext (header: BlockHeader, parent: HeaderParent, params: NetworkParams, ancestorAt: AncestorLookup): Promise<void> {
  const expected = await expectedTarget(header.height, parent.target, params, ancestorAt)
  // [REJECT] the target must follow the difficulty rule
  if (targetFromBytes(header.target) !== expected) {
    throw new BadTargetError(`block at height ${header.height} has target ${toHex(header.target)}, expected ${expected.toString(16).padStart(64, '0')}`)
  }
  const mtp = await medianTimePast(header.height, ancestorAt)
  // [REJECT] timestamps move forward
  if (header.timestamp <= mtp) throw new BadTimestampError(`timestamp ${header.timestamp} is not after the median of the previous blocks (${mtp})`)
}

/**
 * The checks on a header alone, without its ancestry: network, height, minimum difficulty, PoW.
 * [REJECT] on failure. Cheap (one comparison of 32 bytes each), so gossip runs them as a block
 * arrives, before it waits for full validation.
 */
export function checkHeaderSelf (header: BlockHeader, hash: Uint8Array, params: Pick<NetworkParams, 'networkId' | 'initialTarget'>): void {
  // [REJECT] another network
  if (header.network !== params.networkId) throw new WrongNetworkError(`block is for network ${header.network}, not ${params.networkId}`)
  // [REJECT] only the genesis block, which nobody sends, has height 0 and no miner
  if (header.height === 0) throw new BadHeightError('height 0 is the genesis block')
  if (header.miner === '') throw new BadCoinbaseError('block without a miner')
  // [REJECT] easier than the network's minimum difficulty: less work than any valid block
  if (targetFromBytes(header.target) > params.initialTarget) {
    throw new TargetTooEasyError(`block target ${toHex(header.target)} is easier than the network's minimum ${params.initialTarget.toString(16).padStart(64, '0')}`)
  }
  // [REJECT] proof of work
  if (!hashMeetsTarget(hash, header.target)) throw new InvalidPowError()
}

/** Coinbase rules and every transaction's stateless checks (signatures). [REJECT] on failure. */
export function checkBlockTransactions (header: BlockHeader, txs: TxInfo[], params: NetworkParams, verified: VerifiedTxCache): void {
  const first = txs[0]?.tx.body
  // [REJECT] exactly one coinbase, first, minting the reward to the header's miner
  if (first == null || first.type !== 'coinbase') throw new BadCoinbaseError('the first transaction must be the coinbase')
  if (first.network !== params.networkId || first.height !== header.height || first.miner !== header.miner) {
    throw new BadCoinbaseError('the coinbase does not match the block (network, height or miner)')
  }
  if (first.amount !== params.reward) throw new BadCoinbaseError(`the coinbase mints ${first.amount}, the reward is ${params.reward}`)
  for (let i = 1; i < txs.length; i++) {
    if (txs[i].tx.body.type === 'coinbase') throw new BadCoinbaseError('more than one coinbase')
    // [REJECT] signatures and settle composition
    verifyTransaction(txs[i], params.networkId, verified)
  }
}
