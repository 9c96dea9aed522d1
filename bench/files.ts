/**
 * Question: what does running a job that copies a 100 MiB input file to /out cost, next to
 * `cp` of the same file on this machine, and how much memory does it take?
 *
 * Job: examples/copytree.wasm (64 KiB reads and writes through the sandbox file system).
 * Rows, all in the same run:
 *   - `cp` (baseline): a child process copying the file on disk;
 *   - executor, in memory: `executor.run` alone, the input already in memory (a
 *     SharedArrayBuffer, shared with the worker thread without a copy), the output handed back
 *     (transferred, not copied) and hashed into the output manifest in the worker; metered (the
 *     default: every file call charged its fuel), and with metering off beside it;
 *   - executor, disk to disk: `readFileShared` + `executor.run` + `writeOutputTree`, the whole
 *     way from a file to a file like `cp`;
 *   - through the network: TODO (lead): a submit with `--in` / `--out` on a local testnet,
 *     measured the same way; the column is left in the table for it.
 * RSS: growth of this process's resident set (the worker threads are in it) over the run, at
 * its peak (sampled every 5 ms), from before the input was read. A copy that held the file twice
 * on the way in or out would show about 300 MiB or more; input + output held once is ~200 MiB.
 *
 *   node bench/files.ts [MiB] [runs]      (default 100 MiB, 5 runs)
 *
 * Latest results (2026-11-27, after merging fuel metering; load average 12-21 from other work on
 * the machine, so the times are noise: cp took 56-185 ms over three runs, and metered and
 * unmetered runs swapped places between them; the RSS figures and the fuel were stable):
 *
 *   files bench: copy of 100 MiB, 5 runs, 2 cores (AMD EPYC), Node 24.21.0, V8 13.6.233.17-node.53
 *
 *   how                                    p50  MiB/s  vs cp      peak RSS growth
 *   --------------------------------  --------  -----  -----  -------------------
 *   cp (baseline)                     184.5 ms    542  1.00x  - (another process)
 *   executor, in memory (run only)    225.1 ms    444  1.22x              196 MiB
 *     the same, metering off          318.1 ms    314  1.72x              195 MiB
 *   executor, disk to disk              1.03 s     97  5.60x              195 MiB
 *   through the network (TODO: lead)         -      -      -                    -
 *
 *   fuel of the metered copy: 221400310 (all 5 equal)
 *
 * (Before metering, load average ~9: cp 46.5 ms, in memory 157.5 ms = 3.38x, disk to disk
 * 246.3 ms, 194 MiB.) The fuel is 2 x 100 MiB for the bytes read and written, 3.2 M for the
 * 3,200 calls of 64 KiB, and ~8.5 M for the rest (instructions, mostly).
 * The in-memory run includes hashing the 100 MiB output into its CID in the worker (sha2-256).
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { rawCid, sha256 } from '../src/proofs/encoding.ts'
import { createExecutor } from '../src/scheduler/executor/index.ts'
import type { ExecResult, ExecSpec, WasiExecutor } from '../src/scheduler/executor/index.ts'
import { readFileShared, writeOutputTree } from '../src/scheduler/files/index.ts'
import { formatMs, machine, median, printTable } from './lib.ts'

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

/** Runs `fn`, sampling RSS; returns its duration and the peak RSS growth over `base` MiB. */
async function measured<T> (base: number, fn: () => Promise<T>): Promise<{ ms: number, peakMiB: number, value: T }> {
  let peak = rssMiB()
  const sampler = setInterval(() => { peak = Math.max(peak, rssMiB()) }, 5)
  const start = performance.now()
  try {
    const value = await fn()
    const ms = performance.now() - start
    peak = Math.max(peak, rssMiB())
    return { ms, peakMiB: peak - base, value }
  } finally {
    clearInterval(sampler)
  }
}

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

  const cp: number[] = []
  const inMemory: number[] = []
  const unmetered: number[] = []
  const rssUnmetered: number[] = []
  const fuels = new Set<bigint | undefined>()
  const diskToDisk: number[] = []
  const rssInMemory: number[] = []
  const rssDisk: number[] = []
  for (let i = 0; i < RUNS; i++) {
    const target = join(dir, `cp-${i}.bin`)
    const t0 = performance.now()
    const r = spawnSync('cp', [source, target])
    cp.push(performance.now() - t0)
    if (r.status !== 0 || statSync(target).size !== bytes) throw new Error('cp failed')
    rmSync(target)

    let ex = await fresh()
    const base = await settle()
    const input = await readFileShared(source)
    const mem = await measured(base, async () => ex.run(spec(input)))
    check(mem.value)
    fuels.add(mem.value.fuel)
    inMemory.push(mem.ms)
    rssInMemory.push(mem.peakMiB)

    ex = await fresh(false)
    const baseOff = await settle()
    const inputOff = await readFileShared(source) // counted like the metered row's
    const off = await measured(baseOff, async () => ex.run(spec(inputOff)))
    check(off.value)
    unmetered.push(off.ms)
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
    rssDisk.push(disk.peakMiB)
    rmSync(outDir, { recursive: true })
  }
  await executor?.stop()

  console.log(`files bench: copy of ${MIB} MiB, ${RUNS} runs, ${await machine()}`)
  console.log('')
  const rate = (ms: number): string => `${Math.round(MIB / (ms / 1000))}`
  printTable(['how', 'p50', 'MiB/s', 'vs cp', 'peak RSS growth'], [
    ['cp (baseline)', formatMs(median(cp)), rate(median(cp)), '1.00x', '- (another process)'],
    ['executor, in memory (run only)', formatMs(median(inMemory)), rate(median(inMemory)), `${(median(inMemory) / median(cp)).toFixed(2)}x`, `${Math.round(median(rssInMemory))} MiB`],
    ['  the same, metering off', formatMs(median(unmetered)), rate(median(unmetered)), `${(median(unmetered) / median(cp)).toFixed(2)}x`, `${Math.round(median(rssUnmetered))} MiB`],
    ['executor, disk to disk', formatMs(median(diskToDisk)), rate(median(diskToDisk)), `${(median(diskToDisk) / median(cp)).toFixed(2)}x`, `${Math.round(median(rssDisk))} MiB`],
    ['through the network (TODO: lead)', '-', '-', '-', '-']
  ])
  console.log('')
  console.log(`fuel of the metered copy: ${[...fuels].join(', ')}${fuels.size === 1 ? ` (all ${RUNS} equal)` : ' (NOT all equal)'}`)
} finally {
  rmSync(dir, { recursive: true, force: true })
}
