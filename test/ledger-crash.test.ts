import { describe, it, expect } from 'vitest'
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { createLedger } from '../src/ledger/index.ts'
import { crashGenesis, crashSigners, openDisk } from './fixtures/ledger/crash-common.ts'
import { replayBalances } from './fixtures/ledger/helpers.ts'

const NODE = resolve('node_modules/.bin/node')
const CHILD = resolve('test/fixtures/ledger/crash-child.ts')
const RUNS = 5

/** Runs the child until it has applied blocks for a random while, then kills it with SIGKILL. */
async function runAndKill (path: string, seed: number): Promise<void> {
  const child = spawn(NODE, [CHILD, path, String(seed)], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => { resolve({ code, signal }) })
  })
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => { if (d.toString().includes('ready')) resolve() })
    void exited.then(({ code }) => { reject(new Error(`child exited early (${code}): ${stderr}`)) })
  })
  // Let it write for a random while (the kill lands at an arbitrary point of a block or a reorg).
  await new Promise((resolve) => setTimeout(resolve, 150 + Math.floor(Math.random() * 600)))
  child.kill('SIGKILL')
  const { signal } = await exited
  expect(signal, stderr).toBe('SIGKILL')
}

describe('crash consistency on a disk LevelDB', () => {
  it(`reopens consistent after kill -9 at random moments (${RUNS} runs)`, async () => {
    const path = await mkdtemp(join(tmpdir(), 'depin-ledger-crash-'))
    const { accounts, miner } = await crashSigners()
    const genesis = crashGenesis(accounts)
    const peers = [...accounts, miner].map((s) => s.peerId)
    let lastHeight = 0
    let settledLeases = 0
    let settles = 0
    try {
      for (let run = 0; run < RUNS; run++) {
        await runAndKill(path, run * 7919 + 1)
        const { db, store } = await openDisk(path)
        const ledger = createLedger({ store, signer: miner, genesis })
        await ledger.start()
        const tip = ledger.tip()
        // The canonical chain links up from genesis to the tip.
        let parent = ledger.genesisHash
        for (let h = 1; h <= tip.height; h++) {
          const b = await ledger.block(h)
          expect(b?.parent).toBe(parent)
          parent = b!.hash
        }
        expect(parent).toBe(tip.hash)
        // Balances equal a replay from genesis, and the supply adds up.
        const { actual, replayed, receipts: replayedReceipts } = await replayBalances(ledger, genesis, miner, peers)
        expect(actual).toEqual(replayed)
        const supply = Object.values(actual).reduce((a, b) => a + b, 0)
        expect(supply).toBe(4 * 1_000_000 + 50 * tip.height)
        expect(await ledger.balance(miner.peerId)).toBe(50 * tip.height)
        // Every lease settled on the canonical chain has exactly one receipt, from its last settle
        // there, and so does the replay.
        const last = new Map<string, { paid: number, txHash: string, height: number }>()
        for (let h = 1; h <= tip.height; h++) {
          for (const t of (await ledger.block(h))!.transactions) {
            if (t.type !== 'settle') continue
            last.set(t.leaseId as string, { paid: t.amount, txHash: t.hash, height: h })
            settles++
          }
        }
        const receipts = await ledger.receipts({ limit: 1000 })
        expect(receipts.length).toBe(Math.min(last.size, 1000))
        for (const r of receipts) expect({ paid: r.paid, txHash: r.txHash, height: r.height }).toEqual(last.get(r.leaseId))
        expect(replayedReceipts.replayed).toEqual(replayedReceipts.actual)
        settledLeases += last.size
        lastHeight = tip.height
        await ledger.stop()
        await db.close()
      }
      expect(lastHeight).toBeGreaterThan(0)
      expect(settledLeases).toBeGreaterThan(0)
      // Leases were settled more than once (the cumulative path was exercised).
      expect(settles).toBeGreaterThan(settledLeases)
    } finally {
      await rm(path, { recursive: true, force: true })
    }
  }, 120_000)
})
