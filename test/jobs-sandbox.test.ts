/**
 * Hostile and broken modules submitted over a real testnet: each one's documented outcome reaches
 * the requester as a signed result, and the worker that ran it keeps serving jobs.
 *   loop forever   → exitCode -1, trap 'timeout' at the job's timeout (a fuel limit it cannot reach first)
 *   loop, little fuel → exitCode -1, trap 'out of fuel' at exactly its fuel limit: failed, ERR_OUT_OF_FUEL
 *   grow memory    → malloc fails at the job's memory cap (exit 1), process RSS stays bounded
 *   trap           → exitCode -1, trap 'unreachable'
 *   exit(3)        → exitCode 3 with its output
 *   stdout flood   → stopped at 16 MiB: exitCode -1, trap 'output limit exceeded', 16 MiB of output
 *   stderr flood   → stderr truncated at 1 MiB, the job goes on and exits 0
 *   not wasm       → exitCode -1, trap names InvalidModuleError
 *   non-WASI import → exitCode -1, trap names ForbiddenImportError and the import
 */
import { randomBytes } from 'node:crypto'
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { createTestnet, type Testnet } from '../src/node/testnet.ts'
import type { ComputeNode } from '../src/node/compute-node.ts'
import type { JobInit } from '../src/scheduler/job.ts'
import type { JobResult } from '../src/scheduler/requester/jobs.ts'
import { MAX_OUTPUT_BYTES, MAX_STDERR_BYTES } from '../src/scheduler/constants.ts'
import { example, fixture, text, utf8, waitForCapacity, waitForOfferMesh } from './jobs-helpers.ts'
import { waitFor } from './helpers.ts'

describe('hostile modules on a 3-node testnet', () => {
  let net: Testnet
  let requester: ComputeNode
  let worker: ComputeNode

  beforeAll(async () => {
    net = await createTestnet({ nodes: 3 })
    requester = net.nodes[0]
    worker = net.nodes[1]
    await waitForOfferMesh(requester, [worker.peerId, net.nodes[2].peerId])
    await waitForCapacity(requester, 2)
  })

  afterAll(async () => { await net?.stop() })

  /** Runs a job on `worker` (named in the spec, so we know who ran it). */
  async function runOnWorker (init: JobInit, onRunning?: () => void): Promise<JobResult> {
    const handle = await requester.submitJob({ peers: [worker.peerId], ...init }, {
      onProgress: (p) => { if (p.stage === 'running') onRunning?.() }
    })
    return await handle.result()
  }

  /** The worker still runs jobs correctly. */
  async function expectWorkerServes (): Promise<void> {
    const input = utf8(`still here ${randomBytes(4).toString('hex')}`)
    const result = await runOnWorker({ module: example('echo'), input })
    expect(result.status).toBe('completed')
    expect(text(result.stdout)).toBe(text(input))
    expect(result.workers.find((w) => w.status === 'done')?.peerId).toBe(worker.peerId)
  }

  /**
   * A verified result of a module that misbehaved, with the status word its outcome deserves:
   * `completed` (it ran; its exit code says how), `timed-out`, or `failed` (it could not run).
   */
  function expectRanOnWorker (result: JobResult, status: 'completed' | 'timed-out' | 'failed' = 'completed', code?: string): void {
    expect(result.error?.code).toBe(code)
    expect(result.status).toBe(status)
    expect(result.verified).toBe(true)
    const done = result.workers.filter((w) => w.status === 'done')
    expect(done.map((w) => w.peerId)).toEqual([worker.peerId])
  }

  it('a module that loops forever ends at its timeout with trap timeout; the worker serves another job meanwhile and afterwards', async () => {
    let running!: () => void
    const started = new Promise<void>((resolve) => { running = resolve })
    // 1000 gigafuel, whatever the default: far more than a tight loop burns in 3 s (about 20 gigafuel/s here), so the clock stops it.
    const looping = runOnWorker({ module: fixture('loop'), timeoutMs: 3_000, fuel: 1_000_000_000_000n }, () => { running() })
    await started
    await expectWorkerServes() // the worker has a second slot; its node is responsive
    const result = await looping
    expectRanOnWorker(result, 'timed-out', 'ERR_TASK_TIMEOUT')
    expect(result.exitCode).toBe(-1)
    expect(result.trap).toBe('timeout')
    expect(result.stdout.byteLength).toBe(0)
    // A timeout has no fuel count (lost with the run): not billed.
    expect(result.fuel).toBe('0')
    await expectWorkerServes()
  })

  it('a module that loops with a small fuel limit stops at exactly that limit: failed with ERR_OUT_OF_FUEL, and billed its whole limit', async () => {
    const limit = 50_000_000n
    const result = await runOnWorker({ module: fixture('loop'), timeoutMs: 60_000, fuel: limit })
    expectRanOnWorker(result, 'failed', 'ERR_OUT_OF_FUEL')
    expect(result.exitCode).toBe(-1)
    expect(result.trap).toBe('out of fuel')
    expect(result.fuel).toBe(limit.toString())
    expect(result.error?.message).toContain(limit.toString())
    // Its whole fuel at the worker's price of 1 credit per gigafuel: 0.05 credits (rounded up per lease).
    expect(result.cost).toBeCloseTo(0.05)
    await expectWorkerServes()
  })

  it('a job cancelled while it runs ends cancelled (ERR_JOB_CANCELLED) and the worker stops running it', async () => {
    let running!: () => void
    const started = new Promise<void>((resolve) => { running = resolve })
    const handle = await requester.submitJob({ module: fixture('loop'), timeoutMs: 120_000, peers: [worker.peerId] }, {
      onProgress: (p) => { if (p.stage === 'running') running() }
    })
    await started
    expect(worker.scheduler.worker.load().running).toBe(1)
    handle.cancel()
    const result = await handle.result()
    expect(result.status).toBe('cancelled')
    expect(result.error?.code).toBe('ERR_JOB_CANCELLED')
    // The requester withdraws the task from its lease and the worker frees the slot long before
    // the module's two-minute timeout would.
    await waitFor(() => worker.scheduler.worker.load().running === 0, { timeoutMs: 30_000, what: 'the worker to stop the cancelled run' })
    await expectWorkerServes()
  })

  it('a module that grows memory without bound fails at the cap; process RSS stays bounded', async () => {
    const before = process.memoryUsage().rss
    let peak = before
    const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss) }, 20)
    let result: JobResult
    try {
      result = await runOnWorker({ module: fixture('grow'), memoryMiB: 48 })
    } finally {
      clearInterval(sampler)
    }
    expectRanOnWorker(result)
    expect(result.exitCode).toBe(1)
    const got = /^malloc failed after (\d+) MiB\n$/.exec(text(result.stdout))
    expect(got).not.toBeNull()
    expect(Number(got?.[1])).toBeGreaterThan(0)
    expect(Number(got?.[1])).toBeLessThanOrEqual(48)
    // Uncapped, the module would take all 4 GiB of wasm32 memory.
    expect(peak - before).toBeLessThan(512 * 1024 * 1024)
    await expectWorkerServes()
  })

  it('a module that traps reports exitCode -1 and the trap, with the output it flushed', async () => {
    const result = await runOnWorker({ module: fixture('trap') })
    expectRanOnWorker(result)
    expect(result.exitCode).toBe(-1)
    expect(result.trap).toMatch(/unreachable/)
    expect(text(result.stdout)).toBe('before trap\n')
    await expectWorkerServes()
  })

  it('a module that exits 3: the exit code and output arrive', async () => {
    const result = await runOnWorker({ module: fixture('exit3') })
    expectRanOnWorker(result)
    expect(result.exitCode).toBe(3)
    expect(result.trap).toBeUndefined()
    expect(text(result.stdout)).toBe('exiting with 3\n')
  })

  it('stdout over the cap stops the job: exitCode -1, trap output limit exceeded, the first 16 MiB arrive', async () => {
    const result = await runOnWorker({ module: fixture('flood'), timeoutMs: 20_000 })
    expectRanOnWorker(result)
    expect(result.exitCode).toBe(-1)
    expect(result.trap).toBe('output limit exceeded')
    expect(result.stdout.byteLength).toBe(MAX_OUTPUT_BYTES)
    expect(result.stdout.every((b) => b === 0x78)).toBe(true)
    await expectWorkerServes()
  })

  it('stderr over the cap is truncated at 1 MiB and the job goes on to exit 0', async () => {
    const result = await runOnWorker({ module: fixture('flood'), args: ['stderr', String(3 * 1024 * 1024)] })
    expectRanOnWorker(result)
    expect(result.exitCode).toBe(0)
    expect(text(result.stdout)).toBe('done\n')
    expect(result.stderr.byteLength).toBe(MAX_STDERR_BYTES)
    expect(result.stderr.every((b) => b === 0x78)).toBe(true)
  })

  it('bytes that are not WebAssembly: failed with ERR_INVALID_MODULE, the trap names InvalidModuleError, nothing crashes', async () => {
    const result = await runOnWorker({ module: randomBytes(2048) })
    expectRanOnWorker(result, 'failed', 'ERR_INVALID_MODULE')
    expect(result.exitCode).toBe(-1)
    expect(result.trap).toMatch(/^InvalidModuleError: /)
    expect(result.stdout.byteLength).toBe(0)
    await expectWorkerServes()
  })

  it('a module importing a function outside WASI preview1: the trap names ForbiddenImportError and the import', async () => {
    const result = await runOnWorker({ module: fixture('evil') })
    expectRanOnWorker(result, 'failed', 'ERR_INVALID_MODULE')
    expect(result.exitCode).toBe(-1)
    expect(result.trap).toMatch(/^ForbiddenImportError: .*"env"\."evil"/)
    await expectWorkerServes()
  })
})
