import { describe, it, expect, afterEach } from 'vitest'
import { NONCE_BYTES, targetToBytes } from '../src/proofs/pow.ts'
import { Miner, type BlockTemplate } from '../src/ledger/miner.ts'
import type { BlockHeader } from '../src/ledger/block.ts'
import type { Ledger } from '../src/ledger/index.ts'
import { encodeBlock } from '../src/ledger/block.ts'
import { makeAck, makeCheckpoint, makeLease, makeSigners, startLedger, testGenesis, waitFor } from './fixtures/ledger/helpers.ts'

const stops: Array<() => Promise<void>> = []
afterEach(async () => { for (const s of stops.splice(0).reverse()) await s() })

function header (target: bigint, height: number): BlockHeader {
  return {
    v: 1, network: 'n', parent: new Uint8Array(32), height, timestamp: 1, target: targetToBytes(target),
    nonce: new Uint8Array(NONCE_BYTES), miner: '12D3KooWGzBTtGUEzBYYdV9rSmUBokuYMm3VnT6EuzDWJikGGvCP', txRoot: new Uint8Array(32)
  }
}

describe('miner (worker thread)', () => {
  it('switches to a new template on refresh and stops promptly', async () => {
    const templates: BlockTemplate[] = [
      { header: header(0n, 1), txs: [] }, // impossible: the worker can only abandon it
      { header: header((1n << 256n) - 1n, 2), txs: [] } // every hash meets it
    ]
    let built = 0
    const found: BlockHeader[] = []
    const miner = new Miner({
      buildTemplate: async () => templates[Math.min(built++, templates.length - 1)],
      onFound: async (h) => { found.push(h) }
    }, { batch: 1024, refreshMs: 60_000 })
    stops.push(async () => { await miner.stop() })
    miner.start()
    await waitFor(() => miner.getStats().templates === 1, 10_000, 'first template')
    expect(found).toHaveLength(0)
    miner.refresh()
    await waitFor(() => found.length > 0, 10_000, 'a block from the second template')
    expect(found[0].height).toBe(2)
    await miner.stop()
    expect(miner.running).toBe(false)
    await miner.stop()
  })

  it('stop() ends a worker that is busy on an impossible target', async () => {
    const miner = new Miner({
      buildTemplate: async () => ({ header: header(0n, 1), txs: [] }),
      onFound: async () => { throw new Error('cannot happen') }
    }, { batch: 4096, refreshMs: 60_000 })
    miner.start()
    await waitFor(() => miner.getStats().hashes > 0, 10_000, 'the worker to report hashing')
    expect(miner.running).toBe(true)
    await miner.stop()
    expect(miner.running).toBe(false)
    expect(miner.getStats().found).toBe(0)
  })
})

describe('ledger mining', () => {
  it('mines blocks with pending transactions (a transfer and a lease settle) on its tip and publishes them', async () => {
    const [alice, bob] = await makeSigners(2)
    const genesis = testGenesis([alice.peerId])
    const published: Uint8Array[] = []
    const ledger: Ledger = await startLedger({ signer: alice, genesis, publishBlock: (b) => { published.push(b) } })
    stops.push(async () => { await ledger.stop() })
    await ledger.transfer(bob.peerId, 25)
    const lease = makeLease(alice, bob)
    const checkpoint = makeCheckpoint(bob, lease, { seq: 1, count: 4, amount: 10 })
    await ledger.submitSettle(lease, checkpoint, makeAck(alice, checkpoint, 10))
    const mined: number[] = []
    ledger.addEventListener('mined', (e) => { mined.push(e.detail.height) })
    ledger.startMining()
    await waitFor(() => mined.length >= 3, 30_000, 'three mined blocks')
    await ledger.stopMining()
    expect(ledger.mining().running).toBe(false)
    expect(mined.slice(0, 3)).toEqual([1, 2, 3])
    expect(await ledger.balance(bob.peerId)).toBe(25 + 10)
    expect(ledger.mempool().size).toBe(0)
    expect(await ledger.receipts({ worker: bob.peerId })).toMatchObject([{ paid: 10, tasks: 4, height: 1 }])
    const tip = ledger.tip()
    expect(await ledger.balance(alice.peerId)).toBe(1000 - 25 - 10 + 50 * tip.height)
    // Another node accepts the published blocks.
    const other = await startLedger({ signer: bob, genesis })
    stops.push(async () => { await other.stop() })
    for (const b of published) await other.addBlock(b)
    expect(other.tip().hash).toBe(tip.hash)
    // No more blocks after stop.
    const height = ledger.tip().height
    expect(ledger.mining().found).toBe(published.length)
    expect(ledger.tip().height).toBe(height)
  })

  it('stop() of the ledger stops its miner', async () => {
    const [alice] = await makeSigners(1)
    const ledger = await startLedger({ signer: alice, genesis: testGenesis([]), mine: true })
    await waitFor(() => ledger.tip().height >= 1, 30_000, 'a mined block')
    expect(ledger.mining().running).toBe(true)
    await ledger.stop()
    expect(ledger.mining().running).toBe(false)
  })
})

export { encodeBlock }
