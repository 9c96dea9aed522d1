import { describe, it, expect, afterEach } from 'vitest'
import type { Signer } from '../src/proofs/signing.ts'
import {
  createLedger, AlreadySettledError, BelowFinalityError, DuplicateError, OverdraftError, KnownInvalidError, actionOf,
  type GenesisConfig, type Ledger, type LedgerStore
} from '../src/ledger/index.ts'
import { createSettle, createTransfer, txInfo, type Transaction } from '../src/ledger/tx.ts'
import { decode, encode } from '../src/proofs/encoding.ts'
import { leaseId } from '../src/proofs/lease.ts'
import {
  buildBlock, buildChain, blockHashHex, diskStore, genesisInfo, infoOf, makeSigners, makeWork, memoryStore,
  replayBalances, startLedger, testGenesis, waitFor, type DiskStore
} from './fixtures/ledger/helpers.ts'

const network = 'test-ledger'
const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

async function countKeys (store: LedgerStore): Promise<number> {
  let n = 0
  for await (const _ of store.keys({ keyEncoding: 'view' })) n++
  return n
}

describe('forks and reorgs', () => {
  it('reorgs to a heavier branch and back: balances and lease receipts equal a replay, undone txs back in the mempool', async () => {
    const [alice, bob, carol, minerA, minerB, me] = await makeSigners(6)
    const genesis = testGenesis([alice.peerId, bob.peerId])
    const published: string[] = []
    const ledger = await startLedger({ signer: me, genesis, publishTransaction: (b) => { published.push(Buffer.from(b).toString('hex')) } })
    cleanups.push(async () => { await ledger.stop() })
    const hex = (tx: Transaction): string => Buffer.from(encode(tx)).toString('hex')
    const g = genesisInfo(ledger, genesis)
    const lease = makeWork(alice, bob)
    const other = makeWork(alice, bob)
    const L = leaseId(lease.lease.body).toString()
    const M = leaseId(other.lease.body).toString()

    // Branch A: a transfer alice → carol and lease L settled at 40; then L settled twice in one
    // block (50, then 60). Two blocks.
    const tA = createTransfer(alice, { network, to: carol.peerId, amount: 100, nonce: 0 })
    const L40 = lease.settle(network, 40)
    const L50 = lease.settle(network, 50)
    const L60 = lease.settle(network, 60)
    const a1 = buildBlock({ genesis, parent: g, miner: minerA.peerId, txs: [tA, L40], timestamp: 1000 })
    const a2 = buildBlock({ genesis, parent: infoOf(a1), miner: minerA.peerId, txs: [L50, L60], timestamp: 2000 })
    // Branch B: L settled once at 30 (its first checkpoint, acknowledged for less), a transfer
    // bob → carol and lease M settled twice in one block (5, then 9). Three blocks.
    const L30 = lease.settle(network, 30, { seq: 1, claimed: 40 })
    const tB = createTransfer(bob, { network, to: carol.peerId, amount: 7, nonce: 0 })
    const M5 = other.settle(network, 5)
    const M9 = other.settle(network, 9)
    const b1 = buildBlock({ genesis, parent: g, miner: minerB.peerId, txs: [L30], timestamp: 1100 })
    const b2 = buildBlock({ genesis, parent: infoOf(b1), miner: minerB.peerId, txs: [tB, M5, M9], timestamp: 2100 })
    const b3 = buildBlock({ genesis, parent: infoOf(b2), miner: minerB.peerId, timestamp: 3100 })

    await ledger.addBlock(a1)
    await ledger.addBlock(a2)
    expect(await ledger.balance(carol.peerId)).toBe(100)
    expect(await ledger.balance(bob.peerId)).toBe(1060)
    expect(await ledger.receipts()).toMatchObject([{ leaseId: L, paid: 60, seq: 3, height: 2, txHash: txInfo(L60).hashHex }])

    const reorgs: Array<{ undone: string[], applied: string[] }> = []
    ledger.addEventListener('reorg', (e) => { reorgs.push({ undone: e.detail.undone.map((b) => b.hash), applied: e.detail.applied.map((b) => b.hash) }) })
    expect((await ledger.addBlock(b1)).status).toBe('side')
    expect((await ledger.addBlock(b2)).status).toBe('side')
    expect(ledger.tip().hash).toBe(blockHashHex(a2))
    const res = await ledger.addBlock(b3)
    expect(res.status).toBe('reorg')
    expect(ledger.tip()).toMatchObject({ hash: blockHashHex(b3), height: 3 })
    expect(reorgs).toEqual([{ undone: [blockHashHex(a2), blockHashHex(a1)], applied: [blockHashHex(b1), blockHashHex(b2), blockHashHex(b3)] }])

    // State is that of branch B only.
    expect(await ledger.balance(bob.peerId)).toBe(1000 + 30 + 9 - 7)
    expect(await ledger.balance(alice.peerId)).toBe(1000 - 30 - 9)
    expect(await ledger.balance(carol.peerId)).toBe(7)
    expect(await ledger.balance(minerA.peerId)).toBe(0)
    expect(await ledger.balance(minerB.peerId)).toBe(150)
    expect(await ledger.settledAmount(L)).toBe(30)
    expect(await ledger.settledAmount(M)).toBe(9)
    expect(await ledger.receipts({ worker: bob.peerId })).toMatchObject([
      { leaseId: M, paid: 9, seq: 2, blockHash: blockHashHex(b2), txHash: txInfo(M9).hashHex },
      { leaseId: L, paid: 30, seq: 1, blockHash: blockHashHex(b1), txHash: txInfo(L30).hashHex }
    ])

    // From the undone branch, alice's transfer and L's largest settle are pending again (it pays
    // 30 more than B did) and announced; the smaller settles of L were replaced by it.
    expect(ledger.mempool().size).toBe(2)
    expect(published).toEqual([hex(tA), hex(L60)])
    expect(await ledger.spendable(alice.peerId)).toBe(961 - 100 - 30)

    const peers = [alice, bob, carol, minerA, minerB].map((s) => s.peerId)
    const first = await replayBalances(ledger, genesis, me, peers)
    expect(first.actual).toEqual(first.replayed)
    expect(first.receipts.actual).toEqual(first.receipts.replayed)
    expect(first.receipts.actual).toHaveLength(2)

    // And back: branch A grows heavier again; the pending transfer and settle are in A, so they
    // leave the mempool; B's settles of L pay nothing over A's, M's are pending again (the larger).
    const a3 = buildBlock({ genesis, parent: infoOf(a2), miner: minerA.peerId, timestamp: 3000 })
    const a4 = buildBlock({ genesis, parent: infoOf(a3), miner: minerA.peerId, timestamp: 4000 })
    await ledger.addBlock(a3)
    expect((await ledger.addBlock(a4)).status).toBe('reorg')
    expect(await ledger.balance(carol.peerId)).toBe(100)
    expect(await ledger.balance(bob.peerId)).toBe(1060)
    expect(await ledger.settledAmount(L)).toBe(60)
    expect(await ledger.settledAmount(M)).toBe(0)
    expect(await ledger.receipts({ worker: bob.peerId })).toMatchObject([{ leaseId: L, paid: 60, seq: 3, blockHash: blockHashHex(a2) }])
    expect(ledger.mempool().size).toBe(2)
    expect(published.slice(2)).toEqual([hex(M9), hex(tB)])
    expect(await ledger.spendable(bob.peerId)).toBe(1060 - 7)
    expect(await ledger.spendable(alice.peerId)).toBe(840 - 9)
    const again = await replayBalances(ledger, genesis, me, peers)
    expect(again.actual).toEqual(again.replayed)
    expect(again.receipts.actual).toEqual(again.receipts.replayed)
  })

  it('undoing a block that settled a lease twice restores the lease\'s earlier receipt, and redoing it restores the later one', async () => {
    const [alice, bob, miner, me] = await makeSigners(4)
    const genesis = testGenesis([alice.peerId])
    const ledger = await startLedger({ signer: me, genesis })
    cleanups.push(async () => { await ledger.stop() })
    const g = genesisInfo(ledger, genesis)
    const work = makeWork(alice, bob)
    const L = leaseId(work.lease.body).toString()
    const s40 = work.settle(network, 40)
    const a1 = buildBlock({ genesis, parent: g, miner: miner.peerId, txs: [s40], timestamp: 1000 })
    const a2 = buildBlock({ genesis, parent: infoOf(a1), miner: miner.peerId, txs: [work.settle(network, 50), work.settle(network, 60)], timestamp: 2000 })
    // A fork after a1 without settles, one block heavier.
    const [c2, c3] = buildChain(genesis, infoOf(a1), miner.peerId, 2, 1100)
    for (const b of [a1, a2]) await ledger.addBlock(b)
    expect(await ledger.settledAmount(L)).toBe(60)

    await ledger.addBlock(c2)
    expect((await ledger.addBlock(c3)).status).toBe('reorg')
    expect(await ledger.balance(bob.peerId)).toBe(40)
    expect(await ledger.balance(alice.peerId)).toBe(960)
    expect(await ledger.receipts({ worker: bob.peerId })).toEqual([{
      leaseId: L, requester: alice.peerId, worker: bob.peerId, paid: 40, seq: 1, tasks: 1, fuel: '40000000000', height: 1, blockHash: blockHashHex(a1), txHash: txInfo(s40).hashHex
    }])
    expect(await ledger.receipts({ requester: alice.peerId })).toHaveLength(1)
    // The larger undone settle is pending again, due the 20 the chain has not paid.
    expect(ledger.mempool().size).toBe(1)
    expect(await ledger.spendable(alice.peerId)).toBe(940)

    // Redo: a2's branch becomes heavier again.
    const [a3, a4] = buildChain(genesis, infoOf(a2), miner.peerId, 2, 1000)
    await ledger.addBlock(a3)
    expect((await ledger.addBlock(a4)).status).toBe('reorg')
    expect(await ledger.balance(bob.peerId)).toBe(60)
    expect(await ledger.receipts({ worker: bob.peerId })).toMatchObject([{ leaseId: L, paid: 60, seq: 3, height: 2, blockHash: blockHashHex(a2) }])
    expect(ledger.mempool().size).toBe(0)
    const { actual, replayed, receipts } = await replayBalances(ledger, genesis, me, [alice.peerId, bob.peerId, miner.peerId])
    expect(actual).toEqual(replayed)
    expect(receipts.actual).toEqual(receipts.replayed)
  })

  it('keeps the old chain when a heavier branch turns out to hold an invalid block', async () => {
    const [alice, bob, miner, me] = await makeSigners(4)
    const genesis = testGenesis([alice.peerId])
    const ledger = await startLedger({ signer: me, genesis })
    cleanups.push(async () => { await ledger.stop() })
    const g = genesisInfo(ledger, genesis)
    const [a1, a2] = buildChain(genesis, g, miner.peerId, 2)
    await ledger.addBlock(a1)
    await ledger.addBlock(a2)
    const b1 = buildBlock({ genesis, parent: g, miner: miner.peerId, timestamp: 1500 })
    // b2 overdraws: it can only be found out when its branch is applied.
    const b2 = buildBlock({ genesis, parent: infoOf(b1), miner: miner.peerId, timestamp: 2500, txs: [createTransfer(alice, { network, to: bob.peerId, amount: 5000, nonce: 0 })] })
    const b3 = buildBlock({ genesis, parent: infoOf(b2), miner: miner.peerId, timestamp: 3500 })
    await ledger.addBlock(b1)
    await ledger.addBlock(b2)
    const err = await ledger.addBlock(b3).then(() => undefined, (e: Error) => e)
    expect(err).toBeInstanceOf(OverdraftError)
    expect(actionOf(err)).toBe('reject')
    expect(ledger.tip().hash).toBe(blockHashHex(a2))
    expect(await ledger.balance(alice.peerId)).toBe(1000)
    expect(await ledger.balance(bob.peerId)).toBe(0)
    // The bad branch is gone and remembered.
    await expect(ledger.addBlock(b3)).rejects.toBeInstanceOf(KnownInvalidError)
    expect(await ledger.block(blockHashHex(b2))).toBeUndefined()
  })

  it('keeps the old chain when a heavier branch settles a lease twice, valid only against the old chain', async () => {
    const [alice, bob, miner, me] = await makeSigners(4)
    const genesis = testGenesis([alice.peerId])
    const ledger = await startLedger({ signer: me, genesis })
    cleanups.push(async () => { await ledger.stop() })
    const g = genesisInfo(ledger, genesis)
    const work = makeWork(alice, bob)
    const s30 = work.settle(network, 30)
    const [a1, a2] = buildChain(genesis, g, miner.peerId, 2)
    await ledger.addBlock(a1)
    await ledger.addBlock(a2)
    // b2 repeats b1's settle: fine on A (where the lease is unsettled), already settled on B.
    const b1 = buildBlock({ genesis, parent: g, miner: miner.peerId, timestamp: 1500, txs: [s30] })
    const b2 = buildBlock({ genesis, parent: infoOf(b1), miner: miner.peerId, timestamp: 2500, txs: [s30] })
    const b3 = buildBlock({ genesis, parent: infoOf(b2), miner: miner.peerId, timestamp: 3500 })
    await ledger.addBlock(b1)
    await ledger.addBlock(b2)
    const err = await ledger.addBlock(b3).then(() => undefined, (e: Error) => e)
    expect(err).toBeInstanceOf(AlreadySettledError)
    expect(actionOf(err)).toBe('reject')
    expect(ledger.tip().hash).toBe(blockHashHex(a2))
    expect(await ledger.balance(bob.peerId)).toBe(0)
    expect(await ledger.receipts()).toEqual([])
  })
})

describe('mempool re-announce', () => {
  it('announces pending transactions again after a while', async () => {
    const [alice, bob] = await makeSigners(2)
    let published = 0
    const ledger = await startLedger({ signer: alice, genesis: testGenesis([alice.peerId]), rebroadcastMs: 50, publishTransaction: () => { published++ } })
    cleanups.push(async () => { await ledger.stop() })
    await ledger.transfer(bob.peerId, 5)
    expect(published).toBe(1)
    await waitFor(() => published >= 3, 10_000, 'two re-announcements')
  })

  it('re-announces only its own transactions, each time after twice as long', async () => {
    const [alice, bob, carol] = await makeSigners(3)
    const sent: Array<{ at: number, from: string }> = []
    const ledger = await startLedger({
      signer: alice,
      genesis: testGenesis([alice.peerId, bob.peerId]),
      rebroadcastMs: 40,
      publishTransaction: (bytes) => { sent.push({ at: Date.now(), from: (decode(bytes, 4096) as { body: { from: string } }).body.from }) }
    })
    cleanups.push(async () => { await ledger.stop() })
    // Bob's transfer came from gossip: Bob re-announces it, not Alice.
    await ledger.addTransaction(encode(createTransfer(bob, { network: ledger.networkId, to: carol.peerId, amount: 3, nonce: 0 })), 'gossip-peer')
    await ledger.transfer(bob.peerId, 5)
    await waitFor(() => sent.length >= 5, 20_000, 'four re-announcements')
    expect(sent.every((s) => s.from === alice.peerId)).toBe(true)
    const gaps = sent.slice(1).map((s, i) => s.at - sent[i].at)
    // The n-th re-announcement waits at least 2^n × the base (lower bounds: a busy machine only adds).
    for (let i = 1; i < gaps.length; i++) expect(gaps[i]).toBeGreaterThanOrEqual(40 * 2 ** i - 5)
  })
})

describe('equal work keeps the block seen first', () => {
  it('also after a restart (disk LevelDB)', async () => {
    const [minerA, minerB, me] = await makeSigners(3)
    const genesis = testGenesis([])
    const disk: DiskStore = await diskStore()
    cleanups.push(async () => { await disk.cleanup() })
    let ledger = createLedger({ store: disk.store, signer: me, genesis })
    await ledger.start()
    const g = genesisInfo(ledger, genesis)
    const a1 = buildBlock({ genesis, parent: g, miner: minerA.peerId, timestamp: 1000 })
    const b1 = buildBlock({ genesis, parent: g, miner: minerB.peerId, timestamp: 1000 })
    expect((await ledger.addBlock(a1)).status).toBe('connected')
    expect((await ledger.addBlock(b1)).status).toBe('side')
    expect(ledger.tip().hash).toBe(blockHashHex(a1))
    await ledger.stop()

    const store = await disk.reopen()
    ledger = createLedger({ store, signer: me, genesis })
    await ledger.start()
    expect(ledger.tip().hash).toBe(blockHashHex(a1))
    expect(await ledger.balance(minerA.peerId)).toBe(50)
    await expect(ledger.addBlock(b1)).rejects.toBeInstanceOf(DuplicateError)
    expect(ledger.tip().hash).toBe(blockHashHex(a1))
    // The stored side block still counts: one more block on it wins.
    const b2 = buildBlock({ genesis, parent: infoOf(b1), miner: minerB.peerId, timestamp: 2000 })
    expect((await ledger.addBlock(b2)).status).toBe('reorg')
    expect(await ledger.balance(minerA.peerId)).toBe(0)
    expect(await ledger.balance(minerB.peerId)).toBe(100)
    await ledger.stop()
  })
})

describe('bounded storage under low-work forks', () => {
  it('ignores thousands of fork blocks from genesis once the chain is past the reorg window', async () => {
    const [miner, attacker, me] = await makeSigners(3)
    const genesis = testGenesis([])
    const store = memoryStore()
    const ledger = createLedger({ store, signer: me, genesis, maxReorgDepth: 10, maxSideBlocks: 32 })
    await ledger.start()
    cleanups.push(async () => { await ledger.stop() })
    const g = genesisInfo(ledger, genesis)
    for (const b of buildChain(genesis, g, miner.peerId, 20)) await ledger.addBlock(b)
    const before = await countKeys(store)
    let ignored = 0
    for (let i = 0; i < 2000; i++) {
      const fork = buildBlock({ genesis, parent: g, miner: attacker.peerId, timestamp: 1000 + i })
      const err = await ledger.addBlock(fork).then(() => undefined, (e: Error) => e)
      if (err instanceof BelowFinalityError) ignored++
    }
    expect(ignored).toBe(2000)
    expect(await countKeys(store)).toBe(before)
    expect(ledger.tip().height).toBe(20)
  })

  it('caps stored side blocks when thousands of forks land inside the window', async () => {
    const [miner, attacker, me] = await makeSigners(3)
    const genesis = testGenesis([])
    const store = memoryStore()
    const ledger = createLedger({ store, signer: me, genesis, maxReorgDepth: 10, maxSideBlocks: 32 })
    await ledger.start()
    cleanups.push(async () => { await ledger.stop() })
    const g = genesisInfo(ledger, genesis)
    const main = buildChain(genesis, g, miner.peerId, 3)
    for (const b of main) await ledger.addBlock(b)
    const before = await countKeys(store)
    for (let i = 0; i < 2000; i++) {
      // Each a different sibling of block 1 (forks from genesis), all lighter than the tip.
      await ledger.addBlock(buildBlock({ genesis, parent: g, miner: attacker.peerId, timestamp: 1000 + i })).catch(() => {})
    }
    expect(ledger.stats().sideBlocks).toBe(32)
    // Each side block costs 3 keys (body, index entry, side marker).
    expect(await countKeys(store)).toBe(before + 32 * 3)
    expect(ledger.tip().hash).toBe(blockHashHex(main[2]))
    // An honest heavier branch still wins and the attacker's blocks age out of the window.
    for (const b of buildChain(genesis, infoOf(main[2]), miner.peerId, 12)) await ledger.addBlock(b)
    expect(ledger.stats().sideBlocks).toBe(0)
  })
})

export type { Signer, GenesisConfig, Ledger }
