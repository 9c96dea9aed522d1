/**
 * `createTestnet` for embedders: options checked before anything starts, and a testnet with a
 * `dir` that can be stopped and created again (its genesis kept in `<dir>/genesis.json`), one at a
 * time per directory.
 */
import { describe, it, expect } from 'vitest'
import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { createTestnet, TestnetInUseError, ConfigError, type TestnetInit } from '../src/index.ts'
import { tempDir, waitFor } from './helpers.ts'
import { lockTestnetDir } from '../src/node/testnet-dir.ts'

/** Fast blocks for tests. */
const FAST = { hashesPerBlock: 2 ** 12, blockIntervalMs: 500 }

describe('createTestnet options', () => {
  it('refuses what it would have ignored or misread, naming the option, and starts nothing', async () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ nodes: 0 }, /^invalid testnet option nodes: /],
      [{ nodes: -2 }, /^invalid testnet option nodes: /],
      [{ nodes: 1.5 }, /^invalid testnet option nodes: /],
      [{ nodes: '2' }, /^invalid testnet option nodes: /],
      [{ nodes: Number.NaN }, /^invalid testnet option nodes: /],
      [{ nodes: 2, miners: [2] }, /^invalid testnet option miners\.0: node 2 does not exist: the testnet has nodes 0 to 1$/],
      [{ miners: [-1] }, /^invalid testnet option miners\.0: /],
      [{ transport: 'udp' }, /^invalid testnet option transport: /],
      [{ readyTimeoutMs: -1 }, /^invalid testnet option readyTimeoutMs: /],
      [{ nodeInit: { mine: true } }, /^invalid testnet option nodeInit: must be a function/],
      [{ network: { networkId: 'x' } }, /^invalid testnet option network\./],
      [{ genesis: FAST, network: (await createTestnet({ nodes: 1, transport: 'memory' }).then(async (n) => { await n.stop(); return n.network })) }, /^invalid testnet option genesis: give network or genesis, not both/]
    ]
    for (const [init, message] of cases) {
      const err = await createTestnet(init as TestnetInit).then(async (net) => { await net.stop(); return undefined }, (e: unknown) => e)
      expect(err, JSON.stringify(init)).toBeInstanceOf(ConfigError)
      expect((err as ConfigError).code).toBe('ERR_CONFIG')
      expect((err as Error).message).toMatch(message)
    }
  })
})

describe('createTestnet with miners', () => {
  // A chain growing while the nodes start made each later node sync it and every started node
  // apply each block: 60 nodes on data dirs took 135 s to start with a miner.
  it('its miners start once every node is up: the first block is younger than the last node', async () => {
    const net = await createTestnet({ nodes: 6, transport: 'memory', miners: [0], genesis: FAST })
    try {
      const lastStarted = Math.max(...net.nodes.map((n) => n.status().startedAt ?? Number.POSITIVE_INFINITY))
      await waitFor(() => net.nodes.every((n) => n.ledger.tip().height >= 1), { timeoutMs: 30_000, what: 'a first block everywhere' })
      const first = await net.nodes[5].ledger.block(1)
      expect(first?.miner).toBe(net.nodes[0].peerId)
      expect(first?.timestamp).toBeGreaterThanOrEqual(lastStarted)
    } finally {
      await net.stop()
    }
  }, 60_000)
})

describe('createTestnet with a dir', () => {
  it('a dir that cannot be created is refused at once, naming the directory that refused (it hung under /proc)', async () => {
    const err = await createTestnet({ nodes: 1, dir: `/proc/depin-test-${process.pid}/net` }).then(async (net) => { await net.stop(); return undefined }, (e: unknown) => e)
    expect(err).toMatchObject({ code: 'ERR_MAKE_DIR', message: `cannot create /proc/depin-test-${process.pid}/net: /proc does not take new directories` })
  })

  it('created again on the same dir after stop(): the same identities, network and chain; a second one at once is refused', async () => {
    const dir = await tempDir()
    try {
      const init: TestnetInit = { nodes: 2, transport: 'memory', dir: dir.path, miners: [0], genesis: FAST }
      const first = await createTestnet(init)
      let height: number
      let hash: string
      try {
        await waitFor(() => first.nodes[1].ledger.tip().height >= 2, { timeoutMs: 60_000, what: 'two blocks' })
        // One testnet per dir at a time.
        const err = await createTestnet({ ...init, miners: [] }).then(async (net) => { await net.stop(); return undefined }, (e: unknown) => e)
        expect(err).toBeInstanceOf(TestnetInUseError)
        expect((err as Error).message).toMatch(/is in use: another testnet \(pid \d+, this process\) runs it/)
        await first.nodes[0].ledger.stopMining()
        // A block mined as mining stopped may still be applied after this: the restart is checked
        // against this block, which the chain keeps whatever comes on top of it.
        ;({ height, hash } = first.nodes[0].ledger.tip())
      } finally {
        await first.stop()
      }
      await expect(stat(join(dir.path, 'testnet.lock'))).rejects.toThrow()
      expect(JSON.parse(await readFile(join(dir.path, 'genesis.json'), 'utf8'))).toEqual(first.network)

      const again = await createTestnet({ ...init, miners: [] })
      try {
        expect(again.network).toEqual(first.network)
        expect(again.nodes.map((n) => n.peerId)).toEqual(first.nodes.map((n) => n.peerId))
        expect(again.nodes[0].ledger.tip().height).toBeGreaterThanOrEqual(height)
        expect((await again.nodes[0].ledger.block(height))?.hash).toBe(hash)
      } finally {
        await again.stop()
      }

      // Another node count is another network: a new genesis, and the old chains are gone.
      const other = await createTestnet({ ...init, nodes: 3, miners: [] })
      try {
        expect(other.network.networkId).not.toBe(first.network.networkId)
        expect(other.nodes[0].ledger.tip().height).toBe(0)
      } finally {
        await other.stop()
      }
    } finally {
      await dir.remove()
    }
  }, 120_000)
})

describe('the testnet directory lock', () => {
  it('of many takers at the same moment exactly one gets it, and after its release the next one does', async () => {
    const dir = await tempDir()
    try {
      for (let round = 0; round < 5; round++) {
        const outcomes = await Promise.allSettled(Array.from({ length: 20 }, async () => await lockTestnetDir(dir.path)))
        const taken = outcomes.filter((o) => o.status === 'fulfilled')
        expect(taken).toHaveLength(1)
        for (const o of outcomes) if (o.status === 'rejected') expect(o.reason).toBeInstanceOf(TestnetInUseError)
        expect(JSON.parse(await readFile(join(dir.path, 'testnet.lock'), 'utf8'))).toEqual({ pid: process.pid })
        await (taken[0] as PromiseFulfilledResult<() => Promise<void>>).value()
        await expect(stat(join(dir.path, 'testnet.lock'))).rejects.toThrow()
      }
    } finally {
      await dir.remove()
    }
  })
})
