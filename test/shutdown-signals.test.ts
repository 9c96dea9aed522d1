/**
 * Clean stops on SIGHUP (the terminal closed: the daemon, the testnet) as on SIGTERM, and when
 * signals arrive twice: a terminal's Ctrl-C reaches the whole process group of
 * `depin testnet` (the testnet and every node), and the testnet then sends each node SIGTERM too.
 * Every node must log a clean stop and remove its api.json.
 */
import { describe, it, expect } from 'vitest'
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { BIN, runCli, startDaemonProcess, startTestnetProcess } from './cli-helpers.ts'
import { tempDir, waitFor } from './helpers.ts'
import { readApiInfo } from '../src/node/data-dir.ts'

const SCRIPT = '/usr/bin/script'

function isAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

describe('shutdown on repeated signals', () => {
  it('a node that gets SIGINT and then SIGTERM 50 ms later still stops cleanly (exit 0, "stopped", no api.json)', async () => {
    const dir = await tempDir()
    try {
      const dataDir = join(dir.path, 'node')
      await runCli(['init', '--data-dir', dataDir])
      const daemon = await startDaemonProcess(dataDir, ['--listen', '/ip4/127.0.0.1/tcp/0', '--api', '127.0.0.1:0'])
      daemon.child.kill('SIGINT')
      await new Promise((resolve) => setTimeout(resolve, 50))
      if (daemon.child.exitCode == null) daemon.child.kill('SIGTERM')
      expect(await daemon.stop()).toBe(0)
      expect(daemon.child.signalCode).toBeNull()
      expect(daemon.output()).toMatch(/INFO: stopping \{"reason":"received SIGINT"\}/)
      expect(daemon.output()).toMatch(/INFO: stopped\n/)
      await expect(stat(join(dataDir, 'api.json'))).rejects.toThrow()
    } finally {
      await dir.remove()
    }
  })

  it('SIGHUP (its terminal closed: output goes nowhere) stops a node cleanly: exit 0, no api.json', async () => {
    const dir = await tempDir()
    try {
      const dataDir = join(dir.path, 'node')
      await runCli(['init', '--data-dir', dataDir])
      const daemon = await startDaemonProcess(dataDir, ['--listen', '/ip4/127.0.0.1/tcp/0', '--api', '127.0.0.1:0'])
      // The terminal's side of stdout and stderr is gone: every line written now fails.
      daemon.child.stdout?.destroy()
      daemon.child.stderr?.destroy()
      daemon.child.kill('SIGHUP')
      expect(await daemon.stop()).toBe(0)
      expect(daemon.child.signalCode).toBeNull()
      await expect(stat(join(dataDir, 'api.json'))).rejects.toThrow()
      // Its last lines, which stdout refused, are in the data dir's daemon.log. (`stop()` sends
      // SIGTERM as well, which the node may take first.)
      expect(await readFile(join(dataDir, 'daemon.log'), 'utf8')).toMatch(/INFO: stopping \{"reason":"received SIG(HUP|TERM)"\}[^]*INFO: stopped\n$/)
    } finally {
      await dir.remove()
    }
  })

  // A real terminal that closes: util-linux `script` runs the node on a pseudo-terminal, and killing
  // `script` closes it (the kernel sends SIGHUP; writes then fail with EIO, not EPIPE).
  it.skipIf(!existsSync(SCRIPT))('its terminal closing stops a node cleanly, whatever its log format (a JSON log line threw EIO out of the stop)', async () => {
    const dir = await tempDir()
    try {
      const dataDir = join(dir.path, 'node')
      await runCli(['init', '--data-dir', dataDir])
      for (const format of ['json', 'text']) {
        const command = [process.execPath, BIN, 'start', '--data-dir', dataDir, '--no-mdns', '--listen', '/ip4/127.0.0.1/tcp/0', '--api', '127.0.0.1:0', '--log-format', format]
        const terminal = spawn(SCRIPT, ['-qfec', `exec ${command.map((a) => `'${a}'`).join(' ')}`, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] })
        terminal.stdout.resume()
        terminal.stderr.resume()
        const info = await waitFor(async () => {
          if (terminal.exitCode != null) throw new Error(`script exited ${terminal.exitCode}`)
          return await readApiInfo(dataDir)
        }, { timeoutMs: 30_000, what: `the ${format} node to start` })
        terminal.kill('SIGKILL')
        try {
          await waitFor(() => !isAlive(info.pid), { timeoutMs: 30_000, what: `the ${format} node to stop when its terminal closed` })
          await expect(stat(join(dataDir, 'api.json')), format).rejects.toThrow()
        } finally {
          if (isAlive(info.pid)) process.kill(info.pid, 'SIGKILL')
        }
      }
    } finally {
      await dir.remove()
    }
  })

  it('SIGHUP to the whole process group of `depin testnet`, its output gone: every node stops cleanly, the lock and testnet.json go', async () => {
    for (const transport of ['tcp', 'memory']) {
      const dir = await tempDir()
      const testnet = await startTestnetProcess(dir.path, 2, { args: ['--transport', transport] })
      try {
        await waitFor(() => testnet.output().includes('press Ctrl-C'), { what: 'the testnet to say it runs' })
        // The terminal's side of stdout and stderr is gone: every line written now fails.
        testnet.child.stdout?.destroy()
        testnet.child.stderr?.destroy()
        process.kill(-(testnet.child.pid as number), 'SIGHUP')
        expect(await testnet.exited, transport).toBe(0)
        expect(testnet.child.signalCode).toBeNull()
        await expect(stat(join(dir.path, 'testnet.lock')), transport).rejects.toThrow()
        await expect(stat(join(dir.path, 'testnet.json')), transport).rejects.toThrow()
        for (const node of testnet.nodes) await expect(stat(join(node.dataDir, 'api.json')), node.dataDir).rejects.toThrow()
        if (transport === 'tcp') {
          for (const node of testnet.nodes) {
            expect(await readFile(join(node.dataDir, 'daemon.log'), 'utf8'), node.dataDir).toMatch(/INFO: stopping \{"reason":"received SIG(HUP|TERM)"\}[^]*INFO: stopped\n/)
          }
        }
      } finally {
        testnet.killAll()
        await dir.remove()
      }
    }
  })

  it('SIGINT to the whole process group of `depin testnet`: every node logs a clean stop and removes its api.json', async () => {
    const dir = await tempDir()
    // Its own process group, as a terminal's foreground job is.
    const child = spawn(process.execPath, [BIN, 'testnet', '--nodes', '3', '--dir', dir.path], { stdio: ['ignore', 'pipe', 'pipe'], detached: true })
    let output = ''
    child.stdout.setEncoding('utf8').on('data', (d) => { output += d })
    child.stderr.setEncoding('utf8').on('data', (d) => { output += d })
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => { resolve(code) }))
    try {
      const testnet = await waitFor(async () => {
        if (child.exitCode != null) throw new Error(output)
        return JSON.parse(await readFile(join(dir.path, 'testnet.json'), 'utf8')) as { nodes: Array<{ dataDir: string }> }
      }, { timeoutMs: 60_000, what: 'testnet.json' })
      expect(testnet.nodes).toHaveLength(3)
      process.kill(-(child.pid as number), 'SIGINT')
      expect(await exited).toBe(0)
      expect(output).toMatch(/all nodes stopped/)
      for (const node of testnet.nodes) {
        const log = await readFile(join(node.dataDir, 'daemon.log'), 'utf8')
        expect(log, node.dataDir).toMatch(/INFO: stopping \{"reason":"received SIG(INT|TERM)"\}/)
        expect(log, node.dataDir).toMatch(/INFO: stopped\n/)
        await expect(stat(join(node.dataDir, 'api.json'))).rejects.toThrow()
      }
    } finally {
      if (child.exitCode == null) {
        try { process.kill(-(child.pid as number), 'SIGKILL') } catch {}
      }
      await dir.remove()
    }
  })
})
