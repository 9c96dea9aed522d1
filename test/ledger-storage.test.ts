import { describe, it, expect, afterEach } from 'vitest'
import { MemoryLevel } from 'memory-level'
import { encode } from '../src/proofs/encoding.ts'
import {
  createLedger, GenesisMismatchError, SchemaVersionError, createGenesisConfig, genesisHash, parseGenesisConfig,
  GenesisConfigError, type LedgerStore
} from '../src/ledger/index.ts'
import { createTransfer } from '../src/ledger/tx.ts'
import { PREFIX, SCHEMA_VERSION, keys, readHeight } from '../src/ledger/store.ts'
import { leaseId } from '../src/proofs/lease.ts'
import { blockHashHex, buildBlock, buildChain, diskStore, genesisInfo, infoOf, makeSigners, makeWork, testGenesis } from './fixtures/ledger/helpers.ts'

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => { for (const c of cleanups.splice(0).reverse()) await c() })

/** Keys in one key space, by prefix byte. */
async function keysUnder (store: LedgerStore, prefix: number): Promise<Uint8Array[]> {
  return await store.keys({ keyEncoding: 'view', gte: Uint8Array.of(prefix), lt: Uint8Array.of(prefix + 1) }).all() as Uint8Array[]
}

/** How many entries each receipt key space holds: the receipts and their three indexes. */
async function receiptKeyCounts (store: LedgerStore): Promise<number[]> {
  const out: number[] = []
  for (const p of [PREFIX.RECEIPT, PREFIX.RECEIPT_BY_WORKER, PREFIX.RECEIPT_BY_REQUESTER, PREFIX.RECEIPT_BY_HEIGHT]) out.push((await keysUnder(store, p)).length)
  return out
}

interface Backend {
  name: string
  open(): Promise<{ store: LedgerStore, reopen(): Promise<LedgerStore> }>
}

const backends: Backend[] = [
  {
    name: 'memory-level',
    async open () {
      const db = new MemoryLevel<Uint8Array, Uint8Array>({ keyEncoding: 'view', valueEncoding: 'view' })
      const store = db.sublevel<Uint8Array, Uint8Array>('ledger', { keyEncoding: 'view', valueEncoding: 'view' }) as unknown as LedgerStore
      return { store, reopen: async () => store }
    }
  },
  {
    name: 'level (classic-level on disk)',
    async open () {
      const disk = await diskStore()
      cleanups.push(async () => { await disk.cleanup() })
      return { store: disk.store, reopen: async () => await disk.reopen() }
    }
  }
]

for (const backend of backends) {
  describe(`ledger store on ${backend.name}`, () => {
    it('persists chain, balances, nonces and lease receipts across a restart', async () => {
      const [alice, bob, miner, me] = await makeSigners(4)
      const genesis = testGenesis([alice.peerId])
      const { store, reopen } = await backend.open()
      let ledger = createLedger({ store, signer: me, genesis })
      await ledger.start()
      const g = genesisInfo(ledger, genesis)
      const network = genesis.networkId
      const L = makeWork(alice, bob)
      const M = makeWork(alice, bob)
      const t = createTransfer(alice, { network, to: bob.peerId, amount: 10, nonce: 0 })
      const b1 = buildBlock({ genesis, parent: g, miner: miner.peerId, txs: [t, L.settle(network, 10)] })
      const b2 = buildBlock({ genesis, parent: infoOf(b1), miner: miner.peerId, txs: [L.settle(network, 25), M.settle(network, 5)] })
      await ledger.addBlock(b1)
      await ledger.addBlock(b2)
      for (const b of buildChain(genesis, infoOf(b2), miner.peerId, 4)) await ledger.addBlock(b)
      const tip = ledger.tip()
      const receipts = await ledger.receipts()
      expect(receipts).toHaveLength(2)
      await ledger.stop()

      const reopened = await reopen()
      ledger = createLedger({ store: reopened, signer: me, genesis })
      await ledger.start()
      expect(ledger.tip()).toEqual(tip)
      expect(await ledger.balance(alice.peerId)).toBe(1000 - 10 - 25 - 5)
      expect(await ledger.balance(bob.peerId)).toBe(10 + 25 + 5)
      expect(await ledger.balance(miner.peerId)).toBe(300)
      expect(await ledger.nonce(alice.peerId)).toBe(1)
      expect((await ledger.blocks({ last: 3 })).map((b) => b.height)).toEqual([6, 5, 4])
      expect(await ledger.receipts()).toEqual(receipts)
      expect(await ledger.receipts({ worker: bob.peerId })).toEqual(receipts)
      expect(await ledger.receipts({ requester: alice.peerId })).toEqual(receipts)
      expect(await ledger.settledAmount(leaseId(L.lease.body))).toBe(25)
      expect(await ledger.settledAmount(leaseId(M.lease.body))).toBe(5)
      // One receipt per lease, and one entry per lease in each index (L's first entry is gone).
      expect(await receiptKeyCounts(reopened)).toEqual([2, 2, 2, 2])
      await ledger.stop()
    })

    it('a reorg that undoes a lease\'s later settle rewrites its receipt and index entries in the store', async () => {
      const [alice, bob, miner, me] = await makeSigners(4)
      const genesis = testGenesis([alice.peerId])
      const { store, reopen } = await backend.open()
      let ledger = createLedger({ store, signer: me, genesis })
      await ledger.start()
      const network = genesis.networkId
      const L = makeWork(alice, bob)
      const M = makeWork(alice, bob)
      const a1 = buildBlock({ genesis, parent: genesisInfo(ledger, genesis), miner: miner.peerId, txs: [L.settle(network, 10)] })
      const a2 = buildBlock({ genesis, parent: infoOf(a1), miner: miner.peerId, txs: [L.settle(network, 25), M.settle(network, 5), M.settle(network, 6)] })
      await ledger.addBlock(a1)
      await ledger.addBlock(a2)
      for (const b of buildChain(genesis, infoOf(a1), miner.peerId, 2, 1100)) await ledger.addBlock(b)
      expect(ledger.tip().height).toBe(3)
      await ledger.stop()

      const reopened = await reopen()
      ledger = createLedger({ store: reopened, signer: me, genesis })
      await ledger.start()
      expect(await ledger.receipts()).toMatchObject([{ leaseId: leaseId(L.lease.body).toString(), paid: 10, seq: 1, height: 1, blockHash: blockHashHex(a1) }])
      expect(await ledger.settledAmount(leaseId(M.lease.body))).toBe(0)
      expect(await ledger.balance(bob.peerId)).toBe(10)
      expect(await receiptKeyCounts(reopened)).toEqual([1, 1, 1, 1])
      const [byHeight] = await keysUnder(reopened, PREFIX.RECEIPT_BY_HEIGHT)
      expect(readHeight(byHeight, 1)).toBe(1)
      await ledger.stop()
    })

    it('keeps canonical heights in order (big-endian keys)', async () => {
      const [miner, me] = await makeSigners(2)
      const genesis = testGenesis([])
      const { store } = await backend.open()
      const ledger = createLedger({ store, signer: me, genesis })
      await ledger.start()
      for (const b of buildChain(genesis, genesisInfo(ledger, genesis), miner.peerId, 300)) await ledger.addBlock(b)
      const heights: number[] = []
      const prefix = Uint8Array.of(PREFIX.CANONICAL)
      for await (const k of store.keys({ keyEncoding: 'view', gte: prefix, lt: Uint8Array.of(PREFIX.CANONICAL + 1) }) as AsyncIterable<Uint8Array>) heights.push(readHeight(k, 1))
      expect(heights).toEqual(Array.from({ length: 301 }, (_, i) => i))
      await ledger.stop()
    })

    it('refuses a store written by schema version 1 (receipts per job)', async () => {
      const [me] = await makeSigners(1)
      const { store } = await backend.open()
      await store.put(keys.meta('version'), encode(1), { keyEncoding: 'view', valueEncoding: 'view' })
      const ledger = createLedger({ store, signer: me, genesis: testGenesis([]) })
      await expect(ledger.start()).rejects.toThrow(SchemaVersionError)
      expect(SCHEMA_VERSION).toBe(2)
    })

    it('refuses a store written by another schema version', async () => {
      const [me] = await makeSigners(1)
      const { store } = await backend.open()
      await store.put(keys.meta('version'), encode(99), { keyEncoding: 'view', valueEncoding: 'view' })
      const ledger = createLedger({ store, signer: me, genesis: testGenesis([]) })
      await expect(ledger.start()).rejects.toBeInstanceOf(SchemaVersionError)
    })

    it('refuses a store that holds another network\'s chain', async () => {
      const [me] = await makeSigners(1)
      const { store, reopen } = await backend.open()
      const first = createLedger({ store, signer: me, genesis: testGenesis([]) })
      await first.start()
      await first.stop()
      const other = createLedger({ store: await reopen(), signer: me, genesis: testGenesis([], { reward: 51 }) })
      await expect(other.start()).rejects.toBeInstanceOf(GenesisMismatchError)
    })
  })
}

describe('genesis config', () => {
  it('derives the same genesis hash from the same config, another from any change', async () => {
    const [a, b] = await makeSigners(2)
    const cfg = createGenesisConfig({ networkId: 'n1', peers: [a.peerId, b.peerId], allocation: 500 })
    expect(cfg.allocations).toEqual({ [a.peerId]: 500, [b.peerId]: 500 })
    const copy = JSON.parse(JSON.stringify(cfg))
    expect(genesisHash(copy)).toBe(genesisHash(cfg))
    expect(genesisHash({ ...cfg, reward: cfg.reward + 1 })).not.toBe(genesisHash(cfg))
    expect(genesisHash({ ...cfg, allocations: { [a.peerId]: 500 } })).not.toBe(genesisHash(cfg))
    expect(createGenesisConfig().networkId).toMatch(/^testnet-[0-9a-f]{8}$/)
  })

  it('refuses invalid configs with a clear error', () => {
    expect(() => parseGenesisConfig({ networkId: 'x' })).toThrow(GenesisConfigError)
    expect(() => parseGenesisConfig({ networkId: 'x', allocations: {}, initialTarget: '00'.repeat(32), blockIntervalMs: 1, reward: 1 })).toThrow(/greater than zero/)
    expect(() => parseGenesisConfig({ networkId: 'x', allocations: { nope: 1 }, initialTarget: 'ff'.repeat(32), blockIntervalMs: 1, reward: 1 })).toThrow(GenesisConfigError)
  })
})

describe('key ranges', () => {
  it('bound a prefix by its successor, so keys continuing with 0xff bytes are inside', async () => {
    const { prefixEnd } = await import('../src/ledger/store.ts')
    expect([...prefixEnd(Uint8Array.of(0x0a))]).toEqual([0x0b])
    expect([...prefixEnd(Uint8Array.of(0x06, 0x41, 0xff))]).toEqual([0x06, 0x42])
    const db = new MemoryLevel<Uint8Array, Uint8Array>({ keyEncoding: 'view', valueEncoding: 'view' })
    await db.put(Uint8Array.of(0x0a, 0xff, 0xff, 0x01), new Uint8Array(0))
    await db.put(Uint8Array.of(0x0a, 0x00), new Uint8Array(0))
    await db.put(Uint8Array.of(0x0b), new Uint8Array(0))
    const found = await db.keys({ gte: Uint8Array.of(0x0a), lt: prefixEnd(Uint8Array.of(0x0a)) }).all()
    expect(found).toHaveLength(2)
  })
})
