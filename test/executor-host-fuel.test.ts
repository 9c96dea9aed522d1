/**
 * Host calls whose work grows with their arguments: every item the host reads or writes is
 * charged (iovecs 128, poll subscriptions and events 512, directory entries 768, random bytes 8,
 * other bytes 1), and the counts have caps that keep one call's work and heap bounded
 * (docs/protocol.md, "Host-call fuel"); and the base every call costs (5 000). Call by call
 * through the shim's charge hook, and through the executor with hand-assembled modules whose fuel
 * is worked out by hand.
 */
import { createCipheriv } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import {
  ERRNO, HOST_BYTE_FUEL, HOST_CALL_FUEL, HOST_DIRENT_FUEL, HOST_IOVEC_FUEL, HOST_POLL_EVENT_FUEL, HOST_POLL_SUBSCRIPTION_FUEL,
  HOST_RANDOM_BYTE_FUEL
} from '../src/scheduler/executor/index.ts'
import type { ExecSpec } from '../src/scheduler/executor/index.ts'
import { IOV_MAX } from '../src/scheduler/executor/guest-memory.ts'
import { FuelExhausted } from '../src/scheduler/executor/metering/meter.ts'
import { createWasiShim } from '../src/scheduler/executor/wasi-shim.ts'
import { wasm } from '../src/scheduler/executor/wasm-api.ts'
import { assemble, callWith, I32, I64, sleb } from './wasm-asm.ts'
import { execSpec as spec, useExecutor } from './executor-helpers.ts'

const CALL = HOST_CALL_FUEL
const B = HOST_BYTE_FUEL
const IOV = HOST_IOVEC_FUEL
const SUB = HOST_POLL_SUBSCRIPTION_FUEL
const EV = HOST_POLL_EVENT_FUEL
const DIRENT = HOST_DIRENT_FUEL
const RB = HOST_RANDOM_BYTE_FUEL


/** A shim on `pages` pages of fresh memory whose charges are recorded; charges past `budget` throw FuelExhausted. */
function shim (pages = 1, budget = Infinity): { call: (name: string, ...args: unknown[]) => unknown, take: () => number[], view: DataView, allowAll: () => void } {
  const memory = new wasm.Memory({ initial: pages })
  let charges: number[] = []
  let used = 0
  const s = createWasiShim({
    memory,
    stdin: new TextEncoder().encode('abc'),
    seed: new Uint8Array(32),
    maxStdoutBytes: 1024,
    maxStderrBytes: 1024,
    nodeWasi: {},
    charge: units => {
      charges.push(units)
      used += units
      if (used > budget) throw new FuelExhausted()
    }
  })
  return {
    call: (name, ...args) => s.imports[name](...args),
    take: () => { const out = charges; charges = []; return out },
    view: new DataView(memory.buffer),
    allowAll: () => { budget = Infinity }
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
  const pool = useExecutor()

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

  it('charges HOST_IOVEC_FUEL for every iovec it reads, empty buffers included', () => {
    const { call, take, view } = shim()
    const fd = openOutFile(call, view)
    take()
    expect(call('fd_write', 1, 0, IOV_MAX, 16_000)).toBe(ERRNO.SUCCESS)
    expect(view.getUint32(16_000, true)).toBe(0)
    expect(call('fd_pwrite', fd, 0, IOV_MAX, 0n, 16_000)).toBe(ERRNO.SUCCESS)
    // stdin has 3 bytes: the iovecs, then what is copied (into none of these empty buffers)
    expect(call('fd_read', 0, 0, IOV_MAX, 16_000)).toBe(ERRNO.SUCCESS)
    expect(take()).toEqual([CALL, IOV_MAX * IOV, CALL, IOV_MAX * IOV, CALL, IOV_MAX * IOV])
    // the array is charged before its buffers are checked: one buffer outside the memory is EFAULT
    view.setUint32(8, 65_530, true); view.setUint32(12, 7, true)
    expect(call('fd_write', 1, 0, 2, 16_000)).toBe(ERRNO.FAULT)
    expect(take()).toEqual([CALL, 2 * IOV])
    // the array itself outside the memory: EFAULT, nothing read, nothing charged
    expect(call('fd_write', 1, 65_532, 1, 16_000)).toBe(ERRNO.FAULT)
    expect(take()).toEqual([CALL])
  })

  it('a job passing two million iovecs gets EINVAL and pays for its instructions and calls, nothing more', async () => {
    // fd_write(1, iovs 0, 2,000,000 iovecs, nwritten at 16,700,000) on 256 pages: the array fits in memory
    const module = errnoOf('fd_write', [1, 0, 2_000_000, 16_700_000], 256)
    const result = await pool.executor.run(spec(module))
    expect(result).toMatchObject({ exitCode: ERRNO.INVAL, trap: undefined, fuel: 6n + 2n * BigInt(CALL) })
  })
})

describe('poll_oneoff', () => {
  const pool = useExecutor()

  /** A clock subscription at `at` (monotonic, relative `timeoutNs`), userdata `id`. */
  const clockSub = (view: DataView, at: number, id: bigint, timeoutNs: bigint): void => {
    new Uint8Array(view.buffer).fill(0, at, at + 48)
    view.setBigUint64(at, id, true)
    view.setUint8(at + 8, 0) // clock
    view.setUint32(at + 16, 1, true) // monotonic
    view.setBigUint64(at + 24, timeoutNs, true)
  }
  /** An fd_read (tag 1) or fd_write (tag 2) subscription on `fd`. */
  const fdSub = (view: DataView, at: number, tag: number, fd: number): void => {
    new Uint8Array(view.buffer).fill(0, at, at + 48)
    view.setUint8(at + 8, tag)
    view.setUint32(at + 16, fd, true)
  }

  it('charges HOST_POLL_SUBSCRIPTION_FUEL per subscription read and HOST_POLL_EVENT_FUEL per event written', () => {
    const { call, take, view } = shim()
    clockSub(view, 0, 7n, 5000n)
    expect(call('poll_oneoff', 0, 4096, 1, 8192)).toBe(ERRNO.SUCCESS)
    expect(view.getUint32(8192, true)).toBe(1)
    expect(take()).toEqual([CALL, SUB, EV])
    // three fd subscriptions (stdin, stdout, a descriptor that is not open) and a clock: three events
    fdSub(view, 0, 1, 0)
    fdSub(view, 48, 2, 1)
    fdSub(view, 96, 1, 99)
    clockSub(view, 144, 8n, 5000n)
    expect(call('poll_oneoff', 0, 4096, 4, 8192)).toBe(ERRNO.SUCCESS)
    expect(view.getUint32(8192, true)).toBe(3)
    expect(take()).toEqual([CALL, 4 * SUB, 3 * EV])
  })

  it('a poll whose events would pass the limit writes nothing and leaves the clock where it was', () => {
    const { call, view, allowAll } = shim(1, CALL + SUB + EV - 1)
    clockSub(view, 0, 7n, 5000n)
    view.setUint32(8192, 12345, true)
    expect(() => call('poll_oneoff', 0, 4096, 1, 8192)).toThrow(FuelExhausted)
    expect(view.getUint32(8192, true)).toBe(12345)
    expect(view.getBigUint64(4096, true)).toBe(0n)
    // the next clock read is one step after 0, not 5000 ns later
    allowAll()
    expect(call('clock_time_get', 1, 0n, 100)).toBe(ERRNO.SUCCESS)
    expect(view.getBigUint64(100, true)).toBe(1000n)
  })

  it('more than 4096 subscriptions is EINVAL, charged nothing but the call', () => {
    const { call, take } = shim(16)
    // 4097 zeroed subscriptions (clocks) fit in memory at 0, the events at 200,000
    expect(call('poll_oneoff', 0, 200_000, 4097, 400_000)).toBe(ERRNO.INVAL)
    expect(call('poll_oneoff', 0, 200_000, 4096, 400_000)).toBe(ERRNO.SUCCESS)
    expect(take()).toEqual([CALL, CALL, 4096 * SUB, EV])
  })

  it('a job passing 65,536 subscriptions gets EINVAL and pays for its instructions and calls', async () => {
    const module = errnoOf('poll_oneoff', [0, 4_000_000, 65_536, 16_000_000], 256)
    expect(await pool.executor.run(spec(module))).toMatchObject({ exitCode: ERRNO.INVAL, trap: undefined, fuel: 6n + 2n * BigInt(CALL) })
  })
})

describe('fd_readdir', () => {
  it('charges the entries removed since the listing was taken that it steps over', () => {
    const { call, take, view } = shim()
    const put = (at: number, s: string): number => {
      const bytes = new TextEncoder().encode(s)
      new Uint8Array(view.buffer).set(bytes, at)
      return bytes.byteLength
    }
    expect(call('path_create_directory', 4, 1000, put(1000, 'd'))).toBe(ERRNO.SUCCESS)
    for (const f of ['d/a', 'd/b', 'd/c']) {
      expect(call('path_open', 4, 0, 1000, put(1000, f), 1, 0n, 0n, 0, 2000)).toBe(ERRNO.SUCCESS)
      expect(call('fd_close', view.getUint32(2000, true))).toBe(ERRNO.SUCCESS)
    }
    expect(call('path_open', 4, 0, 1000, put(1000, 'd'), 2, 1n << 14n, 0n, 0, 2000)).toBe(ERRNO.SUCCESS)
    const dir = view.getUint32(2000, true)
    // a 10-byte read at cookie 0 takes the listing: . .. a b c
    expect(call('fd_readdir', dir, 3000, 10, 0n, 2000)).toBe(ERRNO.SUCCESS)
    expect(call('path_unlink_file', 4, 1000, put(1000, 'd/a'))).toBe(ERRNO.SUCCESS)
    expect(call('path_unlink_file', 4, 1000, put(1000, 'd/b'))).toBe(ERRNO.SUCCESS)
    take()
    // from cookie 2: a and b are gone (stepped over: an entry each), c is placed (an entry and 24 + 1 bytes)
    expect(call('fd_readdir', dir, 3000, 1000, 2n, 2000)).toBe(ERRNO.SUCCESS)
    expect(view.getUint32(2000, true)).toBe(25)
    expect(take()).toEqual([CALL, 3 * DIRENT + 25 * B])
    // a new listing (. .. c), then c goes: a full buffer stops the walk before it
    expect(call('fd_readdir', dir, 3000, 10, 0n, 2000)).toBe(ERRNO.SUCCESS)
    expect(call('path_unlink_file', 4, 1000, put(1000, 'd/c'))).toBe(ERRNO.SUCCESS)
    take()
    expect(call('fd_readdir', dir, 3000, 24, 1n, 2000)).toBe(ERRNO.SUCCESS) // '..' cut at 24 bytes
    expect(call('fd_readdir', dir, 3000, 1000, 1n, 2000)).toBe(ERRNO.SUCCESS) // '..', then c stepped over
    expect(view.getUint32(2000, true)).toBe(26)
    expect(take()).toEqual([CALL, DIRENT + 24 * B, CALL, 2 * DIRENT + 26 * B])
  })
})

describe('random_get', () => {
  const seed = new Uint8Array(32).fill(7)
  /** The keystream's 16-byte block number `block` (AES-256-CTR counts blocks big-endian from IV 0). */
  const keystreamBlock = (block: number): Buffer => {
    const iv = Buffer.alloc(16)
    iv.writeUInt32BE(block, 12)
    return createCipheriv('aes-256-ctr', seed, iv).update(Buffer.alloc(16))
  }
  const randomShim = (memory: InstanceType<typeof wasm.Memory>): { call: (name: string, ...args: unknown[]) => unknown, charges: number[] } => {
    const charges: number[] = []
    const s = createWasiShim({ memory, stdin: new Uint8Array(0), seed, maxStdoutBytes: 0, maxStderrBytes: 0, nodeWasi: {}, charge: units => { charges.push(units) } })
    return { call: (name, ...args) => s.imports[name](...args), charges }
  }

  it('is the seed\'s keystream, in order, whatever the sizes of the calls', () => {
    const memory = new wasm.Memory({ initial: 8 })
    const { call, charges } = randomShim(memory)
    expect(call('random_get', 0, 200_003)).toBe(ERRNO.SUCCESS) // three pieces and a bit
    expect(call('random_get', 200_003, 5)).toBe(ERRNO.SUCCESS)
    const expected = createCipheriv('aes-256-ctr', seed, Buffer.alloc(16)).update(Buffer.alloc(200_008))
    expect(Buffer.from(memory.buffer, 0, 200_008).equals(expected)).toBe(true)
    expect(charges).toEqual([CALL, 200_003 * RB, CALL, 5 * RB])
  })

  it('small calls take the keystream in order across the buffer it is made into (64 KiB at a time)', () => {
    const memory = new wasm.Memory({ initial: 4 })
    const { call, charges } = randomShim(memory)
    expect(call('random_get', 0, 65_534)).toBe(ERRNO.SUCCESS)
    for (let at = 65_534; at < 65_540; at++) expect(call('random_get', at, 1)).toBe(ERRNO.SUCCESS)
    expect(call('random_get', 65_540, 0)).toBe(ERRNO.SUCCESS)
    expect(call('random_get', 65_540, 131_072)).toBe(ERRNO.SUCCESS) // ends 4 bytes into the fourth piece
    const expected = createCipheriv('aes-256-ctr', seed, Buffer.alloc(16)).update(Buffer.alloc(196_612))
    expect(Buffer.from(memory.buffer, 0, 196_612).equals(expected)).toBe(true)
    expect(charges).toEqual([CALL, 65_534 * RB, ...Array(6).fill([CALL, RB]).flat(), CALL, CALL, 131_072 * RB])
  })

  it('fills 2^31 - 1 bytes of a 2 GiB memory, and a range past the memory is EFAULT, charged nothing', () => {
    const memory = new wasm.Memory({ initial: 32_768 })
    const { call, charges } = randomShim(memory)
    expect(call('random_get', 0, 0x7fffffff)).toBe(ERRNO.SUCCESS)
    const at = 2 ** 31 - 32 // block 2^27 - 2, well inside
    expect(Buffer.from(memory.buffer, at, 16).equals(keystreamBlock(at / 16))).toBe(true)
    expect(call('random_get', 2, 0x7fffffff)).toBe(ERRNO.FAULT)
    expect(call('random_get', 0, -1)).toBe(ERRNO.FAULT) // 2^32 - 1 bytes
    expect(charges).toEqual([CALL, 0x7fffffff * RB, CALL, CALL])
  })
})

describe('the base of a call', () => {
  const pool = useExecutor()

  it('is 5 000 fuel, as docs/protocol.md says: a loop of 1 000 clock_time_get costs 2 + 1 000 × (10 + 5 000)', async () => {
    // the protocol's number, not the constant: changing it must change this test and the document
    expect(HOST_CALL_FUEL).toBe(5000)
    const protocol = readFileSync(new URL('../docs/protocol.md', import.meta.url), 'utf8')
    expect(protocol).toContain('Every call of a WASI function costs **5 000** fuel')
    // _start: i32.const 1000; local.set 0 (2, with `loop`); then each iteration is one segment of
    // 10 instructions: clock_time_get(1, 0, 0), drop, local.get, i32.const, i32.sub, local.tee, br_if
    const module = assemble({
      types: [[0x60, 3, I32, I64, I32, 1, I32], [0x60, 0, 0]],
      wasi: [['clock_time_get', 0]],
      funcs: [{
        type: 1,
        body: [
          0x01, 0x01, I32,
          0x41, ...sleb(1000), 0x21, 0x00,
          0x03, 0x40,
          0x41, 0x01, 0x42, 0x00, 0x41, 0x00, 0x10, 0x00, 0x1a,
          0x20, 0x00, 0x41, 0x01, 0x6b, 0x22, 0x00, 0x0d, 0x00,
          0x0b, 0x0b
        ]
      }],
      memory: 1
    })
    const result = await pool.executor.run(spec(module))
    expect(result).toMatchObject({ exitCode: 0, trap: undefined, fuel: 5_010_002n })
  })
})

describe('per-item charges', () => {
  const pool = useExecutor()

  it('are the numbers docs/protocol.md states: 128 per iovec, 512 per subscription and per event, 768 per directory entry, 8 per random byte', () => {
    // the protocol's numbers, not the constants: changing one must change this test and the document
    expect([HOST_IOVEC_FUEL, HOST_POLL_SUBSCRIPTION_FUEL, HOST_POLL_EVENT_FUEL, HOST_DIRENT_FUEL, HOST_RANDOM_BYTE_FUEL]).toEqual([128, 512, 512, 768, 8])
    const protocol = readFileSync(new URL('../docs/protocol.md', import.meta.url), 'utf8')
    expect(protocol).toContain('| 128 per iovec (`iovs_len` × 128, empty buffers included) |')
    expect(protocol).toContain('| 512 per subscription (`nsubscriptions` × 512), then 512 per event it reports |')
    expect(protocol).toContain('| 768 per entry it places in the buffer (a cut last record included) or steps over')
    expect(protocol).toContain('| `random_get` | 8 per byte (its length × 8) |')
    expect(protocol).toContain('10 256 + 2n fuel in those two calls (2 × (5 000 + 128) + n + n)')
  })

  // errnoOf: arity + 2 instructions, 2 host calls (the call and proc_exit), then the call's own charges
  it('fd_write and fd_read of 1 024 empty iovecs cost 1 024 × 128 on top of the call, in a real run', async () => {
    for (const [fn, fd] of [['fd_write', 1], ['fd_read', 0]] as const) {
      const result = await pool.executor.run(spec(errnoOf(fn, [fd, 0, IOV_MAX, 16_000], 1)))
      expect(result, fn).toMatchObject({ exitCode: ERRNO.SUCCESS, trap: undefined, fuel: BigInt(6 + 2 * 5000 + 1024 * 128) })
    }
  })

  it('poll_oneoff of 4 096 clock subscriptions (one fires) costs 4 096 × 512 + 512, in a real run', async () => {
    // zeroed subscriptions at 0 (realtime, relative, timeout 0), events at 200,000, the count at 400,000
    const result = await pool.executor.run(spec(errnoOf('poll_oneoff', [0, 200_000, 4096, 400_000], 8)))
    expect(result).toMatchObject({ exitCode: ERRNO.SUCCESS, trap: undefined, fuel: BigInt(6 + 2 * 5000 + 4096 * 512 + 512) })
  })

  it('random_get of 64 KiB costs 65 536 × 8, in a real run', async () => {
    const result = await pool.executor.run(spec(errnoOf('random_get', [0, 65_536], 2)))
    expect(result).toMatchObject({ exitCode: ERRNO.SUCCESS, trap: undefined, fuel: BigInt(4 + 2 * 5000 + 65_536 * 8) })
  })

  it('fd_readdir of /in costs 768 an entry and its bytes, in a real run', async () => {
    // fd_readdir(3, buf 1024, 4096 bytes, cookie 0, bufused at 64); proc_exit(errno): 7 instructions
    const module = assemble({
      types: [[0x60, 5, I32, I32, I32, I64, I32, 1, I32], [0x60, 1, I32, 0], [0x60, 0, 0]],
      wasi: [['fd_readdir', 0], ['proc_exit', 1]],
      funcs: [{ type: 2, body: [0x00, 0x41, 3, 0x41, ...sleb(1024), 0x41, ...sleb(4096), 0x42, 0, 0x41, ...sleb(64), 0x10, 0, 0x10, 1, 0x0b] }],
      memory: 1
    })
    const files = [{ path: 'a.txt', bytes: new Uint8Array(1) }, { path: 'bb.txt', bytes: new Uint8Array(2) }]
    const result = await pool.executor.run(spec(module, { files }))
    // . .. a.txt bb.txt: 4 entries, (24 + 1) + (24 + 2) + (24 + 5) + (24 + 6) = 110 bytes
    expect(result).toMatchObject({ exitCode: ERRNO.SUCCESS, trap: undefined, fuel: BigInt(7 + 2 * 5000 + 4 * 768 + 110) })
  })
})
