/**
 * Question: does a gossip flood from throwaway identities slow honest jobs down, how fast is each
 * identity cut off, and what does the flood cost the nodes in CPU and memory?
 *
 * Four node processes on loopback (one requester with no slots, three workers; one process per
 * node, so each node's CPU and memory are its own). The requester runs echo jobs (16 bytes) one
 * at a time, JOBS_PER_SECOND of them per second, before the flood (the baseline, same run, as
 * long as a flood phase is meant to last) and while each flood phase lasts. The flood comes from
 * this process (at the lowest CPU priority: it stands in for a remote attacker), FLOOD_MESSAGES
 * messages per phase at FLOOD_RATE per second:
 *   A. invalid: FLOOD_IDENTITIES identities in rotation send malformed, oversized, replayed and
 *      forged offers, malformed and too-easy blocks, forged and far-future transactions; an
 *      identity that is cut off keeps trying (its messages no longer leave it);
 *   B. valid-looking: FLOOD_IDENTITIES other identities send well-signed transfers a million
 *      nonces ahead: not invalid ([IGNORE]), so nobody is cut off; the allowance throttles them.
 * All identities connect before the baseline, so the phases measure gossip, not connection
 * set-up. Memory is measured after a full GC. Targets (issue 9): p99 during the flood at most
 * 2x the p99 before; every identity cut within 20 invalid messages.
 *
 *   node bench/flood.ts [messages per phase]
 *
 * Latest results (2 cores shared with other work: load average 6-7 before the run; Node 24,
 * 2026-11-27), two runs:
 *   honest echo jobs, 8/s       p50      p99     p99 / before
 *   before the flood (baseline) 15.2 ms  44.7 ms  1.00x    | 15.7 ms  64.7 ms  1.00x
 *   A: invalid flood            15.0 ms  75.9 ms  1.70x    | 15.8 ms 116.4 ms  1.80x   (target <= 2x: met)
 *   B: valid-looking flood      13.1 ms 640.8 ms 14.33x    | 14.9 ms 274.6 ms  4.24x   (not met)
 *   A: every identity cut by every node after at most 4-5 of its messages (mean 3.2-3.9; all
 *      invalid but the far-future transfer; target <= 20); 69-81 of the 10,000 messages got out,
 *      the rest never left the cut identities. Node CPU during A = baseline (3-8%).
 *   B: nobody cut (nothing invalid); per node ~6,500 of 10,000 dropped unvalidated by the
 *      allowance; node CPU 3-8% -> 18-21% (gossipsub's own work per message, the envelope
 *      signature check, then ours). p50 unchanged; the p99 is the wait for a CPU on two cores
 *      shared by four busy nodes, the attacker and other work (a profile of a worker in B: 82%
 *      idle).
 *   Memory after a full GC (heap / RSS), start -> after B, per node: heap 33-34 -> 45-50 MiB,
 *   RSS 207-227 -> 294-325 MiB; the baseline's 200 jobs alone moved the requester 207 -> 253
 *   MiB RSS and the workers by 1-4 MiB; A added 3-32 MiB RSS, B 43-67 MiB (heap +9-10 MiB:
 *   gossipsub's caches and the verified-signature cache, both bounded).
 */
import { fork, type ChildProcess } from 'node:child_process'
import { setPriority } from 'node:os'
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { createComputeNode, type ComputeNode } from '../src/node/compute-node.ts'
import { testnetGenesis } from '../src/node/testnet.ts'
import type { GenesisConfig } from '../src/ledger/index.ts'
import { createSigner } from '../src/proofs/signing.ts'
import {
  FLOOD_KINDS, connectFlooders, createFlooder, flood, honestOffer, type FloodKind, type FloodReport, type Flooder
} from '../test/flood-helpers.ts'
import { formatMs, formatRatio, printTable, summarize } from './lib.ts'

const NODES = 4
const FLOOD_MESSAGES = Number(process.argv[2] ?? 10_000)
const FLOOD_IDENTITIES = 20
const FLOOD_RATE = 400
/** Honest jobs per second in every phase (one at a time; a slow job delays the next). */
const JOBS_PER_SECOND = 8
/** The baseline lasts as long as a flood phase is meant to. */
const BASELINE_MS = (1000 * FLOOD_MESSAGES) / FLOOD_RATE
const WARMUP = 20

interface Latencies { samples: number[], failures: number }
interface Usage { cpuMs: number, rss: number, heap: number }
type ToNode =
  | { t: 'init', index: number, key: string, network: GenesisConfig, bootstrap: string[] }
  | { t: 'jobs', count: number, perSecond?: number } | { t: 'stop-jobs' } | { t: 'usage' } | { t: 'stats', peers: string[] } | { t: 'exit' }
type FromNode =
  | { t: 'ready', address: string }
  | ({ t: 'latencies' } & Latencies)
  | ({ t: 'usage' } & Usage)
  | { t: 'stats', penalised: number, rejected: number, dropped: number, connections: number }

// ---------------------------------------------------------------------------------------------
// A node process.

async function runNode (): Promise<void> {
  let node: ComputeNode | undefined
  let stopJobs = false
  const module = await readFile(new URL('../examples/echo.wasm', import.meta.url))
  const input = new TextEncoder().encode('sixteen bytes!!!')
  const send = (msg: FromNode): void => { process.send?.(msg) }
  const jobs = async (count: number, perSecond?: number): Promise<void> => {
    const samples: number[] = []
    let failures = 0
    const begun = performance.now()
    for (let i = 0; i < count && !stopJobs; i++) {
      if (perSecond != null) {
        const due = begun + (1000 * i) / perSecond - performance.now()
        if (due > 0) await new Promise((resolve) => setTimeout(resolve, due))
      }
      const start = performance.now()
      const result = await (await (node as ComputeNode).submitJob({ module, input, memoryMiB: 64, timeoutMs: 10_000 })).result().catch(() => undefined)
      samples.push(performance.now() - start)
      if (result?.status !== 'completed' || new TextDecoder().decode(result.stdout) !== 'sixteen bytes!!!') failures++
    }
    send({ t: 'latencies', samples, failures })
  }
  process.on('message', (msg: ToNode) => {
    void (async () => {
      switch (msg.t) {
        case 'init':
          node = createComputeNode({
            privateKey: privateKeyFromProtobuf(Buffer.from(msg.key, 'base64')),
            listen: ['/ip4/127.0.0.1/tcp/0'],
            mdns: false,
            testnet: true,
            bootstrap: msg.bootstrap,
            network: msg.network,
            capacity: { slots: msg.index === 0 ? 0 : 2 }
          })
          await node.start()
          send({ t: 'ready', address: node.multiaddrs[0] })
          break
        case 'jobs': stopJobs = false; await jobs(msg.count, msg.perSecond); break
        case 'stop-jobs': stopJobs = true; break
        case 'usage': {
          (globalThis as { gc?: () => void }).gc?.()
          const u = process.cpuUsage()
          const m = process.memoryUsage()
          send({ t: 'usage', cpuMs: (u.user + u.system) / 1000, rss: m.rss, heap: m.heapUsed })
          break
        }
        case 'stats': {
          const n = node as ComputeNode
          const gossip = Object.values(n.status().gossip)
          send({
            t: 'stats',
            penalised: msg.peers.filter((p) => n.peerScore.isPenalised(p)).length,
            rejected: gossip.reduce((s, g) => s + g.rejected, 0),
            dropped: gossip.reduce((s, g) => s + g.dropped, 0),
            connections: n.host.getConnections().filter((c) => msg.peers.includes(c.remotePeer.toString())).length
          })
          break
        }
        case 'exit': await node?.stop(); process.exit(0)
      }
    })().catch((err) => { console.error(err); process.exit(1) })
  })
}

// ---------------------------------------------------------------------------------------------
// The coordinator (and attacker).

async function request<T extends FromNode['t']> (child: ChildProcess, msg: ToNode, answer: T): Promise<Extract<FromNode, { t: T }>> {
  return await new Promise((resolve) => {
    const on = (m: FromNode): void => {
      if (m.t === answer) { child.off('message', on); resolve(m as Extract<FromNode, { t: T }>) }
    }
    child.on('message', on)
    child.send(msg)
  })
}

const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(0)} MiB`

async function coordinate (): Promise<void> {
  const keys = await Promise.all(Array.from({ length: NODES }, async () => await generateKeyPair('Ed25519')))
  const network = testnetGenesis(keys.map((k) => k.publicKey.toString()))
  const children: ChildProcess[] = []
  const addresses: string[] = []
  for (let i = 0; i < NODES; i++) {
    const child = fork(fileURLToPath(import.meta.url), ['node'], { stdio: 'inherit', execArgv: [...process.execArgv, '--expose-gc'] })
    children.push(child)
    const ready = await request(child, { t: 'init', index: i, key: Buffer.from(privateKeyToProtobuf(keys[i])).toString('base64'), network, bootstrap: addresses.slice(-3) }, 'ready')
    addresses.push(ready.address)
  }
  // This process is the attacker. On one machine it stands in for a remote host, so it runs at
  // the lowest CPU priority (set after the nodes are forked, which would inherit it): what is
  // measured is the cost to the nodes, not the contest for two cores between them and the
  // attacker's own signing and sending.
  setPriority(19)
  const [requester] = children
  /** CPU time, RSS and heap (after GC) of every node, and this process's CPU time last. */
  const usage = async (): Promise<Usage[]> => {
    const own = process.cpuUsage()
    const nodes = await Promise.all(children.map(async (c) => await request(c, { t: 'usage' }, 'usage')))
    return [...nodes, { cpuMs: (own.user + own.system) / 1000, rss: 0, heap: 0 }]
  }
  try {
    // Every identity connects (and sits idle) before the baseline.
    const invalid = await Promise.all(Array.from({ length: FLOOD_IDENTITIES }, async () => await createFlooder(network.networkId)))
    const valid = await Promise.all(Array.from({ length: FLOOD_IDENTITIES }, async () => await createFlooder(network.networkId)))
    await connectFlooders([...invalid, ...valid], addresses)
    await request(requester, { t: 'jobs', count: WARMUP }, 'latencies')
    const target = { networkId: network.networkId, addresses, honestOffer: honestOffer(createSigner(keys[0])) }

    interface Phase { jobs: Latencies, report?: FloodReport, ms: number, before: Usage[], after: Usage[] }
    const phase = async (flooders?: Flooder[], kinds?: readonly FloodKind[]): Promise<Phase> => {
      const before = await usage()
      const started = performance.now()
      let report: FloodReport | undefined
      let jobs: Latencies
      if (flooders == null) {
        jobs = await request(requester, { t: 'jobs', count: Math.round(BASELINE_MS * JOBS_PER_SECOND / 1000), perSecond: JOBS_PER_SECOND }, 'latencies')
      } else {
        const during = request(requester, { t: 'jobs', count: Number.MAX_SAFE_INTEGER, perSecond: JOBS_PER_SECOND }, 'latencies')
        report = await flood({ flooders, target, kinds, messages: FLOOD_MESSAGES, ratePerSecond: FLOOD_RATE })
        requester.send({ t: 'stop-jobs' })
        jobs = await during
      }
      const ms = performance.now() - started
      return { jobs, report, ms, before, after: await usage() }
    }
    const base = await phase()
    const a = await phase(invalid)
    const b = await phase(valid, ['future-nonce-tx'])
    const stats = await Promise.all(children.map(async (c) => await request(c, { t: 'stats', peers: invalid.map((f) => f.peerId) }, 'stats')))
    await Promise.all([...invalid, ...valid].map(async (f) => { await f.host.stop() }))

    const p99 = summarize(base.jobs.samples).p99
    const row = (label: string, p: Phase): Array<string | number> => {
      const s = summarize(p.jobs.samples)
      return [label, formatMs(p.ms), s.n, p.jobs.failures, formatMs(s.p50), formatMs(s.p99), formatMs(s.max), formatRatio(s.p99 / p99)]
    }
    console.log(`honest echo jobs (16 bytes), one at a time, ${JOBS_PER_SECOND}/s, ${NODES} node processes (1 requester, ${NODES - 1} workers)`)
    printTable(['phase', 'lasted', 'jobs', 'failed', 'p50', 'p99', 'max', 'p99 / before'], [
      row('before the flood (baseline)', base), row('A: invalid flood', a), row('B: valid-looking flood', b)
    ])
    const ra = a.report as FloodReport
    const rb = b.report as FloodReport
    const perVictim = [...ra.reached.values()].flatMap((m) => [...m.values()])
    console.log(`A: ${FLOOD_MESSAGES} messages from ${FLOOD_IDENTITIES} identities in rotation (${FLOOD_KINDS.join(', ')}):`)
    console.log(`   ${FLOOD_MESSAGES - ra.refused} got out, ${ra.refused} never left (the identity was cut off everywhere); messages one identity got to one node before that node cut it off: max ${Math.max(...perVictim)}, mean ${(perVictim.reduce((x, y) => x + y, 0) / Math.max(1, perVictim.length)).toFixed(1)} (target <= 20)`)
    console.log(`B: ${FLOOD_MESSAGES} well-signed transfers a million nonces ahead from ${FLOOD_IDENTITIES} other identities: ${FLOOD_MESSAGES - rb.refused} got out ([IGNORE]: nobody cut off)`)
    const cpu = (p: Phase, i: number): string => `${(100 * (p.after[i].cpuMs - p.before[i].cpuMs) / p.ms).toFixed(0)}%`
    printTable(['process', 'CPU: baseline', 'A', 'B', 'A identities cut', 'rejected', 'dropped unvalidated'],
      [...children, undefined].map((_, i) => i === NODES
        ? ['this one (the attacker)', cpu(base, i), cpu(a, i), cpu(b, i), '', '', '']
        : [i === 0 ? 'requester' : `worker ${i}`, cpu(base, i), cpu(a, i), cpu(b, i), `${stats[i].penalised}/${FLOOD_IDENTITIES}`, stats[i].rejected, stats[i].dropped]))
    console.log('memory after a full GC, heap / RSS (every phase also runs honest jobs: compare with the baseline\'s growth)')
    const mem = (u: Usage): string => `${mib(u.heap)} / ${mib(u.rss)}`
    printTable(['node', 'start', 'after baseline', 'after A', 'after B'], children.map((_, i) => [
      i === 0 ? 'requester' : `worker ${i}`, mem(base.before[i]), mem(base.after[i]), mem(a.after[i]), mem(b.after[i])
    ]))
  } finally {
    await Promise.all(children.map(async (c) => { c.send({ t: 'exit' }); await new Promise((resolve) => c.once('exit', resolve)) }))
  }
}

if (process.argv[2] === 'node') await runNode()
else await coordinate()
