/**
 * The node's default executor starts its worker threads on the first job, not at start (an idle
 * node holds none), and a pool that failed to start is tried again by the next job.
 */
import { describe, it, expect } from 'vitest'
import { readFile } from 'node:fs/promises'
import { createExecutor, ExecutorStoppedError, type ExecSpec, type Executor } from '../src/scheduler/executor/index.ts'
import { LazyExecutor } from '../src/node/lazy-executor.ts'
import { rawCid } from '../src/proofs/encoding.ts'

const echo = new Uint8Array(await readFile(new URL('../examples/echo.wasm', import.meta.url)))
const spec = (text: string): ExecSpec => ({
  moduleCid: rawCid(echo), module: echo, stdin: new TextEncoder().encode(text), args: [], env: {}, memoryMiB: 16, timeoutMs: 10_000, seed: new Uint8Array(32)
})

describe('lazy executor', () => {
  it('starts no worker thread until the first job, then runs jobs', async () => {
    const pool = createExecutor({ workers: 1 })
    const lazy = new LazyExecutor(pool)
    await lazy.start()
    expect(pool.stats().workersStarted).toBe(0)
    expect(lazy.poolStarted).toBe(false)
    const [a, b] = await Promise.all([lazy.run(spec('one')), lazy.run(spec('two'))])
    expect(new TextDecoder().decode(a.stdout)).toBe('one')
    expect(new TextDecoder().decode(b.stdout)).toBe('two')
    expect(pool.stats().workersStarted).toBe(1)
    await lazy.stop()
    expect(pool.stats().workers).toBe(0)
    await expect(lazy.run(spec('late'))).rejects.toBeInstanceOf(ExecutorStoppedError)
  })

  it('stops cleanly when no job ever ran', async () => {
    const pool = createExecutor({ workers: 1 })
    const lazy = new LazyExecutor(pool)
    await lazy.start()
    await lazy.stop()
    expect(pool.stats().workersStarted).toBe(0)
  })

  it('tries to start the pool again after a failed start', async () => {
    let starts = 0
    const flaky: Executor = {
      start: async () => { if (++starts === 1) throw new Error('no threads today') },
      stop: async () => {},
      run: async () => ({ exitCode: 0, stdout: new TextEncoder().encode('ok'), stderr: new Uint8Array(0), stdoutTruncated: false, stderrTruncated: false, wallMs: 0, cpuMs: 0 })
    }
    const lazy = new LazyExecutor(flaky)
    await lazy.start()
    await expect(lazy.run(spec('x'))).rejects.toThrow('no threads today')
    expect(new TextDecoder().decode((await lazy.run(spec('x'))).stdout)).toBe('ok')
    expect(starts).toBe(2)
    await lazy.stop()
  })
})
