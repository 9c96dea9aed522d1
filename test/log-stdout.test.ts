/**
 * `depin start | head`: the operator log's stdout goes away under a running daemon (its reader
 * exits: EPIPE). The daemon keeps running, says so once on stderr, and its log goes on in the
 * data dir's daemon.log, from the first line that could not be written. `depin testnet | head`
 * the same: the testnet goes on and, when stopped, stops its nodes (it exited at its next line,
 * its nodes left running, its lock and testnet.json behind).
 */
import { describe, it, expect } from 'vitest'
import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { runCli, startDaemonProcess, startTestnetProcess } from './cli-helpers.ts'
import { tempDir, waitFor } from './helpers.ts'

describe('the operator log when stdout\'s reader exits', () => {
  it('keeps the daemon running and carries the log on in daemon.log, with one warning on stderr', async () => {
    const dir = await tempDir()
    try {
      const dataDir = join(dir.path, 'node')
      expect((await runCli(['init', '--data-dir', dataDir])).code).toBe(0)
      const daemon = await startDaemonProcess(dataDir, ['--listen', '/ip4/127.0.0.1/tcp/0', '--api', '127.0.0.1:0'])
      let stderr = ''
      daemon.child.stderr?.on('data', (d: string) => { stderr += d })
      try {
        // (the line comes after the API is up, which is what starting the daemon waits for)
        await waitFor(() => /INFO: offering capacity/.test(daemon.output()), { timeoutMs: 30_000, what: 'the daemon\'s start lines on its stdout' })
        // `head` exits: the read end of the daemon's stdout closes, and its next line gets EPIPE.
        daemon.child.stdout?.destroy()
        const prune = await runCli(['jobs', '--prune', '--data-dir', dataDir])
        expect(prune.code, prune.stderr).toBe(0)
        const logFile = join(dataDir, 'daemon.log')
        const log = await waitFor(async () => {
          const text = await readFile(logFile, 'utf8').catch(() => '')
          return /INFO: pruned jobs on request/.test(text) ? text : undefined
        }, { timeoutMs: 30_000, what: 'the prune line in daemon.log' })
        expect(log).toMatch(/WARN: stdout went away: the log goes on in this file \{"reason":"EPIPE"/)
        // It still answers, and stops cleanly with its last lines in the file.
        const status = await runCli(['status', '--data-dir', dataDir, '--json'])
        expect(status.code, status.stderr).toBe(0)
        expect((await runCli(['stop', '--data-dir', dataDir])).code).toBe(0)
        expect(await daemon.stop()).toBe(0)
        expect(await readFile(logFile, 'utf8')).toMatch(/INFO: stopping \{"reason":"stop requested through the API[^\n]*\n[^]*INFO: stopped\n$/)
        const warnings = stderr.split('\n').filter((line) => line.includes('daemon.log'))
        expect(warnings, stderr).toEqual([`depin: the operator log's stdout went away (EPIPE); the log goes on in ${logFile}`])
      } finally {
        await daemon.stop()
      }
    } finally {
      await dir.remove()
    }
  })
})

describe('depin testnet when stdout\'s reader exits', () => {
  it('goes on, and stops cleanly on SIGTERM: nodes stopped, lock and testnet.json removed', async () => {
    const dir = await tempDir()
    const testnet = await startTestnetProcess(dir.path, 2)
    try {
      await waitFor(() => testnet.output().includes('press Ctrl-C'), { what: 'the testnet to say it runs' })
      // `head` exits: the next line the testnet writes ("stopping the testnet…") gets EPIPE.
      testnet.child.stdout?.destroy()
      testnet.child.kill('SIGTERM')
      expect(await testnet.exited).toBe(0)
      await expect(stat(join(dir.path, 'testnet.lock'))).rejects.toThrow()
      await expect(stat(join(dir.path, 'testnet.json'))).rejects.toThrow()
      for (const node of testnet.nodes) {
        await expect(stat(join(node.dataDir, 'api.json')), node.dataDir).rejects.toThrow()
        expect(await readFile(join(node.dataDir, 'daemon.log'), 'utf8'), node.dataDir).toMatch(/INFO: stopped\n$/)
      }
      expect(testnet.output()).toMatch(/^depin: stdout went away \(EPIPE\); the testnet goes on without it$/m)
    } finally {
      testnet.killAll()
      await dir.remove()
    }
  })
})
