/** Runs the real `depin` command in child processes. */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { testnetGenesis } from '../src/node/testnet.ts'
import { readApiInfo } from '../src/node/data-dir.ts'
import { waitFor } from './helpers.ts'

export const BIN = fileURLToPath(new URL('../bin/depin.js', import.meta.url))

export interface CliResult { code: number | null, stdout: string, stderr: string }

export function runCli (args: string[], options: { env?: Record<string, string>, timeoutMs?: number, input?: Uint8Array, cwd?: string } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...options.env }, stdio: ['pipe', 'pipe', 'pipe'], cwd: options.cwd })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d) => { stdout += d })
    child.stderr.setEncoding('utf8').on('data', (d) => { stderr += d })
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`depin ${args.join(' ')} did not finish in time; stderr: ${stderr}`)) }, options.timeoutMs ?? 60_000)
    child.on('exit', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }) })
    child.stdin.end(options.input)
  })
}

/** GETs a JSON answer from the API of the daemon running on `dataDir` (its api.json and token). */
/** The name of the i-th of `writeTaskInputs`' files (`t000`, `t001`, ...). */
export const taskInputName = (i: number): string => `t${String(i).padStart(3, '0')}`

/** A folder `dir` of `count` map inputs, the i-th named `taskInputName(i)` holding `task i\n`. */
export async function writeTaskInputs (dir: string, count: number): Promise<string> {
  await mkdir(dir, { recursive: true })
  for (let i = 0; i < count; i++) await writeFile(join(dir, taskInputName(i)), `task ${i}\n`)
  return dir
}

export async function daemonGet<T = any> (dataDir: string, path: string): Promise<T> {
  const info = await readApiInfo(dataDir)
  if (info == null) throw new Error(`no daemon runs on ${dataDir}`)
  const token = (await readFile(join(dataDir, 'api-token'), 'utf8')).trim()
  const response = await fetch(`http://${info.api}${path}`, { headers: { authorization: `Bearer ${token}` } })
  if (!response.ok) throw new Error(`GET ${path}: ${response.status} ${await response.text()}`)
  return await response.json() as T
}

export interface DaemonProcess { child: ChildProcess, api: string, output: () => string, stop: (signal?: NodeJS.Signals) => Promise<number | null> }

/** Starts `depin start` in the background and waits until it wrote its api.json. */
export async function startDaemonProcess (dataDir: string, args: string[] = [], options: { env?: Record<string, string> } = {}): Promise<DaemonProcess> {
  const child = spawn(process.execPath, [BIN, 'start', '--data-dir', dataDir, '--no-mdns', ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...(options.env != null ? { env: { ...process.env, ...options.env } } : {}) })
  let output = ''
  child.stdout?.setEncoding('utf8').on('data', (d) => { output += d })
  child.stderr?.setEncoding('utf8').on('data', (d) => { output += d })
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => { resolve(code) }))
  const info = await waitFor(async () => {
    if (child.exitCode != null) throw new Error(`daemon exited: ${output}`)
    const i = await readApiInfo(dataDir)
    return i?.pid === child.pid ? i : undefined
  }, { timeoutMs: 30_000, what: 'the daemon to start' })
  return {
    child,
    api: info.api,
    output: () => output,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode == null) child.kill(signal)
      return await exited
    }
  }
}

/** Initialises data dirs (`depin init`) on one testnet genesis that credits each of them, as `depin testnet` does; returns their peer ids. */
export async function initNetwork (dataDirs: string[]): Promise<string[]> {
  const peers: string[] = []
  for (const d of dataDirs) {
    const init = await runCli(['init', '--data-dir', d, '--json'])
    if (init.code !== 0) throw new Error(`depin init failed: ${init.stderr}`)
    peers.push(JSON.parse(init.stdout).peerId)
  }
  const network = testnetGenesis(peers)
  for (const d of dataDirs) {
    const config = JSON.parse(await readFile(join(d, 'config.json'), 'utf8'))
    await writeFile(join(d, 'config.json'), JSON.stringify({ ...config, network }))
  }
  return peers
}

/** A requester daemon (no slots) and a worker daemon on one testnet genesis, the requester knowing the worker's capacity. */
export interface CliPair { requesterDir: string, workerDir: string, workerPeer: string, requester: DaemonProcess, worker: DaemonProcess }

/**
 * Initialises `requester` and `worker` data dirs under `base`, gives both one network whose
 * genesis credits them (as `depin testnet` does), starts both daemons on loopback (the worker
 * with `workerArgs` too, e.g. `--mine`) and waits until the requester has found the worker's
 * capacity.
 */
export async function startRequesterAndWorker (base: string, options: { workerArgs?: string[] } = {}): Promise<CliPair> {
  const requesterDir = join(base, 'requester')
  const workerDir = join(base, 'worker')
  await initNetwork([requesterDir, workerDir])
  const worker = await startDaemonProcess(workerDir, ['--listen', '/ip4/127.0.0.1/tcp/0', '--api', '127.0.0.1:0', ...(options.workerArgs ?? [])])
  const info = JSON.parse(await readFile(join(workerDir, 'api.json'), 'utf8'))
  const workerPeer: string = info.peerId
  const requester = await startDaemonProcess(requesterDir, ['--listen', '/ip4/127.0.0.1/tcp/0', '--api', '127.0.0.1:0', '--bootstrap', info.multiaddrs[0], '--slots', '0'])
  await waitFor(async () => {
    const capacity = JSON.parse((await runCli(['capacity', '--data-dir', requesterDir, '--json'])).stdout)
    return capacity.peers.some((p: { peerId: string }) => p.peerId === workerPeer)
  }, { timeoutMs: 60_000, what: 'the requester to find the worker' })
  return { requesterDir, workerDir, workerPeer, requester, worker }
}

export interface TestnetNode { peerId: string, api: string, multiaddrs: string[], dataDir: string }

export interface TestnetProcess {
  child: ChildProcess
  /** stdout and stderr so far. */
  output: () => string
  /** stdout alone so far. */
  stdout: () => string
  /** The exit code (null when a signal ended it: see `child.signalCode`). */
  exited: Promise<number | null>
  /**
   * SIGKILL to the testnet and every node process it started (its own process group), for a
   * test's cleanup: killing the testnet process alone would leave its nodes running.
   */
  killAll: () => void
}

/** `depin testnet --nodes N --dir DIR [args]` as a child process, started and not waited for. */
export function spawnTestnet (dir: string, nodes: number, args: string[] = [], env?: Record<string, string>): TestnetProcess {
  // Its own process group (as a terminal's foreground job), so that killAll reaches the nodes too.
  const child = spawn(process.execPath, [BIN, 'testnet', '--nodes', String(nodes), '--dir', dir, ...args], { stdio: ['ignore', 'pipe', 'pipe'], detached: true, ...(env != null ? { env: { ...process.env, ...env } } : {}) })
  let output = ''
  let stdout = ''
  child.stdout?.setEncoding('utf8').on('data', (d) => { output += d; stdout += d })
  child.stderr?.setEncoding('utf8').on('data', (d) => { output += d })
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => { resolve(code) }))
  const killAll = (): void => {
    try { process.kill(-(child.pid as number), 'SIGKILL') } catch {}
  }
  return { child, output: () => output, stdout: () => stdout, exited, killAll }
}

/** `depin testnet --nodes N --dir DIR [args]` as a child process, once its testnet.json is written. */
export async function startTestnetProcess (dir: string, nodes: number, options: { timeoutMs?: number, args?: string[] } = {}): Promise<TestnetProcess & { nodes: TestnetNode[] }> {
  const testnet = spawnTestnet(dir, nodes, options.args)
  try {
    const written = await waitFor(async () => {
      if (testnet.child.exitCode != null) throw new Error(testnet.output())
      return JSON.parse(await readFile(join(dir, 'testnet.json'), 'utf8')) as { nodes: TestnetNode[] }
    }, { timeoutMs: options.timeoutMs ?? 60_000, what: 'testnet.json' })
    return { ...testnet, nodes: written.nodes }
  } catch (err) {
    testnet.killAll()
    throw err
  }
}
