/**
 * Question: what does the executor (worker pool + deterministic WASI shim) add to a trivial job,
 * and how many trivial jobs per second does it run with 1 and 2 workers?
 *
 * Job: examples/echo.wasm copying 16 bytes of stdin to stdout. Baselines, measured in the same
 * run, in the main thread with the same compiled module:
 *   - "node:wasi + temp files": a new WASI per run whose stdin/stdout are temp files (the plain
 *     node:wasi way: it only takes fds);
 *   - "in-memory shim, no worker": the executor's own WASI imports, without the worker hop.
 * A second table moves 4 MiB through echo, which is where temp files vs memory shows.
 *
 *   node bench/executor.ts [runs]      (default 2000)
 *
 * Latest results (2 cores, Intel Xeon @ 2.20GHz, Node 24.21.0, V8 13.6; 2000 runs):
 *   (load average ~1.3 from other work on the machine, so p99s are noisy; figures varied by up to
 *   2x between runs. With 2 workers, the main thread, which dispatches, shares the 2 cores with them.)
 *
 *   executor bench: 2000 runs, 2 cores (Intel(R) Xeon(R) Processor), Node 24.21.0, V8 13.6.233.17-node.53
 *
 *   echo of 16 bytes, latency over 2000 sequential runs, and throughput
 *   how                                                     p50       p99      mean   jobs/s
 *   -------------------------------------------------  --------  --------  --------  -------
 *   main thread, node:wasi + temp files (baseline)     0.448 ms  2.247 ms  0.564 ms  1,772/s
 *   main thread, in-memory shim, no worker (baseline)  0.075 ms  1.053 ms  0.123 ms  8,103/s
 *   executor, 1 worker                                 0.203 ms  1.821 ms  0.317 ms  4,119/s
 *   executor, 2 workers                                                              3,617/s
 *
 *   echo of 4 MiB, 30 sequential runs
 *   how                                                  p50       p99  MiB/s (in + out, p50)
 *   ----------------------------------------------  --------  --------  ---------------------
 *   main thread, node:wasi + temp files (baseline)  8.096 ms   10.4 ms                    988
 *   main thread, in-memory shim, no worker          2.085 ms  6.075 ms                   3836
 *   executor, 2 workers                             4.773 ms   14.4 ms                   1676
 */
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { WASI } from 'node:wasi'
import { rawCid, sha256 } from '../src/proofs/encoding.ts'
import { createExecutor } from '../src/scheduler/executor/index.ts'
import { PROGRAM_NAME, WASI_MODULE } from '../src/scheduler/executor/constants.ts'
import { createWasiShim } from '../src/scheduler/executor/wasi-shim.ts'
import { wasm } from '../src/scheduler/executor/wasm-api.ts'
import { inspectModule, prepareModule } from '../src/scheduler/executor/wasm-module.ts'
import type { ExecSpec, WasiExecutor } from '../src/scheduler/executor/index.ts'
import type { WasmImports, WasmModule } from '../src/scheduler/executor/wasm-api.ts'
import { formatMs, formatRate, machine, printTable, sample, summarize, time } from './lib.ts'

const RUNS = Number(process.argv[2] ?? 2000)
const WARMUP = 50
const BIG_RUNS = 30
const echo = new Uint8Array(readFileSync(new URL('../examples/echo.wasm', import.meta.url)))
const small = new TextEncoder().encode('sixteen bytes!!\n')
const big = new Uint8Array(4 * 1024 * 1024).map((_, i) => (i * 131) & 0xff)

const spec = (stdin: Uint8Array): ExecSpec => ({
  moduleCid: rawCid(echo),
  module: echo,
  stdin,
  args: [],
  env: {},
  memoryMiB: 16,
  timeoutMs: 10_000,
  seed: sha256(new Uint8Array(0))
})

/** Plain node:wasi in the main thread: stdin and stdout are temp files. */
function runWithTempFiles (module: WasmModule, dir: string, stdin: Uint8Array): Uint8Array {
  const inPath = join(dir, 'stdin')
  const outPath = join(dir, 'stdout')
  writeFileSync(inPath, stdin)
  const inFd = openSync(inPath, 'r')
  const outFd = openSync(outPath, 'w')
  try {
    const wasi = new WASI({ version: 'preview1', args: [PROGRAM_NAME], env: {}, stdin: inFd, stdout: outFd, returnOnExit: true })
    const instance = new wasm.Instance(module, wasi.getImportObject() as WasmImports)
    wasi.start(instance)
  } finally {
    closeSync(inFd)
    closeSync(outFd)
  }
  return readFileSync(outPath)
}

/** The executor's in-memory WASI imports in the main thread: what the worker does, minus the hop. */
function runInMemory (prepared: { module: WasmModule, initialPages: number, memoryImport: { module: string, name: string } }, stdin: Uint8Array): Uint8Array {
  const memory = new wasm.Memory({ initial: prepared.initialPages, maximum: 16 * 16 })
  const wasi = new WASI({ version: 'preview1', args: [PROGRAM_NAME], env: {}, returnOnExit: true })
  const shim = createWasiShim({
    memory,
    stdin,
    seed: new Uint8Array(32),
    maxStdoutBytes: 16 * 1024 * 1024,
    maxStderrBytes: 1024 * 1024,
    nodeWasi: (wasi.getImportObject() as WasmImports)[WASI_MODULE]
  })
  const instance = new wasm.Instance(prepared.module, { [WASI_MODULE]: shim.imports, [prepared.memoryImport.module]: { [prepared.memoryImport.name]: memory } })
  wasi.start({ exports: { _start: instance.exports._start, memory } })
  return shim.stdout.take()
}

/** Jobs per second with `inFlight` jobs kept running at once. */
async function throughput (executor: WasiExecutor, jobs: number, inFlight: number): Promise<number> {
  let next = 0
  const lane = async (): Promise<void> => {
    while (next < jobs) {
      next++
      const r = await executor.run(spec(small))
      if (r.stdout.byteLength !== small.byteLength) throw new Error('echo returned the wrong bytes')
    }
  }
  const ms = await time(async () => Promise.all(Array.from({ length: inFlight }, lane)))
  return jobs / (ms / 1000)
}

function check (out: Uint8Array, input: Uint8Array): void {
  if (Buffer.compare(out, input) !== 0) throw new Error('echo returned the wrong bytes')
}

async function main (): Promise<void> {
  console.log(`executor bench: ${RUNS} runs, ${await machine()}`)
  // Start an executor first: it sets the process-wide V8 flags the baselines then share.
  const one = createExecutor({ workers: 1, maxQueue: RUNS })
  await one.start()

  const compiled = await wasm.compile(echo)
  const prepared = prepareModule(echo, inspectModule(echo, { maxMemoryMiB: 16 }))
  const inMemory = { module: await wasm.compile(prepared.bytes), initialPages: prepared.initialPages, memoryImport: prepared.memoryImport }
  const dir = mkdtempSync(join(tmpdir(), 'depin-bench-'))

  try {
    // warm-up: lazy compilation, caches, JIT of the JS around the runs
    for (let i = 0; i < WARMUP; i++) {
      check(runWithTempFiles(compiled, dir, small), small)
      check(runInMemory(inMemory, small), small)
      check((await one.run(spec(small))).stdout, small)
    }

    const tempFiles = summarize(await sample(RUNS, () => { runWithTempFiles(compiled, dir, small) }))
    const memoryOnly = summarize(await sample(RUNS, () => { runInMemory(inMemory, small) }))
    const pooled = summarize(await sample(RUNS, async () => one.run(spec(small))))
    const tput1 = await throughput(one, RUNS, 4)
    await one.stop()

    const two = createExecutor({ workers: 2, maxQueue: RUNS })
    await two.start()
    for (let i = 0; i < WARMUP; i++) await two.run(spec(small))
    const tput2 = await throughput(two, RUNS, 8)

    console.log(`\necho of ${small.byteLength} bytes, latency over ${RUNS} sequential runs, and throughput`)
    printTable(['how', 'p50', 'p99', 'mean', 'jobs/s'], [
      ['main thread, node:wasi + temp files (baseline)', formatMs(tempFiles.p50), formatMs(tempFiles.p99), formatMs(tempFiles.mean), formatRate(1000 / tempFiles.mean)],
      ['main thread, in-memory shim, no worker (baseline)', formatMs(memoryOnly.p50), formatMs(memoryOnly.p99), formatMs(memoryOnly.mean), formatRate(1000 / memoryOnly.mean)],
      ['executor, 1 worker', formatMs(pooled.p50), formatMs(pooled.p99), formatMs(pooled.mean), formatRate(tput1)],
      ['executor, 2 workers', '', '', '', formatRate(tput2)]
    ])

    // 4 MiB through stdin and stdout
    for (let i = 0; i < 3; i++) {
      check(runWithTempFiles(compiled, dir, big), big)
      check(runInMemory(inMemory, big), big)
      check((await two.run(spec(big))).stdout, big)
    }
    const bigTemp = summarize(await sample(BIG_RUNS, () => { runWithTempFiles(compiled, dir, big) }))
    const bigMemory = summarize(await sample(BIG_RUNS, () => { runInMemory(inMemory, big) }))
    const bigPooled = summarize(await sample(BIG_RUNS, async () => two.run(spec(big))))
    await two.stop()

    console.log(`\necho of 4 MiB, ${BIG_RUNS} sequential runs`)
    printTable(['how', 'p50', 'p99', 'MiB/s (in + out, p50)'], [
      ['main thread, node:wasi + temp files (baseline)', formatMs(bigTemp.p50), formatMs(bigTemp.p99), (8 / (bigTemp.p50 / 1000)).toFixed(0)],
      ['main thread, in-memory shim, no worker', formatMs(bigMemory.p50), formatMs(bigMemory.p99), (8 / (bigMemory.p50 / 1000)).toFixed(0)],
      ['executor, 2 workers', formatMs(bigPooled.p50), formatMs(bigPooled.p99), (8 / (bigPooled.p50 / 1000)).toFixed(0)]
    ])
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

await main()
