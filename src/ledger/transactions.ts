/**
 * How transactions reach the mempool and leave this node: admission of gossiped ones, signing of
 * this node's own transfers and settles, announcing them on gossip and re-announcing those still
 * pending. Mempool changes run through the ledger's queue, like chain changes, so admission sees
 * a settled tip.
 */
import { logger } from '@libp2p/logger'
import { encode } from '../proofs/encoding.ts'
import { peerIdSchema } from '../proofs/schema.ts'
import type { Lease, SignedAck, SignedCheckpoint } from '../proofs/lease.ts'
import type { Signer } from '../proofs/signing.ts'
import type { ChainIndex } from './chain-index.ts'
import { MEMPOOL_REBROADCAST_MAX, MEMPOOL_REBROADCAST_MAX_WAIT_MS } from './constants.ts'
import { DuplicateError, LedgerUsageError, OverdraftError } from './errors.ts'
import type { Mempool, MempoolState } from './mempool.ts'
import type { SerialQueue } from './serial-queue.ts'
import { createSettle, createTransfer, decodeTransaction, txInfo, verifyTransaction, type TxInfo, type VerifiedTxCache } from './tx.ts'
import type { LedgerInit, TxView } from './types.ts'
import { txView } from './views.ts'

const log = logger('depin:ledger')

export interface LedgerTransactionsInit {
  chain: ChainIndex
  pool: Mempool
  queue: SerialQueue
  signer: Signer
  networkId: string
  verified: VerifiedTxCache
  now: () => number
  publishTransaction?: LedgerInit['publishTransaction']
  rebroadcastMs: number
  /** A transaction entered the mempool (the ledger's `transaction` event). */
  admitted: (view: TxView) => void
  /** This node's own transaction entered the mempool: worth a new block template. */
  announced: () => void
}

export class LedgerTransactions {
  private readonly init: LedgerTransactionsInit
  private rebroadcastTimer?: ReturnType<typeof setInterval>

  constructor (init: LedgerTransactionsInit) {
    this.init = init
  }

  /** What the mempool checks a transaction against: the canonical state. */
  mempoolState (): MempoolState {
    const chain = this.init.chain
    return {
      account: async (peer) => await chain.account(peer),
      receipt: async (id) => await chain.receipt(id),
      now: this.init.now
    }
  }

  verify (info: TxInfo): void {
    verifyTransaction(info, this.init.networkId, this.init.verified)
  }

  /** Brings the mempool in line with a chain change (run it under the queue); returns what undone blocks made pending again. */
  async reconcile (applied: TxInfo[][], undone: TxInfo[][]): Promise<TxInfo[]> {
    return await this.init.pool.reconcile(applied, undone, this.mempoolState(), (info) => { this.verify(info) })
  }

  /** A decoded transaction from gossip (or anywhere). */
  async add (info: TxInfo): Promise<TxView> {
    const { pool, queue } = this.init
    // [IGNORE] duplicate, before any signature work
    if (pool.has(info.hashHex)) throw new DuplicateError(`transaction ${info.hashHex} is already pending`)
    // [REJECT] network, composition, signatures
    this.verify(info)
    // [IGNORE] contextual: nonce, balance, already settled, bounds
    await queue.run(async () => { await pool.admit(info, this.mempoolState()) })
    const view = txView(info)
    this.init.admitted(view)
    return view
  }

  async transfer (to: string, amount: number): Promise<TxView> {
    const { chain, pool, queue, signer, networkId } = this.init
    if (!peerIdSchema.safeParse(to).success) throw new LedgerUsageError(`not an Ed25519 peer id: ${JSON.stringify(String(to).slice(0, 64))}`)
    if (!Number.isSafeInteger(amount) || amount <= 0) throw new LedgerUsageError('amount must be a positive integer number of credits')
    if (to === signer.peerId) throw new LedgerUsageError('cannot transfer to oneself')
    const me = signer.peerId
    const info = await queue.run(async () => {
      const account = await chain.account(me)
      const spendable = account.balance - pool.pendingOutgoing(me)
      if (amount > spendable) throw new OverdraftError(`spendable balance is ${spendable}, cannot transfer ${amount}`, 'ignore')
      const tx = createTransfer(signer, { network: networkId, to, amount, nonce: account.nonce + pool.pendingTransfers(me) })
      const info = txInfo(tx)
      this.verify(info)
      await pool.admit(info, this.mempoolState())
      return info
    })
    return await this.announce(info)
  }

  async submitSettle (lease: Lease, checkpoint: SignedCheckpoint, ack: SignedAck): Promise<TxView> {
    const me = this.init.signer.peerId
    if (lease.body.requester !== me && lease.body.worker !== me) throw new LedgerUsageError('only a party to the lease settles it')
    // Through the wire format, as a peer would receive it: what the schema refuses (a lease with
    // oneself, an expiry before acceptance, an oversize settle) must not enter the mempool, or
    // every block this node mines with it would be refused, by itself first.
    const info = decodeTransaction(encode(createSettle({ network: this.init.networkId, lease, checkpoint, ack })))
    // Schema, composition and signature errors surface to the caller as their own classes.
    this.verify(info)
    await this.init.queue.run(async () => { await this.init.pool.admit(info, this.mempoolState()) })
    return await this.announce(info)
  }

  private async announce (info: TxInfo): Promise<TxView> {
    const view = txView(info)
    this.init.admitted(view)
    await this.publish(info)
    this.init.announced()
    return view
  }

  /** Publishes a transaction on gossip; a failure (e.g. no peers yet) is logged, the periodic re-announce retries. */
  async publish (info: TxInfo): Promise<void> {
    try {
      await this.init.publishTransaction?.(info.bytes)
    } catch (err) {
      log('could not publish transaction %s: %e', info.hashHex, err)
    }
  }

  /** Starts re-announcing every `rebroadcastMs` (see `rebroadcast`). */
  startRebroadcast (): void {
    this.rebroadcastTimer = setInterval(() => { this.rebroadcast() }, this.init.rebroadcastMs)
    this.rebroadcastTimer.unref?.()
  }

  stopRebroadcast (): void {
    if (this.rebroadcastTimer != null) clearInterval(this.rebroadcastTimer)
    this.rebroadcastTimer = undefined
  }

  /**
   * Re-announces this node's own pending transactions (each node answers for its own; every
   * node re-announcing everything it held multiplied the idle traffic by the size of the
   * network), backing off from `rebroadcastMs` to `MEMPOOL_REBROADCAST_MAX_WAIT_MS`.
   */
  private rebroadcast (): void {
    if (this.init.publishTransaction == null) return
    const { rebroadcastMs } = this.init
    const due = this.init.pool.takeStale(Date.now(), rebroadcastMs, MEMPOOL_REBROADCAST_MAX, {
      payer: this.init.signer.peerId,
      maxWaitMs: Math.max(rebroadcastMs, MEMPOOL_REBROADCAST_MAX_WAIT_MS)
    })
    for (const info of due) void this.publish(info)
  }
}
