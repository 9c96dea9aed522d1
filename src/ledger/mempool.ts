/**
 * Pending transactions, valid against the current tip.
 *
 * - Bounded: total count, total bytes, and per payer (transfer sender or settle requester).
 * - Transfers of one sender must come in nonce order without gaps: a transfer is admitted only
 *   with nonce = account nonce + pending transfers of that sender. No replacement (there are no fees).
 * - One pending settle per lease: a settle that pays more than the pending one replaces it; one
 *   that pays no more than the chain or the pending one already does is refused.
 * - A payer's pending outgoing amounts never exceed its balance.
 * - After the canonical chain changes, `reconcile` drops what blocks included or made invalid (and
 *   settles whose lease's settlement window has closed) and re-admits the transactions of undone
 *   blocks that are still valid. What was pending stays pending unless it became invalid: it and
 *   the undone transfers its nonce needs before it are re-admitted without the room checks (the
 *   pool may then hold more than its bounds until blocks take them); other undone transactions
 *   need room.
 *
 * Contextual failures here are [IGNORE]: an honest peer may relay a transaction a block has just
 * made stale. Signatures are checked by the caller before admission.
 */
import { logger } from '@libp2p/logger'
import {
  AlreadySettledError, BadNonceError, DuplicateError, MempoolFullError, OverdraftError
} from './errors.ts'
import { settleDeadline, settleDue } from './state.ts'
import type { Account, ReceiptRecord } from './store.ts'
import type { TxInfo } from './tx.ts'

const log = logger('depin:ledger:mempool')

export interface MempoolInit {
  maxTxs: number
  maxBytes: number
  maxPerPayer: number
}

/** What admission reads from the chain. */
export interface MempoolState {
  account(peer: string): Promise<Account>
  /** The lease's settlement on the tip. */
  receipt(leaseId: NonNullable<TxInfo['leaseId']>): Promise<ReceiptRecord | undefined>
  now(): number
}

interface PoolEntry {
  info: TxInfo
  payer: string
  /** What it moves from the payer if mined on the current tip (a settle: its part not yet paid). */
  amount: number
  seq: number
  /** When it was added or last re-announced (ms since the epoch). */
  announcedAt: number
  /** Re-announcements so far (each waits twice as long as the one before). */
  announces: number
}

export class Mempool {
  private readonly init: MempoolInit
  private readonly byHash = new Map<string, PoolEntry>()
  private readonly byPayer = new Map<string, PoolEntry[]>()
  private readonly byLease = new Map<string, string>()
  private bytesTotal = 0
  private seq = 0

  constructor (init: MempoolInit) {
    this.init = init
  }

  get size (): number { return this.byHash.size }
  get bytes (): number { return this.bytesTotal }

  has (hashHex: string): boolean { return this.byHash.has(hashHex) }

  /** The hash of the pending settle of a lease, if any. */
  pendingSettle (leaseId: string): string | undefined { return this.byLease.get(leaseId) }

  /** Sum of pending amounts `peer` pays. */
  pendingOutgoing (peer: string): number {
    let sum = 0
    for (const e of this.byPayer.get(peer) ?? []) sum += e.amount
    return sum
  }

  /** Number of pending transfers sent by `peer`. */
  pendingTransfers (peer: string): number {
    let n = 0
    for (const e of this.byPayer.get(peer) ?? []) if (e.info.tx.body.type === 'transfer') n++
    return n
  }

  /** All pending transactions in admission order (which respects each sender's nonce order). */
  ordered (): TxInfo[] {
    return [...this.byHash.values()].sort((a, b) => a.seq - b.seq).map((e) => e.info)
  }

  /** Admits a signature-checked transaction, or throws an [IGNORE] error. */
  async admit (info: TxInfo, state: MempoolState): Promise<void> {
    await this.admitChecked(info, state, true)
  }

  /** `bounded`: the room checks (total count and bytes, per payer) apply. */
  private async admitChecked (info: TxInfo, state: MempoolState, bounded: boolean): Promise<void> {
    const body = info.tx.body
    const payer = info.payer
    if (body.type === 'coinbase' || payer == null) throw new DuplicateError('a coinbase never enters the mempool')
    // [IGNORE] duplicate
    if (this.byHash.has(info.hashHex)) throw new DuplicateError(`transaction ${info.hashHex} is already pending`)
    let amount = info.amount
    let replaces: string | undefined
    if (body.type === 'settle') {
      const id = info.leaseId as NonNullable<TxInfo['leaseId']>
      // [IGNORE] pays nothing new on the chain, or past the lease's settlement window
      amount = settleDue(info, await state.receipt(id), state.now(), 'ignore')
      // [IGNORE] a pending settle of the lease pays as much; a larger one replaces it
      replaces = this.byLease.get(id.toString())
      const pendingPaid = replaces != null ? (this.byHash.get(replaces) as PoolEntry).info.amount : 0
      if (replaces != null && info.amount <= pendingPaid) throw new AlreadySettledError(`lease ${id.toString()} has a pending settle paying ${pendingPaid}`, 'ignore')
    }
    const pending = (this.byPayer.get(payer) ?? []).filter((e) => e.info.hashHex !== replaces)
    // A replacement frees the room of the settle it replaces.
    const freed = replaces != null ? this.byHash.get(replaces) : undefined
    const count = this.byHash.size - (freed != null ? 1 : 0)
    const bytes = this.bytesTotal - (freed?.info.bytes.byteLength ?? 0)
    // [IGNORE] bounds
    if (bounded && pending.length >= this.init.maxPerPayer) throw new MempoolFullError(`${payer} already has ${pending.length} pending transactions`)
    if (bounded && (count >= this.init.maxTxs || bytes + info.bytes.byteLength > this.init.maxBytes)) {
      throw new MempoolFullError('the mempool is full')
    }
    const account = await state.account(payer)
    if (body.type === 'transfer') {
      const next = account.nonce + pending.filter((e) => e.info.tx.body.type === 'transfer').length
      // [IGNORE] stale (already on the chain or pending) or a gap
      if (body.nonce !== next) {
        throw new BadNonceError(body.nonce < account.nonce
          ? `transfer nonce ${body.nonce} is already used (account nonce ${account.nonce})`
          : `transfer nonce ${body.nonce} is not the next one (${next})`, 'ignore')
      }
    }
    let outgoing = 0
    for (const e of pending) outgoing += e.amount
    // [IGNORE] the payer cannot cover it on top of what is already pending
    if (account.balance - outgoing < amount) {
      throw new OverdraftError(`${payer} has ${account.balance} with ${outgoing} pending, cannot pay ${amount}`, 'ignore')
    }
    if (replaces != null) this.remove(replaces)
    this.insert(info, payer, amount)
  }

  private insert (info: TxInfo, payer: string, amount: number): void {
    const entry: PoolEntry = { info, payer, amount, seq: this.seq++, announcedAt: Date.now(), announces: 0 }
    this.byHash.set(info.hashHex, entry)
    const list = this.byPayer.get(payer) ?? []
    list.push(entry)
    this.byPayer.set(payer, list)
    if (info.leaseId != null) this.byLease.set(info.leaseId.toString(), info.hashHex)
    this.bytesTotal += info.bytes.byteLength
  }

  remove (hashHex: string): void {
    const entry = this.byHash.get(hashHex)
    if (entry == null) return
    this.byHash.delete(hashHex)
    const list = (this.byPayer.get(entry.payer) ?? []).filter((e) => e !== entry)
    if (list.length === 0) this.byPayer.delete(entry.payer)
    else this.byPayer.set(entry.payer, list)
    if (entry.info.leaseId != null && this.byLease.get(entry.info.leaseId.toString()) === hashHex) this.byLease.delete(entry.info.leaseId.toString())
    this.bytesTotal -= entry.info.bytes.byteLength
  }

  /**
   * Brings the pool in line with a canonical chain change: removes what the applied blocks
   * included, then for every account the change touched rebuilds that payer's pending list from
   * its own pending transactions plus those of undone blocks, re-admitting in nonce order and
   * dropping what is no longer valid. What was pending, and the undone transfers it needs before
   * it, skip the room checks: the undone ones re-admitted first would otherwise take the room of
   * what this node had already accepted (its own transfers too), and a pending transfer whose
   * predecessor found no room is invalid anyway. Other undone transactions need room. Every drop
   * is logged. `verify` re-checks signatures (cached, so cheap). Returns the
   * transactions of undone blocks that are pending again (the caller re-announces them: peers
   * that only ever saw them in a block do not have them).
   */
  async reconcile (applied: TxInfo[][], undone: TxInfo[][], state: MempoolState, verify: (info: TxInfo) => void): Promise<TxInfo[]> {
    const included = new Set<string>()
    const affected = new Set<string>()
    // Settles whose lease's settlement window has closed can never be mined: drop them (they
    // would otherwise hold their payer's balance and a pool slot, and be re-announced, until the
    // payer's next transaction).
    const now = state.now()
    for (const e of [...this.byHash.values()]) {
      const body = e.info.tx.body
      if (body.type === 'settle' && now > settleDeadline(body)) this.remove(e.info.hashHex)
    }
    for (const txs of applied) {
      for (const info of txs) {
        included.add(info.hashHex)
        // A pending settle of a lease a block settled is re-admitted below against the new
        // receipt: kept (paying the rest) if it pays more, dropped if not.
        this.remove(info.hashHex)
        if (info.payer != null) affected.add(info.payer)
        affected.add(info.payee)
      }
    }
    const candidates = new Map<string, TxInfo[]>()
    // Undone blocks arrive highest first; re-admit lowest first so nonces come in order.
    for (const txs of [...undone].reverse()) {
      for (const info of txs) {
        if (info.payer != null) affected.add(info.payer)
        affected.add(info.payee)
        if (info.payer == null || included.has(info.hashHex)) continue
        const list = candidates.get(info.payer) ?? []
        list.push(info)
        candidates.set(info.payer, list)
      }
    }
    for (const payer of affected) {
      const current = this.byPayer.get(payer)
      const extra = candidates.get(payer)
      if (current == null && extra == null) continue
      const all = new Map<string, TxInfo>()
      for (const info of extra ?? []) all.set(info.hashHex, info)
      for (const e of current ?? []) all.set(e.info.hashHex, e.info)
      const held = new Set<string>()
      let lastPendingNonce = -1
      for (const e of current ?? []) {
        held.add(e.info.hashHex)
        const body = e.info.tx.body
        if (body.type === 'transfer') lastPendingNonce = Math.max(lastPendingNonce, body.nonce)
        this.remove(e.info.hashHex)
      }
      const sorted = [...all.values()].sort((a, b) => rank(a) - rank(b))
      for (const info of sorted) {
        const body = info.tx.body
        const needed = held.has(info.hashHex) || (body.type === 'transfer' && body.nonce < lastPendingNonce)
        try {
          verify(info)
          await this.admitChecked(info, state, !needed)
        } catch (err) {
          log('dropped %s transaction %s of %s after a chain change: %s', held.has(info.hashHex) ? 'pending' : 'undone', info.hashHex, payer, (err as Error).message)
        }
      }
    }
    const readded: TxInfo[] = []
    for (const list of candidates.values()) for (const info of list) if (this.byHash.has(info.hashHex)) readded.push(info)
    return readded
  }

  /**
   * Pending transactions due for another announcement, oldest first; marks them announced now.
   * A transaction is due `minAgeMs` after it was added, then after twice as long each time
   * (at most `maxWaitMs`), so a transaction no miner takes costs less and less traffic.
   * With `payer`, only that payer's transactions: each node re-announces its own.
   */
  takeStale (now: number, minAgeMs: number, max: number, options: { payer?: string, maxWaitMs?: number } = {}): TxInfo[] {
    const out: TxInfo[] = []
    const entries = options.payer != null ? [...(this.byPayer.get(options.payer) ?? [])] : [...this.byHash.values()]
    for (const e of entries.sort((a, b) => a.seq - b.seq)) {
      if (out.length >= max) break
      const wait = Math.min(minAgeMs * 2 ** e.announces, options.maxWaitMs ?? Number.POSITIVE_INFINITY)
      if (now - e.announcedAt < wait) continue
      e.announcedAt = now
      e.announces++
      out.push(e.info)
    }
    return out
  }
}

/** Transfers by nonce first, then settles in their existing order. */
function rank (info: TxInfo): number {
  const body = info.tx.body
  return body.type === 'transfer' ? body.nonce : Number.MAX_SAFE_INTEGER
}
