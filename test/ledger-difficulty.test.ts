import { describe, it, expect, afterEach } from 'vitest'
import { retarget, isRetargetHeight, medianTimePast } from '../src/ledger/difficulty.ts'
import { randomBytes } from 'node:crypto'
import { BadTargetError, TargetTooEasyError, type Ledger } from '../src/ledger/index.ts'
import { MAX_TARGET } from '../src/proofs/pow.ts'
import { buildBlock, buildChain, genesisInfo, infoOf, makeSigners, startLedger, testGenesis, EASY_TARGET } from './fixtures/ledger/helpers.ts'

const ledgers: Ledger[] = []
afterEach(async () => { for (const l of ledgers.splice(0)) await l.stop() })

describe('difficulty rule', () => {
  it('scales the target by actual / expected time, clamped to 4x either way', () => {
    const t = 1n << 200n
    expect(retarget(t, 5000, 5000)).toBe(t)
    expect(retarget(t, 2500, 5000)).toBe(t / 2n)
    expect(retarget(t, 10_000, 5000)).toBe(t * 2n)
    expect(retarget(t, 100, 5000)).toBe(t / 4n)
    expect(retarget(t, -100, 5000)).toBe(t / 4n)
    expect(retarget(t, 1_000_000, 5000)).toBe(t * 4n)
    expect(retarget(1n, 1, 5000)).toBe(1n)
    expect(retarget((1n << 256n) - 1n, 1_000_000, 5000)).toBe((1n << 256n) - 1n)
  })

  it('retargets every N blocks, never over a window that includes genesis', () => {
    const p = { retargetInterval: 5, blockIntervalMs: 1000 }
    expect([1, 4, 5, 6, 9, 10, 11, 15, 20].filter((h) => isRetargetHeight(h, p))).toEqual([10, 15, 20])
  })

  it('takes the median of up to 11 ancestors', async () => {
    const times = [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 5]
    const at = async (h: number) => ({ timestamp: times[h], target: 1n })
    expect(await medianTimePast(1, at)).toBe(0)
    expect(await medianTimePast(3, at)).toBe(10)
    expect(await medianTimePast(13, at)).toBe(60)
  })
})

describe('difficulty on the chain', () => {
  async function setup () {
    const [miner, me] = await makeSigners(2)
    const genesis = testGenesis([], { retargetInterval: 5, blockIntervalMs: 1000 })
    const ledger = await startLedger({ signer: me, genesis })
    ledgers.push(ledger)
    return { miner, genesis, ledger, g: genesisInfo(ledger, genesis) }
  }

  it('makes mining harder when blocks come faster than the interval', async () => {
    const { miner, genesis, ledger, g } = await setup()
    const chain = buildChain(genesis, g, miner.peerId, 9, 250)
    for (const b of chain) await ledger.addBlock(b)
    const parent = infoOf(chain[8])
    // The old target is no longer valid at height 10 ...
    await expect(ledger.addBlock(buildBlock({ genesis, parent, miner: miner.peerId, timestamp: parent.timestamp + 250 }))).rejects.toBeInstanceOf(BadTargetError)
    // ... the one the rule gives is: the last 5 blocks took 1250 ms instead of 5000 ms.
    const expected = EASY_TARGET * 1250n / 5000n
    expect(expected < EASY_TARGET).toBe(true)
    await ledger.addBlock(buildBlock({ genesis, parent, miner: miner.peerId, timestamp: parent.timestamp + 250, target: expected }))
    expect(ledger.tip().height).toBe(10)
    expect(BigInt('0x' + ledger.tip().target)).toBe(expected)
  })

  it('makes mining easier when blocks come slower than the interval', async () => {
    const { miner, genesis, ledger, g } = await setup()
    // Fast blocks first, so that the target at height 10 drops to a quarter ...
    const fast = buildChain(genesis, g, miner.peerId, 9, 250)
    for (const b of fast) await ledger.addBlock(b)
    const hard = EASY_TARGET / 4n
    let parent = infoOf(fast[8])
    for (let h = 10; h <= 14; h++) {
      const b = buildBlock({ genesis, parent, miner: miner.peerId, timestamp: parent.timestamp + (h === 10 ? 250 : 3000), target: hard })
      await ledger.addBlock(b)
      parent = infoOf(b)
    }
    // ... then slow ones: at height 15 the last 5 blocks took 12,250 ms instead of 5,000 ms.
    const expected = hard * 12_250n / 5000n
    expect(expected > hard && expected < EASY_TARGET).toBe(true)
    await expect(ledger.addBlock(buildBlock({ genesis, parent, miner: miner.peerId, timestamp: parent.timestamp + 3000, target: hard }))).rejects.toBeInstanceOf(BadTargetError)
    await ledger.addBlock(buildBlock({ genesis, parent, miner: miner.peerId, timestamp: parent.timestamp + 3000, target: expected }))
    expect(BigInt('0x' + ledger.tip().target)).toBe(expected)
  })

  it('never gets easier than the genesis target; an easier header is refused without its parent', async () => {
    const { miner, genesis, ledger, g } = await setup()
    const chain = buildChain(genesis, g, miner.peerId, 9, 3000)
    for (const b of chain) await ledger.addBlock(b)
    const parent = infoOf(chain[8])
    // The rule alone would triple the target; the genesis target caps it.
    await expect(ledger.addBlock(buildBlock({ genesis, parent, miner: miner.peerId, timestamp: parent.timestamp + 3000, target: EASY_TARGET * 3n }))).rejects.toBeInstanceOf(TargetTooEasyError)
    await ledger.addBlock(buildBlock({ genesis, parent, miner: miner.peerId, timestamp: parent.timestamp + 3000, target: EASY_TARGET }))
    expect(BigInt('0x' + ledger.tip().target)).toBe(EASY_TARGET)
    // An orphan (unknown parent) with an all-ones target: refused, not an unknown-parent ignore.
    const orphan = buildBlock({ genesis, parent: { hash: randomBytes(32), height: 40, timestamp: Date.now() - 60_000 }, miner: miner.peerId, target: MAX_TARGET })
    const err = await ledger.addBlock(orphan).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(TargetTooEasyError)
    expect((err as TargetTooEasyError).action).toBe('reject')
  })

  it('keeps the target when blocks come on time, and between retarget heights', async () => {
    const { miner, genesis, ledger, g } = await setup()
    const chain = buildChain(genesis, g, miner.peerId, 12, 1000)
    for (const b of chain) await ledger.addBlock(b)
    expect(ledger.tip().height).toBe(12)
    expect(BigInt('0x' + ledger.tip().target)).toBe(EASY_TARGET)
  })
})
