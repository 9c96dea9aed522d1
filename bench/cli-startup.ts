/**
 * Question: how long does a client command take, start to exit, and how much of that is Node.js
 * starting at all? (Target: `depin status` under 300 ms on this machine.)
 *
 * A daemon runs in the background (`depin start` on a temporary data dir); each sample runs one
 * process, interleaved so machine load hits all alike: `node -e ''` (the baseline: Node 24
 * starting and exiting), `depin version` (the CLI without a request), `depin status` (the CLI,
 * one API request, a printed answer). Every process is the bin as a user runs it (through its
 * shebang, which picks the pinned Node).
 *
 *   node bench/cli-startup.ts [runs]
 *
 * Latest results (2 cores, load average 11 from other work, Node 24.21, 2026-11-27), 30 runs each:
 *   command             p50       p90      min
 *   node -e ''      31.4 ms   49.2 ms  20.2 ms
 *   depin version   67.7 ms  102.8 ms  46.4 ms
 *   depin status   113.3 ms  233.1 ms  84.8 ms
 *   depin status minus node startup at p50: 81.9 ms (before: 1.7-2.0 s, all of libp2p loaded)
 *
 * Quiet machine (load average 1.3), 2026-11-27 20:32, 30 runs each, after `node:http` is loaded
 * with `require` (an ES import of it loaded undici, Node's fetch stack, in every command):
 *   command             p50       p90      min
 *   node -e ''      21.2 ms   22.4 ms  19.2 ms
 *   depin version   41.4 ms   43.1 ms  37.2 ms
 *   depin status    54.7 ms   55.8 ms  51.3 ms   (a second round 58.6 ms)
 * The commit before it, right before in the same conditions: depin status p50 63.2 ms (p90
 * 66.8 ms), 43.2 ms over node -e ''; after: 33.5-36.0 ms over it.
 */
import { spawn, spawnSync } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { formatMs, machine, printTable, summarize } from './lib.ts'

const BIN = fileURLToPath(new URL('../bin/depin.js', import.meta.url))
const NODE = fileURLToPath(new URL('../node_modules/.bin/node', import.meta.url))
const runs = Number(process.argv[2] ?? 30)

function timed (command: string, args: string[]): number {
  const start = performance.now()
  const result = spawnSync(command, args, { stdio: ['ignore', 'ignore', 'pipe'] })
  const ms = performance.now() - start
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${result.stderr.toString()}`)
  return ms
}

const dir = await mkdtemp(join(tmpdir(), 'depin-bench-cli-'))
const dataDir = join(dir, 'node')
timed(BIN, ['init', '--data-dir', dataDir, '--listen', '/ip4/127.0.0.1/tcp/0', '--api', '127.0.0.1:0'])
const daemon = spawn(BIN, ['start', '--data-dir', dataDir, '--no-mdns'], { stdio: 'ignore' })
try {
  const deadline = Date.now() + 60_000
  while (Date.now() < deadline) {
    try {
      JSON.parse(await readFile(join(dataDir, 'api.json'), 'utf8'))
      break
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }
  // Warm the page cache and V8's compile cache once, as any second run of a command is.
  timed(BIN, ['status', '--data-dir', dataDir])
  const samples = { node: [] as number[], version: [] as number[], status: [] as number[] }
  for (let i = 0; i < runs; i++) {
    samples.node.push(timed(NODE, ['-e', '']))
    samples.version.push(timed(BIN, ['version']))
    samples.status.push(timed(BIN, ['status', '--data-dir', dataDir]))
  }
  console.log(`${await machine()}; ${runs} runs each, interleaved`)
  const rows = Object.entries({ "node -e ''": samples.node, 'depin version': samples.version, 'depin status': samples.status }).map(([name, s]) => {
    const sum = summarize(s)
    return [name, formatMs(sum.p50), formatMs(sum.p90), formatMs(sum.min)]
  })
  printTable(['command', 'p50', 'p90', 'min'], rows)
  const statusP50 = summarize(samples.status).p50
  const nodeP50 = summarize(samples.node).p50
  console.log(`depin status minus node startup at p50: ${formatMs(statusP50 - nodeP50)}; target: status under 300 ms: ${statusP50 < 300 ? 'met' : 'NOT met'}`)
} finally {
  daemon.kill('SIGTERM')
  await new Promise((resolve) => daemon.once('exit', resolve))
  await rm(dir, { recursive: true, force: true })
}
