/**
 * `depin testnet`: N daemons as separate processes on loopback, each with its own data dir under
 * DIR, bootstrapped to node 0, all sharing one API token (DIR/api-token). Writes DIR/testnet.json
 * and stops them all on Ctrl-C. With `--transport memory` (the default above
 * `TESTNET_PROCESS_NODES_MAX` nodes) the daemons run in this process instead (testnet-in-process.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createWriteStream, existsSync, statSync } from 'node:fs'
import { readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { makeDir, MakeDirError } from '../../shared/make-dir.ts'
import { configFileSchema, readConfigFile, writeConfigFile, type ConfigFile } from '../../node/config.ts'
import { dataDirPaths, loadOrCreateApiToken, loadOrCreateIdentity, readApiInfo, readLiveApiInfo, removeApiInfo, type ApiInfo } from '../../node/data-dir.ts'
import { isStoreLocked } from '../../node/storage.ts'
import { DepinError } from '../../errors.ts'
import { UsageError } from '../errors.ts'
import { notADirectoryText } from '../path-in-the-way.ts'
import { lockTestnetDir, testnetNetwork } from '../../node/testnet-dir.ts'
import { TestnetInUseError } from '../../node/errors.ts'
import { printJson, printTable } from '../output.ts'
import { watchTestnetSignals, type TestnetSignals } from '../interrupt.ts'
import type { TestnetOptions } from '../program.ts'
import { START_ENV } from '../start-env.ts'
import { TESTNET_PROCESS_NODES_MAX } from '../../node/constants.ts'

export { TestnetInUseError }

export interface TestnetNodeInfo {
  peerId: string
  api: string
  multiaddrs: string[]
  dataDir: string
}

/** A testnet node did not come up. */
export class TestnetStartError extends DepinError {
  constructor (message: string, options?: ErrorOptions) {
    super(message, 'ERR_TESTNET_START', options)
  }
}

/**
 * Refuses when any node-* data dir under DIR has a live owner: a running daemon's api.json (its
 * pid alive) or its database's lock (what `depin start` refuses on). Changes nothing.
 */
async function assertTestnetNotRunning (dir: string): Promise<void> {
  let entries: string[]
  try {
    entries = await readdir(dir)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT') return
    const inTheWay = code === 'ENOTDIR' ? await notADirectoryText(dir) : undefined
    if (inTheWay != null) throw new UsageError(`--dir ${inTheWay}`)
    throw err
  }
  const nodeDirs = entries.filter((name) => /^node-\d+$/.test(name)).sort((a, b) => Number(a.slice(5)) - Number(b.slice(5)))
  for (const name of nodeDirs) {
    const dataDir = join(dir, name)
    const live = await readLiveApiInfo(dataDir)
    if (live != null) throw new TestnetInUseError(dir, `its node ${dataDir} is running (pid ${live.pid}, API ${live.api})`)
    if (await isStoreLocked(dataDirPaths(dataDir).db)) throw new TestnetInUseError(dir, `its node ${dataDir} is running (its database is locked by another process)`)
  }
}

const READY_TIMEOUT_MS = 60_000
const STOP_TIMEOUT_MS = 15_000

/** The package's `bin/depin.js`, found by walking up from this file. */
function cliEntry (): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  while (!existsSync(join(dir, 'package.json')) || !existsSync(join(dir, 'bin', 'depin.js'))) {
    const parent = dirname(dir)
    if (parent === dir) throw new TestnetStartError('cannot find bin/depin.js of this installation')
    dir = parent
  }
  return join(dir, 'bin', 'depin.js')
}

/**
 * Prepares node i's data dir: identity, shared token, testnet config. The node's addresses come
 * from the testnet; the rest of a config.json it already has (a tester's `depin config set
 * capacity.slots 0 --data-dir D/node-0`) is kept. Returns its peer id.
 */
async function prepareNode (dir: string, index: number, token: string, basePort: number | undefined, extra: Partial<ConfigFile>): Promise<{ dataDir: string, peerId: string }> {
  const dataDir = join(dir, `node-${index}`)
  const { privateKey } = await loadOrCreateIdentity(dataDir)
  await writeFile(dataDirPaths(dataDir).apiToken, token + '\n', { mode: 0o600 })
  const tcpPort = basePort != null ? basePort + 2 * index : 0
  const apiPort = basePort != null ? basePort + 2 * index + 1 : 0
  // A config.json that cannot be read (damaged, or from another version) is replaced.
  const kept = existsSync(dataDirPaths(dataDir).config) ? await readConfigFile(dataDir).catch(() => undefined) : undefined
  await writeConfigFile(dataDir, configFileSchema.parse({
    ...kept,
    listen: [`/ip4/127.0.0.1/tcp/${tcpPort}`],
    announce: [],
    bootstrap: [],
    api: `127.0.0.1:${apiPort}`,
    mdns: false,
    testnet: true,
    ...extra
  }))
  await removeApiInfo(dataDir)
  return { dataDir, peerId: privateKey.publicKey.toString() }
}

/** Sleeps `ms`, or throws the signal's reason as soon as it aborts. */
async function pause (ms: number, signal: AbortSignal): Promise<void> {
  await sleep(ms, undefined, { signal }).catch(() => { signal.throwIfAborted() })
}

async function waitForApiInfo (node: SpawnedNode, signal: AbortSignal): Promise<ApiInfo> {
  const deadline = Date.now() + READY_TIMEOUT_MS
  while (Date.now() < deadline) {
    signal.throwIfAborted()
    const { child, dataDir, logPath } = node
    if (child.exitCode != null || child.signalCode != null) {
      // This run's lines only: the log is appended to across runs.
      const log = await readFile(logPath).then((bytes) => bytes.subarray(node.logStart).toString('utf8'), () => '')
      const last = log.trim().split('\n').slice(-1)[0] ?? ''
      throw new TestnetStartError(`node in ${dataDir} exited during start-up${last !== '' ? `: ${last}` : ` (${child.signalCode ?? `code ${child.exitCode}`})`} (log: ${logPath})`)
    }
    const info = await readApiInfo(dataDir)
    if (info != null && info.pid === child.pid) return info
    await pause(100, signal)
  }
  throw new TestnetStartError(`node in ${node.dataDir} did not start within ${READY_TIMEOUT_MS / 1000} s (log: ${node.logPath})`)
}

interface SpawnedNode { child: ChildProcess, dataDir: string, logPath: string, logStart: number }

function spawnNode (dataDir: string, bootstrap: string[], mine: boolean): SpawnedNode {
  const logPath = join(dataDir, 'daemon.log')
  const logStart = existsSync(logPath) ? statSync(logPath).size : 0
  const out = createWriteStream(logPath, { flags: 'a' })
  const args = [cliEntry(), 'start', '--data-dir', dataDir, ...bootstrap.flatMap((b) => ['--bootstrap', b]), ...(mine ? ['--mine'] : [])]
  // The nodes take their settings from their config.json: the caller's DEPIN_* start variables
  // (DEPIN_API, DEPIN_LISTEN, …) would give every node the same address.
  const env = { ...process.env }
  for (const [variable] of Object.values(START_ENV)) delete env[variable]
  // Children stay in this process group: a terminal's Ctrl-C reaches them too, and `depin start`
  // ignores the SIGTERM that follows from here while it is already stopping.
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env })
  child.stdout?.pipe(out)
  child.stderr?.pipe(out)
  return { child, dataDir, logPath, logStart }
}

async function stopAll (children: ChildProcess[]): Promise<void> {
  await Promise.all(children.map(async (child) => {
    if (child.exitCode != null || child.signalCode != null) return
    const exited = new Promise<void>((resolve) => child.once('exit', () => { resolve() }))
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS)
    await exited
    clearTimeout(timer)
  }))
}

/** Where the testnet's own lines go: stdout, or stderr with --json (stdout is then testnet.json's JSON alone). */
export function testnetSay (opts: TestnetOptions): (text: string) => void {
  const stream = opts.json === true ? process.stderr : process.stdout
  return (text) => { stream.write(text + '\n') }
}

export async function testnetCommand (opts: TestnetOptions): Promise<void> {
  const dir = resolve(opts.dir ?? 'testnet')
  const say = testnetSay(opts)
  // Before anything is written or removed: a running testnet here keeps its data dirs.
  await assertTestnetNotRunning(dir)
  await makeDir(dir, { mode: 0o700 }).catch((err: unknown) => {
    throw new TestnetStartError(`cannot create the testnet directory ${dir}: ${err instanceof MakeDirError ? err.reason : (err as Error).message}`)
  })
  const releaseLock = await lockTestnetDir(dir).catch((err: unknown) => {
    if (err instanceof TestnetInUseError) throw err
    throw new TestnetStartError(`cannot write in the testnet directory ${dir}: ${(err as Error).message}`)
  })
  // From here on a signal stops what has started (the nodes, and then this process) cleanly.
  const signals = watchTestnetSignals(say)
  try {
    // A testnet.json of an earlier run names nodes that are gone: whoever waits for the file must see this run's.
    await rm(join(dir, TESTNET_FILE), { force: true })
    const token = await loadOrCreateApiToken(dir)
    // Identities first, so the genesis can give every node credits to pay for jobs at once.
    const peers: string[] = []
    for (let i = 0; i < opts.nodes; i++) peers.push((await loadOrCreateIdentity(join(dir, `node-${i}`))).privateKey.publicKey.toString())
    const network = await testnetNetwork(dir, peers)
    const prepared: Array<{ dataDir: string, peerId: string }> = []
    for (let i = 0; i < opts.nodes; i++) prepared.push(await prepareNode(dir, i, token, opts.basePort, { network }))
    const memory = (opts.transport ?? (opts.nodes > TESTNET_PROCESS_NODES_MAX ? 'memory' : 'tcp')) === 'memory'
    if (memory) await runInProcess(dir, prepared, opts, signals, say)
    else await runProcesses(dir, prepared, opts, signals, say)
  } catch (err) {
    if (!signals.signal.aborted) throw err
    // Stopped by a signal while starting: what had started is stopped.
    say('all nodes stopped')
  } finally {
    signals.release()
    await rm(join(dir, TESTNET_FILE), { force: true }).catch(() => {})
    await releaseLock()
  }
}

/** testnet.json: the running testnet's nodes; removed when it stops. */
const TESTNET_FILE = 'testnet.json'

async function runInProcess (dir: string, prepared: Array<{ dataDir: string }>, opts: TestnetOptions, signals: TestnetSignals, say: (text: string) => void): Promise<void> {
  // Loaded only here: the daemon's code (libp2p, the executor, the API) is not needed in this
  // process when the nodes are processes of their own (it more than doubled this process's RSS).
  const { runUntilSignal, startInProcess } = await import('./testnet-in-process.ts')
  const run = await startInProcess(prepared, { mine: opts.mine === true, signal: signals.signal, logToStderr: opts.json === true })
  await writeFile(join(dir, TESTNET_FILE), JSON.stringify({ nodes: run.nodes }, null, 2) + '\n')
  await runUntilSignal(dir, run, opts, signals, say)
}

async function runProcesses (dir: string, prepared: Array<{ dataDir: string }>, opts: TestnetOptions, signals: TestnetSignals, say: (text: string) => void): Promise<void> {
  const { signal } = signals
  const children: ChildProcess[] = []
  const nodes: TestnetNodeInfo[] = []
  let shuttingDown = false
  const shutdown = async (): Promise<void> => {
    shuttingDown = true
    await stopAll(children)
  }
  try {
    signal.throwIfAborted()
    const first = spawnNode(prepared[0].dataDir, [], opts.mine === true)
    children.push(first.child)
    const firstInfo = await waitForApiInfo(first, signal)
    signal.throwIfAborted()
    const seed = (firstInfo.multiaddrs ?? []).slice(0, 1)
    const rest = prepared.slice(1).map((p) => spawnNode(p.dataDir, seed, false))
    children.push(...rest.map((r) => r.child))
    const infos = [firstInfo, ...await Promise.all(rest.map(async (r) => await waitForApiInfo(r, signal)))]
    infos.forEach((info, i) => nodes.push({ peerId: info.peerId, api: info.api, multiaddrs: info.multiaddrs ?? [], dataDir: prepared[i].dataDir }))
  } catch (err) {
    await shutdown()
    throw err
  }
  // Every node's end is watched before testnet.json exists: a node stopped on its own (`depin
  // stop --data-dir D/node-i`, exit 0) or one that failed is said at once; the testnet ends when
  // all have (an error unless every one stopped cleanly).
  const ended = new Promise<void>((resolveEnded, rejectEnded) => {
    for (const [i, child] of children.entries()) {
      child.once('exit', (code, exitSignal) => {
        if (shuttingDown) return
        const log = join(nodes[i].dataDir, 'daemon.log')
        if (code === 0) process.stderr.write(`depin: testnet node ${i} stopped (exit code 0: \`depin stop\` or a signal of its own); see ${log}\n`)
        else process.stderr.write(`depin: testnet node ${i} exited unexpectedly (${exitSignal ?? `code ${code}`}); see ${log}\n`)
        if (children.every((c) => c.exitCode != null || c.signalCode != null)) {
          if (children.every((c) => c.exitCode === 0)) resolveEnded()
          else rejectEnded(new TestnetStartError('every testnet node has exited'))
        }
      })
    }
  })
  ended.catch(() => {}) // awaited below; a rejection before that is not unhandled
  await writeFile(join(dir, TESTNET_FILE), JSON.stringify({ nodes }, null, 2) + '\n')
  if (opts.json === true) {
    printJson({ nodes })
  } else {
    printTable(['NODE', 'PEER ID', 'API', 'DATA DIR'], nodes.map((n, i) => [i, n.peerId, n.api, n.dataDir]))
    say('')
    say(`testnet of ${nodes.length} node(s) running; wrote ${join(dir, TESTNET_FILE)}`)
    say(`talk to node 0 with: npx depin status --data-dir ${nodes[0].dataDir}`)
    say('press Ctrl-C to stop all nodes')
  }
  await Promise.race([signals.signalled, ended])
  await shutdown()
  say('all nodes stopped')
}
