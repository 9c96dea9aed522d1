import { describe, it, expect, beforeEach, afterEach } from 'vitest'
import type { Signer } from '../src/proofs/signing.ts'
import { agreementId } from '../src/proofs/agreement.ts'
import { encode } from '../src/proofs/encoding.ts'
import {
  AlreadySettledError, BadNonceError, DuplicateError, MempoolFullError, OverdraftError, TxSignatureError, LedgerUsageError,
  MalformedError, SettleMismatchError, actionOf, type GenesisConfig, type Ledger
} from '../src/ledger/index.ts'
import { createSettle, createTransfer, type Transaction } from '../src/ledger/tx.ts'
import { buildBlock, genesisInfo, infoOf, makeSigners, makeWork, startLedger, testGenesis } from './fixtures/ledger/helpers.ts'

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

async function failure (p: Promise<unknown>): Promise<Error> {
  return await p.then(() => { throw new Error('expected a failure') }, (e: Error) => e)
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

  it('keeps one pending settle per agreement and refuses settled ones', async () => {
    const work = makeWork(bob, carol)
    const s1 = createSettle(bob, { network, agreement: work.agreement, result: work.result, amount: 10 })
    const s2 = createSettle(bob, { network, agreement: work.agreement, result: work.result, amount: 11 })
    await ledger.addTransaction(bytes(s1))
    expect(await failure(ledger.addTransaction(bytes(s2)))).toBeInstanceOf(AlreadySettledError)
    await ledger.addBlock(buildBlock({ genesis, parent: genesisInfo(ledger, genesis), miner: miner.peerId, txs: [s1] }))
    expect(ledger.mempool().size).toBe(0)
    expect(await ledger.isSettled(agreementId(work.agreement.body))).toBe(true)
    const err = await failure(ledger.addTransaction(bytes(s2)))
    expect(err).toBeInstanceOf(AlreadySettledError)
    expect(actionOf(err)).toBe('ignore')
  })
})

describe('mempool after blocks', () => {
  it('drops included transactions and those a block made invalid', async () => {
    await ledger.addTransaction(bytes(t(bob, carol, 10, 0)))
    await ledger.addTransaction(bytes(t(bob, carol, 10, 1)))
    const work = makeWork(bob, carol)
    await ledger.addTransaction(bytes(createSettle(bob, { network, agreement: work.agreement, result: work.result, amount: 5 })))
    expect(ledger.mempool().size).toBe(3)
    // A block with a different transfer at nonce 0 and a competing settle of the same agreement:
    // the pending nonce-0 transfer and the pending settle are dead, the nonce-1 transfer is now next.
    const competing = t(bob, alice, 900, 0)
    const otherSettle = createSettle(bob, { network, agreement: work.agreement, result: work.result, amount: 6 })
    await ledger.addBlock(buildBlock({ genesis, parent: genesisInfo(ledger, genesis), miner: miner.peerId, txs: [competing, otherSettle] }))
    expect(ledger.mempool().size).toBe(1)
    expect(await ledger.spendable(bob.peerId)).toBe(1000 - 900 - 6 - 10)
    // The next block spends the rest: the survivor no longer fits and is dropped too.
    const drain = t(bob, alice, 94, 1)
    const tip = ledger.tip()
    await ledger.addBlock(buildBlock({ genesis, parent: { hash: tip.hash, height: tip.height, timestamp: tip.timestamp }, miner: miner.peerId, txs: [drain] }))
    expect(ledger.mempool().size).toBe(0)
  })

  it('keeps later transfers whose predecessors were included', async () => {
    const t0 = t(bob, carol, 10, 0)
    await ledger.addTransaction(bytes(t0))
    await ledger.addTransaction(bytes(t(bob, carol, 10, 1)))
    await ledger.addBlock(buildBlock({ genesis, parent: genesisInfo(ledger, genesis), miner: miner.peerId, txs: [t0] }))
    expect(ledger.mempool().size).toBe(1)
    expect(await ledger.spendable(bob.peerId)).toBe(980)
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

  it('submitSettle() only as the requester, within maxCost, once', async () => {
    const work = makeWork(alice, bob, { maxCost: 20 })
    const view = await ledger.submitSettle(work.agreement, work.result, 20)
    expect(view).toMatchObject({ type: 'settle', from: alice.peerId, to: bob.peerId, amount: 20, agreementId: agreementId(work.agreement.body).toString() })
    await expect(ledger.submitSettle(work.agreement, work.result, 19)).rejects.toBeInstanceOf(AlreadySettledError)
    const other = makeWork(alice, bob, { maxCost: 20 })
    await expect(ledger.submitSettle(other.agreement, other.result, 21)).rejects.toThrow(/maxCost/)
    const notMine = makeWork(bob, carol)
    await expect(ledger.submitSettle(notMine.agreement, notMine.result, 1)).rejects.toBeInstanceOf(LedgerUsageError)
    const mismatched = makeWork(alice, carol)
    await expect(ledger.submitSettle(mismatched.agreement, work.result, 1)).rejects.toBeInstanceOf(SettleMismatchError)
  })
})

export { infoOf }
