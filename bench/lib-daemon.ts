/**
 * Worker daemons for the benchmarks that need a worker in its own process (its CPU and memory
 * measured alone): a `depin start` child on loopback sharing a testnet genesis with the
 * requester in the benchmark's process, and readers of a process's memory from /proc.
 * (A helper, not a benchmark: bench/run.ts skips `lib*.ts`.)
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { readApiInfo } from '../src/node/data-dir.ts'
import type { GenesisConfig } from '../src/ledger/index.ts'

const BIN = fileURLToPath(new URL('../bin/depin.js', import.meta.url))

export interface WorkerDaemon {
  pid: number
  /** Its first listen address (to bootstrap to). */
  multiaddr: string
  child: ChildProcess
  /** SIGTERM, then waits for it to exit (SIGKILL after 20 s). */
  stop: () => Promise<void>
}

/**
 * Starts `depin start` in `dir` (created) with `key` as its identity, on `network`, listening on
 * loopback; `config` is merged into its config.json. Resolves once it wrote its api.json.
 */
export async function startWorkerDaemon (dir: string, key: PrivateKey, network: GenesisConfig, config: Record<string, unknown> = {}, timeoutMs = 60_000): Promise<WorkerDaemon> {
  await mkdir(dir, { recursive: true })
  await writeFile(join(dir, 'identity.key'), privateKeyToProtobuf(key), { mode: 0o600 })
  await writeFile(join(dir, 'config.json'), JSON.stringify({
    listen: ['/ip4/127.0.0.1/tcp/0'], api: '127.0.0.1:0', mdns: false, testnet: true, network, ...config
  }))
  const child = spawn(process.execPath, [BIN, 'start', '--data-dir', dir], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr?.setEncoding('utf8').on('data', (d: string) => { stderr = (stderr + d).slice(-4000) })
  const exited = new Promise<void>((resolve) => child.once('exit', () => { resolve() }))
  const stop = async (): Promise<void> => {
    if (child.exitCode != null || child.signalCode != null) return
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000)
    await exited
    clearTimeout(timer)
  }
  const deadline = Date.now() + timeoutMs
  let info
  while ((info = await readApiInfo(dir)) == null || info.pid !== child.pid) {
    if (child.exitCode != null) throw new Error(`worker daemon exited with ${child.exitCode}: ${stderr}`)
    if (Date.now() > deadline) {
      await stop()
      throw new Error(`worker daemon did not start within ${timeoutMs} ms: ${stderr}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  const multiaddr = (info.multiaddrs ?? [])[0]
  if (multiaddr == null) {
    await stop()
    throw new Error('worker daemon listed no address')
  }
  return { pid: child.pid as number, multiaddr, child, stop }
}

/** A `Vm*` field of /proc/PID/status (VmRSS, VmHWM...), in MiB. */
export function procMemMiB (pid: number | 'self', field: 'VmRSS' | 'VmHWM'): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  if (match == null) throw new Error(`no ${field} in /proc/${pid}/status`)
  return Number(match[1]) / 1024
}

/** Resets the process's peak RSS (VmHWM) to its current RSS (Linux >= 4.0, own processes). */
export function resetPeakRss (pid: number | 'self'): void {
  writeFileSync(`/proc/${pid}/clear_refs`, '5')
}

/** CPU time (user + system, every thread) a process has used so far, ms, from /proc/PID/stat. */
export function procCpuMs (pid: number | 'self'): number {
  // the fields after the command name, which is in parentheses and may hold spaces
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ').at(-1)?.split(' ') ?? []
  // utime and stime are fields 14 and 15 of the line, in clock ticks (USER_HZ, 100 on Linux)
  return (Number(fields[11]) + Number(fields[12])) * 10
}
