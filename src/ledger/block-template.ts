/**
 * Block templates for the miner: a header on the current tip (target and earliest timestamp from
 * the difficulty rules) over the coinbase and the mempool transactions that apply cleanly, within
 * the block bounds. Applied to a throwaway overlay, so building one writes nothing.
 */
import { targetToBytes, NONCE_BYTES } from '../proofs/pow.ts'
import { txRootOf, type BlockHeader } from './block.ts'
import type { ChainIndex } from './chain-index.ts'
import { LEDGER_VERSION, MAX_BLOCK_BYTES, MAX_TXS_PER_BLOCK } from './constants.ts'
import { expectedTarget, medianTimePast } from './difficulty.ts'
import type { NetworkParams } from './genesis.ts'
import type { BlockTemplate } from './miner.ts'
import { applyTransaction } from './state.ts'
import { Overlay, type LedgerStore } from './store.ts'
import { createCoinbase, txInfo, type TxInfo } from './tx.ts'

/** Room kept in a template for the header and CBOR framing. */
const TEMPLATE_OVERHEAD_BYTES = 1024

export interface TemplateSource {
  chain: Pick<ChainIndex, 'tip' | 'ancestry'>
  store: LedgerStore
  params: NetworkParams
  /** Pending transactions, in the order they should be tried. */
  pending: () => Iterable<TxInfo>
  now: () => number
}

/**
 * A block template on the current tip: coinbase first, then pending transactions that apply
 * cleanly. Must run where the tip and state cannot move under it (the ledger's queue).
 */
export async function buildBlockTemplate (source: TemplateSource, miner: string, timestamp?: number): Promise<BlockTemplate> {
  const { chain, params } = source
  const tip = chain.tip
  const height = tip.height + 1
  const ancestry = chain.ancestry(tip)
  const target = await expectedTarget(height, tip.target, params, ancestry)
  const mtp = await medianTimePast(height, ancestry)
  const ts = timestamp ?? Math.max(source.now(), mtp + 1)
  const coinbase = txInfo(createCoinbase({ network: params.networkId, height, miner, amount: params.reward }))
  const overlay = new Overlay(source.store)
  const touched = { get: async (p: string) => await overlay.account(p), set: (p: string, a: { balance: number, nonce: number }) => { overlay.setAccount(p, a) } }
  const at = { block: new Uint8Array(32), height, timestamp: ts }
  await applyTransaction(touched, overlay, coinbase, at, 'ignore')
  const txs = [coinbase]
  let size = TEMPLATE_OVERHEAD_BYTES + coinbase.bytes.byteLength
  for (const info of source.pending()) {
    if (txs.length >= MAX_TXS_PER_BLOCK) break
    if (size + info.bytes.byteLength > MAX_BLOCK_BYTES) continue
    try {
      await applyTransaction(touched, overlay, info, at, 'ignore')
      txs.push(info)
      size += info.bytes.byteLength
    } catch {
      // not valid on this tip (the mempool catches up on the next reconcile)
    }
  }
  const header: BlockHeader = {
    v: LEDGER_VERSION,
    network: params.networkId,
    parent: tip.hash,
    height,
    timestamp: ts,
    target: targetToBytes(target),
    nonce: new Uint8Array(NONCE_BYTES),
    miner,
    txRoot: txRootOf(txs.map((t) => t.hash))
  }
  return { header, txs }
}
