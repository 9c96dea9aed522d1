/**
 * Question: what does an idle node cost, and what does starting executor threads on the first
 * job (not at start) cost that job?
 *
 *   1. RSS of a standalone idle daemon (`depin start`, its own process, no peers, 20 s after
 *      start), run from the TypeScript sources (a checkout: Node strips the types, which costs
 *      memory of its own) and as an installed package (compiled, built here into
 *      .tmp/node_modules/depin and started through its bin/depin.js), next to a bare js-libp2p
 *      node with the same services (TCP, Noise, Yamux, identify, ping, kad-dht, gossipsub) in its
 *      own process: the baseline.
 *   2. First-job latency on a fresh worker, executor threads started lazily (the default) and
 *      eagerly (started with the node, as before), with the second job's latency: requester and
 *      worker are nodes in this process on loopback TCP.
 *   3. The same on a `depin start` daemon process (the checkout's), which idles in V8's size mode
 *      (src/node/v8-mode.ts) until the job arrives: what the size mode costs the first job.
 *
 *   node bench/idle.ts [trials]
 *
 * 2026-11-28 00:48 (load average 0.9 after a test run; main at aee50fb, whose size mode keeps
 * Maglev out with a filter no function passes instead of --no-maglev, see src/node/v8-mode.ts),
 * 1 trial: 105.9 MiB from sources, 97.8 MiB compiled, bare js-libp2p 99.4 MiB; first jobs
 * 35.5 / 160.6 / 366.1 ms, second 2.8 / 2.3 / 3.9 ms. (With Maglev simply left on in size mode
 * the compiled daemon was 101-102 MiB, with --no-maglev 98 MiB, in a series of the same hour.)
 *
 * Earlier results (2 cores, quiet: load average 0.6, Node 24.21, 2026-11-27 22:20, main with the
 * size mode of src/node/v8-mode.ts: V8's optimising compilers off and code that does not run
 * flushed at the first full GC), 3 trials:
 *   2 cores (AMD EPYC), Node 24.21.0, V8 13.6.233.17-node.53
 *   idle process (20 s after start, no peers)            RSS  threads
 *   ---------------------------------------------  ---------  -------
 *   depin start, TypeScript sources (a checkout)   111.9 MiB       11
 *   depin start, compiled (an installed package)    97.3 MiB       11
 *   bare js-libp2p node, same services (baseline)  100.3 MiB        7
 *
 *   echo job on a fresh 2-slot worker, median of 3  first job  second job
 *   ----------------------------------------------  ---------  ----------
 *   executor started with the node (before)           15.7 ms    2.220 ms
 *   executor started on the first job (now)          155.3 ms    2.954 ms
 *   a `depin start` daemon, idle in size mode        316.0 ms    8.434 ms
 * (The daemon's first job also loads the executor's TypeScript sources in two new threads.)
 * Again at 23:00, with the flushing flags set once instead of switched with the modes (load
 * average 4.7, a test run had just ended): 103.7 MiB from sources, 98.4 MiB compiled, bare
 * js-libp2p 100.1 MiB; first jobs 14.7 / 152.0 / 364.2 ms, second 2.3 / 5.7 / 3.6 ms.
 * Step by step, the same hour, RSS of the compiled daemon: 107.4 MiB with the size mode as it was
 * (`--optimize-for-size` alone, set once the node starts); 101.5 MiB with `--no-maglev
 * --no-turbofan` added and the mode entered before the daemon's modules load (switched on only
 * inside startDaemon, after they had loaded, it saved nothing: code V8 optimised during start-up
 * keeps its compilers paged in and its optimised code); 97.3 MiB with `--bytecode-old-age=1
 * --flush-baseline-code --memory-reducer-gc-count=4` (most of a daemon's code runs once, at
 * start; set once when the daemon starts and never switched: switched with the modes, they
 * crashed V8, see src/node/v8-mode.ts and test/v8-mode-stress.test.ts). What it costs: a daemon's first job, 6 fresh daemons each, 343-394 ms (median 355)
 * against 309-363 ms (median 341) with the old size mode, second jobs 3.3-7.3 against 3.1-9.4 ms;
 * a worker's CPU per task once the job switched V8 back is unchanged (bench/throughput, one batch
 * of 10,000, 1 worker process, two runs each: 0.37 / 0.33 ms against 0.34 ms; 2,883 / 3,194
 * tasks/s against 3,089).
 *
 * Earlier (20:40, before the size mode changed):
 *   depin start, TypeScript sources (a checkout)   118.3 MiB       11
 *   depin start, compiled (an installed package)   107.9 MiB       11
 *   bare js-libp2p node, same services (baseline)  100.4 MiB        7
 *   executor started with the node (before)           16.5 ms    2.076 ms
 *   executor started on the first job (now)          153.1 ms    2.627 ms
 *
 * The two fixes of 20:40: `node:http` is loaded with `require` (an ES import of it made Node
 * read its lazy WebSocket exports, which loads undici, Node's fetch stack: -1.3 MiB here, more in
 * client commands), and an installed daemon no longer reads V8's compile cache (bin/depin.js):
 * code from the cache is every function the caching run compiled, +7 MiB in an idle daemon (the
 * checkout keeps the cache: it spares the daemon the type stripper, -16 MiB). Before them, the
 * same hour: 111.0 MiB compiled (without the cache; 116 MiB with it), 130.2 MiB from sources.
 * On the scale branch alone (492d5e1, no leases, files or metering code): 126.9 / 100.7 MiB.
 * Before any of it (86a3312): 207 MiB from sources, 158 MiB compiled (2 executor threads
 * started with the node, libp2p's defaults, no --optimize-for-size).
 *
 * Where the 108 MiB went (smaps and V8's heap statistics): 52 MiB are pages of the node binary
 * itself (a bare `node` touches 30: importing libp2p's stack alone brings it to 42, ICU's
 * collation tables for libp2p's peer store's `localeCompare` 3 more), 37 MiB V8's heap (34 used:
 * 14 of it the source text of the loaded modules, 10 bytecode and other code), the rest malloc
 * arenas of 11 threads and native modules (LevelDB). Threads started on the first job cost that
 * job one worker thread's start-up, once per node; every later job finds them running.
 *
 * Where the 97 MiB go now (smaps and V8's heap statistics, 20 s after start): 49.8 MiB pages of
 * the node binary, 35.7 MiB anonymous (V8's heap: 32.9 MB committed, 30.4 MB used, most of it
 * the loaded modules' source text and objects), 7.7 MiB the main malloc arena (LevelDB, Node).
 * More size-mode flags measured and not taken: --stress-flush-code, --no-sparkplug (no change).
 *
 * Where the 101.5 MiB went before the code flushing (smaps, a heap snapshot, malloc_stats): 49
 * MiB pages of the node binary (47 with the flags on node's command line instead of set at run
 * time), 39.5 MiB anonymous (V8's heap, 36.6 MB committed, 34 MB used: 9.4 MiB of it module
 * source text, zod's 1,029 schema objects, 815 ES modules' records), 7-8 MiB the main malloc
 * arena. Tried and not taken (same machine, same hour, RSS in MB): the daemon bundled and
 * minified with esbuild (V8's heap -6.4 MiB, but parsing the big chunks grew the main malloc
 * arena by 8 MiB: 107 MB, worse), no OpenAPI plugin (-0.8 MB), MALLOC_ARENA_MAX=2 (-0.8 MB),
 * UV_THREADPOOL_SIZE=2 (none), --single-threaded-gc (none), the size flags on node's command
 * line through bin/depin.js's shell line (-1 MB, for one way of starting only).
 */
import { spawn, spawnSync } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { copyFileSync, cpSync, existsSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { createComputeNode } from '../src/node/compute-node.ts'
import { testnetGenesis } from '../src/node/testnet.ts'
import type { GenesisConfig } from '../src/ledger/index.ts'
import { createExecutor } from '../src/scheduler/executor/index.ts'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { formatMs, machine, median, printTable } from './lib.ts'
import { startWorkerDaemon } from './lib-daemon.ts'

const TRIALS = Number(process.argv[2] ?? 5)
const IDLE_MS = 20_000
const BIN = fileURLToPath(new URL('../bin/depin.js', import.meta.url))
const echo = new Uint8Array(await readFile(new URL('../examples/echo.wasm', import.meta.url)))

const BARE_LIBP2P = `
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@libp2p/noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { kadDHT } from '@libp2p/kad-dht'
import { gossipsub } from '@libp2p/gossipsub'
await createLibp2p({
  addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
  transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux()],
  services: { identify: identify(), ping: ping(), dht: kadDHT({ clientMode: false }), pubsub: gossipsub() }
})
console.log('ready')
`

function status (pid: number): { rssMiB: number, threads: number } {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8')
  const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? NaN)
  return { rssMiB: field('VmRSS') / 1024, threads: field('Threads') }
}

/** Starts a process, waits `IDLE_MS` after it is up, reads its RSS and threads, kills it. */
async function idleProcess (args: string[], cwd: string, ready: (out: string) => boolean): Promise<{ rssMiB: number, threads: number }> {
  const child = spawn(process.execPath, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout.on('data', (d: Buffer) => { out += d.toString() })
  child.stderr.on('data', (d: Buffer) => { out += d.toString() })
  try {
    const deadline = Date.now() + 60_000
    while (!ready(out)) {
      if (child.exitCode != null || Date.now() > deadline) throw new Error(`process did not start: ${out.slice(-500)}`)
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    await new Promise((resolve) => setTimeout(resolve, IDLE_MS))
    return status(child.pid as number)
  } finally {
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill('SIGTERM')
    await exited
  }
}

const ROOT = fileURLToPath(new URL('..', import.meta.url))
/**
 * An installed package: the build in dist/, bin/depin.js and package.json beside it, under a
 * node_modules folder (bin/depin.js runs dist/ there, as it does after `npm install`; its
 * dependencies resolve from the project's node_modules further up).
 */
const PACKAGE = join(ROOT, '.tmp', 'node_modules', 'depin')
const DIST = join(PACKAGE, 'dist')

/** Compiles the sources into the package's dist/ and returns its bin/depin.js. */
function buildPackage (): string {
  const result = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', DIST], { stdio: 'inherit' })
  if (result.status !== 0) throw new Error('build failed')
  copyFileSync(join(ROOT, 'package.json'), join(PACKAGE, 'package.json'))
  for (const dir of ['bin', 'dashboard', 'examples']) cpSync(join(ROOT, dir), join(PACKAGE, dir), { recursive: true })
  return join(PACKAGE, 'bin', 'depin.js')
}

async function daemonRss (entry = BIN): Promise<{ rssMiB: number, threads: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'depin-idle-'))
  try {
    const key = await generateKeyPair('Ed25519')
    await writeFile(join(dir, 'identity.key'), privateKeyToProtobuf(key), { mode: 0o600 })
    await writeFile(join(dir, 'config.json'), JSON.stringify({ listen: ['/ip4/127.0.0.1/tcp/0'], api: '127.0.0.1:0', mdns: false, testnet: true }))
    return await idleProcess([entry, 'start', '--data-dir', dir], dir, () => existsSync(join(dir, 'api.json')))
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

async function bareRss (): Promise<{ rssMiB: number, threads: number }> {
  // Written inside the project so its imports resolve from node_modules.
  const path = fileURLToPath(new URL('./.bare-libp2p.tmp.mjs', import.meta.url))
  await writeFile(path, BARE_LIBP2P)
  try {
    return await idleProcess([path], fileURLToPath(new URL('..', import.meta.url)), (out) => out.includes('ready'))
  } finally {
    await rm(path, { force: true })
  }
}

interface Worker { peerId: string, multiaddr: string, stop: () => Promise<void> }

/**
 * A fresh worker (from `startWorker`) and a requester in this process; the latency of the
 * worker's first and second job.
 */
async function firstJob (startWorker: (key: PrivateKey, network: GenesisConfig) => Promise<Worker>): Promise<{ first: number, second: number }> {
  const [rk, wk] = await Promise.all([generateKeyPair('Ed25519'), generateKeyPair('Ed25519')])
  const network = testnetGenesis([rk, wk].map((k) => k.publicKey.toString()))
  const worker = await startWorker(wk, network)
  const requester = createComputeNode({ privateKey: rk, network, listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, testnet: true, capacity: { slots: 0 }, bootstrap: [worker.multiaddr] })
  await requester.start()
  try {
    while (requester.services().capacity.cached().length === 0) await new Promise((resolve) => setTimeout(resolve, 20))
    const run = async (text: string): Promise<number> => {
      const start = performance.now()
      const result = await (await requester.submitJob({ module: echo, input: new TextEncoder().encode(text), peers: [worker.peerId] })).result()
      if (result.status !== 'completed') throw new Error(`job ${result.status}`)
      return performance.now() - start
    }
    return { first: await run('first'), second: await run('second') }
  } finally {
    await requester.stop()
    await worker.stop()
  }
}

/** A worker node in this process, its executor threads started with it (eager) or on its first job. */
const inProcessWorker = (eager: boolean) => async (key: PrivateKey, network: GenesisConfig): Promise<Worker> => {
  const node = createComputeNode({
    privateKey: key, network, listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, testnet: true, capacity: { slots: 2 },
    ...(eager ? { executor: createExecutor({ workers: 2 }) } : {})
  })
  await node.start()
  return { peerId: node.peerId, multiaddr: node.multiaddrs[0], stop: async () => { await node.stop() } }
}

/** A `depin start` daemon process (idle in V8's size mode until the job comes: src/node/v8-mode.ts). */
async function daemonWorker (key: PrivateKey, network: GenesisConfig): Promise<Worker> {
  const dir = await mkdtemp(join(tmpdir(), 'depin-first-'))
  const daemon = await startWorkerDaemon(dir, key, network, { capacity: { slots: 2 } })
  return {
    peerId: peerIdFromPrivateKey(key).toString(),
    multiaddr: daemon.multiaddr,
    stop: async () => {
      await daemon.stop()
      await rm(dir, { recursive: true, force: true })
    }
  }
}

console.log(await machine())
const daemon = await daemonRss()
const built = await daemonRss(buildPackage())
const bare = await bareRss()
printTable(['idle process (20 s after start, no peers)', 'RSS', 'threads'], [
  ['depin start, TypeScript sources (a checkout)', `${daemon.rssMiB.toFixed(1)} MiB`, daemon.threads],
  ['depin start, compiled (an installed package)', `${built.rssMiB.toFixed(1)} MiB`, built.threads],
  ['bare js-libp2p node, same services (baseline)', `${bare.rssMiB.toFixed(1)} MiB`, bare.threads]
])
console.log('')
const rows: string[][] = []
const workers: Array<[string, (key: PrivateKey, network: GenesisConfig) => Promise<Worker>]> = [
  ['executor started with the node (before)', inProcessWorker(true)],
  ['executor started on the first job (now)', inProcessWorker(false)],
  ['a `depin start` daemon, idle in size mode', daemonWorker]
]
for (const [label, startWorker] of workers) {
  const firsts: number[] = []
  const seconds: number[] = []
  for (let i = 0; i < TRIALS; i++) {
    const { first, second } = await firstJob(startWorker)
    firsts.push(first)
    seconds.push(second)
  }
  rows.push([label, formatMs(median(firsts)), formatMs(median(seconds))])
}
printTable([`echo job on a fresh 2-slot worker, median of ${TRIALS}`, 'first job', 'second job'], rows)
