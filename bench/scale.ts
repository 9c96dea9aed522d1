/**
 * Question: does a node's cost stay flat as the network grows from 10 to 100 nodes?
 *
 * For N = 10, 25, 50, 100 (one run each) an in-process testnet (`createTestnet`) on libp2p's
 * memory transport (TCP with `--tcp`), every node with 1 slot and no miner, measures:
 *   - time until every node sees at least 3 capable peers, and until start-up traffic is over;
 *   - connections per node and gossip mesh degree (offers topic);
 *   - findCapacity({ limit: 3 }) p50/p99 over 200 calls on random nodes, next to libp2p ping
 *     p50/p99 between connected peers (the baseline, same run);
 *   - 100 trivial jobs (echo) from one node, 20 at a time; then 20 from each of 5 nodes at once:
 *     success rate (right output) and p50/p99 latency;
 *   - a gossiped offer's time to reach 90 % and 99 % of the other nodes (5 offers);
 *   - over 60 s idle: CPU of the whole process per node, messages received per node per second
 *     (libp2p stream messages, all protocols), new connections;
 *   - RSS of the process per node, and per node above the empty process.
 * One process on 2 cores runs every node: CPU contention is the process's, not the network's.
 *
 *   node bench/scale.ts [sizes...] [--tcp]
 *
 * Latest results (2 cores shared with other work, Node 24.21, memory transport, 2026-11-27):
 *   N    ready ≥3     quiet  publishes/node  conns avg/max  mesh (offers)      find(3) p50/p99         ping p50/p99
 *   ---  --------  --------  --------------  -------------  -------------  -------------------  -------------------
 *   10   527.5 ms   20.53 s               2        9.0 / 9      5.4 (4–8)  0.004 ms / 0.027 ms  0.632 ms / 4.705 ms
 *   25     1.85 s   21.86 s               2      24.0 / 24      5.2 (4–8)  0.009 ms / 0.047 ms  0.492 ms / 2.066 ms
 *   50     3.26 s  114.33 s               2      42.4 / 48     6.2 (4–12)  0.071 ms / 8.193 ms  0.652 ms / 5.355 ms
 *   100    6.62 s  152.98 s               2      40.7 / 55     6.1 (4–11)   0.122 ms / 20.1 ms   0.649 ms / 20.8 ms
 *
 *   N    each worker's first job p50  100 jobs, 1 node: ok, p50/p99     5×20 jobs: ok, p50/p99  offer reach 90%/99%
 *   ---  ---------------------------  -----------------------------  -------------------------  -------------------
 *   10                      793.8 ms      100%, 8.331 ms / 453.9 ms    100%, 543.3 ms / 1.19 s  6.462 ms / 6.462 ms
 *   25                      336.2 ms      100%, 101.0 ms / 283.9 ms  100%, 386.9 ms / 420.0 ms  8.593 ms / 8.778 ms
 *   50                        1.12 s      100%, 128.7 ms / 559.1 ms  100%, 744.3 ms / 791.4 ms   87.8 ms / 156.9 ms
 *   100                       1.47 s       100%, 14.4 ms / 377.2 ms  100%, 528.4 ms / 622.1 ms  125.9 ms / 199.6 ms
 *
 *   N    idle CPU/node                       idle msgs/node/s (top 3)  new conns/node/s  RSS/node: all / above the empty process (live heap); after jobs
 *   ---  -------------  ---------------------------------------------  ----------------  ---------------------------------------------------------------
 *   10           0.08%       0.60 (ping 0.60, id 0.00, capacity 0.00)             0.000                 32.8 / 19.1 (live heap 1.7); after jobs 47.7 MiB
 *   25           0.11%       0.67 (ping 0.67, id 0.00, capacity 0.00)             0.000                 25.0 / 19.6 (live heap 1.9); after jobs 47.9 MiB
 *   50           0.12%  0.67 (ping 0.67, meshsub 0.00, capacity 0.00)             0.000                 15.7 / 13.0 (live heap 2.8); after jobs 39.9 MiB
 *   100          0.09%        0.68 (ping 0.67, meshsub 0.01, id 0.00)             0.000                 21.3 / 19.9 (live heap 2.7); after jobs 36.4 MiB
 *
 *   N    after the jobs: CPU/node, msgs/node/s (pending settles re-announced)
 *   ---  --------------------------------------------------------------------
 *   10                        0.10%, 0.60 (ping 0.60, id 0.00, capacity 0.00)
 *   25                        0.11%, 0.67 (ping 0.67, id 0.00, capacity 0.00)
 *   50                         0.14%, 0.67 (ping 0.67, meshsub 0.00, id 0.00)
 *   100                  0.16%, 4.79 (meshsub 4.13, ping 0.66, capacity 0.00)
 *
 *   Before this design (issue 11's probe, TCP): every node saw 3 capable peers after 7.8 s / 53 s /
 *   329 s / never at 10 / 25 / 50 / 100 nodes; findCapacity(limit 3) p50/p99 265/379 ms at 10 and
 *   997/1,677 ms at 50; about 1.2 × (N − 1) connections per node; 5.6 publishes per node.
 *   Now: connections stop at the bound (48; a node may briefly hold up to 72 while trimming),
 *   findCapacity(limit 3) answers from what a node knows (no request), and a node's idle traffic
 *   is one liveness ping per 3 s whatever N (0.60 → 0.68 messages/s, 1.13x from 10 to 100).
 *   Start-up churn (kad-dht pinging every peer it hears of before it enters the routing table)
 *   lasts about 2 minutes at 50 and 100 nodes ("quiet"). RSS per node is the whole process's
 *   RSS over N: the node's own state is its live heap (1.7 → 2.7 MiB, 1.6x, from the connections it
 *   holds: 9 at N = 10, about 41 at N ≥ 50); what V8 kept of the heap it grew during start-up
 *   makes up most of the rest. After jobs each node also holds its executor thread (1 slot).
 *   The minute after the jobs at N = 100 shows 200 pending settle transactions (no miner)
 *   re-announced once by their requesters, each reaching 99 nodes: traffic per pending
 *   transaction, not per node (see docs/protocol.md, "Connections and idle traffic").
 */
import { randomBytes } from 'node:crypto'
import { signOffer } from '../src/scheduler/messages.ts'
import { encode } from '../src/proofs/encoding.ts'
import { createTestnet, type Testnet } from '../src/node/testnet.ts'
import type { ComputeNode } from '../src/node/compute-node.ts'
import { MessageCounter, diffCounts } from './message-counter.ts'
import { formatMs, machine, printTable, summarize } from './lib.ts'
import { readFile } from 'node:fs/promises'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const args = process.argv.slice(2)
const transport = args.includes('--tcp') ? 'tcp' : 'memory'
const one = args.includes('--one')
const sizes = args.filter((a) => /^\d+$/.test(a)).map(Number)
const SIZES = sizes.length > 0 ? sizes : [10, 25, 50, 100]
const echo = new Uint8Array(await readFile(new URL('../examples/echo.wasm', import.meta.url)))
const QUIET_MAX_MS = 420_000
const IDLE_MS = 60_000

const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }
const mib = (bytes: number): number => bytes / 2 ** 20
const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0)
const capable = (node: ComputeNode): number => node.services().capacity.cached().filter((a) => a.runtimes.includes('wasi-p1') && a.slots > 0).length

interface Row {
  n: number
  ready3: number
  quiet: number
  conns: string
  mesh: string
  find: string
  ping: string
  warm: number
  publishes: number
  jobs1: string
  jobs5: string
  gossip: string
  idleCpu: string
  idleMsgs: string
  idleConns: string
  idleAfterJobs: string
  rss: string
}

interface Idle { cpu: string, msgs: string, conns: string }

/** CPU per node, messages received per node per second (top 3 protocols), new connections per node per second. */
async function idle (counters: MessageCounter[], n: number): Promise<Idle> {
  const before = counters.map((c) => c.snapshot())
  const cpu0 = process.cpuUsage()
  const start = performance.now()
  await sleep(IDLE_MS)
  const cpu = process.cpuUsage(cpu0)
  const seconds = (performance.now() - start) / 1000
  const diff = diffCounts(before, counters.map((c) => c.snapshot()))
  const messages = sum(Object.values(diff.messages))
  const top = Object.entries(diff.messages).sort((a, b) => b[1] - a[1]).slice(0, 3)
    .map(([p, c]) => `${p.replace(/^\/(ipfs|depin)\//, '').replace(/^\//, '').replace(/\/\d\.\d\.\d$/, '')} ${(c / n / seconds).toFixed(2)}`).join(', ')
  return {
    cpu: `${((cpu.user + cpu.system) / 1000 / (seconds * 1000) * 100 / n).toFixed(2)}%`,
    msgs: `${(messages / n / seconds).toFixed(2)} (${top})`,
    conns: (diff.connections / n / seconds).toFixed(3)
  }
}

async function waitFor (check: () => boolean, timeoutMs: number): Promise<number> {
  const start = performance.now()
  while (!check()) {
    if (performance.now() - start > timeoutMs) return Number.NaN
    await sleep(100)
  }
  return performance.now() - start
}

/** Waits until connection opens fall below 0.02 per node per second over 10 s (start-up churn over). */
async function waitQuiet (net: Testnet): Promise<number> {
  const start = performance.now()
  let opens = 0
  const onOpen = (): void => { opens++ }
  for (const node of net.nodes) node.host.addEventListener('connection:open', onOpen)
  try {
    while (performance.now() - start < QUIET_MAX_MS) {
      opens = 0
      await sleep(10_000)
      if (opens / net.nodes.length / 10 < 0.02) break
    }
  } finally {
    for (const node of net.nodes) node.host.removeEventListener('connection:open', onOpen)
  }
  return performance.now() - start
}

function pct (samples: number[]): string {
  const s = summarize(samples)
  return `${formatMs(s.p50)} / ${formatMs(s.p99)}`
}

async function runJobs (nodes: ComputeNode[], perNode: number, concurrency: number): Promise<{ ok: number, total: number, latencies: number[] }> {
  const latencies: number[] = []
  let ok = 0
  await Promise.all(nodes.map(async (node, n) => {
    let next = 0
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (next < perNode) {
        const i = next++
        const input = new TextEncoder().encode(`job ${n}-${i}`)
        const start = performance.now()
        try {
          const result = await (await node.submitJob({ module: echo, input, memoryMiB: 16, timeoutMs: 10_000 })).result()
          latencies.push(performance.now() - start)
          if (result.status === 'completed' && new TextDecoder().decode(result.stdout) === `job ${n}-${i}`) ok++
        } catch {
          latencies.push(performance.now() - start)
        }
      }
    }))
  }))
  return { ok, total: nodes.length * perNode, latencies }
}

/** One job targeted at each node from another, 8 at a time; returns the median latency. */
async function warmUp (net: Testnet): Promise<number> {
  const latencies: number[] = []
  let next = 0
  await Promise.all(Array.from({ length: 8 }, async () => {
    while (next < net.nodes.length) {
      const i = next++
      const from = net.nodes[(i + 1) % net.nodes.length]
      const start = performance.now()
      await (await from.submitJob({ module: echo, input: new Uint8Array([i & 255]), memoryMiB: 16, timeoutMs: 10_000, peers: [net.nodes[i].peerId] })).result().catch(() => {})
      latencies.push(performance.now() - start)
    }
  }))
  return summarize(latencies).p50
}

/** Publishes unbiddable offers (max price 0) and times their arrival at every other node. */
async function gossipReach (net: Testnet, offers: number): Promise<{ p90: number[], p99: number[] }> {
  const p90: number[] = []
  const p99: number[] = []
  for (let k = 0; k < offers; k++) {
    const from = net.nodes[Math.floor(Math.random() * net.nodes.length)]
    const now = Date.now()
    const data = encode(signOffer(from.signer, {
      v: 1, requester: from.peerId, nonce: randomBytes(16), runtime: 'wasi-p1', memoryMiB: 64, maxTaskMs: 1000, maxTaskFuel: 1_000_000_000n,
      maxPrice: 0, slots: 1, maxCredits: 0, durationMs: 60_000, createdAt: now, expiresAt: now + 30_000
    }))
    const arrivals: number[] = []
    const topic = from.topics.offers
    const listeners = net.nodes.filter((n) => n !== from).map((node) => {
      const listener = (evt: CustomEvent<{ topic: string, data: Uint8Array }>): void => {
        if (evt.detail.topic === topic && evt.detail.data.byteLength === data.byteLength && evt.detail.data.every((b, i) => b === data[i])) {
          arrivals.push(performance.now() - start)
          node.host.services.pubsub.removeEventListener('message', listener as any)
        }
      }
      node.host.services.pubsub.addEventListener('message', listener as any)
      return { node, listener }
    })
    const start = performance.now()
    await from.services().gossip.publish(topic, data).catch(() => {})
    const others = net.nodes.length - 1
    await waitFor(() => arrivals.length >= Math.ceil(others * 0.99), 10_000)
    for (const { node, listener } of listeners) node.host.services.pubsub.removeEventListener('message', listener as any)
    const sorted = [...arrivals].sort((a, b) => a - b)
    p90.push(sorted.length >= Math.ceil(others * 0.9) ? sorted[Math.ceil(others * 0.9) - 1] : Number.NaN)
    p99.push(sorted.length >= Math.ceil(others * 0.99) ? sorted[Math.ceil(others * 0.99) - 1] : Number.NaN)
    await sleep(500)
  }
  return { p90, p99 }
}

async function measure (n: number, baselineRss: number, baselineHeap: number): Promise<Row> {
  const counters = Array.from({ length: n }, () => new MessageCounter())
  const t0 = performance.now()
  const net = await createTestnet({
    nodes: n,
    transport,
    readyTimeoutMs: 300_000,
    nodeInit: (i) => ({ libp2pMetrics: counters[i].metrics, capacity: { slots: 1 } })
  })
  try {
    // Both from the start of createTestnet.
    const ready3 = Number.isNaN(await waitFor(() => net.nodes.every((node) => capable(node) >= 3), 300_000)) ? Number.NaN : performance.now() - t0
    await waitQuiet(net)
    const quiet = performance.now() - t0

    const conns = net.nodes.map((node) => node.host.getConnections().length)
    const mesh = net.nodes.map((node) => (node.host.services.pubsub as unknown as { getMeshPeers: (topic: string) => string[] }).getMeshPeers(node.topics.offers).length)

    // Idle first, before this benchmark's own calls disturb it. Idle means after start-up:
    // connections quiet, and every node has made its second (settling) publish.
    await waitFor(() => net.nodes.every((node) => node.status().capacityRecord.published >= 2), QUIET_MAX_MS)
    await sleep(5_000)
    const publishes = sum(net.nodes.map((node) => node.status().capacityRecord.published)) / n
    const quietIdle = await idle(counters, n)
    const rssIdle = process.memoryUsage().rss
    // What the nodes hold, as opposed to what V8 kept of the heap it grew during start-up.
    ;(globalThis as { gc?: () => void }).gc?.()
    const liveHeap = process.memoryUsage().heapUsed - baselineHeap

    const finds: number[] = []
    let short = 0
    for (let i = 0; i < 200; i++) {
      const node = net.nodes[Math.floor(Math.random() * n)]
      const start = performance.now()
      const found = await node.findCapacity({ limit: 3, timeoutMs: 5_000 })
      finds.push(performance.now() - start)
      if (found.length < 3) short++
    }
    const pings: number[] = []
    for (let i = 0; i < 200; i++) {
      const node = net.nodes[Math.floor(Math.random() * n)]
      const peers = node.host.getPeers()
      if (peers.length === 0) continue
      const peer = peers[Math.floor(Math.random() * peers.length)].toString()
      const start = performance.now()
      try {
        await node.ping(peer, { signal: AbortSignal.timeout(5_000) })
        pings.push(performance.now() - start)
      } catch {}
    }

    const gossip = await gossipReach(net, 5)
    // Warm-up (not measured): one job on every worker, so the jobs below do not include each
    // worker's first-job start of its executor thread (bench/idle.ts measures that).
    const warm = await warmUp(net)
    const one = await runJobs([net.nodes[0]], 100, 20)
    const five = await runJobs(net.nodes.slice(1, 6), 20, 20)
    await sleep(5_000)
    // The minute after the jobs: pending settles (no miner) are re-announced by their
    // requesters 1 to 2 minutes after submission, some inside this window.
    const afterJobs = await idle(counters, n)
    const rss = process.memoryUsage().rss

    return {
      n,
      ready3,
      quiet,
      conns: `${(sum(conns) / n).toFixed(1)} / ${Math.max(...conns)}`,
      mesh: `${(sum(mesh) / n).toFixed(1)} (${Math.min(...mesh)}–${Math.max(...mesh)})`,
      find: `${pct(finds)}${short > 0 ? ` (${short} short)` : ''}`,
      ping: pct(pings),
      warm,
      publishes,
      jobs1: `${(100 * one.ok / one.total).toFixed(0)}%, ${pct(one.latencies)}`,
      jobs5: `${(100 * five.ok / five.total).toFixed(0)}%, ${pct(five.latencies)}`,
      gossip: `${formatMs(summarize(gossip.p90).p50)} / ${formatMs(summarize(gossip.p99).p50)}`,
      idleCpu: quietIdle.cpu,
      idleMsgs: quietIdle.msgs,
      idleConns: quietIdle.conns,
      idleAfterJobs: `${afterJobs.cpu}, ${afterJobs.msgs}`,
      rss: `${mib(rssIdle / n).toFixed(1)} / ${mib((rssIdle - baselineRss) / n).toFixed(1)} (live heap ${mib(liveHeap / n).toFixed(1)}); after jobs ${mib((rss - baselineRss) / n).toFixed(1)} MiB`
    }
  } finally {
    await net.stop()
  }
}

if (one) {
  // Child mode: one size, one JSON line.
  ;(globalThis as { gc?: () => void }).gc?.()
  const { rss, heapUsed } = process.memoryUsage()
  console.log('RESULT ' + JSON.stringify(await measure(SIZES[0], rss, heapUsed)))
  process.exit(0)
}

console.log(`${await machine()}; transport ${transport}; each size in its own process`)
const rows: Row[] = []
for (const n of SIZES) {
  // Each size in a fresh process: the heap of one network does not weigh on the next one's RSS.
  const child = spawnSync(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), '--one', String(n), ...(transport === 'tcp' ? ['--tcp'] : [])], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })
  const line = child.stdout.split('\n').find((l) => l.startsWith('RESULT '))
  if (line == null) {
    process.stderr.write(`size ${n} failed (exit ${child.status}): ${child.stderr.slice(-2000)}\n`)
    continue
  }
  const row = JSON.parse(line.slice('RESULT '.length)) as Row
  rows.push(row)
  console.log(JSON.stringify(row))
}
printTable(['N', 'ready ≥3', 'quiet', 'publishes/node', 'conns avg/max', 'mesh (offers)', 'find(3) p50/p99', 'ping p50/p99'],
  rows.map((r) => [r.n, formatMs(r.ready3), formatMs(r.quiet), r.publishes, r.conns, r.mesh, r.find, r.ping]))
console.log('')
printTable(['N', 'each worker\'s first job p50', '100 jobs, 1 node: ok, p50/p99', '5×20 jobs: ok, p50/p99', 'offer reach 90%/99%'],
  rows.map((r) => [r.n, formatMs(r.warm), r.jobs1, r.jobs5, r.gossip]))
console.log('')
printTable(['N', 'idle CPU/node', 'idle msgs/node/s (top 3)', 'new conns/node/s', 'RSS/node: all / above the empty process (live heap); after jobs'],
  rows.map((r) => [r.n, r.idleCpu, r.idleMsgs, r.idleConns, r.rss]))
console.log('')
printTable(['N', 'after the jobs: CPU/node, msgs/node/s (pending settles re-announced)'], rows.map((r) => [r.n, r.idleAfterJobs]))
