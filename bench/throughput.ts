/**
 * Question: how many trivial jobs per second can one requester push through the network, and how
 * does that scale with 1, 2 and 4 workers?
 *
 * In-process networks on loopback (every node shares this machine's cores): node 0 submits
 * JOBS echo jobs (16 bytes of input each) at once, W worker nodes run them. Baseline in the same
 * run: the same jobs through one local executor. Reference: a single Ray client does about
 * 1,000 synchronous tasks per second.
 *
 *   node bench/throughput.ts [jobs]
 *
 * Latest results: see the note at the bottom of this comment (updated by hand after a run).
 */
import { readFile } from 'node:fs/promises'
import { createTestnet } from '../src/node/testnet.ts'
import { createExecutor } from '../src/scheduler/executor/index.ts'
import { rawCid } from '../src/proofs/encoding.ts'
import { formatMs, formatRate, printTable } from './lib.ts'

const JOBS = Number(process.argv[2] ?? 1000)
const module = new Uint8Array(await readFile(new URL('../examples/echo.wasm', import.meta.url)))
const inputOf = (i: number): Uint8Array => new TextEncoder().encode(`job ${String(i).padStart(12, '0')}`)

async function local (): Promise<number> {
  const executor = createExecutor({ workers: 1, maxQueue: JOBS })
  await executor.start()
  const spec = (i: number) => ({ moduleCid: rawCid(module), module, stdin: inputOf(i), args: [], env: {}, memoryMiB: 64, timeoutMs: 10_000, seed: new Uint8Array(32) })
  await executor.run(spec(0))
  const start = performance.now()
  await Promise.all(Array.from({ length: JOBS }, async (_, i) => await executor.run(spec(i))))
  const elapsed = performance.now() - start
  await executor.stop()
  return elapsed
}

async function network (workers: number): Promise<{ elapsed: number, failed: number }> {
  const net = await createTestnet({ nodes: 1 + workers, nodeInit: (i) => ({ capacity: { slots: i === 0 ? 0 : 2 } }) })
  try {
    const [requester] = net.nodes
    while ((await requester.findCapacity()).length < workers) await new Promise((resolve) => setTimeout(resolve, 100))
    // Warm up: every worker compiles the module once.
    await Promise.all(Array.from({ length: workers * 2 }, async (_, i) => await (await requester.submitJob({ module, input: inputOf(i) })).result()))
    const start = performance.now()
    const results = await Promise.all(Array.from({ length: JOBS }, async (_, i) => {
      const result = await (await requester.submitJob({ module, input: inputOf(i), memoryMiB: 64, timeoutMs: 10_000 })).result()
      return result.status === 'completed' && new TextDecoder().decode(result.stdout) === `job ${String(i).padStart(12, '0')}`
    }))
    return { elapsed: performance.now() - start, failed: results.filter((ok) => !ok).length }
  } finally {
    await net.stop()
  }
}

const rows: string[][] = []
const baseline = await local()
rows.push(['local executor (1 worker, baseline)', formatMs(baseline), formatRate(JOBS / (baseline / 1000)), '-'])
for (const workers of [1, 2, 4]) {
  const { elapsed, failed } = await network(workers)
  rows.push([`network: 1 requester, ${workers} worker(s)`, formatMs(elapsed), formatRate(JOBS / (elapsed / 1000)), String(failed)])
}
console.log(`${JOBS} trivial jobs (echo, 16 bytes) submitted at once`)
printTable(['how', 'total', 'jobs/s', 'failed'], rows)
