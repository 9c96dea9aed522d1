/**
 * A daemon meeting a bug's error that nothing caught (src/cli/process-errors.ts). Before, Node's
 * default ended it at once on either, its stack on a stderr nobody may read, the operator's log
 * without a word and the node not stopped (its api.json left behind). Now an unhandled rejection
 * is logged and the node goes on; an uncaught exception is logged and stops the node cleanly,
 * exiting 1. A real `depin start` process; the errors are injected with `node --import`.
 */
import { describe, it, expect } from 'vitest'
import { pathToFileURL } from 'node:url'
import { readApiInfo } from '../src/node/data-dir.ts'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { runCli, spawnTestnet, startDaemonProcess } from './cli-helpers.ts'
import { tempDir, waitFor } from './helpers.ts'

const INJECT = pathToFileURL(new URL('./fixtures/process/inject-bugs.mjs', import.meta.url).pathname).href

describe('a daemon meeting an error nothing caught', () => {
  it('logs an unhandled rejection and goes on; logs an uncaught exception and stops cleanly, exiting 1', { timeout: 120_000 }, async () => {
    const dir = await tempDir()
    try {
      const init = await runCli(['init', '--data-dir', dir.path, '--json'])
      expect(init.code).toBe(0)
      const daemon = await startDaemonProcess(dir.path, [], { env: { NODE_OPTIONS: `--import=${INJECT}` } })
      try {
        daemon.child.kill('SIGUSR2')
        await waitFor(() => /unhandled promise rejection \(a bug; the node goes on\)/.test(daemon.output()) && daemon.output().includes('injected rejection'), { timeoutMs: 30_000, what: 'the rejection in the log' })
        // (with its stack)
        expect(daemon.output()).toMatch(/Error: injected rejection\\n\s+at /)
        expect(daemon.child.exitCode).toBeNull()
        const status = await runCli(['status', '--data-dir', dir.path, '--json'])
        expect(status.code).toBe(0)
        expect(JSON.parse(status.stdout).peerId).toBe(JSON.parse(init.stdout).peerId)

        daemon.child.kill('SIGWINCH')
        const code = await new Promise<number | null>((resolve) => { if (daemon.child.exitCode != null) resolve(daemon.child.exitCode); else daemon.child.once('exit', (c) => { resolve(c) }) })
        expect(code, daemon.output()).toBe(1)
        const out = daemon.output()
        expect(out).toMatch(/uncaught exception \(a bug; the node stops\)/)
        expect(out).toContain('injected exception')
        expect(out).toMatch(/stopping.*uncaught exception: injected exception/)
        expect(out).toMatch(/\bstopped\b/)
        // A clean stop: the API address file went with the node.
        expect(await readApiInfo(dir.path)).toBeUndefined()
      } finally {
        await daemon.stop('SIGKILL')
      }
    } finally {
      await dir.remove()
    }
  })
})

describe('a testnet meeting an error nothing caught', () => {
  it('an in-process testnet says an unhandled rejection and goes on; an uncaught exception stops every node cleanly and exits 1', { timeout: 120_000 }, async () => {
    const dir = await tempDir()
    const testnet = spawnTestnet(dir.path, 2, ['--transport', 'memory'], { NODE_OPTIONS: `--import=${INJECT}` })
    try {
      await waitFor(async () => {
        if (testnet.child.exitCode != null) throw new Error(testnet.output())
        return JSON.parse(await readFile(join(dir.path, 'testnet.json'), 'utf8')) as unknown
      }, { timeoutMs: 60_000, what: 'testnet.json' })
      testnet.child.kill('SIGUSR2')
      await waitFor(() => testnet.output().includes('unhandled promise rejection (a bug; the testnet goes on): Error: injected rejection'), { timeoutMs: 30_000, what: 'the rejection said' })
      expect(testnet.child.exitCode).toBeNull()
      const status = await runCli(['status', '--data-dir', join(dir.path, 'node-1'), '--json'])
      expect(status.code).toBe(0)

      testnet.child.kill('SIGWINCH')
      expect(await testnet.exited, testnet.output()).toBe(1)
      expect(testnet.output()).toContain('uncaught exception (a bug; the testnet stops): Error: injected exception')
      expect(testnet.output()).toContain('all nodes stopped')
      await expect(readFile(join(dir.path, 'testnet.json'))).rejects.toThrow(/ENOENT/)
    } finally {
      testnet.killAll()
      await dir.remove()
    }
  })
})
