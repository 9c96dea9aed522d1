/**
 * The WASI executor with real modules: the example jobs in examples/ and the fixtures in
 * test/fixtures/wasm/ (C sources next to them, rebuilt by scripts/build-examples.sh).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { rawCid, sha256 } from '../src/proofs/encoding.ts'
import {
  createExecutor, ExecutionAbortedError, ExecutorQueueFullError, ExecutorStoppedError, ForbiddenImportError,
  InvalidExecSpecError, InvalidModuleError, MAX_ARGS_ENV_BYTES, MemoryLimitError, ModuleCidMismatchError, WorkerStartError
} from '../src/scheduler/executor/index.ts'
import type { ExecSpec, WasiExecutor } from '../src/scheduler/executor/index.ts'

const root = new URL('../', import.meta.url)
const load = (path: string): Uint8Array => new Uint8Array(readFileSync(new URL(path, root)))
const example = (name: string): Uint8Array => load(`examples/${name}.wasm`)
const fixture = (name: string): Uint8Array => load(`test/fixtures/wasm/${name}.wasm`)
const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes)
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex')
const seedOf = (label: string): Uint8Array => sha256(utf8(label))

function spec (module: Uint8Array, overrides: Partial<ExecSpec> = {}): ExecSpec {
  return {
    moduleCid: rawCid(module),
    module,
    stdin: new Uint8Array(0),
    args: [],
    env: {},
    memoryMiB: 64,
    timeoutMs: 30_000,
    seed: seedOf('job-1'),
    ...overrides
  }
}

/** Threads of this process named like executor workers (Linux; undefined elsewhere). */
function executorThreads (): number | undefined {
  if (!existsSync('/proc/self/task')) return undefined
  let n = 0
  for (const task of readdirSync('/proc/self/task')) {
    try {
      if (readFileSync(`/proc/self/task/${task}/comm`, 'utf8').trim() === 'depin-executor') n++
    } catch {} // the thread ended while we looked
  }
  return n
}

/** The smallest command module, assembled by hand: defines a memory, `_start` returns at once. */
function minimalModule (): Uint8Array {
  const name = [...utf8('_start')]
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // type: () -> ()
    0x03, 0x02, 0x01, 0x00, // function 0: type 0
    0x05, 0x03, 0x01, 0x00, 0x01, // memory: min 1 page, no max
    0x07, 2 + name.length + 2, 0x01, name.length, ...name, 0x00, 0x00, // export "_start" = func 0
    0x0a, 0x04, 0x01, 0x02, 0x00, 0x0b // code: empty body
  ])
}

describe('executor', () => {
  let executor: WasiExecutor

  beforeAll(async () => {
    executor = createExecutor({ workers: 2, maxStdoutBytes: 1024 * 1024, maxStderrBytes: 64 * 1024 })
    await executor.start()
  })

  afterAll(async () => {
    await executor.stop()
  })

  describe('example jobs', () => {
    it('primes counts the primes below N', async () => {
      const small = await executor.run(spec(example('primes'), { args: ['100'] }))
      expect(small).toMatchObject({ exitCode: 0, trap: undefined })
      expect(text(small.stdout)).toBe('25\n')
      const larger = await executor.run(spec(example('primes'), { args: ['10000'] }))
      expect(text(larger.stdout)).toBe('1229\n')
    })

    it('primes rejects a bad argument with exit code 2 and a usage line on stderr', async () => {
      const result = await executor.run(spec(example('primes'), { args: ['abc'] }))
      expect(result.exitCode).toBe(2)
      expect(text(result.stderr)).toContain('usage: primes')
    })

    it('mandelbrot renders a binary PGM with a known hash', async () => {
      const result = await executor.run(spec(example('mandelbrot'), { args: ['64', '48', '100'] }))
      expect(result.exitCode).toBe(0)
      const header = 'P5\n64 48\n255\n'
      expect(text(result.stdout.subarray(0, header.length))).toBe(header)
      expect(result.stdout.byteLength).toBe(header.length + 64 * 48)
      // the same hash as examples/mandelbrot.c built natively with gcc -O2
      expect(hex(sha256(result.stdout))).toBe('01ce83397967d9da74d4c1235520a8dad19666c58314db1f0b3620f5321e0b3f')
    })

    it('wordcount prints lines, words and bytes of stdin like wc', async () => {
      const input = utf8('the quick brown fox\njumps over\n\n  the lazy dog')
      const result = await executor.run(spec(example('wordcount'), { stdin: input }))
      expect(result.exitCode).toBe(0)
      expect(text(result.stdout)).toBe('3 9 46\n')
    })

    it('echo returns every byte value unchanged', async () => {
      const input = Uint8Array.from({ length: 512 }, (_, i) => i % 256)
      const result = await executor.run(spec(example('echo'), { stdin: input }))
      expect(result.exitCode).toBe(0)
      expect(hex(result.stdout)).toBe(hex(input))
    })

    it('echo round-trips 1 MiB of binary input', async () => {
      const input = new Uint8Array(1024 * 1024)
      for (let i = 0; i < input.byteLength; i += 32) input.set(sha256(Uint8Array.of(i & 0xff, (i >> 8) & 0xff, i >> 16)), i)
      const result = await executor.run(spec(example('echo'), { stdin: input }))
      expect(result.exitCode).toBe(0)
      expect(result.stdoutTruncated).toBe(false)
      expect(result.stdout.byteLength).toBe(input.byteLength)
      expect(hex(sha256(result.stdout))).toBe(hex(sha256(input)))
    })

    it('leaves the caller\'s stdin buffer intact (a Buffer view into a larger allocation)', async () => {
      const backing = Buffer.from('....hello from a view....')
      const stdin = backing.subarray(4, 21)
      const result = await executor.run(spec(example('echo'), { stdin }))
      expect(text(result.stdout)).toBe('hello from a view')
      expect(backing.toString()).toBe('....hello from a view....')
      expect(stdin.byteLength).toBe(17)
    })

    it('echo of empty stdin writes nothing', async () => {
      const result = await executor.run(spec(example('echo')))
      expect(result).toMatchObject({ exitCode: 0, stdoutTruncated: false })
      expect(result.stdout.byteLength).toBe(0)
    })
  })

  describe('program interface', () => {
    it('passes args after argv[0] and exactly the spec env, nothing from the host', async () => {
      const result = await executor.run(spec(fixture('args-env'), { args: ['one two', '', 'ünï'], env: { ZED: 'last', ALPHA: 'a=b' } }))
      expect(result.exitCode).toBe(0)
      expect(text(result.stdout)).toBe(
        'argc 4\narg job.wasm\narg one two\narg \narg ünï\nenv ALPHA=a=b\nenv ZED=last\n')
    })

    it('keeps stdout and stderr apart', async () => {
      const result = await executor.run(spec(fixture('stderr')))
      expect(result.exitCode).toBe(0)
      expect(text(result.stdout)).toBe('to stdout\n')
      expect(text(result.stderr)).toBe('to stderr\n')
    })

    it('reports the exit code given to exit()', async () => {
      const result = await executor.run(spec(fixture('exit3')))
      expect(result).toMatchObject({ exitCode: 3, trap: undefined })
      expect(text(result.stdout)).toBe('exiting with 3\n')
    })

    it('reports a trap with exit code -1 and keeps the output written before it', async () => {
      const result = await executor.run(spec(fixture('trap')))
      expect(result).toMatchObject({ exitCode: -1, trap: 'unreachable' })
      expect(text(result.stdout)).toBe('before trap\n')
    })

    it('reports unbounded recursion as a trap', async () => {
      const result = await executor.run(spec(fixture('recursion')))
      expect(result.exitCode).toBe(-1)
      expect(result.trap).toBeTypeOf('string')
    })

    it('runs a hand-assembled module without an import section (memory rewritten into an import)', async () => {
      const result = await executor.run(spec(minimalModule()))
      expect(result).toMatchObject({ exitCode: 0, trap: undefined })
    })

    it('reports wall and CPU time', async () => {
      const result = await executor.run(spec(example('primes'), { args: ['600000'] }))
      expect(result.wallMs).toBeGreaterThan(0)
      expect(result.cpuMs).toBeGreaterThan(0)
    })
  })

  describe('determinism', () => {
    it('gives identical clocks and random bytes on every run of the same spec', async () => {
      const first = await executor.run(spec(fixture('clock-random')))
      const second = await executor.run(spec(fixture('clock-random')))
      expect(first.exitCode).toBe(0)
      expect(text(second.stdout)).toBe(text(first.stdout))
      const lines = text(first.stdout).split('\n')
      expect(lines.slice(0, 5)).toEqual([
        'realtime 1704067200000001000', // virtual epoch 2024-01-01T00:00:00Z + one clock step
        'monotonic 2000',
        'resolution 1000',
        'time 1704067200',
        'slept 2000001000' // sleep(2) moved the virtual clock by 2 s without waiting
      ])
    })

    it('gives different random bytes for another seed, and the same clocks', async () => {
      const a = text((await executor.run(spec(fixture('clock-random'), { seed: seedOf('job-1') }))).stdout).split('\n')
      const b = text((await executor.run(spec(fixture('clock-random'), { seed: seedOf('job-2') }))).stdout).split('\n')
      expect(b.slice(0, 5)).toEqual(a.slice(0, 5))
      expect(a[5]).toMatch(/^random [0-9a-f]{32}$/)
      expect(b[5]).not.toBe(a[5])
      expect(b[6]).not.toBe(a[6])
    })

    it('gives the same output on different workers and after other jobs ran', async () => {
      const runs = await Promise.all([1, 2, 3, 4].map(async () => executor.run(spec(fixture('clock-random')))))
      for (const r of runs) expect(hex(r.stdout)).toBe(hex(runs[0].stdout))
    })
  })

  describe('output caps', () => {
    it('stops a job whose stdout passes the cap, keeping exactly the cap', async () => {
      const result = await executor.run(spec(fixture('flood')))
      expect(result).toMatchObject({ exitCode: -1, trap: 'output limit exceeded', stdoutTruncated: true })
      expect(result.stdout.byteLength).toBe(1024 * 1024)
    })

    it('truncates stderr past its cap and lets the job finish', async () => {
      const result = await executor.run(spec(fixture('flood'), { args: ['stderr', String(200 * 1024)] }))
      expect(result).toMatchObject({ exitCode: 0, trap: undefined, stderrTruncated: true, stdoutTruncated: false })
      expect(result.stderr.byteLength).toBe(64 * 1024)
      expect(text(result.stdout)).toBe('done\n')
    })
  })

  describe('memory cap', () => {
    async function runMeasuringRss (module: Uint8Array, memoryMiB: number): Promise<{ stdout: string, exitCode: number, peakGrowthMiB: number }> {
      const before = process.memoryUsage.rss()
      let peak = before
      const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage.rss()) }, 5)
      try {
        const result = await executor.run(spec(module, { memoryMiB }))
        peak = Math.max(peak, process.memoryUsage.rss())
        return { stdout: text(result.stdout), exitCode: result.exitCode, peakGrowthMiB: (peak - before) / 2 ** 20 }
      } finally {
        clearInterval(sampler)
      }
    }

    it('makes malloc fail at the cap for a module that declares no maximum', async () => {
      const { stdout, exitCode, peakGrowthMiB } = await runMeasuringRss(fixture('grow'), 32)
      expect(exitCode).toBe(1)
      const mib = Number(/malloc failed after (\d+) MiB/.exec(stdout)?.[1])
      expect(mib).toBeGreaterThan(16)
      expect(mib).toBeLessThan(32)
      // without the cap the program would take the whole 4 GiB of wasm32
      expect(peakGrowthMiB).toBeLessThan(512)
    })

    it('caps a module whose declared maximum is above the cap', async () => {
      const { stdout, exitCode, peakGrowthMiB } = await runMeasuringRss(fixture('grow-declared-max'), 16)
      expect(exitCode).toBe(1)
      expect(Number(/after (\d+) MiB/.exec(stdout)?.[1])).toBeLessThan(16)
      expect(peakGrowthMiB).toBeLessThan(512)
    })

    it('caps a module that imports its memory', async () => {
      const { stdout, exitCode, peakGrowthMiB } = await runMeasuringRss(fixture('grow-imported'), 16)
      expect(exitCode).toBe(1)
      expect(Number(/after (\d+) MiB/.exec(stdout)?.[1])).toBeLessThan(16)
      expect(peakGrowthMiB).toBeLessThan(512)
    })

    it('refuses a module whose initial memory is above the job cap', async () => {
      await expect(executor.run(spec(fixture('big-initial'), { memoryMiB: 32 }))).rejects.toBeInstanceOf(MemoryLimitError)
      const fits = await executor.run(spec(fixture('big-initial'), { memoryMiB: 64 }))
      expect(text(fits.stdout)).toBe('big\n')
    })
  })

  describe('refused input', () => {
    it('refuses bytes that are not WebAssembly', async () => {
      const err = await executor.run(spec(utf8('#!/bin/sh\necho hi\n'))).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(InvalidModuleError)
      expect(err).toMatchObject({ code: 'ERR_INVALID_MODULE' })
    })

    it('refuses a module importing a function outside WASI, naming it', async () => {
      const err = await executor.run(spec(fixture('evil'))).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(ForbiddenImportError)
      expect(err).toBeInstanceOf(InvalidModuleError)
      expect(err).toMatchObject({ code: 'ERR_FORBIDDEN_IMPORT', module: 'env', field: 'evil' })
      expect((err as Error).message).toContain('"env"."evil"')
    })

    it('refuses a module that fails to compile, with the reason', async () => {
      const broken = Uint8Array.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x05, 0x01, 0x60, 0x00, 0x7f])
      const err = await executor.run(spec(broken)).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(InvalidModuleError)
      expect((err as Error).message).toMatch(/does not compile: .+/)
    })

    it('refuses module bytes that do not match the CID', async () => {
      const err = await executor.run(spec(example('echo'), { moduleCid: rawCid(example('primes')) })).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(ModuleCidMismatchError)
      expect(err).toMatchObject({ code: 'ERR_MODULE_CID_MISMATCH' })
    })

    it('refuses bytes that do not match the CID also once that CID is compiled and cached', async () => {
      const echo = example('echo')
      expect(text((await executor.run(spec(echo, { stdin: utf8('cached') }))).stdout)).toBe('cached')
      const tampered = echo.slice()
      tampered[tampered.byteLength - 1] ^= 1
      const err = await executor.run(spec(tampered, { moduleCid: rawCid(echo) })).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(ModuleCidMismatchError)
      // the array that was checked runs again under its CID
      expect(text((await executor.run(spec(echo, { stdin: utf8('again') }))).stdout)).toBe('again')
    })

    it('refuses a spec with a seed of the wrong length', async () => {
      const err = await executor.run(spec(example('echo'), { seed: new Uint8Array(16) })).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(InvalidExecSpecError)
      expect(err).toMatchObject({ code: 'ERR_INVALID_EXEC_SPEC' })
    })

    it('refuses a spec asking for more memory than the executor allows', async () => {
      await expect(executor.run(spec(example('echo'), { memoryMiB: 8192 }))).rejects.toBeInstanceOf(InvalidExecSpecError)
    })

    it('refuses args and env over MAX_ARGS_ENV_BYTES', async () => {
      await expect(executor.run(spec(example('echo'), { args: ['x'.repeat(MAX_ARGS_ENV_BYTES)] }))).rejects.toBeInstanceOf(InvalidExecSpecError)
    })

    it('refuses env names containing "="', async () => {
      await expect(executor.run(spec(example('echo'), { env: { 'A=B': 'c' } }))).rejects.toBeInstanceOf(InvalidExecSpecError)
    })
  })

  describe('concurrency', () => {
    it('completes more jobs than workers, each with its own output', async () => {
      const inputs = Array.from({ length: 12 }, (_, i) => utf8(`job ${i} `.repeat(i + 1)))
      const results = await Promise.all(inputs.map(async stdin => executor.run(spec(example('echo'), { stdin }))))
      results.forEach((r, i) => {
        expect(r.exitCode).toBe(0)
        expect(text(r.stdout)).toBe(text(inputs[i]))
      })
    })
  })
})

describe('executor lifecycle and limits', () => {
  const executors: WasiExecutor[] = []
  const make = async (init: Parameters<typeof createExecutor>[0]): Promise<WasiExecutor> => {
    const e = createExecutor(init)
    executors.push(e)
    await e.start()
    return e
  }

  afterEach(async () => {
    await Promise.all(executors.splice(0).map(async e => e.stop()))
  })

  it('ends an infinite loop at the deadline with trap "timeout"', async () => {
    const executor = await make({ workers: 1 })
    let ticks = 0
    const ticker = setInterval(() => { ticks++ }, 10)
    try {
      const result = await executor.run(spec(fixture('loop'), { timeoutMs: 300 }))
      expect(result).toMatchObject({ exitCode: -1, trap: 'timeout', stdoutTruncated: false })
      expect(result.cpuMs).toBeGreaterThan(0)
      expect(ticks).toBeGreaterThan(0) // the main thread's event loop ran while the job spun
    } finally {
      clearInterval(ticker)
    }
  })

  it('keeps the event loop and the other workers going while a job spins', async () => {
    const executor = await make({ workers: 2 })
    let ticks = 0
    const ticker = setInterval(() => { ticks++ }, 10)
    const controller = new AbortController()
    let loopDone = false
    const loop = executor.run(spec(fixture('loop'), { timeoutMs: 60_000 }), { signal: controller.signal })
      .catch((e: unknown) => e)
      .finally(() => { loopDone = true })
    try {
      await pollUntil(() => executor.stats().running === 1)
      const echo = await executor.run(spec(example('echo'), { stdin: utf8('meanwhile') }))
      expect(text(echo.stdout)).toBe('meanwhile')
      await pollUntil(() => ticks >= 3)
      expect(loopDone).toBe(false)
    } finally {
      clearInterval(ticker)
      controller.abort()
    }
    expect(await loop).toBeInstanceOf(ExecutionAbortedError)
  })

  it('replaces a timed-out worker and keeps running jobs', async () => {
    const executor = await make({ workers: 1 })
    const result = await executor.run(spec(fixture('loop'), { timeoutMs: 200 }))
    expect(result.trap).toBe('timeout')
    expect(executor.stats().workersStarted).toBe(2)
    const next = await executor.run(spec(example('echo'), { stdin: utf8('after') }))
    expect(text(next.stdout)).toBe('after')
    expect(executor.stats().workers).toBe(1)
  })

  it('reuses a worker after a trap (no replacement)', async () => {
    const executor = await make({ workers: 1 })
    expect((await executor.run(spec(fixture('trap')))).trap).toBe('unreachable')
    expect((await executor.run(spec(fixture('recursion')))).exitCode).toBe(-1)
    const next = await executor.run(spec(example('echo'), { stdin: utf8('still fine') }))
    expect(text(next.stdout)).toBe('still fine')
    expect(executor.stats().workersStarted).toBe(1)
  })

  it('starts every run on a memory as new, whatever the runs before left in theirs (one worker, memories reused)', async () => {
    const executor = await make({ workers: 1 })
    const module = fixture('memory-residue')
    const run = async (stdin: string, memoryMiB = 64): Promise<string> => text((await executor.run(spec(module, { stdin: utf8(stdin), memoryMiB }))).stdout)
    expect(await run('x'.repeat(8192))).toBe('2 pages, 0 bytes not zero\n')
    // The run before filled its static buffer: this one finds it zero again.
    expect(await run('y'.repeat(8192))).toBe('2 pages, 0 bytes not zero\n')
    // One that grew its memory: the next one starts at the initial size.
    expect(await run('g'.repeat(100))).toBe('2 pages, 0 bytes not zero\n')
    expect(await run('')).toBe('2 pages, 0 bytes not zero\n')
    // Another memory cap (another maximum) in between, and a trap, change nothing either.
    expect(await run('z'.repeat(8192), 1)).toBe('2 pages, 0 bytes not zero\n')
    expect((await executor.run(spec(fixture('trap')))).trap).toBe('unreachable')
    expect(await run('z'.repeat(8192))).toBe('2 pages, 0 bytes not zero\n')
    expect(await run('')).toBe('2 pages, 0 bytes not zero\n')
    expect(executor.stats().workersStarted).toBe(1)
  })

  it('replaces a worker that crashed and reports the job as killed', async () => {
    const executor = await make({ workers: 1, workerUrl: new URL('fixtures/wasm/crash-worker.ts', import.meta.url) })
    const crashed = await executor.run(spec(example('echo'), { args: ['crash-the-worker'] }))
    expect(crashed.exitCode).toBe(-1)
    expect(crashed.trap).toMatch(/^worker crashed: .*70/)
    const next = await executor.run(spec(example('echo'), { stdin: utf8('replaced') }))
    expect(text(next.stdout)).toBe('replaced')
    expect(executor.stats()).toMatchObject({ workers: 1, workersStarted: 2 })
  })

  it('start() rejects with WorkerStartError when the worker script cannot load', async () => {
    const executor = createExecutor({ workers: 2, workerUrl: new URL('fixtures/wasm/no-such-worker.ts', import.meta.url) })
    executors.push(executor)
    const err = await executor.start().catch((e: unknown) => e)
    expect(err).toBeInstanceOf(WorkerStartError)
    expect(err).toMatchObject({ code: 'ERR_WORKER_START' })
    expect(executor.stats().workers).toBe(0)
    await expect(executor.run(spec(example('echo')))).rejects.toBeInstanceOf(ExecutorStoppedError)
  })

  it('compiles a module once and serves later runs from the cache', async () => {
    const executor = await make({ workers: 2 })
    await Promise.all([1, 2, 3].map(async () => executor.run(spec(example('echo'), { stdin: utf8('x') }))))
    await executor.run(spec(example('echo'), { stdin: utf8('y') }))
    expect(executor.stats()).toMatchObject({ compiles: 1, cacheHits: 3, cachedModules: 1 })
    await executor.run(spec(example('wordcount')))
    expect(executor.stats()).toMatchObject({ compiles: 2, cachedModules: 2 })
  })

  it('evicts the least recently used module past the cache size', async () => {
    const executor = await make({ workers: 1, moduleCacheEntries: 1 })
    await executor.run(spec(example('echo')))
    await executor.run(spec(example('wordcount')))
    await executor.run(spec(example('echo')))
    expect(executor.stats()).toMatchObject({ compiles: 3, cacheHits: 0, cachedModules: 1 })
  })

  it('throws ExecutorQueueFullError past workers + maxQueue jobs', async () => {
    const executor = await make({ workers: 1, maxQueue: 1 })
    const running = executor.run(spec(fixture('loop'), { timeoutMs: 60_000 })).catch((e: unknown) => e)
    const queued = executor.run(spec(fixture('loop'), { timeoutMs: 60_000 })).catch((e: unknown) => e)
    const err = await executor.run(spec(fixture('loop'))).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ExecutorQueueFullError)
    expect(err).toMatchObject({ code: 'ERR_EXECUTOR_QUEUE_FULL' })
    await executor.stop()
    expect(await running).toBeInstanceOf(ExecutorStoppedError)
    expect(await queued).toBeInstanceOf(ExecutorStoppedError)
  })

  it('stop() rejects running and queued jobs and leaves no worker thread', async () => {
    const executor = await make({ workers: 2 })
    const threadsBefore = executorThreads()
    const jobs = [1, 2, 3].map(async () => executor.run(spec(fixture('loop'), { timeoutMs: 60_000 })).catch((e: unknown) => e))
    await pollUntil(() => executor.stats().running === 2)
    await executor.stop()
    for (const job of jobs) {
      const err = await job
      expect(err).toBeInstanceOf(ExecutorStoppedError)
      expect(err).toMatchObject({ code: 'ERR_EXECUTOR_STOPPED' })
    }
    expect(executor.stats()).toMatchObject({ workers: 0, running: 0, waiting: 0 })
    if (threadsBefore !== undefined) {
      expect(threadsBefore).toBeGreaterThanOrEqual(2)
      expect(executorThreads()).toBe(0)
    }
    await executor.stop() // idempotent
  })

  it('rejects run() before start() and after stop()', async () => {
    const executor = createExecutor({ workers: 1 })
    executors.push(executor)
    await expect(executor.run(spec(example('echo')))).rejects.toBeInstanceOf(ExecutorStoppedError)
    await executor.start()
    await executor.stop()
    await expect(executor.run(spec(example('echo')))).rejects.toBeInstanceOf(ExecutorStoppedError)
  })

  it('aborting a running job kills its worker and rejects with ExecutionAbortedError', async () => {
    const executor = await make({ workers: 1 })
    const controller = new AbortController()
    const job = executor.run(spec(fixture('loop'), { timeoutMs: 60_000 }), { signal: controller.signal })
    await pollUntil(() => executor.stats().running === 1)
    controller.abort()
    await expect(job).rejects.toBeInstanceOf(ExecutionAbortedError)
    const next = await executor.run(spec(example('echo'), { stdin: utf8('next') }))
    expect(text(next.stdout)).toBe('next')
    expect(executor.stats().workersStarted).toBe(2)
  })

  it('aborting a queued job removes it without touching the running one', async () => {
    const executor = await make({ workers: 1 })
    const runningController = new AbortController()
    const running = executor.run(spec(fixture('loop'), { timeoutMs: 60_000 }), { signal: runningController.signal }).catch((e: unknown) => e)
    await pollUntil(() => executor.stats().running === 1)
    const queuedController = new AbortController()
    const queued = executor.run(spec(example('echo')), { signal: queuedController.signal }).catch((e: unknown) => e)
    await pollUntil(() => executor.stats().waiting === 1)
    queuedController.abort()
    expect(await queued).toBeInstanceOf(ExecutionAbortedError)
    expect(executor.stats()).toMatchObject({ running: 1, waiting: 0, workersStarted: 1 })
    runningController.abort()
    expect(await running).toBeInstanceOf(ExecutionAbortedError)
  })
})

async function pollUntil (condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not reached before the deadline')
    await new Promise(resolve => setTimeout(resolve, 5))
  }
}
