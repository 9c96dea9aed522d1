/** Runs the real `depin` command in child processes. */
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { readApiInfo } from '../src/node/data-dir.ts'
import { waitFor } from './helpers.ts'

export const BIN = fileURLToPath(new URL('../bin/depin.js', import.meta.url))

export interface CliResult { code: number | null, stdout: string, stderr: string }

export function runCli (args: string[], options: { env?: Record<string, string>, timeoutMs?: number, input?: Uint8Array } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...options.env }, stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d) => { stdout += d })
    child.stderr.setEncoding('utf8').on('data', (d) => { stderr += d })
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`depin ${args.join(' ')} did not finish in time; stderr: ${stderr}`)) }, options.timeoutMs ?? 60_000)
    child.on('exit', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }) })
    child.stdin.end(options.input)
  })
}

export interface DaemonProcess { child: ChildProcess, api: string, output: () => string, stop: (signal?: NodeJS.Signals) => Promise<number | null> }

/** Starts `depin start` in the background and waits until it wrote its api.json. */
export async function startDaemonProcess (dataDir: string, args: string[] = []): Promise<DaemonProcess> {
  const child = spawn(process.execPath, [BIN, 'start', '--data-dir', dataDir, '--no-mdns', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
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
