import { randomBytes } from 'node:crypto'
import { describe, it, expect, afterEach } from 'vitest'
import { MAX_TARGET } from '../src/proofs/pow.ts'
import type { Signer } from '../src/proofs/signing.ts'
import { decode, encode } from '../src/proofs/encoding.ts'
import {
  MAX_SYNC_FRAME_BYTES, MAX_SYNC_HEADERS, TargetTooEasyError, UnknownParentError, actionOf, decodeBlock, parseSyncRequest, parseSyncResponse,
  type GenesisConfig, type Ledger, type SyncPeerAction, type SyncRequest, type SyncTransport
} from '../src/ledger/index.ts'
import { InvalidMessageError } from '../src/errors.ts'
import { createTransfer } from '../src/ledger/tx.ts'
import {
  buildBlock, buildChain, blockHashHex, genesisInfo, infoOf, makeSigners, makeWork, solve, startLedger, testGenesis, waitFor
} from './fixtures/ledger/helpers.ts'

const stops: Array<() => Promise<void>> = []
afterEach(async () => { for (const s of stops.splice(0).reverse()) await s() })

/** An in-process transport: requests and responses go through DAG-CBOR like on the wire. */
function transport (peers: Map<string, Ledger | ((req: SyncRequest, signal: AbortSignal) => Promise<unknown>)>): SyncTransport & { requests: SyncRequest[] } {
  const requests: SyncRequest[] = []
  return {
    requests,
    async request (peerId, req, { signal }) {
      requests.push(req)
      const server = peers.get(peerId)
      if (server == null) throw new Error(`no route to ${peerId}`)
      if (typeof server === 'function') return await server(req, signal)
      const parsed = parseSyncRequest(decode(encode(req), 1024 * 1024))
      const response = await server.handleSyncRequest(parsed)
      const bytes = encode(response)
      expect(bytes.byteLength).toBeLessThanOrEqual(MAX_SYNC_FRAME_BYTES)
      return decode(bytes, MAX_SYNC_FRAME_BYTES)
    }
  }
}

interface Net {
  genesis: GenesisConfig
  signers: Signer[]
  source: Ledger
  reports: Array<[string, SyncPeerAction]>
  client: (peers: Map<string, any> | SyncTransport, extra?: object) => Promise<Ledger>
}

async function net (): Promise<Net> {
  const signers = await makeSigners(5)
  const genesis = testGenesis(signers.slice(0, 2).map((s) => s.peerId))
  const source = await startLedger({ signer: signers[2], genesis })
  stops.push(async () => { await source.stop() })
  const reports: Array<[string, SyncPeerAction]> = []
  return {
    genesis,
    signers,
    source,
    reports,
    async client (peers, extra = {}) {
      const syncTransport = peers instanceof Map ? transport(peers) : peers
      const l = await startLedger({ signer: signers[3], genesis, syncTransport, reportPeer: (p, a) => { reports.push([p, a]) }, syncRequestTimeoutMs: 300, ...extra })
      stops.push(async () => { await l.stop() })
      return l
    }
  }
}

describe('sync', () => {
  it('syncs a long chain with transfers and lease settles from a peer, in bounded batches', async () => {
    const { genesis, signers: [alice, bob, , , miner], source, client, reports } = await net()
    const g = genesisInfo(source, genesis)
    const work = makeWork(alice, bob)
    const other = makeWork(bob, alice)
    // One lease settled in block 1 and again in block 2; another settled twice inside block 2.
    const b1 = buildBlock({
      genesis,
      parent: g,
      miner: miner.peerId,
      txs: [
        createTransfer(alice, { network: genesis.networkId, to: bob.peerId, amount: 33, nonce: 0 }),
        work.settle(genesis.networkId, 12)
      ]
    })
    const b2 = buildBlock({
      genesis,
      parent: infoOf(b1),
      miner: miner.peerId,
      txs: [work.settle(genesis.networkId, 20), other.settle(genesis.networkId, 3), other.settle(genesis.networkId, 8)]
    })
    await source.addBlock(b1)
    await source.addBlock(b2)
    for (const b of buildChain(genesis, infoOf(b2), miner.peerId, MAX_SYNC_HEADERS + 88)) await source.addBlock(b)
    const t = transport(new Map([['source', source]]))
    const target = await client(t)
    const result = await target.syncWith('source')
    expect(result).toMatchObject({ status: 'synced', applied: MAX_SYNC_HEADERS + 90, height: MAX_SYNC_HEADERS + 90 })
    expect(target.tip()).toEqual(source.tip())
    for (const s of [alice, bob, miner]) expect(await target.balance(s.peerId)).toBe(await source.balance(s.peerId))
    expect(await target.balance(bob.peerId)).toBe(1000 + 33 + 20 - 8)
    expect(await target.receipts()).toEqual(await source.receipts())
    expect(await target.receipts({ worker: bob.peerId })).toMatchObject([{ paid: 20, seq: 2, height: 2 }])
    expect(await target.receipts({ worker: alice.peerId })).toMatchObject([{ paid: 8, seq: 2, height: 2 }])
    expect(reports).toEqual([])
    expect(t.requests.filter((r) => r.t === 'headers')).toHaveLength(2)
    // Nothing more to do the second time.
    expect((await target.syncWith('source')).status).toBe('up-to-date')
  })

  it('reorgs onto a heavier peer chain from a fork point', async () => {
    const { genesis, signers: [, , , , miner], source, client } = await net()
    const g = genesisInfo(source, genesis)
    const common = buildChain(genesis, g, miner.peerId, 5)
    for (const b of common) await source.addBlock(b)
    for (const b of buildChain(genesis, infoOf(common[4]), miner.peerId, 20, 900)) await source.addBlock(b)
    const target = await client(new Map([['source', source]]))
    for (const b of common) await target.addBlock(b)
    for (const b of buildChain(genesis, infoOf(common[4]), miner.peerId, 8, 1100)) await target.addBlock(b)
    const reorgs: number[] = []
    target.addEventListener('reorg', (e) => { reorgs.push(e.detail.undone.length) })
    const result = await target.syncWith('source')
    expect(result.status).toBe('synced')
    expect(target.tip().hash).toBe(source.tip().hash)
    expect(reorgs).toEqual([8])
  })

  it('reorgs onto a heavier chain forking 80 blocks back, where the locator is sparse', async () => {
    const { genesis, signers: [other, , , , miner], source, client, reports } = await net()
    const common = buildChain(genesis, genesisInfo(source, genesis), miner.peerId, 150)
    for (const b of common) await source.addBlock(b)
    const fork = infoOf(common[149])
    for (const b of buildChain(genesis, fork, other.peerId, 90, 1001)) await source.addBlock(b)
    const target = await client(new Map([['source', source]]))
    for (const b of common) await target.addBlock(b)
    // Our tip 230: the locator's hashes around the fork at 150 are at 161 (our branch) and 97.
    for (const b of buildChain(genesis, fork, miner.peerId, 80, 1000)) await target.addBlock(b)
    const result = await target.syncWith('source')
    expect(result).toMatchObject({ status: 'synced', applied: 90 })
    expect(target.tip().hash).toBe(source.tip().hash)
    expect(reports).toEqual([])
  })

  it('stops without blame at a heavier chain forking just below the reorg window, syncs one forking at its floor', async () => {
    const { genesis, signers: [other, , , , miner], source, client, reports } = await net()
    const common = buildChain(genesis, genesisInfo(source, genesis), miner.peerId, 20)
    for (const b of common) await source.addBlock(b)
    const fork = infoOf(common[19])
    for (const b of buildChain(genesis, fork, other.peerId, 120, 1001)) await source.addBlock(b)
    const ours = buildChain(genesis, fork, miner.peerId, 101, 1000)
    // 101 blocks past the fork: the fork at 20 is below 121 - 100.
    const deep = await client(new Map([['source', source]]))
    for (const b of [...common, ...ours]) await deep.addBlock(b)
    expect(await deep.syncWith('source')).toMatchObject({ status: 'fork-below-finality', applied: 0, height: 121 })
    // 100 blocks past the fork: the fork is the window's floor, still inside.
    const edge = await client(new Map([['source', source]]))
    for (const b of [...common, ...ours.slice(0, 100)]) await edge.addBlock(b)
    expect(await edge.syncWith('source')).toMatchObject({ status: 'synced', applied: 120 })
    expect(edge.tip().hash).toBe(source.tip().hash)
    expect(reports).toEqual([])
  })

  it('starts a sync from the sender when a gossiped block has an unknown parent', async () => {
    const { genesis, signers: [, , , , miner], source, client } = await net()
    const chain = buildChain(genesis, genesisInfo(source, genesis), miner.peerId, 30)
    for (const b of chain) await source.addBlock(b)
    const target = await client(new Map([['source', source]]))
    await expect(target.addBlock(chain[29], 'source')).rejects.toBeInstanceOf(UnknownParentError)
    await waitFor(() => target.tip().height === 30, 20_000, 'sync after an orphan')
    expect(target.tip().hash).toBe(source.tip().hash)
  })

  it('asks an orphan\'s sender at most once per interval, unless its last sync brought blocks', async () => {
    const { genesis, signers: [, , , , miner], source, client } = await net()
    const chain = buildChain(genesis, genesisInfo(source, genesis), miner.peerId, 6)
    for (const b of chain) await source.addBlock(b)
    const t = transport(new Map([['source', source]]))
    const target = await client(t, { syncTriggerIntervalMs: 60_000 })
    await expect(target.addBlock(chain[5], 'source')).rejects.toBeInstanceOf(UnknownParentError)
    await waitFor(() => target.tip().height === 6, 20_000, 'sync after an orphan')
    // That sync brought blocks, so the next trigger runs (and finds nothing to do) ...
    expect((await target.requestSync('source')).status).toBe('up-to-date')
    const asked = t.requests.length
    // ... and after a useless one, orphans from the same peer inside the interval ask nothing.
    const orphan = buildBlock({ genesis, parent: { hash: randomBytes(32), height: 20, timestamp: Date.now() - 60_000 }, miner: miner.peerId })
    await expect(target.addBlock(orphan, 'source')).rejects.toBeInstanceOf(UnknownParentError)
    expect((await target.requestSync('source')).status).toBe('throttled')
    expect(t.requests.length).toBe(asked)
  })

  it('announces a new tip once, however many syncs end on it', async () => {
    // A lagging node hears a block from several peers (each an orphan, each a sync): every sync
    // ended on the new tip and announced it, each copy a new gossip message (bench/churn.ts).
    const { genesis, signers: [alice, bob, , , miner], source, client } = await net()
    const chain = buildChain(genesis, genesisInfo(source, genesis), miner.peerId, 12)
    for (const b of chain) await source.addBlock(b)
    const peers = new Map<string, Ledger>([['source', source]])
    for (const [name, signer] of [['b', alice], ['c', bob]] as const) {
      const other = await startLedger({ signer, genesis })
      stops.push(async () => { await other.stop() })
      for (const b of chain) await other.addBlock(b)
      peers.set(name, other)
    }
    const published: string[] = []
    const target = await client(peers, { publishBlock: (bytes: Uint8Array) => { published.push(decodeBlock(bytes).hashHex) } })
    const results = await Promise.all([...peers.keys()].map(async (p) => await target.syncWith(p)))
    expect(results.every((r) => r.status === 'synced' || r.status === 'up-to-date')).toBe(true)
    expect(target.tip().hash).toBe(source.tip().hash)
    expect(published).toEqual([blockHashHex(chain[11])])
    // A later sync that moves the tip again announces the newer tip, once.
    const next = buildChain(genesis, infoOf(chain[11]), miner.peerId, 2)
    for (const b of next) await source.addBlock(b)
    expect((await target.syncWith('source')).status).toBe('synced')
    expect(published).toEqual([blockHashHex(chain[11]), blockHashHex(next[1])])
  })

  it('does not announce a tip it relayed from gossip while a sync ran', async () => {
    const { genesis, signers: [, , , , miner], source, client } = await net()
    const chain = buildChain(genesis, genesisInfo(source, genesis), miner.peerId, 11)
    for (const b of chain) await source.addBlock(b)
    const published: string[] = []
    let target: Ledger | undefined
    // The peer answers only after the next block has come to the target by gossip.
    const peer = async (req: SyncRequest): Promise<unknown> => {
      if (target?.tip().height === 10) expect((await target.addBlock(chain[10], 'gossiper')).status).toBe('connected')
      return decode(encode(await source.handleSyncRequest(parseSyncRequest(decode(encode(req), 1024 * 1024)))), MAX_SYNC_FRAME_BYTES)
    }
    target = await client(new Map([['source', peer]]), { publishBlock: (bytes: Uint8Array) => { published.push(decodeBlock(bytes).hashHex) } })
    for (const b of chain.slice(0, 10)) await target.addBlock(b)
    await target.syncWith('source')
    expect(target.tip().hash).toBe(blockHashHex(chain[10]))
    expect(published).toEqual([])
  })

  it('refuses a random-parent block with an all-ones target and does not sync from its sender', async () => {
    const { genesis, signers: [, , , , miner], client } = await net()
    const t = transport(new Map())
    const target = await client(t)
    const forged = buildBlock({ genesis, parent: { hash: randomBytes(32), height: 1000, timestamp: Date.now() - 60_000 }, miner: miner.peerId, target: MAX_TARGET })
    const err = await target.addBlock(forged, 'attacker').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(TargetTooEasyError)
    expect(actionOf(err)).toBe('reject')
    expect(t.requests).toEqual([])
  })

  it('fetches no body from a peer that claims more work than its headers carry', async () => {
    const { genesis, signers: [, , , , miner], source, client, reports } = await net()
    for (const b of buildChain(genesis, genesisInfo(source, genesis), miner.peerId, 3)) await source.addBlock(b)
    // The boaster's real chain (3 blocks) is lighter than ours (5), its status says otherwise.
    const boaster = async (req: SyncRequest): Promise<unknown> => {
      const response = await source.handleSyncRequest(req)
      if (response.t === 'status') response.work = new Uint8Array(32).fill(0xff)
      return decode(encode(response), MAX_SYNC_FRAME_BYTES)
    }
    const t = transport(new Map([['boaster', boaster]]))
    const target = await client(t)
    for (const b of buildChain(genesis, genesisInfo(target, genesis), miner.peerId, 5, 900)) await target.addBlock(b)
    const tip = target.tip()
    const result = await target.syncWith('boaster')
    expect(result.status).toBe('not-heavier')
    expect(t.requests.map((r) => r.t)).toEqual(['status', 'ancestor', 'headers'])
    expect(target.tip()).toEqual(tip)
    expect(reports).toEqual([])
  })

  it('drops and reports a peer that serves garbage', async () => {
    const { client, reports } = await net()
    const target = await client(new Map([['garbage', async () => ({ t: 'status', genesis: 'nope', work: 12 })]]))
    const result = await target.syncWith('garbage')
    expect(result.status).toBe('dropped')
    expect(reports).toEqual([['garbage', 'InvalidSyncData']])
    // Not asked again while dropped.
    expect((await target.syncWith('garbage')).status).toBe('dropped')
    expect(reports).toHaveLength(1)
  })

  it('drops and reports a peer that serves headers with bad proof of work', async () => {
    const { genesis, signers: [, , , , miner], source, client, reports } = await net()
    for (const b of buildChain(genesis, genesisInfo(source, genesis), miner.peerId, 10)) await source.addBlock(b)
    const liar = async (req: SyncRequest): Promise<unknown> => {
      const response = await source.handleSyncRequest(req)
      if (response.t === 'headers') {
        // A nonce that misses the target (a fixed one meets this easy target one time in 256).
        response.headers[3] = solve(response.headers[3], true)
      }
      return decode(encode(response), MAX_SYNC_FRAME_BYTES)
    }
    const target = await client(new Map([['liar', liar]]))
    const result = await target.syncWith('liar')
    expect(result.status).toBe('dropped')
    expect(result.error).toMatch(/height 4/)
    expect(reports).toEqual([['liar', 'InvalidSyncData']])
    expect(target.tip().height).toBe(0)
  })

  it('drops and reports a peer whose block bodies do not match its headers', async () => {
    const { genesis, signers: [alice, bob, , , miner], source, client, reports } = await net()
    const chain = buildChain(genesis, genesisInfo(source, genesis), miner.peerId, 4)
    for (const b of chain) await source.addBlock(b)
    const liar = async (req: SyncRequest): Promise<unknown> => {
      const response = await source.handleSyncRequest(req)
      if (response.t === 'blocks') {
        // Same header as block 2, different transactions.
        const tampered = { header: chain[1].header, txs: [chain[1].txs[0], createTransfer(alice, { network: genesis.networkId, to: bob.peerId, amount: 1, nonce: 0 })] }
        response.blocks[1] = encode(tampered)
      }
      return decode(encode(response), MAX_SYNC_FRAME_BYTES)
    }
    const target = await client(new Map([['liar', liar]]))
    const result = await target.syncWith('liar')
    expect(result.status).toBe('dropped')
    expect(reports).toEqual([['liar', 'InvalidSyncData']])
    expect(target.tip().height).toBe(1)
  })

  it('drops and reports a peer that stalls past the request deadline', async () => {
    const { genesis, signers: [, , , , miner], source, client, reports } = await net()
    for (const b of buildChain(genesis, genesisInfo(source, genesis), miner.peerId, 3)) await source.addBlock(b)
    // Answers status, then never answers again (and ignores the abort signal).
    const staller = async (req: SyncRequest): Promise<unknown> => {
      if (req.t === 'status') return decode(encode(await source.handleSyncRequest(req)), MAX_SYNC_FRAME_BYTES)
      return await new Promise(() => {})
    }
    const target = await client(new Map([['staller', staller]]))
    const result = await target.syncWith('staller')
    expect(result.status).toBe('dropped')
    expect(reports).toEqual([['staller', 'Timeout']])
  })

  it('keeps an honest peer when our chain reorgs while its ancestor answer is in flight', async () => {
    const { genesis, signers: [other, , , , miner], source, client, reports } = await net()
    const inner = transport(new Map([['source', source]]))
    let meanwhile: (() => Promise<void>) | undefined
    const target = await client({
      async request (peer, req, options) {
        const response = await inner.request(peer, req, options)
        if (req.t === 'ancestor' && meanwhile != null) {
          const hook = meanwhile
          meanwhile = undefined
          await hook()
        }
        return response
      }
    })
    const common = buildChain(genesis, genesisInfo(source, genesis), miner.peerId, 4)
    for (const b of common) { await source.addBlock(b); await target.addBlock(b) }
    // The source extends our tip honestly; it answers `ancestor` with c4, our tip when we asked.
    const ahead = buildChain(genesis, infoOf(common[3]), miner.peerId, 2, 1000)
    for (const b of ahead) await source.addBlock(b)
    // Meanwhile a heavier branch from c3 reaches us by gossip: c4 is no longer canonical here.
    const x = buildChain(genesis, infoOf(common[2]), other.peerId, 4, 1003)
    meanwhile = async () => { for (const b of x) await target.addBlock(b) }
    const result = await target.syncWith('source')
    expect(reports).toEqual([])
    // The peer's blocks were fetched from c4 and stored beside our heavier tip.
    expect(result).toMatchObject({ status: 'synced', applied: 2 })
    expect(target.tip().hash).toBe(blockHashHex(x[3]))
    expect((await target.block(blockHashHex(ahead[1])))?.height).toBe(6)
    expect((await target.syncWith('source')).status).toBe('up-to-date')
  })

  it('does not sync across networks', async () => {
    const { source, client, reports } = await net()
    const [me] = await makeSigners(1)
    const other = await startLedger({ signer: me, genesis: testGenesis([], { networkId: 'elsewhere' }) })
    stops.push(async () => { await other.stop() })
    const target = await client(new Map([['other', other], ['source', source]]))
    expect((await target.syncWith('other')).status).toBe('different-network')
    expect(reports).toEqual([])
  })
})

describe('sync messages', () => {
  it('refuses malformed or over-limit requests', () => {
    expect(() => parseSyncRequest({ t: 'headers', from: 0, count: MAX_SYNC_HEADERS + 1 })).toThrow(InvalidMessageError)
    expect(() => parseSyncRequest({ t: 'blocksByHash', hashes: [] })).toThrow(InvalidMessageError)
    expect(() => parseSyncRequest({ t: 'nope' })).toThrow(InvalidMessageError)
    expect(() => parseSyncResponse({ t: 'headers', headers: [{ v: 1 }] })).toThrow(InvalidMessageError)
    expect(parseSyncRequest({ t: 'status' })).toEqual({ t: 'status' })
  })

  it('serves blocks by range and by hash, byte-bounded, stopping at an unknown hash', async () => {
    const { genesis, signers: [, , , , miner], source } = await net()
    const chain = buildChain(genesis, genesisInfo(source, genesis), miner.peerId, 5)
    for (const b of chain) await source.addBlock(b)
    const range = await source.handleSyncRequest({ t: 'blocks', from: 2, count: 10 })
    expect(range.t === 'blocks' && range.blocks.length).toBe(4)
    const status = await source.handleSyncRequest({ t: 'status' })
    expect(status).toMatchObject({ t: 'status', height: 5 })
    const hashes = await source.blocksByHash([], 100)
    expect(hashes).toEqual([])
    const tip = Uint8Array.from(Buffer.from(source.tip().hash, 'hex'))
    const byHash = await source.handleSyncRequest({ t: 'blocksByHash', hashes: [tip, new Uint8Array(32), tip] })
    expect(byHash.t === 'blocks' && byHash.blocks.length).toBe(1)
    expect((await source.blocksByRange(1, 5, 1)).length).toBe(1)
  })
})
