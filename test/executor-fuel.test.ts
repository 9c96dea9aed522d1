/**
 * Metered execution through the real executor: fuel is deterministic (the same over runs and
 * executors), a fuel limit stops a job at the same point with the same output, limits 0 and
 * 2^64-1 work, dynamic and host-call costs are exactly the documented ones.
 */
import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  createExecutor, HOST_BYTE_FUEL, HOST_CALL_FUEL, HOST_IOVEC_FUEL, HOST_RANDOM_BYTE_FUEL, InvalidExecSpecError, MAX_FUEL, measureFuelRate, parseFuel
} from '../src/scheduler/executor/index.ts'
import type { ExecResult, ExecSpec, WasiExecutor } from '../src/scheduler/executor/index.ts'
import { FuelExhausted } from '../src/scheduler/executor/metering/meter.ts'
import { createWasiShim } from '../src/scheduler/executor/wasi-shim.ts'
import { wasm } from '../src/scheduler/executor/wasm-api.ts'
import { execSpec as spec } from './executor-helpers.ts'

const root = new URL('../', import.meta.url)
const load = (path: string): Uint8Array => new Uint8Array(readFileSync(new URL(path, root)))
const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes)
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex')


/** Everything deterministic about a result (not wallMs, cpuMs). */
const outcome = (r: ExecResult): unknown => ({ exitCode: r.exitCode, trap: r.trap, stdout: hex(r.stdout), stderr: hex(r.stderr), fuel: r.fuel })

describe('metered execution', () => {
  let executor: WasiExecutor
  let other: WasiExecutor

  beforeAll(async () => {
    executor = createExecutor({ workers: 2 })
    other = createExecutor({ workers: 1, moduleCacheEntries: 4 })
    await Promise.all([executor.start(), other.start()])
  })

  afterAll(async () => {
    await Promise.all([executor.stop(), other.stop()])
  })

  it('reports the same fuel over 10 runs and on a second executor', async () => {
    const jobs: ExecSpec[] = [
      spec(load('examples/primes.wasm'), { args: ['20000'] }),
      spec(load('examples/mandelbrot.wasm'), { args: ['64', '48', '200'] }),
      spec(load('examples/wordcount.wasm'), { stdin: new TextEncoder().encode('one two three\nfour five\n'.repeat(100)) }),
      spec(load('test/fixtures/wasm/clock-random.wasm'))
    ]
    for (const job of jobs) {
      const runs = await Promise.all(Array.from({ length: 10 }, async () => executor.run(job)))
      const elsewhere = await other.run(job)
      expect(runs[0].exitCode).toBe(0)
      expect(typeof runs[0].fuel).toBe('bigint')
      expect(runs[0].fuel).toBeGreaterThan(0n)
      for (const r of [...runs, elsewhere]) expect(outcome(r)).toEqual(outcome(runs[0]))
    }
  })

  it('reports the same fuel for a job that traps', async () => {
    const trap = load('test/fixtures/wasm/trap.wasm')
    const [a, b] = await Promise.all([executor.run(spec(trap)), other.run(spec(trap))])
    expect(a.exitCode).toBe(-1)
    expect(a.trap).not.toBe('out of fuel')
    expect(a.fuel).toBeGreaterThan(0n)
    expect(outcome(b)).toEqual(outcome(a))
  })

  it('stops an endless job at its fuel limit with the same output and fuel every time', async () => {
    const ticker = load('test/fixtures/wasm/fuel-ticker.wasm')
    const limit = 5_000_000n
    const [a, b, c] = await Promise.all([executor.run(spec(ticker, { fuel: limit })), executor.run(spec(ticker, { fuel: limit })), other.run(spec(ticker, { fuel: limit }))])
    expect(a).toMatchObject({ exitCode: -1, trap: 'out of fuel', fuel: limit })
    expect(text(a.stdout)).toMatch(/^tick 0 \d+\n(tick \d+ \d+\n)+$/)
    expect(outcome(b)).toEqual(outcome(a))
    expect(outcome(c)).toEqual(outcome(a))
    // more fuel, more of the same output: what was printed before the stop is a prefix
    const more = await executor.run(spec(ticker, { fuel: limit * 2n }))
    expect(more).toMatchObject({ trap: 'out of fuel', fuel: limit * 2n })
    expect(more.stdout.byteLength).toBeGreaterThan(a.stdout.byteLength)
    expect(text(more.stdout).startsWith(text(a.stdout))).toBe(true)
  })

  it('stops an endless loop without host calls by fuel long before its wall-clock timeout', async () => {
    const loop = load('test/fixtures/wasm/loop.wasm')
    const [a, b] = await Promise.all([executor.run(spec(loop, { fuel: 10_000_000n })), other.run(spec(loop, { fuel: 10_000_000n }))])
    expect(a).toMatchObject({ exitCode: -1, trap: 'out of fuel', fuel: 10_000_000n, stdout: new Uint8Array(0) })
    expect(outcome(b)).toEqual(outcome(a))
  })

  it('fuel limit 0 stops a job before its first instruction', async () => {
    const result = await executor.run(spec(load('examples/primes.wasm'), { args: ['100'], fuel: 0n }))
    expect(result).toMatchObject({ exitCode: -1, trap: 'out of fuel', fuel: 0n })
    expect(result.stdout.byteLength).toBe(0)
  })

  it('fuel limit 2^64-1 runs like no limit', async () => {
    const primes = load('examples/primes.wasm')
    const unlimited = await executor.run(spec(primes, { args: ['1000'] }))
    const max = await executor.run(spec(primes, { args: ['1000'], fuel: MAX_FUEL }))
    expect(text(max.stdout)).toBe('168\n')
    expect(outcome(max)).toEqual(outcome(unlimited))
  })

  it('a limit just under what a job needs stops it; exactly what it needs lets it finish', async () => {
    const primes = load('examples/primes.wasm')
    const { fuel } = await executor.run(spec(primes, { args: ['1000'] }))
    expect(fuel).toBeDefined()
    const exact = await executor.run(spec(primes, { args: ['1000'], fuel }))
    expect(exact).toMatchObject({ exitCode: 0, fuel })
    const under = await executor.run(spec(primes, { args: ['1000'], fuel: (fuel as bigint) - 1n }))
    expect(under).toMatchObject({ exitCode: -1, trap: 'out of fuel', fuel: (fuel as bigint) - 1n })
    // the output so far is the complete run's, up to where it stopped
    expect(text(exact.stdout).startsWith(text(under.stdout))).toBe(true)
    expect(outcome(await other.run(spec(primes, { args: ['1000'], fuel: (fuel as bigint) - 1n })))).toEqual(outcome(under))
  })

  it('charges bulk memory per byte and memory.grow per page, exactly', async () => {
    const module = load('test/fixtures/wasm/dynamic-costs.wasm')
    const run = async (bytes: string, pages: string): Promise<ExecResult> => executor.run(spec(module, { args: [bytes, pages] }))
    const base = await run('0000000', '0000000')
    const filled = await run('1048576', '0000000')
    const grown = await run('0000000', '0000016')
    const few = await run('0000063', '0000000')
    expect(base.exitCode).toBe(0)
    expect(text(filled.stdout)).toMatch(/^[0-9a-f]{8}\n$/)
    // the program fills 1 MiB twice (memset + memcpy become two memory.fill): 2 × 2^20, one fuel a byte
    expect((filled.fuel as bigint) - (base.fuel as bigint)).toBe(2n * 1048576n)
    expect((grown.fuel as bigint) - (base.fuel as bigint)).toBe(16n * 256n)
    expect((few.fuel as bigint) - (base.fuel as bigint)).toBe(2n * 63n) // no rounding down
  })

  it('refuses bad fuel limits with InvalidExecSpecError', async () => {
    const primes = load('examples/primes.wasm')
    for (const fuel of [-1n, MAX_FUEL + 1n, 5 as unknown as bigint]) {
      await expect(executor.run(spec(primes, { fuel }))).rejects.toBeInstanceOf(InvalidExecSpecError)
    }
  })

  it('measures this machine\'s fuel rate with the built-in module', async () => {
    const rate = await measureFuelRate(executor)
    expect(rate.fuelPerSecond).toBeGreaterThan(0)
    expect(rate.fuel).toBeGreaterThan(0n)
    expect(rate.cpuMs).toBeGreaterThan(0)
  })
})

describe('an executor with metering off', () => {
  let executor: WasiExecutor

  beforeAll(async () => {
    executor = createExecutor({ workers: 1, metering: false })
    await executor.start()
  })

  afterAll(async () => {
    await executor.stop()
  })

  it('reports no fuel and refuses fuel limits', async () => {
    const primes = load('examples/primes.wasm')
    const result = await executor.run(spec(primes, { args: ['100'] }))
    expect(text(result.stdout)).toBe('25\n')
    expect(result.fuel).toBeUndefined()
    await expect(executor.run(spec(primes, { fuel: 1000n }))).rejects.toBeInstanceOf(InvalidExecSpecError)
  })
})

describe('host-call fuel (wasi-shim charge hook)', () => {
  /** A shim on a fresh memory whose charges are recorded; `budget` makes the hook throw past it. */
  function shim (budget = Infinity, stdin = new Uint8Array(0)): { imports: Record<string, (...args: any[]) => unknown>, charges: number[], view: DataView, stdout: () => string } {
    const memory = new wasm.Memory({ initial: 1 })
    const charges: number[] = []
    let total = 0
    const s = createWasiShim({
      memory,
      stdin,
      seed: new Uint8Array(32),
      maxStdoutBytes: 1024,
      maxStderrBytes: 1024,
      nodeWasi: {},
      charge: units => {
        charges.push(units)
        total += units
        if (total > budget) throw new FuelExhausted()
      }
    })
    return { imports: s.imports, charges, view: new DataView(memory.buffer), stdout: () => text(s.stdout.take()) }
  }

  it('fd_write costs HOST_CALL_FUEL plus HOST_BYTE_FUEL per byte, buffer by buffer', () => {
    const { imports, charges, view, stdout } = shim()
    new Uint8Array(view.buffer).set(new TextEncoder().encode('hello, world'), 100)
    // two iovecs at 0: (100, 5) and (105, 7); nwritten at 50
    view.setUint32(0, 100, true); view.setUint32(4, 5, true)
    view.setUint32(8, 105, true); view.setUint32(12, 7, true)
    expect(imports.fd_write(1, 0, 2, 50)).toBe(0)
    expect(charges).toEqual([HOST_CALL_FUEL, 2 * HOST_IOVEC_FUEL, 5 * HOST_BYTE_FUEL, 7 * HOST_BYTE_FUEL]) // the iovecs, then each buffer
    expect(stdout()).toBe('hello, world')
  })

  it('fd_read charges its iovec and the bytes it moves, random_get HOST_RANDOM_BYTE_FUEL a byte', () => {
    const { imports, charges, view } = shim(Infinity, new TextEncoder().encode('abc'))
    view.setUint32(0, 100, true); view.setUint32(4, 10, true)
    expect(imports.fd_read(0, 0, 1, 50)).toBe(0)
    expect(view.getUint32(50, true)).toBe(3)
    expect(imports.random_get(200, 16)).toBe(0)
    expect(imports.sched_yield()).toBe(0)
    expect(charges).toEqual([HOST_CALL_FUEL, HOST_IOVEC_FUEL, 3 * HOST_BYTE_FUEL, HOST_CALL_FUEL, 16 * HOST_RANDOM_BYTE_FUEL, HOST_CALL_FUEL])
  })

  it('a call that would pass the limit has no effect', () => {
    const { imports, view, stdout } = shim(HOST_CALL_FUEL + 2 * HOST_IOVEC_FUEL + 5)
    new Uint8Array(view.buffer).set(new TextEncoder().encode('hello, world'), 100)
    view.setUint32(0, 100, true); view.setUint32(4, 5, true)
    view.setUint32(8, 105, true); view.setUint32(12, 7, true)
    expect(() => imports.fd_write(1, 0, 2, 50)).toThrow(FuelExhausted)
    // the first buffer fitted the budget, the second did not: only it is missing
    expect(stdout()).toBe('hello')
  })
})

describe('parseFuel', () => {
  it('reads decimal fuel in 0..2^64-1 and refuses anything else', () => {
    expect(parseFuel('0')).toBe(0n)
    expect(parseFuel('18446744073709551615')).toBe(MAX_FUEL)
    for (const bad of ['18446744073709551616', '-1', '1e3', '', ' 1', '0x10', '1.5']) {
      expect(() => parseFuel(bad)).toThrow(InvalidExecSpecError)
    }
  })
})
