/**
 * The state transition: applying a block's transactions to balances, nonces and the receipts
 * index (with the undo record that reverses it), and undoing a block. Runs on an Overlay, so a
 * failure part-way leaves nothing behind: the caller drops the overlay.
 *
 * Rules (every failure here is [REJECT]: the block is invalid):
 * - coinbase: credits `amount` to `miner`.
 * - transfer: `nonce` must equal the sender's account nonce; the sender's balance must cover
 *   `amount`; the sender's nonce increases by one.
 * - settle: the agreement id must not be settled on this chain yet (nor earlier in the same
 *   block); the requester's balance must cover `amount`; moves `amount` from requester to
 *   worker and records the receipt. No account nonce: the receipts index makes a replay impossible.
 * - no balance may exceed Number.MAX_SAFE_INTEGER.
 */
import type { CID } from 'multiformats/cid'
import { AlreadySettledError, BalanceOverflowError, BadNonceError, OverdraftError, type LedgerAction } from './errors.ts'
import type { Account, Overlay, ReceiptRecord, UndoRecord } from './store.ts'
import type { TxInfo } from './tx.ts'

/** Tracks the accounts a block touches, remembering each one's value before the block. */
class Touched {
  private readonly overlay: Overlay
  readonly before = new Map<string, Account>()
  constructor (overlay: Overlay) { this.overlay = overlay }

  async get (peer: string): Promise<Account> {
    const current = await this.overlay.account(peer)
    if (!this.before.has(peer)) this.before.set(peer, { ...current })
    return current
  }

  set (peer: string, account: Account): void {
    this.overlay.setAccount(peer, account)
  }
}

export function credit (balance: number, amount: number, who: string): number {
  const next = balance + amount
  if (!Number.isSafeInteger(next)) throw new BalanceOverflowError(`balance of ${who} would exceed Number.MAX_SAFE_INTEGER`)
  return next
}

/** Applies one transaction (shared by blocks, with action 'reject', and template building). */
export async function applyTransaction (touched: { get: (peer: string) => Promise<Account>, set: (peer: string, a: Account) => void }, overlay: Overlay, info: TxInfo, at: { block: Uint8Array, height: number }, action: LedgerAction, settledHere?: Set<string>): Promise<CID | undefined> {
  const body = info.tx.body
  switch (body.type) {
    case 'coinbase': {
      const miner = await touched.get(body.miner)
      touched.set(body.miner, { balance: credit(miner.balance, body.amount, body.miner), nonce: miner.nonce })
      return undefined
    }
    case 'transfer': {
      const from = await touched.get(body.from)
      if (body.nonce !== from.nonce) throw new BadNonceError(`transfer nonce ${body.nonce} is not ${body.from}'s next nonce ${from.nonce}`, action)
      if (from.balance < body.amount) throw new OverdraftError(`${body.from} has ${from.balance}, cannot pay ${body.amount}`, action)
      const to = await touched.get(body.to)
      const toBalance = credit(to.balance, body.amount, body.to)
      touched.set(body.from, { balance: from.balance - body.amount, nonce: from.nonce + 1 })
      touched.set(body.to, { balance: toBalance, nonce: to.nonce })
      return undefined
    }
    case 'settle': {
      const id = info.agreementId as CID
      const idText = id.toString()
      if (settledHere?.has(idText) === true || await overlay.receipt(id) != null) {
        throw new AlreadySettledError(`agreement ${idText} is already settled`, action)
      }
      const requester = body.agreement.body.requester
      const worker = body.agreement.body.worker
      const from = await touched.get(requester)
      if (from.balance < body.amount) throw new OverdraftError(`${requester} has ${from.balance}, cannot pay ${body.amount}`, action)
      const to = await touched.get(worker)
      const toBalance = credit(to.balance, body.amount, worker)
      touched.set(requester, { balance: from.balance - body.amount, nonce: from.nonce })
      touched.set(worker, { balance: toBalance, nonce: to.nonce })
      const record: ReceiptRecord = {
        agreementId: id,
        jobId: body.agreement.body.jobId,
        requester,
        worker,
        amount: body.amount,
        outputCid: body.result.body.outputCid,
        block: at.block,
        height: at.height,
        tx: info.hash
      }
      overlay.putReceipt(record)
      settledHere?.add(idText)
      return id
    }
  }
}

/** Applies a block's transactions to the overlay and returns its undo record. Throws [REJECT] errors. */
export async function applyBlock (overlay: Overlay, blockHash: Uint8Array, height: number, txs: TxInfo[]): Promise<UndoRecord> {
  const touched = new Touched(overlay)
  const receipts: Uint8Array[] = []
  const settledHere = new Set<string>()
  const at = { block: blockHash, height }
  for (const info of txs) {
    const id = await applyTransaction(touched, overlay, info, at, 'reject', settledHere)
    if (id != null) receipts.push(id.bytes)
  }
  return {
    accounts: [...touched.before].map(([peer, a]) => [peer, a.balance, a.nonce]),
    receipts
  }
}

/** Reverses a block with its undo record. */
export async function undoBlock (overlay: Overlay, undo: UndoRecord, parseId: (bytes: Uint8Array) => CID): Promise<void> {
  for (const idBytes of undo.receipts) {
    const existing = await overlay.receipt(parseId(idBytes))
    if (existing != null) overlay.delReceipt(existing)
  }
  for (const [peer, balance, nonce] of undo.accounts) overlay.setAccount(peer, { balance, nonce })
}
