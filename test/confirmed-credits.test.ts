/**
 * The credits metrics count a block once it is confirmed (`countConfirmedCredits`), each height
 * once: a reorg that takes back a block paying this node and mines the same settle again no
 * longer counts the payment twice (counting every applied block did).
 */
import { describe, it, expect, afterEach } from 'vitest'
import { countConfirmedCredits } from '../src/node/metrics/confirmed-credits.ts'
import type { CreditFlows } from '../src/node/credit-flows.ts'
import type { Ledger } from '../src/ledger/index.ts'
import { buildBlock, buildChain, genesisInfo, infoOf, makeSigners, makeWork, startLedger, testGenesis } from './fixtures/ledger/helpers.ts'
import { waitFor } from './helpers.ts'

const network = 'test-ledger'
const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => { for (const c of cleanups.splice(0).reverse()) await c() })

function sum (all: CreditFlows[]): CreditFlows {
  const total: CreditFlows = { work: 0, mining: 0, transfersIn: 0, paidForWork: 0, transfersOut: 0 }
  for (const f of all) for (const k of Object.keys(total) as Array<keyof CreditFlows>) total[k] += f[k]
  return total
}

describe('credits counted once confirmed', () => {
  it('a settle taken back by a reorg and mined again counts once; blocks count only at the given depth, each height once', async () => {
    const [alice, bob, minerA, minerB, me] = await makeSigners(5)
    const genesis = testGenesis([alice.peerId, bob.peerId])
    const ledger: Ledger = await startLedger({ signer: me, genesis })
    cleanups.push(async () => { await ledger.stop() })
    const worker: CreditFlows[] = []
    const requester: CreditFlows[] = []
    const heights: number[] = []
    ledger.addEventListener('tip', (evt) => { heights.push(evt.detail.height) })
    cleanups.push(countConfirmedCredits(ledger, bob.peerId, (f) => { worker.push(f) }, 2))
    cleanups.push(countConfirmedCredits(ledger, alice.peerId, (f) => { requester.push(f) }, 2))
    const lease = makeWork(alice, bob)
    const settle = lease.settle(network, 40)
    const g = genesisInfo(ledger, genesis)

    // Branch A: the settle at height 1, one block on top (not yet 2 deep: nothing counted).
    const a1 = buildBlock({ genesis, parent: g, miner: minerA.peerId, txs: [settle], timestamp: 1000 })
    const [a2] = buildChain(genesis, infoOf(a1), minerA.peerId, 1)
    await ledger.addBlock(a1)
    await ledger.addBlock(a2)
    // Branch B (heavier) takes both back and mines the same settle again at height 2.
    const [b1] = buildChain(genesis, g, minerB.peerId, 1, 1100)
    const b2 = buildBlock({ genesis, parent: infoOf(b1), miner: minerB.peerId, txs: [settle], timestamp: 2200 })
    const b3to5 = buildChain(genesis, infoOf(b2), minerB.peerId, 3, 1100)
    for (const b of [b1, b2, ...b3to5]) await ledger.addBlock(b)
    expect(ledger.tip().height).toBe(5)
    await waitFor(() => worker.length === 3, { what: 'heights 1-3 counted' })

    // Heights 1..3 of branch B, once each; the settle's 40 once (counting blocks as applied: 80).
    expect(worker.length).toBe(3)
    expect(sum(worker).work).toBe(40)
    expect(sum(requester).paidForWork).toBe(40)
    expect(await ledger.balance(bob.peerId)).toBe(1000 + 40)
    expect(heights).toContain(2) // branch A's tip was seen, and its block 1 was never counted
  })

  it('counts nothing of the chain that was already confirmed when it started, then each new confirmed height', async () => {
    const [alice, bob, miner, me] = await makeSigners(4)
    const genesis = testGenesis([alice.peerId, bob.peerId])
    const ledger: Ledger = await startLedger({ signer: me, genesis })
    cleanups.push(async () => { await ledger.stop() })
    const history = buildChain(genesis, genesisInfo(ledger, genesis), bob.peerId, 4)
    for (const b of history) await ledger.addBlock(b)
    const mined: CreditFlows[] = []
    cleanups.push(countConfirmedCredits(ledger, bob.peerId, (f) => { mined.push(f) }, 2))
    const more = buildChain(genesis, infoOf(history[3]), miner.peerId, 2, 1000)
    for (const b of more) await ledger.addBlock(b)
    // Heights 3 and 4 (bob's coinbases) became 2 deep after the start; 1 and 2 were already.
    await waitFor(() => mined.length === 2, { what: 'heights 3 and 4 counted' })
    const reward = (await ledger.block(3))?.transactions.find((t) => t.type === 'coinbase')?.amount ?? 0
    expect(reward).toBeGreaterThan(0)
    expect(sum(mined).mining).toBe(2 * reward)
  })
})
