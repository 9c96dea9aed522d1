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
import { ConfigError, NotStartedError } from '../src/errors.ts'
import { example, utf8 } from './jobs-helpers.ts'
import type { JobResult } from '../src/scheduler/requester/jobs.ts'
import type { BatchResult } from '../src/scheduler/requester/batches.ts'
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
    expect(await node.peers()).toEqual([])
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

describe('createComputeNode options', () => {
  const wrong: Array<[string, Record<string, unknown>, RegExp]> = [
    ['transport', { transport: 'udp' }, /^invalid node option transport: /],
    ['negative retentionMs', { retention: { retentionMs: -1 } }, /^invalid node option retention\.retentionMs: /],
    ['NaN retentionMs', { retention: { retentionMs: Number.NaN } }, /^invalid node option retention\.retentionMs: /],
    ['capacity.cores', { capacity: { cores: -1 } }, /^invalid node option capacity\.cores: /],
    ['capacity.memoryMiB', { capacity: { memoryMiB: 1.5 } }, /^invalid node option capacity\.memoryMiB: /],
    ['capacity.slots', { capacity: { slots: 5000 } }, /^invalid node option capacity\.slots: /],
    ['listen not an array', { listen: '/ip4/127.0.0.1/tcp/0' }, /^invalid node option listen: /],
    ['a listen address', { listen: ['garbage'] }, /^invalid node option listen\.0: not a valid multiaddr/],
    ['a bootstrap address without a peer id', { bootstrap: ['/ip4/127.0.0.1/tcp/4001'] }, /^invalid node option bootstrap\.0: a bootstrap address needs/],
    ['spotCheckRate', { scheduler: { spotCheckRate: 5 } }, /^invalid node option scheduler\.spotCheckRate: /],
    ['maxConnections', { maxConnections: -1 }, /^invalid node option maxConnections: /],
    ['dataDir', { dataDir: 42 }, /^invalid node option dataDir: /]
  ]
  for (const [what, options, message] of wrong) {
    it(`throws ConfigError for ${what}`, () => {
      let error: unknown
      try {
        createComputeNode(options as never)
      } catch (err) {
        error = err
      }
      expect(error).toBeInstanceOf(ConfigError)
      expect((error as ConfigError).code).toBe('ERR_CONFIG')
      expect((error as Error).message).toMatch(message)
    })
  }

  it('accepts what the types allow', () => {
    expect(createComputeNode({ ...init, capacity: { cores: 2, memoryMiB: 512, slots: 0 }, retention: { retentionMs: Infinity, intervalMs: 0 }, listen: ['/memory/x'], scheduler: { spotCheckRate: 0.5 } }).isStarted).toBe(false)
  })

  it('submitJob with `files` that is not an array throws InvalidJobError (it ran with an empty /in)', async () => {
    const node = createComputeNode(init)
    await node.start()
    try {
      await expect(node.submitJob({ module: example('echo'), files: { path: 'a.txt', bytes: utf8('a') } as never })).rejects.toMatchObject({ code: 'ERR_INVALID_JOB', message: expect.stringMatching(/files must be an array/) })
      await expect(node.submitBatch({ module: example('echo'), files: { path: 'a.txt', bytes: utf8('a') } as never, tasks: [{ input: utf8('x') }] })).rejects.toMatchObject({ code: 'ERR_INVALID_JOB' })
    } finally {
      await node.stop()
    }
  })
})

describe('jobs and batches unfinished when their node stops', () => {
  // No worker anywhere (own slots 0): the job and batch wait, queued, until the stop.
  const requester = { ...init, advertise: false, capacity: { slots: 0 } }

  async function submitBoth (node: ComputeNode): Promise<{ job: Promise<JobResult>, batch: Promise<BatchResult>, jobId: string, batchId: string }> {
    const job = await node.submitJob({ module: example('echo'), input: utf8('a') })
    const batch = await node.submitBatch({ module: example('echo'), tasks: [{ input: utf8('b') }] })
    return { job: job.result(), batch: batch.result(), jobId: job.id, batchId: batch.id }
  }

  it('with a data dir: their handles say ERR_NODE_STOPPED, not cancelled, and the job resumes at the next start', async () => {
    const dir = await tempDir()
    const node = createComputeNode({ ...requester, dataDir: dir.path })
    try {
      await node.start()
      const { job, batch, jobId, batchId } = await submitBoth(node)
      await node.stop()
      const resumes = /it was not cancelled, and resumes when the node starts again with the same data dir$/
      expect(await job).toMatchObject({ status: 'queued', error: { code: 'ERR_NODE_STOPPED', message: expect.stringMatching(resumes) } })
      expect(await batch).toMatchObject({ status: 'running', error: { code: 'ERR_NODE_STOPPED', message: expect.stringMatching(resumes) } })
      await node.start()
      expect((await node.job(jobId)).status).toBe('queued')
      expect((await node.batch(batchId)).status).toBe('running')
      // Resumed: placed again by this run, so a cancel reaches it.
      expect((await node.cancelJob(jobId)).status).toBe('cancelled')
    } finally {
      await node.stop()
      await dir.remove()
    }
  })

  it('without a data dir: ERR_NODE_STOPPED saying the job is lost', async () => {
    const node = createComputeNode(requester)
    try {
      await node.start()
      const { job, batch } = await submitBoth(node)
      await node.stop()
      const lost = /it was not cancelled, but it is lost: the node has no data dir to resume it from$/
      expect(await job).toMatchObject({ error: { code: 'ERR_NODE_STOPPED', message: expect.stringMatching(lost) } })
      expect(await batch).toMatchObject({ error: { code: 'ERR_NODE_STOPPED', message: expect.stringMatching(lost) } })
    } finally {
      await node.stop()
    }
  })
})
