import { describe, it, expect, beforeEach, afterEach } from 'vitest'
import type { Signer } from '../src/proofs/signing.ts'
import { encode } from '../src/proofs/encoding.ts'
import { leaseId, signLeaseAsRequester, signLeaseAsWorker, type Lease, type SignedAck, type SignedCheckpoint } from '../src/proofs/lease.ts'
import {
  AlreadySettledError, AmountOverMaxCostError, BadNonceError, DuplicateError, LeaseExpiredError, MempoolFullError, OverdraftError,
  TxSignatureError, LedgerUsageError, MalformedError, SETTLE_WINDOW_MS, SettleMismatchError, actionOf, type GenesisConfig, type Ledger
} from '../src/ledger/index.ts'
import { createSettle, createTransfer, type Transaction } from '../src/ledger/tx.ts'
import {
  buildBlock, genesisInfo, infoOf, makeAck, makeCheckpoint, makeLease, makeSigners, makeWork, startLedger, testGenesis, waitFor, type ParentInfo
} from './fixtures/ledger/helpers.ts'

const network = 'test-ledger'
let alice: Signer, bob: Signer, carol: Signer, miner: Signer
let genesis: GenesisConfig
let ledger: Ledger
let published: Uint8Array[]

beforeEach(async () => {
  [alice, bob, carol, miner] = await makeSigners(4)
  genesis = testGenesis([alice.peerId, bob.peerId])
  published = []
  ledger = await startLedger({ signer: alice, genesis, mempoolMaxPerSender: 4, mempoolMaxTxs: 6, publishTransaction: (b) => { published.push(b) } })
})
afterEach(async () => { await ledger.stop() })

const bytes = (tx: Transaction): Uint8Array => encode(tx)
const t = (from: Signer, to: Signer, amount: number, nonce: number): Transaction => createTransfer(from, { network, to: to.peerId, amount, nonce })
const createSettleBytes = (lease: Lease, checkpoint: SignedCheckpoint, ack: SignedAck): Uint8Array => encode(createSettle({ network, lease, checkpoint, ack }))

async function failure (p: Promise<unknown>): Promise<Error> {
  return await p.then(() => { throw new Error('expected a failure') }, (e: Error) => e)
}

/** Fails with `cls`, as [IGNORE] (an honest peer may relay it). */
async function ignored (p: Promise<unknown>, cls: new (...args: any[]) => Error): Promise<void> {
  const err = await failure(p)
  expect(err).toBeInstanceOf(cls)
  expect(actionOf(err)).toBe('ignore')
}

/** Adds a block with `txs` on the tip, mined by someone else. */
async function mined (txs: Transaction[]): Promise<void> {
  const tip = ledger.tip()
  const parent: ParentInfo = tip.height === 0 ? genesisInfo(ledger, genesis) : { hash: tip.hash, height: tip.height, timestamp: tip.timestamp }
  await ledger.addBlock(buildBlock({ genesis, parent, miner: miner.peerId, txs }))
}

describe('mempool admission', () => {
  it('accepts a valid transfer from gossip and ignores its duplicate', async () => {
    const view = await ledger.addTransaction(bytes(t(bob, carol, 10, 0)), 'peer')
    expect(view).toMatchObject({ type: 'transfer', from: bob.peerId, to: carol.peerId, amount: 10, nonce: 0 })
    const err = await failure(ledger.addTransaction(bytes(t(bob, carol, 10, 0))))
    expect(err).toBeInstanceOf(DuplicateError)
    expect(actionOf(err)).toBe('ignore')
    expect(ledger.mempool().size).toBe(1)
  })

  it('rejects a transaction with a bad signature', async () => {
    const tx = t(bob, carol, 10, 0) as { body: any, sig: Uint8Array }
    const err = await failure(ledger.addTransaction(encode({ body: { ...tx.body, amount: 99 }, sig: tx.sig })))
    expect(err).toBeInstanceOf(TxSignatureError)
    expect(actionOf(err)).toBe('reject')
  })

  it('rejects bytes that are not a transaction', async () => {
    const err = await failure(ledger.addTransaction(encode({ body: { type: 'transfer' }, sig: new Uint8Array(64) })))
    expect(err).toBeInstanceOf(MalformedError)
    expect(actionOf(err)).toBe('reject')
  })

  it('admits transfers only in nonce order, without gaps', async () => {
    const gap = await failure(ledger.addTransaction(bytes(t(bob, carol, 1, 1))))
    expect(gap).toBeInstanceOf(BadNonceError)
    expect(actionOf(gap)).toBe('ignore')
    await ledger.addTransaction(bytes(t(bob, carol, 1, 0)))
    await ledger.addTransaction(bytes(t(bob, carol, 1, 1)))
    expect(ledger.mempool().size).toBe(2)
  })

  it('ignores a transfer replayed with a nonce already used on the chain', async () => {
    const t0 = t(bob, carol, 5, 0)
    await ledger.addBlock(buildBlock({ genesis, parent: genesisInfo(ledger, genesis), miner: miner.peerId, txs: [t0] }))
    const err = await failure(ledger.addTransaction(bytes(t0)))
    expect(err).toBeInstanceOf(BadNonceError)
    expect(actionOf(err)).toBe('ignore')
  })

  it('bounds pending transactions per sender and in total', async () => {
    for (let n = 0; n < 4; n++) await ledger.addTransaction(bytes(t(bob, carol, 1, n)))
    expect(await failure(ledger.addTransaction(bytes(t(bob, carol, 1, 4))))).toBeInstanceOf(MempoolFullError)
    await ledger.addTransaction(bytes(t(alice, carol, 1, 0)))
    await ledger.addTransaction(bytes(t(alice, carol, 1, 1)))
    const full = await failure(ledger.addTransaction(bytes(t(alice, carol, 1, 2))))
    expect(full).toBeInstanceOf(MempoolFullError)
    expect(actionOf(full)).toBe('ignore')
    expect(ledger.mempool().size).toBe(6)
  })

  it('keeps nothing for transfers with nonces far in the future: the sender\'s share stays bounded', async () => {
    await ledger.addTransaction(bytes(t(bob, carol, 1, 0)))
    // A flood of well-signed transfers that can only apply after millions of others.
    for (const nonce of [1_000_000, 2 ** 31, Number.MAX_SAFE_INTEGER, 5, 2]) {
      const err = await failure(ledger.addTransaction(bytes(t(bob, carol, 1, nonce))))
      expect(err).toBeInstanceOf(BadNonceError)
      expect(actionOf(err)).toBe('ignore')
    }
    for (let n = 0; n < 200; n++) await failure(ledger.addTransaction(bytes(t(bob, carol, 1, 10 + n))))
    expect(ledger.mempool().size).toBe(1)
    // The next nonce is still admitted, and the per-sender bound (4 here) still holds.
    for (let n = 1; n < 4; n++) await ledger.addTransaction(bytes(t(bob, carol, 1, n)))
    expect(await failure(ledger.addTransaction(bytes(t(bob, carol, 1, 4))))).toBeInstanceOf(MempoolFullError)
    expect(ledger.mempool().size).toBe(4)
  })

  it('counts pending spends against the balance', async () => {
    await ledger.addTransaction(bytes(t(bob, carol, 600, 0)))
    expect(await ledger.spendable(bob.peerId)).toBe(400)
    const err = await failure(ledger.addTransaction(bytes(t(bob, carol, 600, 1))))
    expect(err).toBeInstanceOf(OverdraftError)
    expect(actionOf(err)).toBe('ignore')
  })

  it('keeps one pending settle per lease: a larger one replaces it, an equal or smaller one is ignored', async () => {
    const work = makeWork(bob, carol)
    const s10 = work.settle(network, 10)
    const s20 = work.settle(network, 20)
    const s15 = work.settle(network, 15)
    const s20again = work.settle(network, 20)
    await ledger.addTransaction(bytes(s10))
    expect(await ledger.spendable(bob.peerId)).toBe(990)
    expect(await ledger.addTransaction(bytes(s20))).toMatchObject({ type: 'settle', amount: 20, leaseId: leaseId(work.lease.body).toString(), tasks: 2 })
    expect(ledger.mempool().size).toBe(1)
    expect(await ledger.spendable(bob.peerId)).toBe(980)
    await ignored(ledger.addTransaction(bytes(s15)), AlreadySettledError)
    await ignored(ledger.addTransaction(bytes(s20again)), AlreadySettledError)
    // The replaced one does not come back either.
    await ignored(ledger.addTransaction(bytes(s10)), AlreadySettledError)
    await ignored(ledger.addTransaction(bytes(s20)), DuplicateError)
    expect(ledger.mempool().size).toBe(1)
    expect(await ledger.spendable(bob.peerId)).toBe(980)
    // Once a block settles it, what pays no more than the chain is ignored.
    await mined([s20])
    expect(ledger.mempool().size).toBe(0)
    expect(await ledger.settledAmount(leaseId(work.lease.body))).toBe(20)
    await ignored(ledger.addTransaction(bytes(s20)), AlreadySettledError)
    await ignored(ledger.addTransaction(bytes(s15)), AlreadySettledError)
    expect(await ledger.balance(carol.peerId)).toBe(20)
  })

  it('admits a later checkpoint of a settled lease and counts only the difference against the payer', async () => {
    const work = makeWork(bob, carol, { maxCredits: 1000 })
    await mined([work.settle(network, 300)])
    expect(await ledger.balance(bob.peerId)).toBe(700)
    await ledger.addTransaction(bytes(work.settle(network, 350)))
    expect(await ledger.spendable(bob.peerId)).toBe(650)
    // 650 spendable: a transfer of 651 does not fit, 650 does.
    await ignored(ledger.addTransaction(bytes(t(bob, alice, 651, 0))), OverdraftError)
    await ledger.addTransaction(bytes(t(bob, alice, 650, 0)))
    expect(await ledger.spendable(bob.peerId)).toBe(0)
  })

  it('ignores a settle the payer cannot cover, counting what it already has pending', async () => {
    const work = makeWork(bob, carol, { maxCredits: 1000 })
    await ledger.addTransaction(bytes(t(bob, alice, 600, 0)))
    await ignored(ledger.addTransaction(bytes(work.settle(network, 401))), OverdraftError)
    await ledger.addTransaction(bytes(work.settle(network, 400)))
    expect(await ledger.spendable(bob.peerId)).toBe(0)
    // A replacement counts only its own increase over the pending one: none is left.
    await ignored(ledger.addTransaction(bytes(work.settle(network, 401))), OverdraftError)
    expect(ledger.mempool().size).toBe(2)
  })

  it('ignores a settle of a lease past its settlement window, admits one inside it', async () => {
    const now = Date.now()
    const expired = makeWork(bob, carol, { acceptedAt: 1, expiresAt: now - SETTLE_WINDOW_MS - 60_000 })
    const err = await failure(ledger.addTransaction(bytes(expired.settle(network, 10))))
    expect(err).toBeInstanceOf(LeaseExpiredError)
    expect(actionOf(err)).toBe('ignore')
    // Expired an hour ago: still inside the window.
    const recent = makeWork(bob, carol, { acceptedAt: 1, expiresAt: now - 60 * 60 * 1000 })
    await ledger.addTransaction(bytes(recent.settle(network, 10)))
    expect(ledger.mempool().size).toBe(1)
  })

  it('rejects a settle with a forged part from gossip', async () => {
    const lease = makeLease(bob, carol)
    const checkpoint = makeCheckpoint(carol, lease, { seq: 1, count: 1, amount: 10 })
    const ack = makeAck(bob, checkpoint, 10)
    const forged = createSettleBytes(lease, checkpoint, { body: { ...ack.body, paid: 9 }, sig: ack.sig })
    const err = await failure(ledger.addTransaction(forged))
    expect(err).toBeInstanceOf(TxSignatureError)
    expect(actionOf(err)).toBe('reject')
    expect(ledger.mempool().size).toBe(0)
  })

  it('replaces a pending settle even when the pool is full', async () => {
    const work = makeWork(bob, carol)
    await ledger.addTransaction(bytes(work.settle(network, 10)))
    for (let n = 0; n < 3; n++) await ledger.addTransaction(bytes(t(bob, carol, 1, n)))
    await ledger.addTransaction(bytes(t(alice, carol, 1, 0)))
    await ledger.addTransaction(bytes(t(alice, carol, 1, 1)))
    expect(ledger.mempool().size).toBe(6)
    await ignored(ledger.addTransaction(bytes(makeWork(alice, carol).settle(network, 1))), MempoolFullError)
    // Replacing takes no new room: bob's pending settle grows to 20.
    await ledger.addTransaction(bytes(work.settle(network, 20)))
    expect(ledger.mempool().size).toBe(6)
    expect(await ledger.spendable(bob.peerId)).toBe(1000 - 20 - 3)
  })
})

describe('mempool after blocks', () => {
  it('drops included transactions and those a block made invalid', async () => {
    await ledger.addTransaction(bytes(t(bob, carol, 10, 0)))
    await ledger.addTransaction(bytes(t(bob, carol, 10, 1)))
    const work = makeWork(bob, carol)
    const pendingSettle = work.settle(network, 5)
    await ledger.addTransaction(bytes(pendingSettle))
    expect(ledger.mempool().size).toBe(3)
    // A block with a different transfer at nonce 0 and a larger settle of the same lease: the
    // pending nonce-0 transfer and the pending settle are dead, the nonce-1 transfer is now next.
    await mined([t(bob, alice, 900, 0), work.settle(network, 6)])
    expect(ledger.mempool().size).toBe(1)
    expect(await ledger.spendable(bob.peerId)).toBe(1000 - 900 - 6 - 10)
    await ignored(ledger.addTransaction(bytes(pendingSettle)), AlreadySettledError)
    // The next block spends the rest: the survivor no longer fits and is dropped too.
    await mined([t(bob, alice, 94, 1)])
    expect(ledger.mempool().size).toBe(0)
  })

  it('keeps later transfers whose predecessors were included', async () => {
    const t0 = t(bob, carol, 10, 0)
    await ledger.addTransaction(bytes(t0))
    await ledger.addTransaction(bytes(t(bob, carol, 10, 1)))
    await mined([t0])
    expect(ledger.mempool().size).toBe(1)
    expect(await ledger.spendable(bob.peerId)).toBe(980)
  })

  it('keeps a pending settle larger than the one a block included, now due only the rest', async () => {
    const work = makeWork(bob, carol)
    const s10 = work.settle(network, 10)
    const s30 = work.settle(network, 30)
    await ledger.addTransaction(bytes(s30))
    expect(await ledger.spendable(bob.peerId)).toBe(970)
    // Another node mined the first checkpoint.
    await mined([s10])
    expect(await ledger.balance(bob.peerId)).toBe(990)
    expect(await ledger.settledAmount(leaseId(work.lease.body))).toBe(10)
    expect(ledger.mempool().size).toBe(1)
    // Pending: 20 more, not 30.
    expect(await ledger.spendable(bob.peerId)).toBe(970)
    await ledger.addTransaction(bytes(t(bob, alice, 970, 0)))
    await ignored(ledger.addTransaction(bytes(t(bob, alice, 1, 1))), OverdraftError)
    await mined([s30, t(bob, alice, 970, 0)])
    expect(await ledger.balance(bob.peerId)).toBe(0)
    expect(await ledger.balance(carol.peerId)).toBe(30)
    expect(ledger.mempool().size).toBe(0)
  })

  it('a reorg with a full pool keeps what was pending, with the undone transfers it needs before it', async () => {
    const t0 = t(alice, carol, 5, 0)
    await mined([t0])
    // Our own transfers, nonces 1..4 (the per-sender bound), and two of bob's: the pool is full.
    for (let i = 0; i < 4; i++) expect((await ledger.transfer(carol.peerId, 7)).nonce).toBe(i + 1)
    await ledger.addTransaction(bytes(t(bob, carol, 10, 0)))
    await ledger.addTransaction(bytes(t(bob, carol, 10, 1)))
    expect(ledger.mempool().size).toBe(6)
    // A heavier branch without t0: t0 is pending again, in front of our four, and nothing was
    // dropped for room (t0 used to take the last slot and our nonce-4 transfer was lost).
    const g = genesisInfo(ledger, genesis)
    const b1 = buildBlock({ genesis, parent: g, miner: carol.peerId, timestamp: g.timestamp + 1001 })
    await ledger.addBlock(b1)
    expect((await ledger.addBlock(buildBlock({ genesis, parent: infoOf(b1), miner: carol.peerId }))).status).toBe('reorg')
    expect(ledger.mempool().size).toBe(7)
    expect(await ledger.nonce(alice.peerId)).toBe(0)
    expect(await ledger.spendable(alice.peerId)).toBe(1000 - 5 - 4 * 7)
    expect(await ledger.spendable(bob.peerId)).toBe(1000 - 20)
    // New transactions still meet the bounds.
    await ignored(ledger.addTransaction(bytes(t(bob, carol, 10, 2))), MempoolFullError)
    await ignored(ledger.transfer(carol.peerId, 1), MempoolFullError)
  })

  it('drops a pending settle once its lease\'s settlement window has passed', async () => {
    let clock = Date.now()
    const timed = await startLedger({ signer: alice, genesis, now: () => clock })
    try {
      const work = makeWork(bob, carol, { acceptedAt: 1, expiresAt: clock - SETTLE_WINDOW_MS + 5_000 })
      await timed.addTransaction(bytes(work.settle(network, 10)))
      expect(await timed.spendable(bob.peerId)).toBe(990)
      clock += 10_000
      await timed.addBlock(buildBlock({ genesis, parent: genesisInfo(timed, genesis), miner: miner.peerId, timestamp: clock }))
      expect(timed.mempool().size).toBe(0)
      expect(await timed.spendable(bob.peerId)).toBe(1000)
    } finally {
      await timed.stop()
    }
  })
})

describe('local transactions', () => {
  it('transfer() signs, pools and publishes with the next nonce', async () => {
    const a = await ledger.transfer(carol.peerId, 100)
    const b = await ledger.transfer(carol.peerId, 50)
    expect([a.nonce, b.nonce]).toEqual([0, 1])
    expect(published).toHaveLength(2)
    expect(await ledger.spendable(alice.peerId)).toBe(850)
    // Another node accepts the published bytes.
    const other = await startLedger({ signer: carol, genesis })
    await other.addTransaction(published[0])
    await other.addTransaction(published[1])
    expect(other.mempool().size).toBe(2)
    await other.stop()
    await expect(ledger.transfer(carol.peerId, 851)).rejects.toBeInstanceOf(OverdraftError)
    await expect(ledger.transfer('not-a-peer', 1)).rejects.toBeInstanceOf(LedgerUsageError)
    await expect(ledger.transfer(carol.peerId, 1.5)).rejects.toBeInstanceOf(LedgerUsageError)
  })

  it('submitSettle() as the requester: pools and publishes, a later checkpoint replaces the pending one', async () => {
    const lease = makeLease(alice, bob, { maxCredits: 20 })
    const cp1 = makeCheckpoint(bob, lease, { seq: 1, count: 3, amount: 10 })
    const view = await ledger.submitSettle(lease, cp1, makeAck(alice, cp1, 10))
    expect(view).toMatchObject({ type: 'settle', from: alice.peerId, to: bob.peerId, amount: 10, leaseId: leaseId(lease.body).toString(), tasks: 3 })
    expect(await ledger.spendable(alice.peerId)).toBe(990)
    const cp2 = makeCheckpoint(bob, lease, { seq: 2, count: 6, amount: 20 })
    await ledger.submitSettle(lease, cp2, makeAck(alice, cp2, 20))
    expect(ledger.mempool().size).toBe(1)
    expect(await ledger.spendable(alice.peerId)).toBe(980)
    expect(published).toHaveLength(2)
    await expect(ledger.submitSettle(lease, cp1, makeAck(alice, cp1, 10))).rejects.toBeInstanceOf(AlreadySettledError)
    // Another node accepts the published bytes (the larger settle replaces the smaller there too).
    const other = await startLedger({ signer: carol, genesis })
    await other.addTransaction(published[0])
    await other.addTransaction(published[1])
    expect(other.mempool().size).toBe(1)
    expect(await other.spendable(alice.peerId)).toBe(980)
    await other.stop()
  })

  it('submitSettle() as the worker', async () => {
    const worker = await startLedger({ signer: bob, genesis })
    try {
      const lease = makeLease(alice, bob)
      const cp = makeCheckpoint(bob, lease, { seq: 1, count: 1, amount: 7 })
      expect(await worker.submitSettle(lease, cp, makeAck(alice, cp, 7))).toMatchObject({ from: alice.peerId, to: bob.peerId, amount: 7 })
      expect(await worker.spendable(alice.peerId)).toBe(993)
    } finally {
      await worker.stop()
    }
  })

  it('submitSettle() refuses what the chain would refuse, with the same error classes', async () => {
    const capped = makeLease(alice, bob, { maxCredits: 20 })
    const over = makeCheckpoint(bob, capped, { seq: 1, count: 1, amount: 21 })
    await expect(ledger.submitSettle(capped, over, makeAck(alice, over, 21))).rejects.toBeInstanceOf(AmountOverMaxCostError)
    const notMine = makeLease(bob, carol)
    const cpNotMine = makeCheckpoint(carol, notMine, { seq: 1, count: 1, amount: 1 })
    await expect(ledger.submitSettle(notMine, cpNotMine, makeAck(bob, cpNotMine, 1))).rejects.toBeInstanceOf(LedgerUsageError)
    const other = makeLease(alice, bob)
    const cpOther = makeCheckpoint(bob, other, { seq: 1, count: 1, amount: 1 })
    await expect(ledger.submitSettle(capped, cpOther, makeAck(alice, cpOther, 1))).rejects.toBeInstanceOf(SettleMismatchError)
    const expired = makeLease(alice, bob, { acceptedAt: 1, expiresAt: Date.now() - SETTLE_WINDOW_MS - 1000 })
    const cpExpired = makeCheckpoint(bob, expired, { seq: 1, count: 1, amount: 1 })
    await expect(ledger.submitSettle(expired, cpExpired, makeAck(alice, cpExpired, 1))).rejects.toBeInstanceOf(LeaseExpiredError)
    expect(ledger.mempool().size).toBe(0)
    expect(published).toHaveLength(0)
  })

  it('submitSettle() refuses a settle no peer would decode (a lease with itself), so the miner never builds invalid blocks', async () => {
    const body = { ...makeLease(alice, bob).body, worker: alice.peerId }
    const lease = { body, requesterSig: signLeaseAsRequester(alice, body), workerSig: signLeaseAsWorker(alice, body) }
    const cp = makeCheckpoint(alice, lease, { seq: 1, count: 1, amount: 5 })
    await expect(ledger.submitSettle(lease, cp, makeAck(alice, cp, 5))).rejects.toBeInstanceOf(MalformedError)
    expect(ledger.mempool().size).toBe(0)
    expect(published).toHaveLength(0)
    // The miner goes on producing blocks (with it in the pool, every mined block was refused).
    ledger.startMining()
    await waitFor(() => ledger.tip().height >= 1, 30_000, 'a mined block')
    await ledger.stopMining()
  })
})

export { infoOf }
