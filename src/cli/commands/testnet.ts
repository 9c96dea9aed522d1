/**
 * `depin testnet`: N daemons as separate processes on loopback, each with its own data dir under
 * DIR, bootstrapped to node 0, all sharing one API token (DIR/api-token). Writes DIR/testnet.json
 * and stops them all on Ctrl-C. With `--transport memory` (the default above
 * `TESTNET_PROCESS_NODES_MAX` nodes) the daemons run in this process instead (testnet-in-process.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createWriteStream, existsSync } from 'node:fs'
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { configFileSchema, writeConfigFile, type ConfigFile } from '../../node/config.ts'
import { dataDirPaths, loadOrCreateApiToken, loadOrCreateIdentity, readApiInfo, readLiveApiInfo, removeApiInfo, type ApiInfo } from '../../node/data-dir.ts'
import { isStoreLocked } from '../../node/storage.ts'
import { DepinError } from '../../errors.ts'
import { UsageError } from '../errors.ts'
import { notADirectoryText } from '../path-in-the-way.ts'
import { testnetGenesis } from '../../node/testnet.ts'
import type { GenesisConfig } from '../../ledger/index.ts'
import { line, printJson, printTable } from '../output.ts'
import { stopTestnetOnSignal } from '../interrupt.ts'
import type { TestnetOptions } from '../program.ts'
import { START_ENV } from '../start-env.ts'
import { TESTNET_PROCESS_NODES_MAX } from '../../node/constants.ts'
import { runUntilSignal, startInProcess } from './testnet-in-process.ts'

export interface TestnetNodeInfo {
  peerId: string
  api: string
  multiaddrs: string[]
  dataDir: string
}

/** A testnet node did not come up. */
export class TestnetStartError extends DepinError {
  constructor (message: string) {
    super(message, 'ERR_TESTNET_START')
  }
}

/** A node of the testnet in DIR is still running: a second testnet there would break it. */
export class TestnetInUseError extends DepinError {
  constructor (dir: string, dataDir: string, detail: string) {
    super(`testnet ${dir} is in use: its node ${dataDir} is running${detail}; stop that testnet first (Ctrl-C where it runs) or use another --dir`, 'ERR_TESTNET_IN_USE')
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
    if (live != null) throw new TestnetInUseError(dir, dataDir, ` (pid ${live.pid}, API ${live.api})`)
    if (await isStoreLocked(dataDirPaths(dataDir).db)) throw new TestnetInUseError(dir, dataDir, ' (its database is locked by another process)')
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

/** Prepares node i's data dir: identity, shared token, testnet config. Returns its peer id. */
async function prepareNode (dir: string, index: number, token: string, basePort: number | undefined, extra: Partial<ConfigFile>): Promise<{ dataDir: string, peerId: string }> {
  const dataDir = join(dir, `node-${index}`)
  const { privateKey } = await loadOrCreateIdentity(dataDir)
  await writeFile(dataDirPaths(dataDir).apiToken, token + '\n', { mode: 0o600 })
  const tcpPort = basePort != null ? basePort + 2 * index : 0
  const apiPort = basePort != null ? basePort + 2 * index + 1 : 0
  await writeConfigFile(dataDir, configFileSchema.parse({
    listen: [`/ip4/127.0.0.1/tcp/${tcpPort}`],
    api: `127.0.0.1:${apiPort}`,
    mdns: false,
    testnet: true,
    ...extra
  }))
  await removeApiInfo(dataDir)
  return { dataDir, peerId: privateKey.publicKey.toString() }
}

/**
 * The testnet's ledger network, kept in DIR/genesis.json so a restarted testnet keeps its chain;
 * made afresh when the set of nodes changed.
 */
async function testnetNetwork (dir: string, peers: string[]): Promise<GenesisConfig> {
  const path = join(dir, 'genesis.json')
  try {
    const existing = JSON.parse(await readFile(path, 'utf8')) as GenesisConfig
    const allocated = Object.keys(existing.allocations ?? {}).sort()
    if (JSON.stringify(allocated) === JSON.stringify([...peers].sort())) return existing
  } catch {}
  const network = testnetGenesis(peers)
  // A new network: chains of an earlier one in these data dirs are void.
  await Promise.all(peers.map(async (_, i) => { await rm(dataDirPaths(join(dir, `node-${i}`)).db, { recursive: true, force: true }) }))
  await writeFile(path, JSON.stringify(network, null, 2) + '\n')
  return network
}

async function waitForApiInfo (dataDir: string, child: ChildProcess, logPath: string): Promise<ApiInfo> {
  const deadline = Date.now() + READY_TIMEOUT_MS
  while (Date.now() < deadline) {
    if (child.exitCode != null || child.signalCode != null) {
      const log = await readFile(logPath, 'utf8').catch(() => '')
      const last = log.trim().split('\n').slice(-1)[0] ?? ''
      throw new TestnetStartError(`node in ${dataDir} exited during start-up: ${last} (log: ${logPath})`)
    }
    const info = await readApiInfo(dataDir)
    if (info != null && info.pid === child.pid) return info
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new TestnetStartError(`node in ${dataDir} did not start within ${READY_TIMEOUT_MS / 1000} s (log: ${logPath})`)
}

function spawnNode (dataDir: string, bootstrap: string[], mine: boolean): { child: ChildProcess, logPath: string } {
  const logPath = join(dataDir, 'daemon.log')
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
  return { child, logPath }
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

export async function testnetCommand (opts: TestnetOptions): Promise<void> {
  const dir = resolve(opts.dir ?? 'testnet')
  // Before anything is written or removed: a running testnet here keeps its data dirs.
  await assertTestnetNotRunning(dir)
  await mkdir(dir, { recursive: true, mode: 0o700 })
  const token = await loadOrCreateApiToken(dir)
  // Identities first, so the genesis can give every node credits to pay for jobs at once.
  const peers: string[] = []
  for (let i = 0; i < opts.nodes; i++) peers.push((await loadOrCreateIdentity(join(dir, `node-${i}`))).privateKey.publicKey.toString())
  const network = await testnetNetwork(dir, peers)
  const prepared: Array<{ dataDir: string, peerId: string }> = []
  for (let i = 0; i < opts.nodes; i++) prepared.push(await prepareNode(dir, i, token, opts.basePort, { network }))
  if ((opts.transport ?? (opts.nodes > TESTNET_PROCESS_NODES_MAX ? 'memory' : 'tcp')) === 'memory') {
    const run = await startInProcess(prepared, opts.mine === true)
    await writeFile(join(dir, 'testnet.json'), JSON.stringify({ nodes: run.nodes }, null, 2) + '\n')
    await runUntilSignal(dir, run.nodes, run.stop, opts)
    return
  }

  const children: ChildProcess[] = []
  const nodes: TestnetNodeInfo[] = []
  let shuttingDown = false
  const shutdown = async (): Promise<void> => {
    shuttingDown = true
    await stopAll(children)
  }
  try {
    const first = spawnNode(prepared[0].dataDir, [], opts.mine === true)
    children.push(first.child)
    const firstInfo = await waitForApiInfo(prepared[0].dataDir, first.child, first.logPath)
    const seed = (firstInfo.multiaddrs ?? []).slice(0, 1)
    const rest = prepared.slice(1).map((p) => ({ ...spawnNode(p.dataDir, seed, false), dataDir: p.dataDir }))
    children.push(...rest.map((r) => r.child))
    const infos = [firstInfo, ...await Promise.all(rest.map(async (r) => await waitForApiInfo(r.dataDir, r.child, r.logPath)))]
    infos.forEach((info, i) => nodes.push({ peerId: info.peerId, api: info.api, multiaddrs: info.multiaddrs ?? [], dataDir: prepared[i].dataDir }))
  } catch (err) {
    await shutdown()
    throw err
  }
  // The signal handlers go in before testnet.json exists: whoever waits for the file to stop the
  // testnet with a signal must find them installed.
  const done = new Promise<void>((resolveDone, rejectDone) => {
    for (const [i, child] of children.entries()) {
      child.once('exit', (code, signal) => {
        if (shuttingDown) return
        process.stderr.write(`depin: testnet node ${i} exited unexpectedly (${signal ?? `code ${code}`}); see ${join(nodes[i].dataDir, 'daemon.log')}\n`)
        if (children.every((c) => c.exitCode != null || c.signalCode != null)) {
          rejectDone(new TestnetStartError('every testnet node has exited'))
        }
      })
    }
    stopTestnetOnSignal(shutdown).then(resolveDone, rejectDone)
  })
  done.catch(() => {}) // awaited below; a rejection before that is not unhandled
  await writeFile(join(dir, 'testnet.json'), JSON.stringify({ nodes }, null, 2) + '\n')

  if (opts.json === true) {
    printJson({ nodes })
  } else {
    printTable(['NODE', 'PEER ID', 'API', 'DATA DIR'], nodes.map((n, i) => [i, n.peerId, n.api, n.dataDir]))
    line('')
    line(`testnet of ${nodes.length} node(s) running; wrote ${join(dir, 'testnet.json')}`)
    line(`talk to node 0 with: npx depin status --data-dir ${nodes[0].dataDir}`)
    line('press Ctrl-C to stop all nodes')
  }

  await done
}
