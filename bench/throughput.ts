/**
 * Question: how many trivial jobs per second can one requester push through the network, and how
 * does that scale with 1, 2 and 4 workers?
 *
 * The requester is a node in this process; each worker is a separate `depin start` daemon process
 * on loopback (as real nodes are: one process per machine). The requester submits JOBS echo jobs
 * (16 bytes of input each) at once. Besides jobs/s it prints the CPU time per job of the requester
 * process and of each worker process, which is what bounds throughput on this 2-core machine.
 * Baseline in the same run: the same jobs through one local executor. Reference: a single Ray
 * client does about 1,000 synchronous tasks per second.
 *
 *   node bench/throughput.ts [jobs]
 *
 * Latest results (2 cores for everything, Node 24.21, 2026-11-21):
 *   1000 trivial jobs (echo, 16 bytes) submitted at once; 2 slots per worker
 *   how                                            total   jobs/s  failed  requester CPU/job  worker CPU/job (each)
 *   local executor (1 worker, baseline)         578.8 ms  1,728/s       -                  -                      -
 *   network: 1 requester, 1 worker process(es)    5.72 s    175/s       0            5.18 ms                5.02 ms
 *   network: 1 requester, 2 worker process(es)    5.64 s    177/s       0            4.27 ms         3.22 / 3.25 ms
 *   network: 1 requester, 4 worker process(es)    8.00 s    125/s       0            4.91 ms  2.42 / 2.56 / 2.47 / 2.40 ms
 *   Bound by CPU: the requester spends ~5 ms per job (a negotiation stream, signing the job,
 *   agreement and receipt, checking bid, countersignature and result, gossiping the receipt) and
 *   every node validates every receipt on the ledger, so more workers on the same two cores add
 *   total work per job. Below the 1,000 jobs/s target; see "Performance" in the README.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { createComputeNode } from '../src/node/compute-node.ts'
import { testnetGenesis } from '../src/node/testnet.ts'
import { readApiInfo } from '../src/node/data-dir.ts'
import { createExecutor } from '../src/scheduler/executor/index.ts'
import { rawCid } from '../src/proofs/encoding.ts'
import { formatMs, formatRate, printTable } from './lib.ts'

const JOBS = Number(process.argv[2] ?? 1000)
const WORKER_SLOTS = 2
const BIN = fileURLToPath(new URL('../bin/depin.js', import.meta.url))
const module = new Uint8Array(await readFile(new URL('../examples/echo.wasm', import.meta.url)))
const inputOf = (i: number): Uint8Array => new TextEncoder().encode(`job ${String(i).padStart(12, '0')}`)

/** CPU time (user + system) a process has used, ms, from /proc. */
function cpuMsOf (pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
  return (Number(fields[11]) + Number(fields[12])) * 10
}

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

interface Run { elapsed: number, failed: number, requesterCpuMs: number, workerCpuMs: number[] }

async function network (workers: number): Promise<Run> {
  const base = await mkdtemp(join(tmpdir(), 'depin-throughput-'))
  const children: ChildProcess[] = []
  try {
    const requesterKey = await generateKeyPair('Ed25519')
    const workerKeys = await Promise.all(Array.from({ length: workers }, async () => await generateKeyPair('Ed25519')))
    const network = testnetGenesis([requesterKey, ...workerKeys].map((k) => k.publicKey.toString()))
    const addresses: string[] = []
    for (const [i, key] of workerKeys.entries()) {
      const dir = join(base, `worker-${i}`)
      await mkdir(dir)
      await writeFile(join(dir, 'identity.key'), privateKeyToProtobuf(key), { mode: 0o600 })
      await writeFile(join(dir, 'config.json'), JSON.stringify({
        listen: ['/ip4/127.0.0.1/tcp/0'], api: '127.0.0.1:0', mdns: false, testnet: true, network, capacity: { slots: WORKER_SLOTS }
      }))
      const child = spawn(process.execPath, [BIN, 'start', '--data-dir', dir], { stdio: 'ignore' })
      children.push(child)
      let info
      while ((info = await readApiInfo(dir)) == null || info.pid !== child.pid) await new Promise((resolve) => setTimeout(resolve, 50))
      addresses.push((info.multiaddrs ?? [])[0])
    }
    const requester = createComputeNode({
      privateKey: requesterKey, network, listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, testnet: true, bootstrap: addresses, capacity: { slots: 0 }
    })
    await requester.start()
    try {
      while ((await requester.findCapacity()).length < workers) await new Promise((resolve) => setTimeout(resolve, 100))
      // Warm up: every worker compiles the module once.
      await Promise.all(Array.from({ length: workers * 4 }, async (_, i) => await (await requester.submitJob({ module, input: inputOf(i) })).result()))
      const pids = [process.pid, ...children.map((c) => c.pid as number)]
      const before = pids.map(cpuMsOf)
      const start = performance.now()
      const results = await Promise.all(Array.from({ length: JOBS }, async (_, i) => {
        const result = await (await requester.submitJob({ module, input: inputOf(i), memoryMiB: 64, timeoutMs: 10_000 })).result()
        return result.status === 'completed' && new TextDecoder().decode(result.stdout) === `job ${String(i).padStart(12, '0')}`
      }))
      const elapsed = performance.now() - start
      const after = pids.map(cpuMsOf)
      return {
        elapsed,
        failed: results.filter((ok) => !ok).length,
        requesterCpuMs: (after[0] - before[0]) / JOBS,
        workerCpuMs: after.slice(1).map((a, i) => (a - before[i + 1]) / JOBS)
      }
    } finally {
      await requester.stop()
    }
  } finally {
    await Promise.all(children.map(async (child) => {
      if (child.exitCode != null) return
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGTERM')
      await exited
    }))
    await rm(base, { recursive: true, force: true })
  }
}

const rows: string[][] = []
const baseline = await local()
rows.push(['local executor (1 worker, baseline)', formatMs(baseline), formatRate(JOBS / (baseline / 1000)), '-', '-', '-'])
for (const workers of [1, 2, 4]) {
  const run = await network(workers)
  rows.push([
    `network: 1 requester, ${workers} worker process(es)`,
    formatMs(run.elapsed),
    formatRate(JOBS / (run.elapsed / 1000)),
    String(run.failed),
    `${run.requesterCpuMs.toFixed(2)} ms`,
    run.workerCpuMs.map((ms) => ms.toFixed(2)).join(' / ') + ' ms'
  ])
}
console.log(`${JOBS} trivial jobs (echo, 16 bytes) submitted at once; ${WORKER_SLOTS} slots per worker`)
printTable(['how', 'total', 'jobs/s', 'failed', 'requester CPU/job', 'worker CPU/job (each)'], rows)
