/**
 * Ledger benchmarks: each figure is printed next to a baseline measured in the same run.
 *
 *   node bench/ledger.ts            (BLOCKS=10000 SETTLES=3000 to change sizes)
 *
 * 1. Lease settle validation: decode + schema + composition checks + 4 Ed25519 signatures per
 *    settle (both lease signatures, the worker's checkpoint, the requester's acknowledgement),
 *    vs raw node:crypto Ed25519 verifications. One settle pays for every task its checkpoint
 *    covers (here 100), so the chain's cost per task is this divided by the tasks per settle.
 * 2. Sync of a chain of BLOCKS blocks between two ledgers over the in-process transport
 *    (DAG-CBOR round trip per message), on memory-level and on a disk LevelDB, and between two
 *    real nodes over libp2p (TCP on loopback).
 * 3. Miner hashing rate (the worker's loop: one encode, then overwrite the nonce and hash) vs raw
 *    SHA-256 of a header-sized buffer.
 *
 * Latest results (2-core container, Node 24.21):
 * RESULTS-START
 *   lease settle validation (3000 settles, 1002 bytes each, 4 signatures per settle whatever the task count)
 *     baseline: raw Ed25519 verify (node:crypto)        16,554 sig/s (per CPU-second, as all rates in this section)
 *     settles fully validated                            3,178 tx/s = 12,712 sig/s (77% of raw)
 *     settles already verified on gossip (block path)    26,908 tx/s (decode + schema + cache hit)
 *   sync of 10000 blocks (coinbase only) over the in-process transport
 *     baseline: the same blocks added one by one locally  2.84 s (3,521 blocks/s, memory-level)
 *     sync into memory-level                              2.49 s (4,019 blocks/s)
 *     sync into LevelDB on disk (one synced batch/block)  8.20 s (1,219 blocks/s)
 *     sync between two libp2p nodes (memory-level)       4.44 s (2,255 blocks/s, from connecting to the same tip)
 *   mining (247-byte header)
 *     baseline: raw SHA-256 (crypto.hash) of the header  1,313,405 H/s (per CPU-second)
 *     miner loop, main thread                             1,021,465 H/s (per CPU-second, 78% of raw)
 *     miner worker thread (as the node runs it)           1,182,710 H/s (per CPU-second, 90% of raw)
 * (2026-11-27, a 2-core machine shared with other work, load average ~5; CPU-time rates are
 * stable, wall-clock sync times vary by ±30% between runs. Earlier the per-job settle (outer,
 * agreement ×2, result) ran at 83% of raw Ed25519 in the same way: the lease settle re-encodes
 * three signed bodies instead of one, and pays for all the tasks of a checkpoint at once)
 * RESULTS-END
 */
import { generateKeyPairSync, sign, verify, hash as oneShot, type KeyObject } from 'node:crypto'
import { encode, decode } from '../src/proofs/encoding.ts'
import { mineRange, prepareMining, targetForWork, NONCE_BYTES } from '../src/proofs/pow.ts'
import { createLedger, parseSyncRequest, MAX_SYNC_FRAME_BYTES, type Ledger, type LedgerStore, type SyncTransport } from '../src/ledger/index.ts'
import { createSettle, decodeTransaction, verifyTransaction, VerifiedTxCache, type Transaction } from '../src/ledger/tx.ts'
import { clearVerifiedSignatures } from '../src/proofs/signing.ts'
import { Miner } from '../src/ledger/miner.ts'
import { createComputeNode } from '../src/node/compute-node.ts'
import { buildChain, genesisInfo, makeAck, makeCheckpoint, makeLease, makeSigners, memoryStore, diskStore, testGenesis } from '../test/fixtures/ledger/helpers.ts'

const BLOCKS = Number(process.env.BLOCKS ?? 10_000)
const SETTLES = Number(process.env.SETTLES ?? 3000)
/** Task results each settled checkpoint covers (the hash chain over them is built once, here). */
const TASKS = 100
const lines: string[] = []
function out (line: string): void {
  lines.push(line)
  process.stdout.write(line + '\n')
}
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US')

/**
 * Operations per second of CPU time (user + system) of `fn` doing `ops` operations. CPU time,
 * not wall time: the machine is shared, and a single-threaded CPU-bound loop's CPU time does not
 * depend on how many other processes compete for the cores.
 */
function perCpuSecond (ops: number, fn: () => void): number {
  const c0 = process.cpuUsage()
  fn()
  const c = process.cpuUsage(c0)
  return ops / ((c.user + c.system) / 1e6)
}

// ---------------------------------------------------------------------------------------------
// 1. Settle validation vs raw Ed25519

async function benchSettles (): Promise<void> {
  const [requester, worker] = await makeSigners(2)
  const network = 'bench'
  const settles: Uint8Array[] = []
  for (let i = 0; i < SETTLES; i++) {
    // A lease with a checkpoint over TASKS results: the chain checks the same four signatures
    // however many tasks the checkpoint covers.
    const lease = makeLease(requester, worker, { maxCredits: 1_000_000 })
    const checkpoint = makeCheckpoint(worker, lease, { seq: 1, count: TASKS, amount: TASKS })
    settles.push(encode(createSettle({ network, lease, checkpoint, ack: makeAck(requester, checkpoint, TASKS) }) as Transaction))
  }
  const avgBytes = settles.reduce((a, b) => a + b.byteLength, 0) / settles.length

  // Baseline: raw verifications of messages of a settle's size, with a ready KeyObject.
  const { privateKey, publicKey } = generateKeyPairSync('ed25519')
  const msgs = settles.map((s) => s.subarray(0, Math.min(s.byteLength, 700)))
  const sigs = msgs.map((m) => sign(null, m, privateKey))
  const raw = (key: KeyObject): number => {
    const n = SETTLES * 4
    return perCpuSecond(n, () => {
      for (let i = 0; i < n; i++) if (!verify(null, msgs[i % msgs.length], key, sigs[i % sigs.length])) throw new Error('bad')
    })
  }
  // Every pass starts with a cold signature cache (the settles were signed in this process, and a
  // check already done would otherwise cost only a lookup): this measures the Ed25519 work.
  const validate = (cache?: VerifiedTxCache): number => {
    clearVerifiedSignatures()
    return perCpuSecond(settles.length, () => {
      for (const bytes of settles) verifyTransaction(decodeTransaction(bytes), network, cache)
    })
  }
  // Interleaved, best of 3 each: the machine is shared, so single runs are noisy.
  validate() // warm-up (also fills the peer-key cache, as a running node has)
  let rawPerSec = 0
  let txPerSec = 0
  for (let round = 0; round < 3; round++) {
    rawPerSec = Math.max(rawPerSec, raw(publicKey))
    txPerSec = Math.max(txPerSec, validate())
  }
  const cache = new VerifiedTxCache(SETTLES * 2)
  validate(cache)
  const cachedPerSec = validate(cache)

  out(`lease settle validation (${SETTLES} settles, ${Math.round(avgBytes)} bytes each, 4 signatures per settle whatever the task count)`)
  out(`  baseline: raw Ed25519 verify (node:crypto)        ${fmt(rawPerSec)} sig/s (per CPU-second, as all rates in this section)`)
  out(`  settles fully validated                            ${fmt(txPerSec)} tx/s = ${fmt(txPerSec * 4)} sig/s (${(txPerSec * 4 / rawPerSec * 100).toFixed(0)}% of raw)`)
  out(`  settles already verified on gossip (block path)    ${fmt(cachedPerSec)} tx/s (decode + schema + cache hit)`)
}

// ---------------------------------------------------------------------------------------------
// 2. Sync

function inProcess (peers: Map<string, Ledger>): SyncTransport {
  return {
    async request (peerId, req) {
      const server = peers.get(peerId) as Ledger
      const response = await server.handleSyncRequest(parseSyncRequest(decode(encode(req), 1 << 20)))
      return decode(encode(response), MAX_SYNC_FRAME_BYTES)
    }
  }
}

async function benchSync (): Promise<void> {
  const [miner, a, b] = await makeSigners(3)
  const genesis = testGenesis([], { initialTarget: targetForWork(2n) })
  const source = createLedger({ store: memoryStore(), signer: a, genesis })
  await source.start()
  const chain = buildChain(genesis, genesisInfo(source, genesis), miner.peerId, BLOCKS)
  const t0 = performance.now()
  for (const block of chain) await source.addBlock(block)
  const applyMs = performance.now() - t0

  const run = async (store: LedgerStore): Promise<number> => {
    const target = createLedger({ store, signer: b, genesis, syncTransport: inProcess(new Map([['source', source]])), syncRequestTimeoutMs: 60_000 })
    await target.start()
    const s0 = performance.now()
    const result = await target.syncWith('source')
    const ms = performance.now() - s0
    if (result.status !== 'synced' || target.tip().hash !== source.tip().hash) throw new Error(`sync failed: ${JSON.stringify(result)}`)
    await target.stop()
    return ms
  }
  const memMs = await run(memoryStore())
  const disk = await diskStore()
  let diskMs: number
  try {
    diskMs = await run(disk.store)
  } finally {
    await disk.cleanup()
  }
  await source.stop()

  // The same chain between two real nodes: /depin/sync/2.0.0 over libp2p (TCP on loopback,
  // Noise, Yamux), triggered by connecting, as in a running network.
  const nodeA = createComputeNode({ listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, testnet: true, network: genesis, advertise: false })
  const nodeB = createComputeNode({ listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, testnet: true, network: genesis, advertise: false })
  await nodeA.start()
  await nodeB.start()
  let p2pMs: number
  try {
    for (const block of chain) await nodeA.ledger.addBlock(block)
    const s0 = performance.now()
    await nodeB.dial(nodeA.multiaddrs[0])
    while (nodeB.ledger.tip().hash !== nodeA.ledger.tip().hash) await new Promise((resolve) => setTimeout(resolve, 5))
    p2pMs = performance.now() - s0
  } finally {
    await nodeB.stop()
    await nodeA.stop()
  }
  out(`sync of ${BLOCKS} blocks (coinbase only) over the in-process transport`)
  out(`  baseline: the same blocks added one by one locally  ${(applyMs / 1000).toFixed(2)} s (${fmt(BLOCKS / applyMs * 1000)} blocks/s, memory-level)`)
  out(`  sync into memory-level                              ${(memMs / 1000).toFixed(2)} s (${fmt(BLOCKS / memMs * 1000)} blocks/s)`)
  out(`  sync into LevelDB on disk (one synced batch/block)  ${(diskMs / 1000).toFixed(2)} s (${fmt(BLOCKS / diskMs * 1000)} blocks/s)`)
  out(`  sync between two libp2p nodes (memory-level)       ${(p2pMs / 1000).toFixed(2)} s (${fmt(BLOCKS / p2pMs * 1000)} blocks/s, from connecting to the same tip)`)
}

// ---------------------------------------------------------------------------------------------
// 3. Miner vs raw SHA-256

async function benchMiner (): Promise<void> {
  const [miner] = await makeSigners(1)
  const header = {
    v: 1 as const, network: 'bench', parent: new Uint8Array(32), height: 123456, timestamp: Date.now(), target: new Uint8Array(32),
    nonce: new Uint8Array(NONCE_BYTES), miner: miner.peerId, txRoot: new Uint8Array(32)
  }
  const template = prepareMining((nonce) => encode({ ...header, nonce }))
  const n = 500_000
  const buf = new Uint8Array(template.bytes)
  let rawPerSec = 0
  let loopPerSec = 0
  // Interleaved, best of 3 each.
  for (let round = 0; round < 3; round++) {
    rawPerSec = Math.max(rawPerSec, perCpuSecond(n, () => { for (let i = 0; i < n; i++) { buf[i & 7] = i; oneShot('sha256', buf, 'buffer') } }))
    loopPerSec = Math.max(loopPerSec, perCpuSecond(n, () => { mineRange(template, header.target, round, 0, n) }))
  }

  // The real worker thread, for ~3 s on an impossible target. The main thread sleeps meanwhile, so
  // the process's CPU time is the worker's.
  const m = new Miner({ buildTemplate: async () => ({ header, txs: [] }), onFound: async () => {} }, { batch: 4096, refreshMs: 60_000 })
  m.start()
  await new Promise((resolve) => setTimeout(resolve, 1200))
  const h0 = m.getStats().hashes
  const c0 = process.cpuUsage()
  await new Promise((resolve) => setTimeout(resolve, 3000))
  const c = process.cpuUsage(c0)
  const workerPerSec = (m.getStats().hashes - h0) / ((c.user + c.system) / 1e6)
  await m.stop()
  out(`mining (${template.bytes.byteLength}-byte header)`)
  out(`  baseline: raw SHA-256 (crypto.hash) of the header  ${fmt(rawPerSec)} H/s (per CPU-second)`)
  out(`  miner loop, main thread                             ${fmt(loopPerSec)} H/s (per CPU-second, ${(loopPerSec / rawPerSec * 100).toFixed(0)}% of raw)`)
  out(`  miner worker thread (as the node runs it)           ${fmt(workerPerSec)} H/s (per CPU-second, ${(workerPerSec / rawPerSec * 100).toFixed(0)}% of raw)`)
}

await benchSettles()
await benchSync()
await benchMiner()
