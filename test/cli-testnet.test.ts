/**
 * `depin testnet` as a tester drives it, in real processes: one testnet per --dir (its lock), a
 * Ctrl-C or SIGTERM while the nodes still start, `depin stop` of one node of an in-process
 * testnet, and a testnet stopped and started again on the same --dir (testnet.json, each node's
 * config, the chain of a node that was behind).
 */
import { describe, it, expect } from 'vitest'
import { createServer } from 'node:net'
import { readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { runCli, spawnTestnet, startTestnetProcess, type TestnetProcess } from './cli-helpers.ts'
import { tempDir, waitFor } from './helpers.ts'
import { isProcessAlive, readApiInfo, type ApiInfo } from '../src/node/paths.ts'

/** A pid no process has: the largest one Linux can hand out, plus one. */
const DEAD_PID = 4_194_305

function stderrLines (output: string): string[] {
  return output.trim().split('\n').filter((l) => l.startsWith('depin: '))
}

async function chainHeight (dataDir: string): Promise<number> {
  const chain = await runCli(['chain', '--data-dir', dataDir, '--json'])
  expect(chain.code, chain.stderr).toBe(0)
  return JSON.parse(chain.stdout).height as number
}

describe('one testnet per --dir', () => {
  it('a testnet.lock held by a live process refuses a second testnet before it writes anything; a stale one is taken over and removed at stop', async () => {
    const dir = await tempDir()
    try {
      // Another `depin testnet` starting here (its nodes not up yet: no api.json, no database lock).
      await writeFile(join(dir.path, 'testnet.lock'), JSON.stringify({ pid: process.pid }) + '\n')
      const refused = await runCli(['testnet', '--nodes', '2', '--dir', dir.path])
      expect(refused.code).toBe(1)
      expect(stderrLines(refused.stderr)).toEqual([`depin: testnet ${dir.path} is in use: another testnet (pid ${process.pid}) runs it; stop that testnet first (Ctrl-C where it runs) or use another --dir`])
      await expect(stat(join(dir.path, 'node-0'))).rejects.toThrow()
      await expect(stat(join(dir.path, 'genesis.json'))).rejects.toThrow()

      // The lock of a process that died (SIGKILL) is taken over, held while the testnet runs, and removed at stop.
      await writeFile(join(dir.path, 'testnet.lock'), JSON.stringify({ pid: DEAD_PID }) + '\n')
      const testnet = await startTestnetProcess(dir.path, 1, { args: ['--json'] })
      expect(JSON.parse(await readFile(join(dir.path, 'testnet.lock'), 'utf8')).pid).toBe(testnet.child.pid)
      testnet.child.kill('SIGINT')
      expect(await testnet.exited).toBe(0)
      // --json: stdout is testnet.json's JSON alone (the testnet's own lines go to stderr).
      expect(JSON.parse(testnet.stdout())).toEqual({ nodes: testnet.nodes })
      expect(testnet.output()).toMatch(/all nodes stopped\n$/)
      await expect(stat(join(dir.path, 'testnet.lock'))).rejects.toThrow()
    } finally {
      await dir.remove()
    }
  })

  it('two testnets started at once on one new --dir: one runs on one network, the other is refused', async () => {
    const dir = await tempDir()
    // Different node counts: the second used to write its own genesis into the first one's nodes.
    const a = spawnTestnet(dir.path, 3)
    const b = spawnTestnet(dir.path, 2)
    try {
      const [first] = await Promise.race([a.exited.then(() => [b, a]), b.exited.then(() => [a, b])])
      const loser = first === a ? b : a
      expect(await loser.exited).toBe(1)
      expect(stderrLines(loser.output())[0]).toMatch(/^depin: testnet .* is in use: /)
      const winner = first
      const nodes = winner === a ? 3 : 2
      const written = await waitFor(async () => {
        if (winner.child.exitCode != null) throw new Error(winner.output())
        return JSON.parse(await readFile(join(dir.path, 'testnet.json'), 'utf8')) as { nodes: Array<{ dataDir: string }> }
      }, { timeoutMs: 60_000, what: 'testnet.json' })
      expect(written.nodes).toHaveLength(nodes)
      const genesis = JSON.parse(await readFile(join(dir.path, 'genesis.json'), 'utf8'))
      for (const node of written.nodes) {
        const chain = JSON.parse((await runCli(['chain', '--data-dir', node.dataDir, '--json'])).stdout)
        expect(chain.networkId, node.dataDir).toBe(genesis.networkId)
      }
      winner.child.kill('SIGINT')
      expect(await winner.exited).toBe(0)
    } finally {
      for (const t of [a, b]) t.killAll()
      await dir.remove()
    }
  })
})

/** Node 0's api.json, as soon as it is written (the testnet still starting its other nodes). */
async function node0Started (dir: string, testnet: TestnetProcess): Promise<ApiInfo> {
  return await waitFor(async () => {
    if (testnet.child.exitCode != null) throw new Error(testnet.output())
    return await readApiInfo(join(dir, 'node-0'))
  }, { timeoutMs: 60_000, intervalMs: 20, what: 'node 0 to start' })
}

describe('a signal while the testnet starts', () => {
  it('tcp: SIGTERM to `depin testnet` alone once node 0 is up stops node 0 too (no orphan daemon)', async () => {
    const dir = await tempDir()
    const testnet = spawnTestnet(dir.path, 3)
    let node0Pid: number | undefined
    try {
      // Node 0 is up; the others are still starting, testnet.json is not written yet.
      const info = await node0Started(dir.path, testnet)
      node0Pid = info.pid
      testnet.child.kill('SIGTERM')
      expect(await testnet.exited, testnet.output()).toBe(0)
      expect(testnet.output()).toMatch(/stopping the testnet…\n(.|\n)*all nodes stopped\n/)
      // Nothing outlived it: node 0 exited (the testnet waited for it) and left no api.json.
      expect(isProcessAlive(node0Pid)).toBe(false)
      for (const i of [0, 1, 2]) await expect(stat(join(dir.path, `node-${i}`, 'api.json'))).rejects.toThrow()
      await expect(stat(join(dir.path, 'testnet.lock'))).rejects.toThrow()
    } finally {
      testnet.killAll()
      if (node0Pid != null && isProcessAlive(node0Pid)) process.kill(node0Pid, 'SIGKILL')
      await dir.remove()
    }
  })

  it('memory: Ctrl-C after the first nodes are up stops those started, cleanly (exit 0, no api.json left)', async () => {
    const dir = await tempDir()
    const testnet = spawnTestnet(dir.path, 20, ['--transport', 'memory'])
    try {
      await node0Started(dir.path, testnet)
      testnet.child.kill('SIGINT')
      expect(await testnet.exited, testnet.output()).toBe(0)
      expect(testnet.output()).toMatch(/stopping the testnet…\n(.|\n)*all nodes stopped\n/)
      await expect(stat(join(dir.path, 'testnet.json'))).rejects.toThrow()
      for (let i = 0; i < 20; i++) await expect(stat(join(dir.path, `node-${i}`, 'api.json'))).rejects.toThrow()
    } finally {
      testnet.killAll()
      await dir.remove()
    }
  }, 120_000)
})

describe('an in-process (memory) testnet', () => {
  it('`depin stop` stops one node and the others keep running; its log lines say which node (on stderr with --json); the last stop ends the testnet', async () => {
    const dir = await tempDir()
    const testnet = await startTestnetProcess(dir.path, 3, { args: ['--transport', 'memory', '--mine', '--json'] })
    try {
      const [n0, n1, n2] = testnet.nodes
      const stop = await runCli(['stop', '--data-dir', n1.dataDir, '--timeout', '30'])
      expect(stop.stderr).toBe('')
      expect(stop.stdout).toBe(`stopped ${n1.peerId}\n`)
      expect(stop.code).toBe(0)
      const status = await runCli(['status', '--data-dir', n1.dataDir])
      expect(status.stderr).toMatch(/is not running/)
      expect(JSON.parse((await runCli(['status', '--data-dir', n2.dataDir, '--json'])).stdout).peerId).toBe(n2.peerId)
      expect(testnet.output()).toContain('depin: testnet node 1 stopped (POST /v1/node/stop); the other 2 keep running\n')
      // 3 nodes' lines on one stdout: each says whose it is.
      await waitFor(() => /INFO: block mined \{"node":0,"height":1,/.test(testnet.output()), { timeoutMs: 60_000, what: 'node 0 to mine' })
      expect(testnet.output()).toMatch(/INFO: stopping \{"node":1,"reason":"stop requested through the API/)
      expect(testnet.child.exitCode).toBe(null)
      for (const node of [n0, n2]) expect((await runCli(['stop', '--data-dir', node.dataDir, '--timeout', '30'])).code).toBe(0)
      expect(await testnet.exited).toBe(0)
      expect(testnet.output()).toMatch(/all nodes stopped\n$/)
      // --json: the nodes' log and the testnet's lines went to stderr; stdout is the JSON alone.
      expect(JSON.parse(testnet.stdout())).toEqual({ nodes: testnet.nodes })
    } finally {
      testnet.killAll()
      await dir.remove()
    }
  }, 120_000)
})

describe('a testnet that cannot start', () => {
  it('memory: an API port in use names the node whose port it is, and nothing is left running or locked', async () => {
    const dir = await tempDir()
    const blocker = createServer()
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve))
    const port = (blocker.address() as { port: number }).port
    try {
      // Node i serves its API on P+2i+1: node 1's is P+3.
      const result = await runCli(['testnet', '--nodes', '3', '--transport', 'memory', '--base-port', String(port - 3), '--dir', dir.path])
      expect(result.code).toBe(1)
      expect(stderrLines(result.stderr)).toEqual([`depin: node in ${join(dir.path, 'node-1')} did not start: address 127.0.0.1:${port} is already in use (is another depin node running?)`])
      for (const i of [0, 1, 2]) await expect(stat(join(dir.path, `node-${i}`, 'api.json'))).rejects.toThrow()
      await expect(stat(join(dir.path, 'testnet.lock'))).rejects.toThrow()
    } finally {
      blocker.close()
      await dir.remove()
    }
  })
})

describe('a testnet stopped and started again on the same --dir', () => {
  it('removes testnet.json at stop, keeps what `depin config set` changed, and a node that was behind catches up without new blocks', async () => {
    const dir = await tempDir()
    const first = await startTestnetProcess(dir.path, 2, { args: ['--mine'] })
    let second: Awaited<ReturnType<typeof startTestnetProcess>> | undefined
    try {
      const [n0, n1] = first.nodes
      await waitFor(async () => await chainHeight(n1.dataDir) >= 1, { timeoutMs: 60_000, what: 'node 1 to have a block' })
      // Node 1 stops on its own; node 0 mines on.
      expect((await runCli(['stop', '--data-dir', n1.dataDir])).code).toBe(0)
      await waitFor(() => first.output().includes('depin: testnet node 1 stopped (exit code 0'), { timeoutMs: 30_000, what: 'the testnet to say node 1 stopped' })
      expect(first.output()).not.toContain('unexpectedly')
      await waitFor(async () => await chainHeight(n0.dataDir) >= 4, { timeoutMs: 60_000, what: 'node 0 to mine on' })
      first.child.kill('SIGINT')
      expect(await first.exited).toBe(0)
      await expect(stat(join(dir.path, 'testnet.json'))).rejects.toThrow()

      expect((await runCli(['config', 'set', 'capacity.slots', '0', '--data-dir', n1.dataDir])).code).toBe(0)
      // Started again without --mine: no block will come to tell node 1 it is behind.
      second = await startTestnetProcess(dir.path, 2)
      const [m0, m1] = second.nodes
      expect(m1.api).not.toBe(n1.api)
      const status = JSON.parse((await runCli(['status', '--data-dir', m1.dataDir, '--json'])).stdout)
      expect(status.capacity.slots).toBe(0)
      const tip = await chainHeight(m0.dataDir)
      expect(tip).toBeGreaterThanOrEqual(4)
      await waitFor(async () => await chainHeight(m1.dataDir) === tip, { timeoutMs: 30_000, what: `node 1 to sync to height ${tip}` })
      second.child.kill('SIGINT')
      expect(await second.exited).toBe(0)
    } finally {
      for (const t of [first, second]) t?.killAll()
      await dir.remove()
    }
  }, 180_000)
})
