/** Undo records after a reorg that lowers the tip: every fork the window allows can still be undone, also after a restart. */
import { describe, it, expect, afterEach } from 'vitest'
import { createLedger, type Ledger } from '../src/ledger/index.ts'
import { blockHashHex, diskStore, genesisInfo, makeSigners, ruleChainBuilder, startLedger, testGenesis } from './fixtures/ledger/helpers.ts'

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => { for (const c of cleanups.splice(0).reverse()) await c() })

const D = 10
const genesis = testGenesis([], { retargetInterval: 5, blockIntervalMs: 1000 })

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
      const extend = ruleChainBuilder(genesis, genesisInfo(n, genesis))
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
