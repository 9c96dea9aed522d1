/**
 * The state transition: applying a block's transactions to balances, nonces and the receipts
 * index (with the undo record that reverses it), and undoing a block. Runs on an Overlay, so a
 * failure part-way leaves nothing behind: the caller drops the overlay.
 *
 * Rules (every failure here is [REJECT]: the block is invalid):
 * - coinbase: credits `amount` to `miner`.
 * - transfer: `nonce` must equal the sender's account nonce; the sender's balance must cover
 *   `amount`; the sender's nonce increases by one.
 * - settle: the acknowledgement must pay more than the lease's earlier settles on this chain
 *   (earlier in the same block included) and be of the same or a later checkpoint; the block's
 *   timestamp must be within the lease's settlement window; the requester's balance must cover
 *   the difference, which moves from requester to worker, and the lease's receipt is updated.
 *   No account nonce: the cumulative amount makes a replay pay nothing, so it is refused.
 * - no balance may exceed Number.MAX_SAFE_INTEGER.
 */
import type { CID } from 'multiformats/cid'
import { SETTLE_WINDOW_MS } from './constants.ts'
import { AlreadySettledError, BalanceOverflowError, BadNonceError, LeaseExpiredError, OverdraftError, type LedgerAction } from './errors.ts'
import { encodeReceipt, decodeReceipt, type Account, type Overlay, type ReceiptRecord, type UndoRecord } from './store.ts'
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

/** Where a transaction is applied: the block (its hash, height and timestamp). */
export interface ApplyAt {
  block: Uint8Array
  height: number
  timestamp: number
}

/** A receipt a block wrote, with the one it replaced (for the undo record). */
export type ReceiptChange = [leaseId: Uint8Array, previous: ReceiptRecord | undefined]

/** The last block timestamp at which a settle of this lease is valid. */
export function settleDeadline (body: { lease: { body: { expiresAt: number } } }): number {
  return body.lease.body.expiresAt + SETTLE_WINDOW_MS
}

/**
 * What a settle would pay now: its acknowledged amount less what the lease's earlier settles
 * paid. Throws (with `action`) when it pays nothing new, is of an older checkpoint, or is past
 * the lease's settlement window.
 */
export function settleDue (info: TxInfo, previous: ReceiptRecord | undefined, timestamp: number, action: LedgerAction): number {
  const body = info.tx.body
  if (body.type !== 'settle') return info.amount
  const ack = body.ack.body
  const idText = (info.leaseId as CID).toString()
  if (previous != null && (ack.paid <= previous.paid || ack.seq < previous.seq)) {
    throw new AlreadySettledError(`lease ${idText} is already settled through ${previous.paid} credits (checkpoint ${previous.seq})`, action)
  }
  const settleBy = settleDeadline(body)
  if (timestamp > settleBy) throw new LeaseExpiredError(`lease ${idText} could be settled until ${new Date(settleBy).toISOString()}`, action)
  return ack.paid - (previous?.paid ?? 0)
}

/** Applies one transaction (shared by blocks, with action 'reject', and template building). Returns the receipt change of a settle. */
export async function applyTransaction (touched: { get: (peer: string) => Promise<Account>, set: (peer: string, a: Account) => void }, overlay: Overlay, info: TxInfo, at: ApplyAt, action: LedgerAction): Promise<ReceiptChange | undefined> {
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
      const id = info.leaseId as CID
      const previous = await overlay.receipt(id)
      const due = settleDue(info, previous, at.timestamp, action)
      const requester = body.lease.body.requester
      const worker = body.lease.body.worker
      const from = await touched.get(requester)
      if (from.balance < due) throw new OverdraftError(`${requester} has ${from.balance}, cannot pay ${due}`, action)
      const to = await touched.get(worker)
      const toBalance = credit(to.balance, due, worker)
      touched.set(requester, { balance: from.balance - due, nonce: from.nonce })
      touched.set(worker, { balance: toBalance, nonce: to.nonce })
      const record: ReceiptRecord = {
        leaseId: id,
        requester,
        worker,
        paid: body.ack.body.paid,
        seq: body.ack.body.seq,
        tasks: body.ack.body.count,
        fuel: body.checkpoint.body.fuel,
        block: at.block,
        height: at.height,
        tx: info.hash
      }
      if (previous != null) overlay.delReceipt(previous)
      overlay.putReceipt(record)
      return [id.bytes, previous]
    }
  }
}

/** Applies a block's transactions to the overlay and returns its undo record. Throws [REJECT] errors. */
export async function applyBlock (overlay: Overlay, blockHash: Uint8Array, height: number, timestamp: number, txs: TxInfo[]): Promise<UndoRecord> {
  const touched = new Touched(overlay)
  // The first record each lease had before this block (a lease settled twice in one block is undone to it).
  const receipts = new Map<string, [Uint8Array, Uint8Array | null]>()
  const at = { block: blockHash, height, timestamp }
  for (const info of txs) {
    const change = await applyTransaction(touched, overlay, info, at, 'reject')
    if (change == null) continue
    const key = Buffer.from(change[0]).toString('base64')
    if (!receipts.has(key)) receipts.set(key, [change[0], change[1] == null ? null : encodeReceipt(change[1])])
  }
  return {
    accounts: [...touched.before].map(([peer, a]) => [peer, a.balance, a.nonce]),
    receipts: [...receipts.values()]
  }
}

/** Reverses a block with its undo record. */
export async function undoBlock (overlay: Overlay, undo: UndoRecord, parseId: (bytes: Uint8Array) => CID): Promise<void> {
  for (const [idBytes, previous] of undo.receipts) {
    const existing = await overlay.receipt(parseId(idBytes))
    if (existing != null) overlay.delReceipt(existing)
    if (previous != null) overlay.putReceipt(decodeReceipt(previous))
  }
  for (const [peer, balance, nonce] of undo.accounts) overlay.setAccount(peer, { balance, nonce })
}
