/**
 * The ledger's read models: how index entries, transactions and receipt records are shown to
 * callers (API, CLI, events). Pure mappings, plus the block reads, which look entries up on the
 * chain (and, for a block, its undo record, to say what each settle moved).
 */
import { CID } from 'multiformats/cid'
import { decodeStoredBlock } from './block.ts'
import type { ChainIndex } from './chain-index.ts'
import { fromHex, toHex } from './hex.ts'
import { decodeReceipt, type Entry, type ReceiptRecord } from './store.ts'
import type { TxInfo } from './tx.ts'
import type { BlockSummary, BlockView, Receipt, TxView } from './types.ts'

export function summarize (entry: Entry): BlockSummary {
  return {
    hash: entry.hashHex,
    height: entry.height,
    parent: entry.parentHex,
    timestamp: entry.timestamp,
    miner: entry.header.miner,
    target: toHex(entry.header.target),
    txCount: entry.txCount,
    chainWork: entry.chainWork.toString()
  }
}

export function txView (info: TxInfo): TxView {
  const body = info.tx.body
  switch (body.type) {
    case 'transfer':
      return { hash: info.hashHex, type: 'transfer', from: body.from, to: body.to, amount: body.amount, nonce: body.nonce }
    case 'settle':
      return {
        hash: info.hashHex,
        type: 'settle',
        from: body.lease.body.requester,
        to: body.lease.body.worker,
        amount: body.ack.body.paid,
        leaseId: body.checkpoint.body.lease.toString(),
        tasks: body.ack.body.count,
        fuel: body.checkpoint.body.fuel.toString()
      }
    case 'coinbase':
      return { hash: info.hashHex, type: 'coinbase', to: body.miner, amount: body.amount }
  }
}

export function receiptView (r: ReceiptRecord): Receipt {
  return {
    leaseId: r.leaseId.toString(),
    requester: r.requester,
    worker: r.worker,
    paid: r.paid,
    seq: r.seq,
    tasks: r.tasks,
    // records written before fuel was billed have none
    fuel: BigInt(r.fuel ?? 0).toString(),
    blockHash: toHex(r.block),
    height: r.height,
    txHash: toHex(r.tx)
  }
}

type ChainReads = Pick<ChainIndex, 'tip' | 'canonicalEntry' | 'getEntry' | 'blockBytes' | 'isCanonical' | 'undoRecord'>

/** A block by hex hash (any stored block) or by canonical height (a number, or a string of up to 15 digits). */
export async function blockView (chain: ChainReads, hashOrHeight: string | number): Promise<BlockView | undefined> {
  let entry: Entry | undefined
  if (typeof hashOrHeight === 'number' || /^\d{1,15}$/.test(hashOrHeight)) {
    entry = await chain.canonicalEntry(Number(hashOrHeight))
  } else {
    const bytes = fromHex(hashOrHeight)
    if (bytes == null || bytes.byteLength !== 32) return undefined
    entry = await chain.getEntry(hashOrHeight.toLowerCase())
  }
  if (entry == null) return undefined
  return await entryView(chain, entry)
}

/** A stored block with its transactions; undefined when its body is gone. */
async function entryView (chain: ChainReads, entry: Entry): Promise<BlockView | undefined> {
  const bytes = await chain.blockBytes(entry.hash)
  if (bytes == null) return undefined
  const txs = entry.height === 0 ? [] : decodeStoredBlock(bytes).txs
  const canonical = await chain.isCanonical(entry)
  const views = txs.map(txView)
  // What each settle moved (its cumulative amount less what the lease was paid before), from
  // the block's undo record, kept for canonical blocks within the reorg window.
  const undo = canonical && views.some((v) => v.type === 'settle') ? await chain.undoRecord(entry.hash) : undefined
  if (undo != null) {
    const before = new Map(undo.receipts.map(([id, previous]) => [CID.decode(id).toString(), previous == null ? 0 : decodeReceipt(previous).paid]))
    for (const view of views) {
      if (view.type !== 'settle' || view.leaseId == null) continue
      view.moved = view.amount - (before.get(view.leaseId) ?? 0)
      before.set(view.leaseId, view.amount)
    }
  }
  return { ...summarize(entry), canonical, transactions: views }
}

/** The last `last` canonical blocks, newest first (at most 100). */
export async function recentBlocks (chain: ChainReads, last: number): Promise<BlockSummary[]> {
  const count = Math.max(0, Math.min(100, Math.floor(last)))
  const out: BlockSummary[] = []
  const tip = chain.tip
  for (let h = tip.height; h >= 0 && out.length < count; h--) {
    const entry = await chain.canonicalEntry(h)
    if (entry == null) break
    out.push(summarize(entry))
  }
  return out
}
