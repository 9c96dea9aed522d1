/**
 * Question: what does running a job that copies a 100 MiB input file to /out cost, next to
 * `cp` of the same file on this machine, and how much memory does it take, in the executor and
 * through the network?
 *
 * Job: examples/copytree.wasm (64 KiB reads and writes through the sandbox file system).
 * Rows, all in the same run (interleaved: each round runs every row once):
 *   - `cp` (baseline): a child process copying the file on disk;
 *   - executor, in memory: `executor.run` alone, the input already in memory (a
 *     SharedArrayBuffer, shared with the worker thread without a copy), the output handed back
 *     (transferred, not copied) and hashed into the output manifest in the worker; metered (the
 *     default: every file call charged its fuel), and with metering off beside it;
 *   - executor, disk to disk: `readFileShared` + `executor.run` + `writeOutputTree`, the whole
 *     way from a file to a file like `cp`;
 *   - through the network: a requester node in this process (its data dir on disk, as a real
 *     node's) submits the job with the file (`submitJob({ files })`) to ONE worker, a separate
 *     `depin start` daemon process (1 slot) on loopback; timed from submit to the verified result
 *     and the output file in hand (`jobFile`), whose bytes are checked equal to the input. Every
 *     round sends new bytes (the round number in the first 4 bytes), so no cache holds them; a
 *     small job first opens the lease and compiles the module on the worker.
 * CPU: of every process involved (cp: its user + system time from sh's `times`, 10 ms ticks;
 * executor rows: this process, every thread; network: requester + worker daemon, from /proc) -
 * on a loaded machine the figure to compare, as wall times mostly measure the other work.
 * RSS: growth of a process's resident set at its peak over the run, from before the input was
 * read: the larger of samples every 5 ms and the kernel's VmHWM (reset through
 * /proc/PID/clear_refs at the start). For the executor rows this process (the worker threads are
 * in it); for the network row the worker daemon over its idle RSS after the warm-up job, and the
 * requester. A copy that held the file twice on the way in or out would show about 300 MiB or
 * more; input + output held once is ~200 MiB.
 *
 *   node bench/files.ts [MiB] [runs]      (default 100 MiB, 5 runs)
 *
 * Latest results (2026-11-27, files and fuel through the network; three runs of 5 rounds, load
 * average 8.9-10.5, 5.1 and 4.0 from other work on the machine; the table is the quietest run,
 * the medians of the three runs' p50s after it):
 *
 *   files bench: copy of 100 MiB, 5 runs, 2 cores (AMD EPYC), Node 24.21.0, V8 13.6.233.17-node.53, load average 4.03 7.89 8.72
 *
 *   how                                    p50 wall  MiB/s   vs cp   p50 cpu  cpu vs cp                    peak RSS growth
 *   -------------------------------------  --------  -----  ------  --------  ---------  ---------------------------------
 *   cp (baseline)                           90.8 ms   1101   1.00x   20.0 ms      1.00x                - (another process)
 *   executor, in memory (run only)         140.6 ms    711   1.55x  250.8 ms     12.54x                            196 MiB
 *     the same, metering off               145.9 ms    685   1.61x  241.6 ms     12.08x                            184 MiB
 *   executor, disk to disk                 261.4 ms    383   2.88x  437.1 ms     21.86x                            186 MiB
 *   through the network (1 worker daemon)    2.56 s     39  28.16x    4.21 s    210.51x  worker 337 MiB, requester 614 MiB
 *
 *   fuel of the metered copy: 221400310 (all 5 equal)
 *   fuel through the network: 221400310 (all equal to the local metered fuel)
 *
 *   through the network, each run (submit → verified result → jobFile, bytes checked equal to the input):
 *   run  to result  to file  worker run (wall)  requester cpu  worker cpu  worker RSS before  worker peak (VmHWM)  peak - idle  requester peak growth
 *   1       2.81 s   2.96 s           130.0 ms         2.81 s      1.81 s            222 MiB              510 MiB      288 MiB                677 MiB
 *   2       2.63 s   2.74 s           120.0 ms         2.94 s      1.54 s            495 MiB              581 MiB      359 MiB                614 MiB
 *   3       2.46 s   2.56 s           170.0 ms         2.88 s      1.33 s            487 MiB              549 MiB      327 MiB                589 MiB
 *   4       2.29 s   2.37 s           125.0 ms         2.53 s      1.29 s            508 MiB              578 MiB      357 MiB                640 MiB
 *   5       2.40 s   2.51 s           191.0 ms         2.82 s      1.33 s            445 MiB              558 MiB      337 MiB                601 MiB
 *   worker idle RSS after the warm-up job: 222 MiB
 *
 *   A fourth series, 3 rounds, after the daemon's V8 mode switch (19:28, load average 3.8):
 *   executor in memory 128 ms, network p50 2.03 s (1.72-2.12 s to the result), worker peak
 *   growth 288-393 MiB, requester 176-191 MiB.
 *   Medians of the three runs: cp 92 ms (409 ms in the loaded run); executor in memory 163 ms;
 *   network 2.62 s wall (9.45 s in the loaded run: the wall time follows the machine's load),
 *   4.29 s CPU (4.21-4.87 s: stable), worker +337 MiB (305-337), requester +594 MiB (585-614).
 *
 * What it means:
 *   - A 100 MiB input runs through a worker daemon with its RSS bounded: peak 480-595 MiB
 *     absolute, +260-380 MiB over its idle ~220 MiB over 15 jobs, about 3x the file (the input, the
 *     output and the garbage of chunking and encrypting them); it does not grow over 5 jobs in a
 *     row (its RSS between jobs stays at ~450-520 MiB until V8 collects, the peak stays put).
 *   - The requester grows ~600 MiB (6x the file) with its data on disk: the input and the output
 *     are pinned as single 100 MiB LevelDB values and `jobFile` reads one back (LevelDB's write
 *     buffers and read copies are native memory); with an in-memory store (no data dir) it was
 *     ~160 MiB (measured separately, RSS at the job's progress events and after `jobFile`).
 *     Noted in /work/wt/notes/fuel-bugs.md.
 *   - The network path costs ~4.2 s of CPU per 100 MiB (requester ~2.8 s, worker ~1.4 s), 17x
 *     the executor's own run: 200 MiB through noise + yamux in 256 KiB frames, sha2-256 of both
 *     files on both sides, LevelDB writes, and GC (~0.8 s per process, from --cpu-prof). So on a
 *     quiet machine ~40 MiB/s end to end; the sandboxed copy itself (130-190 ms on the worker) is
 *     a small part.
 *   - Fuel through the network is the local executor's, to the unit, on every run.
 *
 * (Before the network row, load average 12-21: cp 184.5 ms, in memory 225.1 ms, metering off
 * 318.1 ms, disk to disk 1.03 s; before metering, load ~9: cp 46.5 ms, in memory 157.5 ms, disk to
 * disk 246.3 ms, 194 MiB.) The fuel is 2 x 100 MiB for the bytes read and written, 3.2 M for the
 * 3,200 calls of 64 KiB, and ~8.5 M for the rest (instructions, mostly).
 * The in-memory run includes hashing the 100 MiB output into its CID in the worker (sha2-256).
 */
import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createComputeNode, type ComputeNode } from '../src/node/compute-node.ts'
import { testnetGenesis } from '../src/node/testnet.ts'
import { rawCid, sha256 } from '../src/proofs/encoding.ts'
import { createExecutor } from '../src/scheduler/executor/index.ts'
import type { ExecResult, ExecSpec, WasiExecutor } from '../src/scheduler/executor/index.ts'
import { readFileShared, writeOutputTree } from '../src/scheduler/files/index.ts'
import { formatMs, formatRatio, machine, median, printTable } from './lib.ts'
import { procCpuMs, procMemMiB, resetPeakRss, startWorkerDaemon, type WorkerDaemon } from './lib-daemon.ts'

const MIB = Number(process.argv[2] ?? 100)
const RUNS = Number(process.argv[3] ?? 5)
const bytes = MIB * 1024 * 1024
const module = new Uint8Array(readFileSync(new URL('../examples/copytree.wasm', import.meta.url)))
const dir = mkdtempSync(join(tmpdir(), 'depin-bench-files-'))
const source = join(dir, 'input.bin')
const rssMiB = (): number => process.memoryUsage.rss() / 2 ** 20
// a full GC before each baseline, so buffers of the previous run are not counted (or hidden)
setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void
const settle = async (): Promise<number> => {
  gc()
  await new Promise(resolve => setTimeout(resolve, 100))
  gc()
  return rssMiB()
}

/**
 * Runs `fn`, sampling RSS; returns its duration, the CPU time of this process (every thread) and
 * the peak RSS growth over `base` MiB. The peak is the larger of the samples (every 5 ms) and the
 * kernel's own high-water mark (VmHWM, reset at the start), which also catches a spike between
 * two samples.
 */
async function measured<T> (base: number, fn: () => Promise<T>): Promise<{ ms: number, cpuMs: number, peakMiB: number, value: T }> {
  resetPeakRss('self')
  let peak = rssMiB()
  const sampler = setInterval(() => { peak = Math.max(peak, rssMiB()) }, 5)
  const cpu = process.cpuUsage()
  const start = performance.now()
  try {
    const value = await fn()
    const ms = performance.now() - start
    const used = process.cpuUsage(cpu)
    peak = Math.max(peak, rssMiB(), procMemMiB('self', 'VmHWM'))
    return { ms, cpuMs: (used.user + used.system) / 1000, peakMiB: peak - base, value }
  } finally {
    clearInterval(sampler)
  }
}

/**
 * The network row's two nodes: a requester in this process (its data on disk, like a real node's)
 * and one worker, a `depin start` daemon in its own process (1 slot), on a shared testnet genesis.
 */
async function startNetwork (base: string): Promise<{ requester: ComputeNode, worker: WorkerDaemon, stop: () => Promise<void> }> {
  const requesterKey = await generateKeyPair('Ed25519')
  const workerKey = await generateKeyPair('Ed25519')
  const network = testnetGenesis([requesterKey, workerKey].map((k) => k.publicKey.toString()))
  const worker = await startWorkerDaemon(join(base, 'worker'), workerKey, network, { capacity: { slots: 1 } })
  const requesterDir = join(base, 'requester')
  mkdirSync(requesterDir)
  const requester = createComputeNode({
    privateKey: requesterKey, dataDir: requesterDir, network, listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, testnet: true, bootstrap: [worker.multiaddr], capacity: { slots: 0 }
  })
  const stop = async (): Promise<void> => {
    await requester.stop()
    await worker.stop()
  }
  try {
    await requester.start()
    const deadline = Date.now() + 60_000
    while ((await requester.findCapacity({ timeoutMs: 5000 })).length < 1) {
      if (Date.now() > deadline) throw new Error('the requester found no worker within 60 s')
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  } catch (err) {
    await stop()
    throw err
  }
  return { requester, worker, stop }
}

/** `0m1.060s 0m0.004s` (a line of sh's `times`) → 1064 */
function parseTimes (line: string): number {
  let total = 0
  for (const [, min, sec] of line.matchAll(/(\d+)m([\d.]+)s/g)) total += Number(min) * 60_000 + Number(sec) * 1000
  return total
}

let net: Awaited<ReturnType<typeof startNetwork>> | undefined
try {
  // a file of known, incompressible bytes
  const content = new Uint8Array(bytes)
  for (let i = 0; i < bytes; i += 32) content.set(sha256(Uint8Array.of(i & 0xff, (i >> 8) & 0xff, (i >> 16) & 0xff, i >>> 24)).subarray(0, Math.min(32, bytes - i)), i)
  writeFileSync(source, content)
  const expected = rawCid(content).toString()

  const spec = (input: Uint8Array): ExecSpec => ({
    moduleCid: rawCid(module),
    module,
    stdin: new Uint8Array(0),
    args: [],
    env: {},
    memoryMiB: 16,
    timeoutMs: 120_000,
    seed: new Uint8Array(32),
    files: [{ path: 'input.bin', bytes: input }]
  })
  const check = (result: ExecResult): void => {
    const out = result.outputs?.files[0]
    if (result.exitCode !== 0 || out?.cid.toString() !== expected) throw new Error(`copy failed: exit ${result.exitCode} ${result.trap ?? ''}`)
  }
  /**
   * A fresh executor for each measured run: a worker thread lets go of the previous job's input
   * only at its next GC, which would land inside the next measurement and hide memory.
   */
  let executor: WasiExecutor | undefined
  const fresh = async (metering = true): Promise<WasiExecutor> => {
    await executor?.stop()
    executor = createExecutor({ workers: 1, metering })
    await executor.start()
    // warm up: compile the module and start the worker's code paths
    const warm = await executor.run(spec(new Uint8Array(1024)))
    if (warm.exitCode !== 0) throw new Error('warm-up failed')
    return executor
  }

  net = await startNetwork(dir)
  const { requester, worker } = net
  const job = (input: Uint8Array) => ({ module, files: [{ path: 'input.bin', bytes: input }], memoryMiB: 16, timeoutMs: 120_000 })
  // warm up: a lease with the worker, the module compiled there
  const warm = await (await requester.submitJob(job(new Uint8Array(1024)))).result()
  if (warm.status !== 'completed') throw new Error(`network warm-up: ${warm.status} ${JSON.stringify(warm.error)}`)
  const workerIdle = procMemMiB(worker.pid, 'VmRSS')

  const cp: number[] = []
  const cpCpu: number[] = []
  const cpu = { inMemory: [] as number[], unmetered: [] as number[], diskToDisk: [] as number[] }
  const inMemory: number[] = []
  const unmetered: number[] = []
  const rssUnmetered: number[] = []
  const fuels = new Set<bigint | undefined>()
  const diskToDisk: number[] = []
  const rssInMemory: number[] = []
  const rssDisk: number[] = []
  const network: Array<{ ms: number, requesterCpuMs: number, workerCpuMs: number, resultMs: number, workerWallMs: number, requesterMiB: number, workerBefore: number, workerPeak: number, fuel: string }> = []
  for (let i = 0; i < RUNS; i++) {
    const target = join(dir, `cp-${i}.bin`)
    const t0 = performance.now()
    // sh's `times` prints its children's user and system time on its second line (to stderr here)
    const r = spawnSync('/bin/sh', ['-c', 'cp "$0" "$1" && times >&2', source, target])
    cp.push(performance.now() - t0)
    if (r.status !== 0 || statSync(target).size !== bytes) throw new Error(`cp failed: ${r.stderr.toString()}`)
    cpCpu.push(parseTimes(r.stderr.toString().trim().split('\n').at(-1) ?? ''))
    rmSync(target)

    let ex = await fresh()
    const base = await settle()
    const input = await readFileShared(source)
    const mem = await measured(base, async () => ex.run(spec(input)))
    check(mem.value)
    fuels.add(mem.value.fuel)
    inMemory.push(mem.ms)
    cpu.inMemory.push(mem.cpuMs)
    rssInMemory.push(mem.peakMiB)

    ex = await fresh(false)
    const baseOff = await settle()
    const inputOff = await readFileShared(source) // counted like the metered row's
    const off = await measured(baseOff, async () => ex.run(spec(inputOff)))
    check(off.value)
    unmetered.push(off.ms)
    cpu.unmetered.push(off.cpuMs)
    rssUnmetered.push(off.peakMiB)

    ex = await fresh()
    const base2 = await settle()
    const outDir = join(dir, `out-${i}`)
    const disk = await measured(base2, async () => {
      const result = await ex.run(spec(await readFileShared(source)))
      check(result)
      await writeOutputTree(outDir, result.outputs?.files ?? [])
      return result
    })
    diskToDisk.push(disk.ms)
    cpu.diskToDisk.push(disk.cpuMs)
    rssDisk.push(disk.peakMiB)
    rmSync(outDir, { recursive: true })
    await executor?.stop()
    executor = undefined

    // Through the network: new bytes each run (the run number in the first 4 bytes), so no
    // cache on either side (the worker's lease, the requester's pinned blobs) holds them already.
    const netInput = content.slice()
    new DataView(netInput.buffer).setUint32(0, i + 1)
    const base3 = await settle()
    const workerBefore = procMemMiB(worker.pid, 'VmRSS')
    resetPeakRss(worker.pid)
    const workerCpu = procCpuMs(worker.pid)
    const run = await measured(base3, async () => {
      const start = performance.now()
      const handle = await requester.submitJob(job(netInput))
      const result = await handle.result()
      const resultMs = performance.now() - start
      if (result.status !== 'completed' || !result.verified || result.exitCode !== 0) throw new Error(`network copy: ${result.status} ${JSON.stringify(result.error)}`)
      const file = await requester.jobFile(handle.id, 'input.bin')
      return { result, file, resultMs }
    })
    const workerPeak = procMemMiB(worker.pid, 'VmHWM')
    const workerCpuMs = procCpuMs(worker.pid) - workerCpu
    const { result, file, resultMs } = run.value
    if (file.bytes.byteLength !== bytes || Buffer.compare(Buffer.from(file.bytes.buffer, file.bytes.byteOffset, file.bytes.byteLength), Buffer.from(netInput.buffer)) !== 0) {
      throw new Error('network copy: the output file is not the input')
    }
    if (file.info.cid !== rawCid(netInput).toString() || result.files?.[0]?.cid !== file.info.cid) throw new Error('network copy: the output CID is not the input\'s')
    network.push({ ms: run.ms, requesterCpuMs: run.cpuMs, workerCpuMs, resultMs, workerWallMs: result.workers[0]?.wallMs ?? NaN, requesterMiB: run.peakMiB, workerBefore, workerPeak, fuel: result.fuel ?? '-' })
  }

  const load = loadavg().map((l) => l.toFixed(2)).join(' ')
  console.log(`files bench: copy of ${MIB} MiB, ${RUNS} runs, ${await machine()}, load average ${load}`)
  console.log('')
  const rate = (ms: number): string => `${Math.round(MIB / (ms / 1000))}`
  const netMs = median(network.map((n) => n.ms))
  const mib = (n: number): string => `${Math.round(n)} MiB`
  const ratio = (a: number, b: number): string => formatRatio(a / b)
  const netCpu = median(network.map((n) => n.requesterCpuMs + n.workerCpuMs))
  printTable(['how', 'p50 wall', 'MiB/s', 'vs cp', 'p50 cpu', 'cpu vs cp', 'peak RSS growth'], [
    ['cp (baseline)', formatMs(median(cp)), rate(median(cp)), '1.00x', formatMs(median(cpCpu)), '1.00x', '- (another process)'],
    ['executor, in memory (run only)', formatMs(median(inMemory)), rate(median(inMemory)), ratio(median(inMemory), median(cp)), formatMs(median(cpu.inMemory)), ratio(median(cpu.inMemory), median(cpCpu)), mib(median(rssInMemory))],
    ['  the same, metering off', formatMs(median(unmetered)), rate(median(unmetered)), ratio(median(unmetered), median(cp)), formatMs(median(cpu.unmetered)), ratio(median(cpu.unmetered), median(cpCpu)), mib(median(rssUnmetered))],
    ['executor, disk to disk', formatMs(median(diskToDisk)), rate(median(diskToDisk)), ratio(median(diskToDisk), median(cp)), formatMs(median(cpu.diskToDisk)), ratio(median(cpu.diskToDisk), median(cpCpu)), mib(median(rssDisk))],
    ['through the network (1 worker daemon)', formatMs(netMs), rate(netMs), ratio(netMs, median(cp)), formatMs(netCpu), ratio(netCpu, median(cpCpu)),
      `worker ${mib(median(network.map((n) => n.workerPeak - workerIdle)))}, requester ${mib(median(network.map((n) => n.requesterMiB)))}`]
  ])
  console.log('')
  console.log(`fuel of the metered copy: ${[...fuels].join(', ')}${fuels.size === 1 ? ` (all ${RUNS} equal)` : ' (NOT all equal)'}`)
  const netFuels = new Set(network.map((n) => n.fuel))
  console.log(`fuel through the network: ${[...netFuels].join(', ')}${netFuels.size === 1 && fuels.size === 1 && [...netFuels][0] === String([...fuels][0]) ? ' (all equal to the local metered fuel)' : ' (NOT equal to the local metered fuel)'}`)
  console.log('')
  console.log('through the network, each run (submit → verified result → jobFile, bytes checked equal to the input):')
  printTable(['run', 'to result', 'to file', 'worker run (wall)', 'requester cpu', 'worker cpu', 'worker RSS before', 'worker peak (VmHWM)', 'peak - idle', 'requester peak growth'],
    network.map((n, i) => [String(i + 1), formatMs(n.resultMs), formatMs(n.ms), formatMs(n.workerWallMs), formatMs(n.requesterCpuMs), formatMs(n.workerCpuMs),
      mib(n.workerBefore), mib(n.workerPeak), mib(n.workerPeak - workerIdle), mib(n.requesterMiB)]))
  console.log(`worker idle RSS after the warm-up job: ${mib(workerIdle)}`)
  if (netFuels.size !== 1 || fuels.size !== 1 || [...netFuels][0] !== String([...fuels][0])) {
    throw new Error('fuel differs between runs or between the network and the local executor')
  }
} finally {
  await net?.stop()
  rmSync(dir, { recursive: true, force: true })
}
