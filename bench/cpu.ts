/**
 * Question: how close to native speed does a CPU-bound job run in the executor?
 *
 * Job: examples/primes.c (trial division, ~1 s natively). Columns, measured in the same run:
 *   - native: the same C compiled with `gcc -O2` into a temp dir (skipped if gcc is missing);
 *   - executor: examples/primes.wasm through createExecutor (1 worker), wall and thread CPU;
 *   - through the network: one node submits the job, another runs it (in-process 2-node network).
 *
 * A second table shows why the executor runs wasm with `--no-liftoff` (see
 * src/scheduler/executor/tiering.ts): the first run of a freshly compiled module under V8's
 * default flags, Liftoff only, and --no-liftoff, each in a child process, main thread, plain
 * node:wasi. Skip it with --no-tiers.
 *
 *   node bench/cpu.ts [runs] [--no-tiers]     (default 3 runs per column)
 *
 * Latest results (2 cores, Intel Xeon @ 2.20GHz, Node 24.21.0, V8 13.6, 2026-11-21, quiet machine):
 *
 *   primes 4000000 (wall times of the runs in order; ratios of medians to native)
 *   how                                         runs (wall)  median wall  median cpu  wall vs native  cpu vs native
 *   native (gcc -O2)               1.05 s / 1.06 s / 1.12 s       1.06 s      1.05 s           1.00x          1.00x
 *   executor (wasm, 1 worker)      1.13 s / 1.10 s / 1.07 s       1.10 s      1.09 s           1.03x          1.04x
 *   through the network (2 nodes)  1.21 s / 1.13 s / 1.12 s       1.13 s      1.10 s           1.06x          1.05x
 *
 *   V8 wasm tiers: CPU time of the first and second run of a freshly compiled module (child process, main thread)
 *   job                                   how  first run (cpu)  second run (cpu)
 *   primes 4000000             native gcc -O2           1.09 s
 *                               default flags           1.26 s            1.09 s
 *                              --liftoff-only           1.26 s            1.17 s
 *                                --no-liftoff           1.09 s            1.04 s
 *   mandelbrot 1000 1000 2000  native gcc -O2           1.28 s
 *                               default flags           2.09 s            1.30 s
 *                              --liftoff-only           2.07 s            2.12 s
 *                                --no-liftoff           1.33 s            1.23 s
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { rawCid, sha256 } from '../src/proofs/encoding.ts'
import { createExecutor } from '../src/scheduler/executor/index.ts'
import { createTestnet } from '../src/node/testnet.ts'
import { formatMs, formatRatio, machine, median, printTable } from './lib.ts'

const args = process.argv.slice(2)
const RUNS = Number(args.find(a => /^\d+$/.test(a)) ?? 3)
const TIERS = !args.includes('--no-tiers')
const PRIMES_N = '4000000'
const EXPECTED = '283146\n'
const examples = new URL('../examples/', import.meta.url)
const primesWasm = new Uint8Array(readFileSync(new URL('primes.wasm', examples)))

interface Column {
  name: string
  /** Wall times of `RUNS` runs, ms; undefined (with a reason) to skip the column. */
  measure: () => Promise<{ wallMs: number[], cpuMs?: number[] } | { skipped: string }>
}

const COLUMNS: Column[] = [
  { name: 'native (gcc -O2)', measure: measureNative },
  { name: 'executor (wasm, 1 worker)', measure: measureExecutor },
  { name: 'through the network (2 nodes)', measure: measureNetwork }
]

async function measureNative (): Promise<{ wallMs: number[], cpuMs: number[] } | { skipped: string }> {
  const gcc = spawnSync('gcc', ['--version'])
  if (gcc.error !== undefined || gcc.status !== 0) return { skipped: 'gcc not found: native column skipped' }
  const dir = mkdtempSync(join(tmpdir(), 'depin-cpu-'))
  try {
    const binary = join(dir, 'primes')
    execFileSync('gcc', ['-O2', '-o', binary, fileURLToPath(new URL('primes.c', examples))])
    const wallMs: number[] = []
    const cpuMs: number[] = []
    for (let i = 0; i < RUNS; i++) {
      // sh's `times` prints the children's user and system time on its second line
      const start = performance.now()
      const out = execFileSync('/bin/sh', ['-c', '"$0" "$1"; times', binary, PRIMES_N], { encoding: 'utf8' })
      wallMs.push(performance.now() - start)
      const [count, , children] = out.split('\n')
      if (`${count}\n` !== EXPECTED) throw new Error(`native primes printed ${JSON.stringify(out)}`)
      cpuMs.push(parseTimes(children))
    }
    return { wallMs, cpuMs }
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

async function measureExecutor (): Promise<{ wallMs: number[], cpuMs: number[] }> {
  const executor = createExecutor({ workers: 1 })
  await executor.start()
  try {
    const wallMs: number[] = []
    const cpuMs: number[] = []
    for (let i = 0; i < RUNS; i++) {
      // the first run includes the lazy (TurboFan) compilation of the functions it calls
      const result = await executor.run({
        moduleCid: rawCid(primesWasm),
        module: primesWasm,
        stdin: new Uint8Array(0),
        args: [PRIMES_N],
        env: {},
        memoryMiB: 16,
        timeoutMs: 120_000,
        seed: sha256(new Uint8Array(0))
      })
      if (new TextDecoder().decode(result.stdout) !== EXPECTED) throw new Error(`executor primes: ${JSON.stringify(result)}`)
      wallMs.push(result.wallMs)
      cpuMs.push(result.cpuMs)
    }
    return { wallMs, cpuMs }
  } finally {
    await executor.stop()
  }
}

/**
 * The same job submitted by one node and run by another (in-process 2-node network on loopback):
 * wall is submit → verified result, cpu is what the worker reported.
 */
async function measureNetwork (): Promise<{ wallMs: number[], cpuMs: number[] }> {
  const net = await createTestnet({ nodes: 2, nodeInit: (i) => ({ capacity: { slots: i === 0 ? 0 : 1 } }) })
  try {
    const [requester] = net.nodes
    while ((await requester.findCapacity()).length < 1) await new Promise((resolve) => setTimeout(resolve, 100))
    const wallMs: number[] = []
    const cpuMs: number[] = []
    for (let i = 0; i < RUNS; i++) {
      const start = performance.now()
      const result = await (await requester.submitJob({ module: primesWasm, args: [PRIMES_N], memoryMiB: 16, timeoutMs: 120_000 })).result()
      wallMs.push(performance.now() - start)
      if (result.status !== 'completed' || new TextDecoder().decode(result.stdout) !== EXPECTED) throw new Error(`network primes: ${JSON.stringify(result.error)}`)
      cpuMs.push(result.workers[0].cpuMs ?? NaN)
    }
    return { wallMs, cpuMs }
  } finally {
    await net.stop()
  }
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
  console.log(`cpu bench: primes ${PRIMES_N}, ${RUNS} runs per column, ${await machine()}`)
  const rows: string[][] = []
  let nativeWall = NaN
  let nativeCpu = NaN
  for (const column of COLUMNS) {
    const m = await column.measure()
    if ('skipped' in m) {
      console.log(m.skipped)
      rows.push([column.name, '-', '-', '-', '-', '-'])
      continue
    }
    const wall = median(m.wallMs)
    const cpu = m.cpuMs === undefined ? NaN : median(m.cpuMs)
    if (rows.length === 0) {
      nativeWall = wall
      nativeCpu = cpu
    }
    rows.push([
      column.name,
      m.wallMs.map(formatMs).join(' / '),
      formatMs(wall),
      formatMs(cpu),
      formatRatio(wall / nativeWall),
      formatRatio(cpu / nativeCpu)
    ])
  }
  console.log(`\nprimes ${PRIMES_N} (wall times of the runs in order; ratios of medians to native)`)
  printTable(['how', 'runs (wall)', 'median wall', 'median cpu', 'wall vs native', 'cpu vs native'], rows)

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
