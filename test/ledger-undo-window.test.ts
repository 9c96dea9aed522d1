/** Undo records after a reorg that lowers the tip: every fork the window allows can still be undone, also after a restart. */
import { describe, it, expect, afterEach } from 'vitest'
import { expectedTarget } from '../src/ledger/difficulty.ts'
import { parseGenesisConfig } from '../src/ledger/genesis.ts'
import { createLedger, type Ledger } from '../src/ledger/index.ts'
import type { Block } from '../src/ledger/block.ts'
import { targetFromBytes } from '../src/proofs/pow.ts'
import { buildBlock, blockHashHex, diskStore, genesisInfo, infoOf, makeSigners, startLedger, testGenesis, type ParentInfo } from './fixtures/ledger/helpers.ts'

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => { for (const c of cleanups.splice(0).reverse()) await c() })

const D = 10
const genesis = testGenesis([], { retargetInterval: 5, blockIntervalMs: 1000 })
const params = parseGenesisConfig(genesis)

/** Builds branches that follow the difficulty rule (a fast branch gets harder blocks). */
function builder (g: ParentInfo): (parent: Block | undefined, n: number, stepMs: number, miner: string) => Promise<Block[]> {
  const byHash = new Map<string, Block>()
  const ancestry = (tip: Block | undefined) => async (height: number) => {
    let b = tip
    while (b != null && b.header.height > height) b = byHash.get(Buffer.from(b.header.parent).toString('hex'))
    if (b == null) return { timestamp: g.timestamp, target: params.initialTarget }
    return { timestamp: b.header.timestamp, target: targetFromBytes(b.header.target) }
  }
  return async (parent, n, stepMs, miner) => {
    const out: Block[] = []
    let p = parent
    for (let i = 0; i < n; i++) {
      const info = p == null ? g : infoOf(p)
      const parentTarget = p == null ? params.initialTarget : targetFromBytes(p.header.target)
      const target = await expectedTarget(info.height + 1, parentTarget, params, ancestry(p))
      const b = buildBlock({ genesis, parent: info, miner, timestamp: info.timestamp + stepMs, target })
      byHash.set(blockHashHex(b), b)
      out.push(b)
      p = b
    }
    return out
  }
}

describe('undo records after a reorg onto a shorter, heavier chain', () => {
  for (const restart of [false, true]) {
    it(`a later fork inside the window reorgs like on a node that never saw the longer chain${restart ? ' (after a restart)' : ''}`, async () => {
      const [mc, mx, my, mz, me] = await makeSigners(5)
      const disk = await diskStore()
      cleanups.push(async () => { await disk.cleanup() })
      let n: Ledger = createLedger({ store: disk.store, signer: me, genesis, maxReorgDepth: D })
      await n.start()
      cleanups.push(async () => { await n.stop() })
      const m = await startLedger({ signer: me, genesis, maxReorgDepth: D })
      cleanups.push(async () => { await m.stop() })
      const extend = builder(genesisInfo(n, genesis))
      const common = await extend(undefined, 10, 1000, mc.peerId) // heights 1..10
      const y = await extend(common[9], 8, 1000, my.peerId) // 11..18
      const x = await extend(common[9], 7, 1, mx.peerId) // 11..17: fast, so harder from 15 on, heavier than y
      const z = await extend(common[6], 22, 1000, mz.peerId) // forks at 7, within 17 - D
      // n reaches height 18 on y (undo records of 1..8 fall out of y's window), then reorgs down to 17 on x.
      for (const b of [...common, ...y, ...x]) await n.addBlock(b)
      expect(n.tip().hash).toBe(blockHashHex(x[6]))
      for (const b of [...common, ...x]) await m.addBlock(b)
      if (restart) {
        await n.stop()
        n = createLedger({ store: await disk.reopen(), signer: me, genesis, maxReorgDepth: D })
        await n.start()
        expect(n.tip().hash).toBe(blockHashHex(x[6]))
      }
      const outcomes: string[] = []
      for (const b of z) {
        const rn = await n.addBlock(b).then((r) => r.status, (e: Error) => `${e.constructor.name}: ${e.message}`)
        const rm = await m.addBlock(b).then((r) => r.status, (e: Error) => `${e.constructor.name}: ${e.message}`)
        expect(rn).toBe(rm)
        outcomes.push(rn)
      }
      expect(outcomes).toContain('reorg')
      expect(n.tip().hash).toBe(blockHashHex(z[21]))
      expect(m.tip().hash).toBe(blockHashHex(z[21]))
    })
  }
})
