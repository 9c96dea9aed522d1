import { describe, it, expect, afterEach } from 'vitest'
import type { Signer } from '../src/proofs/signing.ts'
import {
  createLedger, BelowFinalityError, DuplicateError, OverdraftError, KnownInvalidError, actionOf,
  type GenesisConfig, type Ledger, type LedgerStore
} from '../src/ledger/index.ts'
import { createSettle, createTransfer } from '../src/ledger/tx.ts'
import { decode, encode } from '../src/proofs/encoding.ts'
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
  it('reorgs to a heavier branch: balances equal a replay, receipts counted once, undone txs back in the mempool', async () => {
    const [alice, bob, carol, minerA, minerB, me] = await makeSigners(6)
    const genesis = testGenesis([alice.peerId, bob.peerId])
    const published: string[] = []
    const ledger = await startLedger({ signer: me, genesis, publishTransaction: (b) => { published.push(Buffer.from(b).toString('hex')) } })
    cleanups.push(async () => { await ledger.stop() })
    const g = genesisInfo(ledger, genesis)
    const work = makeWork(alice, bob, { maxCost: 100 })

    // Branch A: a transfer alice → carol and the settle (40), two blocks.
    const tA = createTransfer(alice, { network, to: carol.peerId, amount: 100, nonce: 0 })
    const settleA = createSettle(alice, { network, agreement: work.agreement, result: work.result, amount: 40 })
    const a1 = buildBlock({ genesis, parent: g, miner: minerA.peerId, txs: [tA, settleA], timestamp: 1000 })
    const a2 = buildBlock({ genesis, parent: infoOf(a1), miner: minerA.peerId, timestamp: 2000 })
    // Branch B: the same agreement settled for 30, a transfer bob → carol, three blocks.
    const settleB = createSettle(alice, { network, agreement: work.agreement, result: work.result, amount: 30 })
    const tB = createTransfer(bob, { network, to: carol.peerId, amount: 7, nonce: 0 })
    const b1 = buildBlock({ genesis, parent: g, miner: minerB.peerId, txs: [settleB], timestamp: 1100 })
    const b2 = buildBlock({ genesis, parent: infoOf(b1), miner: minerB.peerId, txs: [tB], timestamp: 2100 })
    const b3 = buildBlock({ genesis, parent: infoOf(b2), miner: minerB.peerId, timestamp: 3100 })

    await ledger.addBlock(a1)
    await ledger.addBlock(a2)
    expect(await ledger.balance(carol.peerId)).toBe(100)
    expect(await ledger.balance(bob.peerId)).toBe(1040)

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
    expect(await ledger.balance(bob.peerId)).toBe(1000 + 30 - 7)
    expect(await ledger.balance(alice.peerId)).toBe(1000 - 30)
    expect(await ledger.balance(carol.peerId)).toBe(7)
    expect(await ledger.balance(minerA.peerId)).toBe(0)
    expect(await ledger.balance(minerB.peerId)).toBe(150)
    const receipts = await ledger.receipts({ worker: bob.peerId })
    expect(receipts).toHaveLength(1)
    expect(receipts[0]).toMatchObject({ amount: 30, blockHash: blockHashHex(b1) })

    // alice's transfer from the undone branch is pending again (still valid) and announced to the
    // network; the settle is not (settled on B).
    expect(ledger.mempool().size).toBe(1)
    expect(published).toEqual([Buffer.from(encode(tA)).toString('hex')])
    expect(await ledger.spendable(alice.peerId)).toBe(970 - 100)

    const peers = [alice, bob, carol, minerA, minerB].map((s) => s.peerId)
    const { actual, replayed } = await replayBalances(ledger, genesis, me, peers)
    expect(actual).toEqual(replayed)

    // And back: branch A grows heavier again; the pending transfer is in A, so it leaves the mempool.
    const a3 = buildBlock({ genesis, parent: infoOf(a2), miner: minerA.peerId, timestamp: 3000 })
    const a4 = buildBlock({ genesis, parent: infoOf(a3), miner: minerA.peerId, timestamp: 4000 })
    await ledger.addBlock(a3)
    expect((await ledger.addBlock(a4)).status).toBe('reorg')
    expect(await ledger.balance(carol.peerId)).toBe(100)
    expect(await ledger.balance(bob.peerId)).toBe(1040)
    expect(await ledger.receipts({ worker: bob.peerId })).toHaveLength(1)
    // bob's transfer from the undone branch B is pending again; alice's is on the chain.
    expect(ledger.mempool().size).toBe(1)
    expect(await ledger.spendable(bob.peerId)).toBe(1040 - 7)
    const again = await replayBalances(ledger, genesis, me, peers)
    expect(again.actual).toEqual(again.replayed)
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
