/**
 * Question: after a mass restart, who dials a peer that this node itself trimmed moments ago,
 * and how many nodes sit above their connection bound meanwhile?
 *
 * An in-process testnet of N nodes (memory transport, data dirs, node 0 mines, bound B
 * connections a node), a job stream from node N-1; 2 s in, every third node stops, and 5 s later
 * they all start again. Every node's trims (the trimmer's `hangUp`) and dials (libp2p's
 * `openConnection` of a peer it has no connection to) are recorded with the caller's stack.
 * Every 3 s: nodes above the bound. At the end: the dials to a peer this node trimmed in the
 * previous 15 s, by caller (the first depin or library frame that is not libp2p's dialling).
 *
 *   node bench/redial.ts [N] [B] [seconds after the restarts]   (default 24 8 60)
 *
 * Results (N = 24, B = 8, 45 s after the restarts; 2 cores shared with two other helpers' test
 * runs, load average 6–16, so the counts vary a lot between runs, 2026-11-28):
 *   Before (kad-dht's keep-alive tag on its 20 closest peers), three runs: 441, 686 and 747
 *     dials; 184, 240 and 285 of them libp2p's reconnect queue redialling a kad keep-alive peer,
 *     every one of those to a peer that had closed (trimmed) that very connection less than 15 s
 *     before: the trimming peer closed the newcomer again, and so on. 112, 172 and 214 dials went
 *     to a peer this node itself trimmed < 15 s before (10–13 of them reconnects, kad having
 *     tagged it again; the rest kad walks, capacity publishing and ledger syncs).
 *   After (kad-keep-alive.ts takes that tag off), three runs: 339, 559 and 590 dials, 0, 1 and 1
 *     of them reconnects; 91, 210 and 239 to a peer this node trimmed < 15 s before, all requests
 *     that need that peer: kad walks (getCloserPeers, the PUT and ADD_PROVIDER of capacity
 *     publishing), ledger syncs from the peer whose gossip asked for one, a few kad pings.
 *   Nodes above the bound per 3 s snapshot, averaged over the 45 s: 7.4 and 17.1 before, 12.8 and
 *     14.0 after: no difference shows through the noise. What keeps nodes above 8 in a 24-node
 *     network is the kad walks: each dials up to ~20 peers of a routing table that holds nearly
 *     every node, and the trimmer spares each fresh dial 5 s (DIAL_GRACE_MS) although the walk's
 *     request ends within a second.
 */
import { readFile, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { isPeerId, type PeerId } from '@libp2p/interface'
import { createTestnet } from '../src/node/testnet.ts'
import type { ComputeNode } from '../src/node/compute-node.ts'
import { restartEveryThird } from './lib.ts'

const N = Number(process.argv[2] ?? 24)
const BOUND = Number(process.argv[3] ?? 8)
const AFTER_S = Number(process.argv[4] ?? 60)
const RECENT_MS = 15_000
/** Frames of the caller shown (DEPTH=6 to see which query or sync asked). */
const DEPTH = Number(process.env.DEPTH ?? 2)
const echo = new Uint8Array(await readFile(new URL('../examples/echo.wasm', import.meta.url)))
const dir = await mkdtemp(join(tmpdir(), 'depin-redial-'))
const t0 = Date.now()
const at = (): string => `${((Date.now() - t0) / 1000).toFixed(1)}s`

interface Dial { node: string, peer: string, time: number, trimmedAgo?: number, caller: string }
const dials: Dial[] = []
const trims: Array<{ node: string, peer: string, time: number }> = []
let restartedAt = Infinity

/** This checkout's root as stack frames name it (`(file:///…/`), cut from the callers shown. */
const ROOT = new RegExp(`\\(?(file://)?${new URL('..', import.meta.url).pathname.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`)

/** The first frame that is not libp2p's own dialling machinery, shortened. */
function callerOf (stack: string): string {
  const frames = stack.split('\n').slice(2).map((l) => l.trim())
  const skip = /connection-manager|<anonymous>|libp2p\/dist\/src\/libp2p\.js|node:internal|bench\/redial|bench\/lib|p-queue|p-retry|utils\/dist\/src\/queue|peer-queue/
  const own = frames.filter((f) => !skip.test(f))
  return own.slice(0, DEPTH).map((f) => f.replace(/^at /, '').replace(ROOT, '').replace(/node_modules\//, '').replace(/:\d+\)?$/, '')).join(' < ') || frames.slice(0, 3).join(' < ')
}

function instrument (node: ComputeNode): void {
  const host = node.host as any
  const me = node.peerId
  const lastTrim = new Map<string, number>()
  const hangUp = host.hangUp.bind(host)
  host.hangUp = async (peer: PeerId, options?: unknown) => {
    const key = peer.toString()
    lastTrim.set(key, Date.now())
    trims.push({ node: me, peer: key, time: Date.now() })
    return await hangUp(peer, options)
  }
  const cm = host.components.connectionManager
  const open = cm.openConnection.bind(cm)
  cm.openConnection = async (target: unknown, options?: unknown) => {
    if (isPeerId(target) && host.getConnections(target).length === 0) {
      const key = target.toString()
      const trimmed = lastTrim.get(key)
      Error.stackTraceLimit = 40
      dials.push({ node: me, peer: key, time: Date.now(), trimmedAgo: trimmed != null ? Date.now() - trimmed : undefined, caller: callerOf(new Error().stack ?? '') })
    }
    return await open(target, options)
  }
}

const net = await createTestnet({ nodes: N, transport: 'memory', dir, miners: [0], readyTimeoutMs: 600_000, nodeInit: () => ({ capacity: { slots: 2 }, maxConnections: BOUND }) })
const nodes: ComputeNode[] = [...net.nodes]
for (const n of nodes) instrument(n)
const running = (n: ComputeNode): boolean => { try { n.services(); n.host.getConnections(); return true } catch { return false } }
/** Per snapshot after the restarts: how many nodes were above the bound, and the connections of all. */
const aboveAfter: number[] = []
const connsAfter: number[] = []
function snapshot (label: string): void {
  const live = nodes.filter(running)
  const conns = live.map((n) => n.host.getConnections().length)
  if (Date.now() >= restartedAt) {
    aboveAfter.push(conns.filter((c) => c > BOUND).length)
    connsAfter.push(...conns)
  }
  console.log(at(), label, `live ${live.length}`, `conns ${Math.min(...conns)}–${Math.max(...conns)}`,
    `above ${BOUND}: ${conns.filter((c) => c > BOUND).length}`, `isolated ${conns.filter((c) => c === 0).length}`,
    `<3 capable: ${live.filter((n) => n.services().capacity.cached().length < 3).length}`)
}
console.log(at(), `${N} nodes up`)
snapshot('start')
const R = nodes[N - 1]
const jobs = Array.from({ length: 20 }, async (_, i) => {
  await new Promise((resolve) => setTimeout(resolve, i * 500))
  try {
    const result = await (await R.submitJob({ module: echo, input: new TextEncoder().encode(`job ${i}`), memoryMiB: 16, timeoutMs: 10_000 })).result()
    return result.status === 'completed'
  } catch { return false }
})
const monitor = setInterval(() => { snapshot('') }, 3000)
await new Promise((resolve) => setTimeout(resolve, 2000))
await restartEveryThird(nodes, { onStopped: (count) => { snapshot(`stopped ${count}`) }, onStarted: instrument })
restartedAt = Date.now()
snapshot('restarted')
await new Promise((resolve) => setTimeout(resolve, AFTER_S * 1000))
clearInterval(monitor)
snapshot('end')
console.log(at(), `jobs completed ${(await Promise.all(jobs)).filter(Boolean).length}/${jobs.length}`)

const after = dials.filter((d) => d.time >= restartedAt)
const recent = after.filter((d) => d.trimmedAgo != null && d.trimmedAgo < RECENT_MS)
// The other side of the cycle: a dial to a peer that closed this node's connection moments ago.
const trimmedBy = (d: Dial): boolean => trims.some((t) => t.node === d.peer && t.peer === d.node && t.time <= d.time && d.time - t.time < RECENT_MS)
const back = after.filter(trimmedBy)
const mean = (xs: number[]): string => (xs.reduce((a, b) => a + b, 0) / xs.length).toFixed(1)
console.log(`after the restarts: nodes above ${BOUND} per snapshot ${mean(aboveAfter)} on average (${aboveAfter.join(' ')}), connections per node ${mean(connsAfter)} on average`)
console.log(`after the restarts: ${trims.filter((t) => t.time >= restartedAt).length} trims, ${after.length} dials, ${recent.length} to a peer this node trimmed < ${RECENT_MS / 1000} s before`)
const byCaller = (list: Dial[]): Array<[string, number]> => {
  const counts = new Map<string, number>()
  for (const d of list) counts.set(d.caller, (counts.get(d.caller) ?? 0) + 1)
  return [...counts].sort((a, b) => b[1] - a[1])
}
console.log(`${back.length} dials to a peer that trimmed this node < ${RECENT_MS / 1000} s before`)
for (const [caller, count] of byCaller(back).slice(0, 8)) console.log(`  ${count}  ${caller}`)
console.log('dials to recently trimmed peers, by caller:')
for (const [caller, count] of byCaller(recent)) console.log(`  ${count}  ${caller}`)
console.log('all dials after the restarts, by caller:')
for (const [caller, count] of byCaller(after).slice(0, 15)) console.log(`  ${count}  ${caller}`)
await Promise.all(nodes.map(async (n) => { await n.stop() }))
await net.stop()
await rm(dir, { recursive: true, force: true })
process.exit(0)
