/**
 * Question: how close to native speed does a CPU-bound job run in the executor, with and without
 * fuel metering, and what does instrumenting a large module cost?
 *
 * Jobs: examples/primes.c (trial division) and examples/mandelbrot.c (floating point), ~1 s each
 * natively. Columns, measured in the same run (stdout of every run checked equal to native's):
 *   - native: the same C compiled with `gcc -O2` into a temp dir (skipped if gcc is missing);
 *   - executor, metering off / metered: the .wasm through createExecutor (1 worker, `metering`
 *     false / true), wall and thread CPU, and the fuel of each metered run (all must be equal);
 *   - through the network: one node submits primes, another runs it (in-process 2-node network;
 *     nodes meter by default).
 * Then: instrumentation of primes.wasm grown to 25 MiB (test/wasm-gen.ts), with binaryen's read +
 * write of the same module beside it when `binaryen` is importable (`npm i --no-save binaryen`);
 * the fuel rate `measureFuelRate` reports.
 *
 * A last table shows why the executor runs wasm with `--no-liftoff` (see
 * src/scheduler/executor/tiering.ts): the first run of a freshly compiled module under V8's
 * default flags, Liftoff only, and --no-liftoff, each in a child process, main thread, plain
 * node:wasi. Skip it with --no-tiers.
 *
 *   node bench/cpu.ts [runs] [--no-tiers]     (default 3 runs per column)
 *
 * Latest results (2 cores, AMD EPYC, Node 24.21.0, V8 13.6, 2026-11-27; the machine was busy with
 * other work, load average 4-6, so WALL ratios are noise; compare CPU ratios):
 *
 *   primes 4000000
 *   how                                      median wall  median cpu  wall vs native  cpu vs native                       fuel
 *   native (gcc -O2)                            829.4 ms    650.0 ms           1.00x          1.00x                          -
 *   executor, metering off                        1.51 s    691.5 ms           1.82x          1.06x                          -
 *   executor, metered                           960.8 ms    672.5 ms           1.16x          1.03x  10074416936 (all 3 equal)
 *   through the network (2 nodes, metered)        1.33 s    676.0 ms           1.61x          1.04x                          -
 *
 *   mandelbrot 1000 1000 2000
 *   how                                      median wall  median cpu  wall vs native  cpu vs native                       fuel
 *   native (gcc -O2)                              1.33 s    730.0 ms           1.00x          1.00x                          -
 *   executor, metering off                        1.33 s    791.2 ms           0.99x          1.08x                          -
 *   executor, metered                             1.16 s    784.7 ms           0.87x          1.07x  12647948916 (all 3 equal)
 *
 *   instrumentation of a 25.1 MiB module (59,073 functions), 3 runs
 *   how                                                 in       out                          runs    median        memory
 *   depin instrumenter (hand-written, one pass)   25.1 MiB  35.1 MiB  702.6 ms / 1.29 s / 890.1 ms  890.1 ms  +112 MiB rss
 *     compiling the instrumented module (lazy)                                            331.6 ms
 *   binaryen read + write, no pass (lower bound)  25.1 MiB  23.4 MiB                       11.69 s   11.69 s
 *   (on a quieter moment: depin 0.42-0.45 s warm, 1.4 s the first time in a process; binaryen
 *   8.5-9.1 s with a peak RSS of ~600 MiB, measured separately)
 *
 *   fuel rate (measureFuelRate, built-in module): 31.11 Gfuel/s (2119798729 fuel in 68.1 ms cpu, 94.4 ms wall)
 *
 *   Rerun after merging the sandbox file system (2026-11-27, load average ~16, `3 --no-tiers`):
 *   CPU vs native 1.03x metered / 1.02x metering off (primes), 1.08x / 1.09x (Mandelbrot); the
 *   same fuel (10074416936, 12647948916); instrumenting the 25 MiB module 670 ms median (478 ms
 *   to 875 ms); fuel rate 29.18 Gfuel/s.
 *
 *   V8 wasm tiers: CPU time of the first and second run of a freshly compiled module (child process, main thread)
 *   job                                   how  first run (cpu)  second run (cpu)
 *   primes 4000000             native gcc -O2         660.0 ms
 *                               default flags         685.8 ms          670.5 ms
 *                              --liftoff-only         684.0 ms          683.4 ms
 *                                --no-liftoff         692.5 ms          676.1 ms
 *   mandelbrot 1000 1000 2000  native gcc -O2         710.0 ms
 *                               default flags           1.59 s          793.9 ms
 *                              --liftoff-only           1.57 s            1.56 s
 *                                --no-liftoff         818.3 ms          781.0 ms
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { rawCid, sha256 } from '../src/proofs/encoding.ts'
import { createExecutor, instrumentModule, measureFuelRate } from '../src/scheduler/executor/index.ts'
import { wasm } from '../src/scheduler/executor/wasm-api.ts'
import { createTestnet } from '../src/node/testnet.ts'
import { moduleOfSize } from '../test/wasm-gen.ts'
import { formatMs, formatRatio, machine, median, printTable } from './lib.ts'

const args = process.argv.slice(2)
const RUNS = Number(args.find(a => /^\d+$/.test(a)) ?? 3)
const TIERS = !args.includes('--no-tiers')
const PRIMES_N = '4000000'
const EXPECTED = '283146\n'
/** Size of the module whose instrumentation is timed. */
const BIG_MODULE_BYTES = 25 * 1024 * 1024
const examples = new URL('../examples/', import.meta.url)
const primesWasm = new Uint8Array(readFileSync(new URL('primes.wasm', examples)))

interface Job {
  label: string
  name: 'primes' | 'mandelbrot'
  args: string[]
  /** Through the network too (the 2-node column). */
  network: boolean
}

const JOBS: Job[] = [
  { label: `primes ${PRIMES_N}`, name: 'primes', args: [PRIMES_N], network: true },
  { label: 'mandelbrot 1000 1000 2000', name: 'mandelbrot', args: ['1000', '1000', '2000'], network: false }
]

interface Measured {
  wallMs: number[]
  cpuMs?: number[]
  /** sha256 of stdout of every run (all must be equal, and equal to native's). */
  outputs: string[]
  /** Fuel of every run (metered columns). */
  fuel?: bigint[]
}

interface Column {
  name: string
  measure: (job: Job) => Promise<Measured | { skipped: string }>
}

const COLUMNS: Column[] = [
  { name: 'native (gcc -O2)', measure: measureNative },
  { name: 'executor, metering off', measure: async job => measureExecutor(job, false) },
  { name: 'executor, metered', measure: async job => measureExecutor(job, true) },
  { name: 'through the network (2 nodes, metered)', measure: measureNetwork }
]

const digest = (bytes: Uint8Array): string => Buffer.from(sha256(bytes)).toString('hex').slice(0, 16)

async function measureNative (job: Job): Promise<Measured | { skipped: string }> {
  const gcc = spawnSync('gcc', ['--version'])
  if (gcc.error !== undefined || gcc.status !== 0) return { skipped: 'gcc not found: native column skipped' }
  const dir = mkdtempSync(join(tmpdir(), 'depin-cpu-'))
  try {
    const binary = join(dir, job.name)
    execFileSync('gcc', ['-O2', '-o', binary, fileURLToPath(new URL(`${job.name}.c`, examples))])
    const wallMs: number[] = []
    const cpuMs: number[] = []
    const outputs: string[] = []
    for (let i = 0; i < RUNS; i++) {
      // sh's `times` (to stderr here) prints the children's user and system time on its second line
      const start = performance.now()
      const run = spawnSync('/bin/sh', ['-c', '"$0" "$@"; times >&2', binary, ...job.args], { maxBuffer: 64 * 1024 * 1024 })
      wallMs.push(performance.now() - start)
      if (run.status !== 0) throw new Error(`native ${job.name} failed: ${run.stderr.toString()}`)
      outputs.push(digest(run.stdout))
      cpuMs.push(parseTimes(run.stderr.toString().trim().split('\n').at(-1) ?? ''))
    }
    return { wallMs, cpuMs, outputs }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** `0m1.060s 0m0.004s` → 1064 */
function parseTimes (line: string): number {
  let total = 0
  for (const [, min, sec] of line.matchAll(/(\d+)m([\d.]+)s/g)) total += Number(min) * 60_000 + Number(sec) * 1000
  return total
}

async function measureExecutor (job: Job, metering: boolean): Promise<Measured> {
  const executor = createExecutor({ workers: 1, metering, maxStdoutBytes: 64 * 1024 * 1024 })
  await executor.start()
  try {
    const module = new Uint8Array(readFileSync(new URL(`${job.name}.wasm`, examples)))
    const wallMs: number[] = []
    const cpuMs: number[] = []
    const outputs: string[] = []
    const fuel: bigint[] = []
    for (let i = 0; i < RUNS; i++) {
      // the first run includes the lazy (TurboFan) compilation of the functions it calls
      const result = await executor.run({
        moduleCid: rawCid(module),
        module,
        stdin: new Uint8Array(0),
        args: job.args,
        env: {},
        memoryMiB: 16,
        timeoutMs: 120_000,
        seed: sha256(new Uint8Array(0))
      })
      if (result.exitCode !== 0) throw new Error(`executor ${job.name}: ${JSON.stringify(result.trap)}`)
      if (job.name === 'primes' && new TextDecoder().decode(result.stdout) !== EXPECTED) throw new Error(`executor primes printed ${JSON.stringify(new TextDecoder().decode(result.stdout))}`)
      wallMs.push(result.wallMs)
      cpuMs.push(result.cpuMs)
      outputs.push(digest(result.stdout))
      if (result.fuel !== undefined) fuel.push(result.fuel)
    }
    return { wallMs, cpuMs, outputs, ...(metering ? { fuel } : {}) }
  } finally {
    await executor.stop()
  }
}

/**
 * The same job submitted by one node and run by another (in-process 2-node network on loopback):
 * wall is submit → verified result, cpu is what the worker reported.
 */
async function measureNetwork (job: Job): Promise<Measured | { skipped: string }> {
  if (!job.network) return { skipped: `${job.name}: no network column (the lead adds it with fuel in results)` }
  const net = await createTestnet({ nodes: 2, nodeInit: (i) => ({ capacity: { slots: i === 0 ? 0 : 1 } }) })
  try {
    const [requester] = net.nodes
    while ((await requester.findCapacity()).length < 1) await new Promise((resolve) => setTimeout(resolve, 100))
    const wallMs: number[] = []
    const cpuMs: number[] = []
    const outputs: string[] = []
    const module = new Uint8Array(readFileSync(new URL(`${job.name}.wasm`, examples)))
    for (let i = 0; i < RUNS; i++) {
      const start = performance.now()
      const result = await (await requester.submitJob({ module, args: job.args, memoryMiB: 16, timeoutMs: 120_000 })).result()
      wallMs.push(performance.now() - start)
      if (result.status !== 'completed') throw new Error(`network ${job.name}: ${JSON.stringify(result.error)}`)
      outputs.push(digest(result.stdout))
      cpuMs.push(result.workers[0].cpuMs ?? NaN)
    }
    return { wallMs, cpuMs, outputs }
  } finally {
    await net.stop()
  }
}

/**
 * Instrumentation of a large module: primes.wasm grown to `BIG_MODULE_BYTES` with copies of its
 * own functions (test/wasm-gen.ts), instrumented `RUNS` times; compiling the result (lazy, as
 * the executor does) shown for scale. With binaryen importable (`npm i --no-save binaryen`), its
 * read + write of the same module (the least a binaryen-based pass would cost) is shown too.
 */
async function instrumentationTable (): Promise<void> {
  const big = moduleOfSize(primesWasm, BIG_MODULE_BYTES)
  const rows: string[][] = []
  const times: number[] = []
  let out = instrumentModule(primesWasm)
  const rssBefore = process.memoryUsage().rss
  for (let i = 0; i < RUNS; i++) {
    const start = performance.now()
    out = instrumentModule(big)
    times.push(performance.now() - start)
  }
  const rssGrowth = (process.memoryUsage().rss - rssBefore) / 2 ** 20
  const compileStart = performance.now()
  await wasm.compile(out.bytes)
  const compileMs = performance.now() - compileStart
  const mib = (n: number): string => `${(n / 2 ** 20).toFixed(1)} MiB`
  rows.push(['depin instrumenter (hand-written, one pass)', mib(big.byteLength), mib(out.bytes.byteLength), String(out.stats.functions),
    times.map(formatMs).join(' / '), formatMs(median(times)), `+${rssGrowth.toFixed(0)} MiB rss`])
  rows.push(['  compiling the instrumented module (lazy)', '', '', '', formatMs(compileMs), '', ''])
  try {
    const binaryen = (await import('binaryen' as string)).default
    const start = performance.now()
    const m = binaryen.readBinary(big)
    const bytes = m.emitBinary() as Uint8Array
    const ms = performance.now() - start
    m.dispose()
    rows.push(['binaryen read + write, no pass (lower bound)', mib(big.byteLength), mib(bytes.byteLength), '', formatMs(ms), formatMs(ms), ''])
  } catch {
    rows.push(['binaryen: not installed (npm i --no-save binaryen)', '', '', '', '', '', ''])
  }
  console.log(`\ninstrumentation of a ${mib(big.byteLength)} module (primes.wasm with copies of its functions), ${RUNS} runs`)
  printTable(['how', 'in', 'out', 'functions', 'runs', 'median', 'memory'], rows)
}

/**
 * CPU time of the first and second run of a freshly compiled module in a child process under V8
 * flags (CPU rather than wall time: other processes on a shared machine disturb it less). The
 * child is plain node:wasi in its main thread, stdout to /dev/null; lazy compilation happens in
 * that thread, so it is counted.
 */
function tierRun (flags: string[], module: URL, moduleArgs: string[]): { first: number, second: number } {
  const script = `
    import { WASI } from 'node:wasi'
    import { readFileSync, openSync } from 'node:fs'
    const module = await WebAssembly.compile(readFileSync(process.argv[1]))
    const times = []
    for (let i = 0; i < 2; i++) {
      const wasi = new WASI({ version: 'preview1', args: ['job.wasm', ...process.argv.slice(2)], returnOnExit: true, stdout: openSync('/dev/null', 'w') })
      const instance = await WebAssembly.instantiate(module, wasi.getImportObject())
      const start = process.threadCpuUsage()
      wasi.start(instance)
      const used = process.threadCpuUsage(start)
      times.push((used.user + used.system) / 1000)
    }
    console.log(JSON.stringify(times))`
  const out = execFileSync(process.execPath, [...flags, '--no-warnings', '--input-type=module', '-e', script, fileURLToPath(module), ...moduleArgs], { encoding: 'utf8' })
  const [first, second] = JSON.parse(out) as number[]
  return { first, second }
}

async function main (): Promise<void> {
  console.log(`cpu bench: ${RUNS} runs per column, ${await machine()}`)
  for (const job of JOBS) {
    const rows: string[][] = []
    let nativeWall = NaN
    let nativeCpu = NaN
    let nativeOutput: string | undefined
    const notes: string[] = []
    for (const column of COLUMNS) {
      const m = await column.measure(job)
      if ('skipped' in m) {
        notes.push(m.skipped)
        rows.push([column.name, '-', '-', '-', '-', '-', '-'])
        continue
      }
      const wall = median(m.wallMs)
      const cpu = m.cpuMs === undefined ? NaN : median(m.cpuMs)
      if (column.measure === measureNative) {
        nativeWall = wall
        nativeCpu = cpu
        nativeOutput = m.outputs[0]
      }
      if (new Set(m.outputs).size !== 1 || (nativeOutput !== undefined && m.outputs[0] !== nativeOutput)) {
        throw new Error(`${column.name}: ${job.label} printed other output than native (${m.outputs.join(', ')} vs ${String(nativeOutput)})`)
      }
      const fuel = m.fuel === undefined ? '-' : new Set(m.fuel).size === 1 ? `${m.fuel[0]} (all ${m.fuel.length} equal)` : `DIFFERENT: ${m.fuel.join(', ')}`
      rows.push([
        column.name,
        m.wallMs.map(formatMs).join(' / '),
        formatMs(wall),
        formatMs(cpu),
        formatRatio(wall / nativeWall),
        formatRatio(cpu / nativeCpu),
        fuel
      ])
    }
    console.log(`\n${job.label} (wall times of the runs in order; ratios of medians to native; output checked equal to native's)`)
    printTable(['how', 'runs (wall)', 'median wall', 'median cpu', 'wall vs native', 'cpu vs native', 'fuel'], rows)
    for (const note of notes) console.log(note)
  }

  await instrumentationTable()

  const executor = createExecutor({ workers: 1 })
  await executor.start()
  try {
    const rate = await measureFuelRate(executor)
    console.log(`\nfuel rate (measureFuelRate, built-in module): ${(rate.fuelPerSecond / 1e9).toFixed(2)} Gfuel/s (${rate.fuel} fuel in ${formatMs(rate.cpuMs)} cpu, ${formatMs(rate.wallMs)} wall)`)
  } finally {
    await executor.stop()
  }

  if (!TIERS) return
  console.log('\nV8 wasm tiers: CPU time of the first and second run of a freshly compiled module (child process, main thread)')
  const jobs: Array<[string, string, string[]]> = [
    [`primes ${PRIMES_N}`, 'primes', [PRIMES_N]],
    ['mandelbrot 1000 1000 2000', 'mandelbrot', ['1000', '1000', '2000']]
  ]
  const flagSets: Array<[string, string[]]> = [['default flags', []], ['--liftoff-only', ['--liftoff-only']], ['--no-liftoff', ['--no-liftoff']]]
  const tierRows: string[][] = []
  for (const [label, name, moduleArgs] of jobs) {
    const native = nativeOnce(name, moduleArgs)
    tierRows.push([label, 'native gcc -O2', native === undefined ? '-' : formatMs(native), ''])
    for (const [flagLabel, flags] of flagSets) {
      const { first, second } = tierRun(flags, new URL(`${name}.wasm`, examples), moduleArgs)
      tierRows.push(['', flagLabel, formatMs(first), formatMs(second)])
    }
  }
  printTable(['job', 'how', 'first run (cpu)', 'second run (cpu)'], tierRows)
}

/** CPU time of one native run of an example, ms; undefined without gcc. */
function nativeOnce (name: string, moduleArgs: string[]): number | undefined {
  if (spawnSync('gcc', ['--version']).status !== 0) return undefined
  const dir = mkdtempSync(join(tmpdir(), 'depin-cpu-'))
  try {
    const binary = join(dir, name)
    execFileSync('gcc', ['-O2', '-o', binary, fileURLToPath(new URL(`${name}.c`, examples))])
    const out = execFileSync('/bin/sh', ['-c', '"$0" "$@" > /dev/null; times', binary, ...moduleArgs], { encoding: 'utf8' })
    return parseTimes(out.split('\n')[1])
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

await main()
