/**
 * `kill -9` of a mining daemon, repeated: each time it reopens its LevelDB consistent (a
 * continuous chain; the miner's balance is exactly its allocation plus the reward of every block
 * it mined) and goes on mining from where the disk says it was.
 */
import { describe, it, expect } from 'vitest'
import { spawn, type ChildProcess } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { BIN, runCli } from './cli-helpers.ts'
import { tempDir, waitFor } from './helpers.ts'
import { testnetGenesis, TESTNET_ALLOCATION } from '../src/node/testnet.ts'
import { readApiInfo } from '../src/node/data-dir.ts'

const KILLS = 3

interface Chain { height: number, tip: string, blocks?: Array<{ height: number, hash: string, parent: string, miner: string }> }

describe('a mining daemon killed with SIGKILL', () => {
  it(`reopens consistent and keeps mining (${KILLS} kills)`, { timeout: 180_000 }, async () => {
    const dir = await tempDir()
    let child: ChildProcess | undefined
    try {
      const dataDir = join(dir.path, 'miner')
      const init = JSON.parse((await runCli(['init', '--data-dir', dataDir, '--json'])).stdout)
      // About a block a second: the kills land between and during block writes.
      const network = testnetGenesis([init.peerId], { hashesPerBlock: 2 ** 18, blockIntervalMs: 1000, reward: 50 })
      const token = () => readFile(join(dataDir, 'api-token'), 'utf8').then((t) => t.trim())
      const api = async <T>(path: string): Promise<T> => {
        const info = await readApiInfo(dataDir)
        const response = await fetch(`http://${info?.api}${path}`, { headers: { authorization: `Bearer ${await token()}` } })
        return await response.json() as T
      }
      const config = JSON.parse(await readFile(join(dataDir, 'config.json'), 'utf8'))
      await writeFile(join(dataDir, 'config.json'), JSON.stringify({ ...config, network, mdns: false, listen: ['/ip4/127.0.0.1/tcp/0'], api: '127.0.0.1:0' }))
      let lastHeight = 0
      for (let run = 0; run <= KILLS; run++) {
        child = spawn(process.execPath, [BIN, 'start', '--data-dir', dataDir, '--mine'], { stdio: 'ignore' })
        const pid = child.pid
        const exited = new Promise<NodeJS.Signals | number | null>((resolve) => child?.once('exit', (code, signal) => { resolve(signal ?? code) }))
        await waitFor(async () => (await readApiInfo(dataDir))?.pid === pid, { what: 'the daemon to start' })
        // Consistent on reopening: never behind what it had before the kill, and the state
        // equals a replay of its own chain.
        const chain = JSON.parse((await runCli(['chain', '--blocks', '100', '--json', '--data-dir', dataDir])).stdout) as Chain
        expect(chain.height).toBeGreaterThanOrEqual(lastHeight)
        const blocks = chain.blocks ?? []
        for (let i = 0; i + 1 < blocks.length; i++) expect(blocks[i].parent).toBe(blocks[i + 1].hash)
        // The miner keeps mining: read the balance between two reads of the same height.
        const { height, balance } = await waitFor(async () => {
          const h1 = (await api<Chain>('/v1/ledger/chain')).height
          const b = (await api<{ balance: number }>('/v1/ledger/balance')).balance
          const h2 = (await api<Chain>('/v1/ledger/chain')).height
          return h1 === h2 ? { height: h1, balance: b } : undefined
        }, { timeoutMs: 60_000, what: 'a quiet moment between blocks' })
        expect(balance).toBe(TESTNET_ALLOCATION + 50 * height)
        if (run === KILLS) {
          child.kill('SIGTERM')
          expect(await exited).toBe(0) // a clean stop after all
          break
        }
        // Let it mine a random number of further blocks, then kill it mid-stride.
        const target = chain.height + 2 + Math.floor(Math.random() * 6)
        await waitFor(async () => (await api<Chain>('/v1/ledger/chain')).height >= target, { timeoutMs: 90_000, what: `height ${target}` })
        lastHeight = target
        child.kill('SIGKILL')
        expect(await exited).toBe('SIGKILL')
      }
    } finally {
      // A failed assertion must not leave a mining daemon behind.
      if (child != null && child.exitCode == null && child.signalCode == null) child.kill('SIGKILL')
      await dir.remove()
    }
  })
})
