/**
 * Question: how long does a trivial job take end to end through the network, on a warm lease
 * (the requester already holds one with the worker: no negotiation) and on a cold start (a lease
 * is negotiated for the job: offer, bid, accept, lease stream), and how much of that is the
 * network rather than running the program?
 *
 * A 2-node in-process network on loopback: node 0 submits `examples/echo.wasm` with 16 bytes of
 * input, node 1 runs it. Baseline in the same run: the same module and input through a local
 * executor (what the worker itself spends). Reference: Bacalhau takes about 1.3 s per job.
 *
 *   node bench/dispatch.ts [jobs]
 *
 * Latest results (2 cores, Node 24.21, 2026-11-27, load average ~1.1, after the throughput work):
 *   trivial job (echo, 16 bytes), 300 sequential jobs after 30 warm-up; 100 cold starts
 *     warm lease (2 nodes)                 p50  0.894 ms  p99  3.336 ms  mean  1.005 ms  (n=300)
 *     cold start: a lease per job          p50  3.831 ms  p99  8.077 ms  mean  4.210 ms  (n=100)
 *     local executor (baseline)            p50  0.139 ms  p99  0.631 ms  mean  0.169 ms  (n=300)
 *     network overhead at p50: warm 0.755 ms, cold 3.692 ms
 *   (Before leases, 2026-11-21: every job negotiated and settled alone, p50 7.0 ms, p99 43 ms,
 *   local 0.30 ms. A warm lease carries the task on its open stream: no negotiation, no
 *   signature per task.)
 */
import { readFile } from 'node:fs/promises'
import { createTestnet } from '../src/node/testnet.ts'
import { createExecutor } from '../src/scheduler/executor/index.ts'
import { rawCid } from '../src/proofs/encoding.ts'
import { formatMs, summarize } from './lib.ts'

const JOBS = Number(process.argv[2] ?? 300)
const WARMUP = 30

const module = await readFile(new URL('../examples/echo.wasm', import.meta.url))
const input = new TextEncoder().encode('sixteen bytes!!!')

function line (label: string, samples: number[]): void {
  const s = summarize(samples)
  console.log(`  ${label.padEnd(36)} p50 ${formatMs(s.p50).padStart(9)}  p99 ${formatMs(s.p99).padStart(9)}  mean ${formatMs(s.mean).padStart(9)}  (n=${s.n})`)
}

// Baseline: the local executor.
const executor = createExecutor({ workers: 1 })
await executor.start()
const spec = { moduleCid: rawCid(module), module, stdin: input, args: [], env: {}, memoryMiB: 64, timeoutMs: 10_000, seed: new Uint8Array(32) }
for (let i = 0; i < WARMUP; i++) await executor.run(spec)
const local: number[] = []
for (let i = 0; i < JOBS; i++) {
  const start = performance.now()
  await executor.run(spec)
  local.push(performance.now() - start)
}
await executor.stop()

// The network.
const net = await createTestnet({ nodes: 2, nodeInit: (i) => ({ capacity: { slots: i === 0 ? 0 : 2 } }) })
const [requester, worker] = net.nodes
while ((await requester.findCapacity()).length < 1) await new Promise((resolve) => setTimeout(resolve, 100))
let failures = 0
async function job (): Promise<number> {
  const start = performance.now()
  const result = await (await requester.submitJob({ module, input, memoryMiB: 64, timeoutMs: 10_000 })).result()
  const elapsed = performance.now() - start
  if (result.status !== 'completed' || new TextDecoder().decode(result.stdout) !== 'sixteen bytes!!!') failures++
  return elapsed
}
const warm: number[] = []
for (let i = 0; i < WARMUP + JOBS; i++) {
  const elapsed = await job()
  if (i >= WARMUP) warm.push(elapsed)
}
// Cold: every lease closed (and gone) before the job, so each job negotiates its own.
const cold: number[] = []
const COLD = Math.min(JOBS, 100)
for (let i = 0; i < COLD; i++) {
  requester.scheduler.closeLeases()
  while (requester.scheduler.leases().length > 0) await new Promise((resolve) => setTimeout(resolve, 5))
  cold.push(await job())
}
await net.stop()

console.log(`trivial job (echo, 16 bytes), ${JOBS} sequential jobs after ${WARMUP} warm-up; ${COLD} cold starts`)
line('warm lease (2 nodes)', warm)
line('cold start: a lease per job', cold)
line('local executor (baseline)', local)
console.log(`  network overhead at p50: warm ${formatMs(summarize(warm).p50 - summarize(local).p50)}, cold ${formatMs(summarize(cold).p50 - summarize(local).p50)}${failures > 0 ? `   [${failures} job(s) failed]` : ''}`)
console.log(`  worker ${worker.peerId}`)
