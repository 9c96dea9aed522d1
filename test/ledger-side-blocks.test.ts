/** The side-block cap: what it evicts, what it refuses, and that sync can still adopt a heavier branch longer than it. */
import { describe, it, expect, afterEach } from 'vitest'
import { decode, encode } from '../src/proofs/encoding.ts'
import {
  DuplicateError, MAX_SYNC_FRAME_BYTES, SideChainFullError, actionOf, parseSyncRequest, type Ledger, type SyncTransport
} from '../src/ledger/index.ts'
import { workOf, targetFromBytes } from '../src/proofs/pow.ts'
import {
  buildBlock, buildChain, blockHashHex, genesisInfo, infoOf, makeSigners, ruleChainBuilder, startLedger, testGenesis
} from './fixtures/ledger/helpers.ts'

const stops: Array<() => Promise<void>> = []
afterEach(async () => { for (const s of stops.splice(0).reverse()) await s() })

async function ledgerOf (init: Parameters<typeof startLedger>[0]): Promise<Ledger> {
  const l = await startLedger(init)
  stops.push(async () => { await l.stop() })
  return l
}

/** An in-process transport: requests and responses go through DAG-CBOR like on the wire. */
function transport (peers: Map<string, Ledger>): SyncTransport {
  return {
    async request (peerId, req) {
      const response = await (peers.get(peerId) as Ledger).handleSyncRequest(parseSyncRequest(decode(encode(req), 1 << 20)))
      return decode(encode(response), MAX_SYNC_FRAME_BYTES)
    }
  }
}

describe('side-block cap', () => {
  it('evicts another leaf, never the block being stored, so its heavier child reorgs onto it', async () => {
    const [miner, other, me] = await makeSigners(3)
    const genesis = testGenesis([])
    const ledger = await ledgerOf({ signer: me, genesis, maxSideBlocks: 1 })
    const [a1, a2] = buildChain(genesis, genesisInfo(ledger, genesis), miner.peerId, 2)
    await ledger.addBlock(a1)
    await ledger.addBlock(a2)
    // x2 fills the side set; b2 has the same work and is newer: it used to be the one evicted,
    // in the batch that stored it, while its entry stayed cached as known.
    const x2 = buildBlock({ genesis, parent: infoOf(a1), miner: other.peerId, timestamp: a1.header.timestamp + 777 })
    const b2 = buildBlock({ genesis, parent: infoOf(a1), miner: other.peerId, timestamp: a1.header.timestamp + 999 })
    const b3 = buildBlock({ genesis, parent: infoOf(b2), miner: other.peerId })
    expect((await ledger.addBlock(x2)).status).toBe('side')
    expect((await ledger.addBlock(b2)).status).toBe('side')
    expect(ledger.stats().sideBlocks).toBe(1)
    expect(await ledger.block(blockHashHex(b2))).toBeDefined()
    expect(await ledger.block(blockHashHex(x2))).toBeUndefined()
    expect((await ledger.addBlock(b3)).status).toBe('reorg')
    expect(ledger.tip().hash).toBe(blockHashHex(b3))
    // The evicted x2 is not "known": sent again, it is stored again (a2, undone, is the leaf that goes).
    expect((await ledger.addBlock(x2)).status).toBe('side')
    expect(ledger.stats().sideBlocks).toBe(1)
  })

  it('refuses (ignore) a side block that would leave nothing else to evict, and does not remember it', async () => {
    const [miner, other, me] = await makeSigners(3)
    const genesis = testGenesis([])
    const ledger = await ledgerOf({ signer: me, genesis, maxSideBlocks: 2 })
    const g = genesisInfo(ledger, genesis)
    for (const b of buildChain(genesis, g, miner.peerId, 5)) await ledger.addBlock(b)
    // A lighter side branch of 3 from genesis: the third has only its own ancestors beside it.
    const [s1, s2, s3] = buildChain(genesis, g, other.peerId, 3, 1001)
    await ledger.addBlock(s1)
    await ledger.addBlock(s2)
    const err = await ledger.addBlock(s3).then(() => undefined, (e: Error) => e)
    expect(err).toBeInstanceOf(SideChainFullError)
    expect(actionOf(err)).toBe('ignore')
    expect(ledger.stats().sideBlocks).toBe(2)
    expect(await ledger.block(blockHashHex(s3))).toBeUndefined()
    // Not cached as known either: sent again it is refused the same way, not as a duplicate.
    const again = await ledger.addBlock(s3).then(() => undefined, (e: Error) => e)
    expect(again).toBeInstanceOf(SideChainFullError)
    expect(again).not.toBeInstanceOf(DuplicateError)
  })

  it('sync adopts a heavier branch longer than maxSideBlocks', async () => {
    const [m1, m2, a, b] = await makeSigners(4)
    const genesis = testGenesis([])
    const source = await ledgerOf({ signer: a, genesis })
    const client = await ledgerOf({ signer: b, genesis, maxSideBlocks: 32, syncTransport: transport(new Map([['source', source]])) })
    const common = buildChain(genesis, genesisInfo(source, genesis), m1.peerId, 5)
    for (const blk of common) { await source.addBlock(blk); await client.addBlock(blk) }
    const fork = infoOf(common[4])
    for (const blk of buildChain(genesis, fork, m1.peerId, 39, 1000)) await client.addBlock(blk)
    // 40 blocks: 39 of them are side blocks on the client until the 40th makes the branch heavier.
    for (const blk of buildChain(genesis, fork, m2.peerId, 40, 1001)) await source.addBlock(blk)
    const result = await client.syncWith('source')
    expect(result).toMatchObject({ status: 'synced', applied: 40 })
    expect(client.tip().hash).toBe(source.tip().hash)
    // The undone branch is trimmed back to the cap.
    expect(client.stats().sideBlocks).toBe(32)
  })

  it('sync adopts a heavier branch of easy blocks longer than the reorg depth and the cap together', async () => {
    const [m1, m2, a, b] = await makeSigners(4)
    const genesis = testGenesis([], { retargetInterval: 5, blockIntervalMs: 1000 })
    const source = await ledgerOf({ signer: a, genesis })
    const client = await ledgerOf({ signer: b, genesis, maxReorgDepth: 10, maxSideBlocks: 4, syncTransport: transport(new Map([['source', source]])) })
    const extend = ruleChainBuilder(genesis, genesisInfo(source, genesis))
    const common = await extend(undefined, 10, 1000, m1.peerId)
    for (const blk of common) { await source.addBlock(blk); await client.addBlock(blk) }
    // Ours: 10 fast (so harder) blocks. Theirs: blocks at the minimum difficulty, enough of
    // them to carry more work: more than maxReorgDepth + maxSideBlocks blocks above a fork that
    // is inside the window.
    const ours = await extend(common[9], 10, 1, m1.peerId)
    for (const blk of ours) await client.addBlock(blk)
    const work = (blocks: typeof ours): bigint => blocks.reduce((sum, blk) => sum + workOf(targetFromBytes(blk.header.target)), 0n)
    const theirs = await extend(common[9], 1, 1000, m2.peerId)
    while (work(theirs) <= work(ours)) theirs.push(...await extend(theirs[theirs.length - 1], 1, 1000, m2.peerId))
    expect(theirs.length).toBeGreaterThan(10 + 4)
    for (const blk of theirs) await source.addBlock(blk)
    const result = await client.syncWith('source')
    expect(result).toMatchObject({ status: 'synced', applied: theirs.length })
    expect(client.tip().hash).toBe(source.tip().hash)
  })
})
