/**
 * Host calls whose work grows with their arguments: every guest structure the host reads or
 * writes is charged by the byte, and the counts have caps that keep one call's work and heap
 * bounded (docs/protocol.md, "Host-call fuel"). Call by call through the shim's charge hook, and
 * through the executor with hand-assembled modules whose fuel is worked out by hand.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { rawCid, sha256 } from '../src/proofs/encoding.ts'
import { createExecutor, ERRNO, HOST_BYTE_FUEL, HOST_CALL_FUEL } from '../src/scheduler/executor/index.ts'
import type { ExecSpec, WasiExecutor } from '../src/scheduler/executor/index.ts'
import { IOV_MAX } from '../src/scheduler/executor/guest-memory.ts'
import { createWasiShim } from '../src/scheduler/executor/wasi-shim.ts'
import { wasm } from '../src/scheduler/executor/wasm-api.ts'
import { assemble, callWith, I32 } from './wasm-asm.ts'

const CALL = HOST_CALL_FUEL
const B = HOST_BYTE_FUEL

function spec (module: Uint8Array, overrides: Partial<ExecSpec> = {}): ExecSpec {
  return {
    moduleCid: rawCid(module),
    module,
    stdin: new Uint8Array(0),
    args: [],
    env: {},
    memoryMiB: 64,
    timeoutMs: 60_000,
    seed: sha256(module),
    ...overrides
  }
}

/** A shim on `pages` pages of fresh memory whose charges are recorded. */
function shim (pages = 1): { call: (name: string, ...args: unknown[]) => unknown, take: () => number[], view: DataView } {
  const memory = new wasm.Memory({ initial: pages })
  let charges: number[] = []
  const s = createWasiShim({
    memory,
    stdin: new TextEncoder().encode('abc'),
    seed: new Uint8Array(32),
    maxStdoutBytes: 1024,
    maxStderrBytes: 1024,
    nodeWasi: {},
    charge: units => { charges.push(units) }
  })
  return {
    call: (name, ...args) => s.imports[name](...args),
    take: () => { const out = charges; charges = []; return out },
    view: new DataView(memory.buffer)
  }
}

/**
 * `_start` makes one host call `fn` (type (i32 × arity) -> i32) with `args` and exits with its
 * errno. Fuel: arity + 2 instructions (the constants and two calls) + 2 host calls + what `fn`
 * charges for its bytes.
 */
function errnoOf (fn: string, args: number[], pages: number): Uint8Array {
  return assemble({
    types: [[0x60, args.length, ...args.map(() => I32), 1, I32], [0x60, 1, I32, 0], [0x60, 0, 0]],
    wasi: [[fn, 0], ['proc_exit', 1]],
    funcs: [{ type: 2, body: [0x00, ...callWith(0, args), 0x10, 0x01, 0x0b] }],
    memory: pages
  })
}

/** Opens /out/f for reading and writing through the shim (path at 60000, fd to 60100); returns the fd. */
function openOutFile (call: (name: string, ...args: unknown[]) => unknown, view: DataView): number {
  new Uint8Array(view.buffer).set(new TextEncoder().encode('f'), 60_000)
  const rights = (1n << 1n) | (1n << 6n) // fd_read, fd_write
  expect(call('path_open', 4, 0, 60_000, 1, 1, rights, rights, 0, 60_100)).toBe(ERRNO.SUCCESS)
  return view.getUint32(60_100, true)
}

describe('iovec arrays', () => {
  let executor: WasiExecutor

  beforeAll(async () => {
    executor = createExecutor({ workers: 1 })
    await executor.start()
  })

  afterAll(async () => {
    await executor.stop()
  })

  it('more than IOV_MAX iovecs is EINVAL in all four calls, with no byte charged', () => {
    const { call, take, view } = shim()
    const fd = openOutFile(call, view)
    take()
    // the array (1025 × 8 bytes at 0, all empty buffers) is inside the memory: only the count is wrong
    expect(call('fd_write', 1, 0, IOV_MAX + 1, 16_000)).toBe(ERRNO.INVAL)
    expect(call('fd_read', 0, 0, IOV_MAX + 1, 16_000)).toBe(ERRNO.INVAL)
    expect(call('fd_pwrite', fd, 0, IOV_MAX + 1, 0n, 16_000)).toBe(ERRNO.INVAL)
    expect(call('fd_pread', fd, 0, IOV_MAX + 1, 0n, 16_000)).toBe(ERRNO.INVAL)
    // a count far past the memory is EINVAL too, not EFAULT
    expect(call('fd_write', 1, 0, 0x7fffffff, 16_000)).toBe(ERRNO.INVAL)
    expect(take()).toEqual([CALL, CALL, CALL, CALL, CALL])
  })

  it('charges the 8 bytes of every iovec it reads, empty buffers included', () => {
    const { call, take, view } = shim()
    const fd = openOutFile(call, view)
    take()
    expect(call('fd_write', 1, 0, IOV_MAX, 16_000)).toBe(ERRNO.SUCCESS)
    expect(view.getUint32(16_000, true)).toBe(0)
    expect(call('fd_pwrite', fd, 0, IOV_MAX, 0n, 16_000)).toBe(ERRNO.SUCCESS)
    // stdin has 3 bytes: the iovecs, then what is copied (into none of these empty buffers)
    expect(call('fd_read', 0, 0, IOV_MAX, 16_000)).toBe(ERRNO.SUCCESS)
    expect(take()).toEqual([CALL, IOV_MAX * 8 * B, CALL, IOV_MAX * 8 * B, CALL, IOV_MAX * 8 * B])
    // the array is charged before its buffers are checked: one buffer outside the memory is EFAULT
    view.setUint32(8, 65_530, true); view.setUint32(12, 7, true)
    expect(call('fd_write', 1, 0, 2, 16_000)).toBe(ERRNO.FAULT)
    expect(take()).toEqual([CALL, 16 * B])
    // the array itself outside the memory: EFAULT, nothing read, nothing charged
    expect(call('fd_write', 1, 65_532, 1, 16_000)).toBe(ERRNO.FAULT)
    expect(take()).toEqual([CALL])
  })

  it('a job passing two million iovecs gets EINVAL and pays for its instructions and calls, nothing more', async () => {
    // fd_write(1, iovs 0, 2,000,000 iovecs, nwritten at 16,700,000) on 256 pages: the array fits in memory
    const module = errnoOf('fd_write', [1, 0, 2_000_000, 16_700_000], 256)
    const result = await executor.run(spec(module))
    expect(result).toMatchObject({ exitCode: ERRNO.INVAL, trap: undefined, fuel: 6n + 2n * BigInt(CALL) })
  })
})
