/**
 * ComputeNode's start() and stop() are serialised: a stop() during a start() stops the node the
 * start brought up, concurrent starts share one start, a start that fails releases what it opened,
 * and what needs a running node throws NotStartedError after stop() as before start(). Handles left
 * behind are checked by a child process that must exit on its own (no timer, socket or worker
 * keeps it alive). Real nodes on the memory transport.
 */
import { describe, it, expect, afterEach } from 'vitest'
import { spawn } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createComputeNode, type ComputeNode } from '../src/node/compute-node.ts'
import { NotStartedError } from '../src/errors.ts'
import { tempDir, waitFor } from './helpers.ts'

const COMPUTE_NODE = fileURLToPath(new URL('../src/node/compute-node.ts', import.meta.url))
const init = { transport: 'memory' as const, mdns: false, fuelPerSecond: 1e9 }

/** Runs `body` (a module's text using `createComputeNode`) in a child; resolves with its exit code and stdout. */
async function runChild (body: string): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const dir = await tempDir('depin-lifecycle-')
  try {
    const file = join(dir.path, 'scenario.ts')
    await writeFile(file, `import { createComputeNode } from ${JSON.stringify(COMPUTE_NODE)}\n${body}\n`)
    const child = spawn(process.execPath, [file], { cwd: dir.path, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
    let code: number | null | undefined
    child.on('exit', (c) => { code = c })
    try {
      // The child exits by itself once nothing holds the event loop (a generous deadline: a leaked
      // host keeps it alive for ever).
      await waitFor(() => code !== undefined, { timeoutMs: 30_000, what: `the child to exit (stdout: ${stdout}, stderr: ${stderr})` })
    } finally {
      if (code === undefined) child.kill('SIGKILL')
    }
    return { code: code ?? null, stdout, stderr }
  } finally {
    await dir.remove()
  }
}

describe('ComputeNode start() and stop()', () => {
  const nodes: ComputeNode[] = []
  afterEach(async () => { await Promise.all(nodes.splice(0).map(async (n) => { await n.stop() })) })

  it('stop() during start() waits for the start and stops the node', async () => {
    const node = createComputeNode(init)
    nodes.push(node)
    const events: string[] = []
    node.addEventListener('started', () => { events.push('started') })
    node.addEventListener('stopped', () => { events.push('stopped') })
    const starting = node.start()
    await node.stop()
    await starting
    expect(node.isStarted).toBe(false)
    expect(() => node.host).toThrow(NotStartedError)
    expect(events).toEqual(['started', 'stopped'])
    // And it starts again afterwards.
    await node.start()
    expect(node.isStarted).toBe(true)
  })

  it('concurrent start() calls share one start', async () => {
    const dir = await tempDir()
    try {
      const node = createComputeNode({ ...init, dataDir: dir.path })
      nodes.push(node)
      await Promise.all([node.start(), node.start(), node.start()])
      expect(node.isStarted).toBe(true)
      await node.stop()
      expect(node.isStarted).toBe(false)
    } finally {
      await dir.remove()
    }
  })

  it('start() during stop() starts the node again once it stopped', async () => {
    const node = createComputeNode(init)
    nodes.push(node)
    await node.start()
    const stopping = node.stop()
    await node.start()
    await stopping
    expect(node.isStarted).toBe(true)
    expect(node.peers()).toEqual([])
  })

  it('findCapacity() and the other calls that need a running node throw NotStartedError after stop()', async () => {
    const node = createComputeNode(init)
    nodes.push(node)
    await expect(node.findCapacity()).rejects.toThrow(NotStartedError)
    await node.start()
    expect(await node.findCapacity()).toEqual([])
    await node.stop()
    await expect(node.findCapacity()).rejects.toThrow(NotStartedError)
    await expect(node.publishCapacity()).rejects.toThrow(NotStartedError)
    expect(() => node.status()).toThrow(NotStartedError)
    expect(() => node.services()).toThrow(NotStartedError)
    expect(() => { node.registerTopic({ topic: 'x', decode: () => undefined, validate: () => 'accept', deliver: () => {} } as never) }).toThrow(NotStartedError)
  })

  it('leaves no handle behind: stop() during start(), concurrent starts, a failed start (the process exits by itself)', async () => {
    const { code, stdout, stderr } = await runChild(`
const init = { transport: 'memory', mdns: false, fuelPerSecond: 1e9 }
const a = createComputeNode(init)
const starting = a.start()
await a.stop()
await starting
console.log('a', a.isStarted)
const b = createComputeNode({ ...init, dataDir: './b' })
await Promise.all([b.start(), b.start()]).then(() => console.log('b', b.isStarted), (err) => console.log('b', err.name))
await b.stop()
// A start that fails after its host is up: another network's ledger in b's data dir.
const c = createComputeNode({ ...init, dataDir: './b', network: { networkId: 'other-net', allocations: {}, initialTarget: 'f'.repeat(64), blockIntervalMs: 1000, reward: 1 } })
await c.start().then(() => console.log('c started'), (err) => console.log('c', err.name))
console.log('c', c.isStarted)
`)
    expect(stderr).toBe('')
    expect(stdout.trim().split('\n')).toEqual(['a false', 'b true', expect.stringMatching(/^c \w+Error$/), 'c false'])
    expect(code).toBe(0)
  })
})
