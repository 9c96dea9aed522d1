/**
 * Fuel and the sandbox file system together (docs/protocol.md, "Host-call fuel" and "Limits and
 * the result"):
 * - call by call, through the shim's charge hook: what each file-system call charges, and that a
 *   call whose charge would pass the limit changes no file and no directory;
 * - real file-writing jobs through the executor: the same fuel and output manifest on every run
 *   and executor, exactly 2 fuel per byte copied, the same output files when a fuel limit stops a
 *   job, no partial write at the limit, and the same file system with metering on and off.
 */
import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { rawCid, sha256 } from '../src/proofs/encoding.ts'
import {
  createExecutor, ERRNO, HOST_BYTE_FUEL, HOST_CALL_FUEL, HOST_DIRENT_FUEL, HOST_IOVEC_FUEL, OUT_OF_FUEL_TRAP
} from '../src/scheduler/executor/index.ts'
import type { ExecResult, ExecSpec, FsLimits, InputFile, WasiExecutor } from '../src/scheduler/executor/index.ts'
import { DEFAULT_FS_LIMITS } from '../src/scheduler/executor/constants.ts'
import type { MemFs } from '../src/scheduler/executor/memfs.ts'
import { FuelExhausted } from '../src/scheduler/executor/metering/meter.ts'
import { DIRENT_BYTES, OFLAGS, RIGHT, WHENCE } from '../src/scheduler/executor/wasi-defs.ts'
import { createWasiShim } from '../src/scheduler/executor/wasi-shim.ts'
import { wasm } from '../src/scheduler/executor/wasm-api.ts'

const root = new URL('../', import.meta.url)
const load = (path: string): Uint8Array => new Uint8Array(readFileSync(new URL(path, root)))
const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes)
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex')

/** Fixed places in the harness's one page of memory. */
const IOVS = 0 // up to 4 iovecs
const RESULT = 64 // nwritten / nread / fd / bufused
const PATH = 128 // a path argument
const PATH2 = 512 // a second path argument
const DATA = 1024 // buffers
const BUF = 8192 // fd_readdir's buffer, prestat names

interface Harness {
  call: (name: string, ...args: unknown[]) => unknown
  /** The charges since the last `take()`, in order, then forgets them. */
  take: () => number[]
  /** Lets `units` more fuel be charged from now on; the next charge past that throws FuelExhausted. */
  allow: (units: number) => void
  put: (at: number, bytes: Uint8Array) => void
  /** Sets iovecs at IOVS for `lengths`, their buffers one after the other from DATA. */
  iovecs: (lengths: number[]) => void
  u32: (at: number) => number
  bytes: () => Uint8Array
  fs: MemFs
  /** Opens `path` under /out (fd 4) for reading and writing, creating it; returns the new fd. */
  openOut: (path: string, oflags?: number) => number
  /** /out's files and their contents. */
  outFiles: () => Array<[string, string]>
}

function harness (options: { files?: InputFile[], limits?: Partial<FsLimits>, stdin?: Uint8Array } = {}): Harness {
  const memory = new wasm.Memory({ initial: 1 })
  let charges: number[] = []
  let used = 0
  let budget = Infinity
  const shim = createWasiShim({
    memory,
    stdin: options.stdin ?? new Uint8Array(0),
    seed: new Uint8Array(32),
    maxStdoutBytes: 1024,
    maxStderrBytes: 1024,
    nodeWasi: {},
    files: options.files ?? [],
    limits: { ...DEFAULT_FS_LIMITS, ...options.limits },
    charge: units => {
      charges.push(units)
      used += units
      if (used > budget) throw new FuelExhausted()
    }
  })
  const view = new DataView(memory.buffer)
  const bytes = new Uint8Array(memory.buffer)
  const h: Harness = {
    call: (name, ...args) => shim.imports[name](...args),
    take: () => { const out = charges; charges = []; return out },
    allow: units => { budget = used + units },
    put: (at, b) => { bytes.set(b, at) },
    iovecs: lengths => {
      let at = DATA
      lengths.forEach((len, i) => {
        view.setUint32(IOVS + i * 8, at, true)
        view.setUint32(IOVS + i * 8 + 4, len, true)
        at += len
      })
    },
    u32: at => view.getUint32(at, true),
    bytes: () => bytes,
    fs: shim.fs,
    openOut: (path, oflags = OFLAGS.CREAT) => {
      h.put(PATH, utf8(path))
      const rights = RIGHT.FD_READ | RIGHT.FD_WRITE | RIGHT.FD_SEEK | RIGHT.FD_FILESTAT_SET_SIZE | RIGHT.FD_ALLOCATE
      expect(h.call('path_open', 4, 0, PATH, utf8(path).byteLength, oflags, rights, rights, 0, RESULT)).toBe(ERRNO.SUCCESS)
      return h.u32(RESULT)
    },
    outFiles: () => shim.fs.outFilesSorted().map(({ path, node }) => {
      const into = new Uint8Array(node.data.size)
      node.data.read(0, into)
      return [path, text(into)]
    })
  }
  return h
}

const CALL = HOST_CALL_FUEL
const B = HOST_BYTE_FUEL
const IOV = HOST_IOVEC_FUEL
const DIRENT = HOST_DIRENT_FUEL

describe('file-system fuel, call by call (wasi-shim charge hook)', () => {
  it('charges a path argument its length once its descriptor and bounds are checked, before its bytes are read', () => {
    const h = harness()
    const dir = utf8('dir')
    h.put(PATH, dir)
    expect(h.call('path_create_directory', 4, PATH, 3)).toBe(ERRNO.SUCCESS)
    expect(h.take()).toEqual([CALL, 3 * B])
    // failing the descriptor, the bounds or the length: the call only
    expect(h.call('path_create_directory', 99, PATH, 3)).toBe(ERRNO.BADF)
    expect(h.call('path_create_directory', 1, PATH, 3)).toBe(ERRNO.NOTSUP)
    expect(h.call('path_create_directory', 4, 70_000, 3)).toBe(ERRNO.FAULT)
    expect(h.call('path_create_directory', 4, PATH, DEFAULT_FS_LIMITS.maxPathBytes + 1)).toBe(ERRNO.NAMETOOLONG)
    expect(h.take()).toEqual([CALL, CALL, CALL, CALL])
    // the bytes are read after the charge: a NUL or an existing name is found by then
    h.put(PATH, utf8('a\0b'))
    expect(h.call('path_create_directory', 4, PATH, 3)).toBe(ERRNO.INVAL)
    h.put(PATH, dir)
    expect(h.call('path_create_directory', 4, PATH, 3)).toBe(ERRNO.EXIST)
    expect(h.take()).toEqual([CALL, 3 * B, CALL, 3 * B])
    // rename: the old path, then the new one
    h.put(PATH2, utf8('dir22'))
    expect(h.call('path_rename', 4, PATH, 3, 4, PATH2, 5)).toBe(ERRNO.SUCCESS)
    expect(h.take()).toEqual([CALL, 3 * B, 5 * B])
    expect(h.call('path_rename', 4, PATH2, 5, 99, PATH, 3)).toBe(ERRNO.BADF)
    expect(h.take()).toEqual([CALL, 5 * B])
    // no links: nothing read
    expect(h.call('path_symlink', PATH, 3, 4, PATH2, 5)).toBe(ERRNO.NOTSUP)
    expect(h.take()).toEqual([CALL])
  })

  it('charges file data: bytes read, bytes the caps let through, zeros a write or a resize adds', () => {
    const h = harness({ limits: { maxFileBytes: 40 } })
    const fd = h.openOut('f')
    expect(h.take()).toEqual([CALL, 1 * B])
    h.put(DATA, utf8('hello world'))
    h.iovecs([5, 6])
    expect(h.call('fd_write', fd, IOVS, 2, RESULT)).toBe(ERRNO.SUCCESS)
    expect(h.u32(RESULT)).toBe(11)
    expect(h.take()).toEqual([CALL, 2 * IOV, 11 * B]) // the two iovecs, then both buffers in one charge
    // one byte at 20: 9 zeros (11..19) and the byte
    h.put(DATA, utf8('!'))
    h.iovecs([1])
    expect(h.call('fd_pwrite', fd, IOVS, 1, 20n, RESULT)).toBe(ERRNO.SUCCESS)
    expect(h.take()).toEqual([CALL, IOV, (9 + 1) * B])
    expect(h.call('fd_seek', fd, 0n, WHENCE.SET, RESULT)).toBe(ERRNO.SUCCESS)
    expect(h.take()).toEqual([CALL])
    h.iovecs([8, 100])
    expect(h.call('fd_read', fd, IOVS, 2, RESULT)).toBe(ERRNO.SUCCESS)
    expect(h.u32(RESULT)).toBe(21)
    expect(h.take()).toEqual([CALL, 2 * IOV, 21 * B]) // what was read, not what was asked
    expect(h.call('fd_read', fd, IOVS, 2, RESULT)).toBe(ERRNO.SUCCESS)
    expect(h.u32(RESULT)).toBe(0)
    expect(h.take()).toEqual([CALL, 2 * IOV]) // at the end: only the iovecs were read
    h.iovecs([4])
    expect(h.call('fd_pread', fd, IOVS, 1, 19n, RESULT)).toBe(ERRNO.SUCCESS)
    expect(h.take()).toEqual([CALL, IOV, 2 * B])
    // resizes: growing charges the zeros, shrinking nothing
    expect(h.call('fd_filestat_set_size', fd, 30n)).toBe(ERRNO.SUCCESS)
    expect(h.call('fd_filestat_set_size', fd, 10n)).toBe(ERRNO.SUCCESS)
    expect(h.call('fd_allocate', fd, 0n, 25n)).toBe(ERRNO.SUCCESS)
    expect(h.call('fd_allocate', fd, 0n, 5n)).toBe(ERRNO.SUCCESS)
    expect(h.call('fd_filestat_set_size', fd, 41n)).toBe(ERRNO.FBIG)
    expect(h.take()).toEqual([CALL, 9 * B, CALL, CALL, 15 * B, CALL, CALL])
    // at the file size cap (40): a short write charges what it wrote, a refused one nothing
    h.iovecs([50])
    expect(h.call('fd_pwrite', fd, IOVS, 1, 25n, RESULT)).toBe(ERRNO.SUCCESS)
    expect(h.u32(RESULT)).toBe(15)
    expect(h.call('fd_pwrite', fd, IOVS, 1, 40n, RESULT)).toBe(ERRNO.FBIG)
    expect(h.take()).toEqual([CALL, IOV, 15 * B, CALL, IOV])
    // a directory: EBADF before any byte
    expect(h.call('fd_write', 3, IOVS, 1, RESULT)).toBe(ERRNO.BADF)
    expect(h.take()).toEqual([CALL])
    // the preopens' names
    expect(h.call('fd_prestat_dir_name', 3, BUF, 3)).toBe(ERRNO.SUCCESS)
    expect(h.call('fd_prestat_dir_name', 4, BUF, 4)).toBe(ERRNO.SUCCESS)
    expect(h.take()).toEqual([CALL, 3 * B, CALL, 4 * B])
  })

  it('charges fd_readdir HOST_DIRENT_FUEL per entry and the bytes it places in the buffer, a cut record included', () => {
    const h = harness({ files: [{ path: 'a.txt', bytes: utf8('a') }, { path: 'bb.txt', bytes: utf8('b') }] })
    const all = (DIRENT_BYTES + 1) + (DIRENT_BYTES + 2) + (DIRENT_BYTES + 5) + (DIRENT_BYTES + 6) // . .. a.txt bb.txt
    expect(h.call('fd_readdir', 3, BUF, 1000, 0n, RESULT)).toBe(ERRNO.SUCCESS)
    expect(h.u32(RESULT)).toBe(all)
    expect(h.call('fd_readdir', 3, BUF, 40, 0n, RESULT)).toBe(ERRNO.SUCCESS)
    expect(h.u32(RESULT)).toBe(40)
    expect(h.call('fd_readdir', 3, BUF, 1000, 4n, RESULT)).toBe(ERRNO.SUCCESS)
    expect(h.u32(RESULT)).toBe(0)
    // 4 entries; then '.' (25 bytes) and '..' cut at 15 of its 26; none past the end
    expect(h.take()).toEqual([CALL, 4 * DIRENT + all * B, CALL, 2 * DIRENT + 40 * B, CALL])
  })

  describe('a call that would pass the limit changes nothing', () => {
    /** A harness with /out/f = 'hello' open on the returned fd. */
    function withFile (): { h: Harness, fd: number } {
      const h = harness()
      const fd = h.openOut('f')
      h.put(DATA, utf8('hello'))
      h.iovecs([5])
      expect(h.call('fd_write', fd, IOVS, 1, RESULT)).toBe(ERRNO.SUCCESS)
      return { h, fd }
    }

    it('fd_write and fd_pwrite: no byte written, the file as it was', () => {
      const { h, fd } = withFile()
      h.put(DATA, utf8(' world, and more'))
      h.iovecs([6, 10])
      h.allow(CALL + 15) // one byte short
      expect(() => h.call('fd_write', fd, IOVS, 2, RESULT)).toThrow(FuelExhausted)
      expect(h.outFiles()).toEqual([['f', 'hello']])

      const again = withFile()
      again.h.iovecs([1])
      again.h.allow(CALL + 100) // 1 byte at 1000: 995 zeros first
      expect(() => again.h.call('fd_pwrite', again.fd, IOVS, 1, 1000n, RESULT)).toThrow(FuelExhausted)
      expect(again.h.outFiles()).toEqual([['f', 'hello']])
    })

    it('fd_filestat_set_size and fd_allocate: the size as it was', () => {
      for (const grow of [(h: Harness, fd: number) => h.call('fd_filestat_set_size', fd, 100n), (h: Harness, fd: number) => h.call('fd_allocate', fd, 0n, 100n)]) {
        const { h, fd } = withFile()
        h.allow(CALL + 94) // 95 zeros needed
        expect(() => grow(h, fd)).toThrow(FuelExhausted)
        expect(h.outFiles()).toEqual([['f', 'hello']])
      }
    })

    it('path calls: nothing created, removed or renamed', () => {
      const cases: Array<[string, (h: Harness) => unknown]> = [
        ['create', h => { h.put(PATH, utf8('new')); return h.call('path_open', 4, 0, PATH, 3, OFLAGS.CREAT, RIGHT.FD_WRITE, RIGHT.FD_WRITE, 0, RESULT) }],
        ['truncate', h => { h.put(PATH, utf8('f')); return h.call('path_open', 4, 0, PATH, 1, OFLAGS.TRUNC, RIGHT.FD_WRITE, RIGHT.FD_WRITE, 0, RESULT) }],
        ['mkdir', h => { h.put(PATH, utf8('dir')); return h.call('path_create_directory', 4, PATH, 3) }],
        ['unlink', h => { h.put(PATH, utf8('f')); return h.call('path_unlink_file', 4, PATH, 1) }],
        ['rename (the new path passes)', h => { h.put(PATH, utf8('f')); h.put(PATH2, utf8('g')); return h.call('path_rename', 4, PATH, 1, 4, PATH2, 1) }]
      ]
      for (const [label, call] of cases) {
        const { h } = withFile()
        h.allow(label.startsWith('rename') ? CALL + 1 : CALL)
        expect(() => call(h), label).toThrow(FuelExhausted)
        expect(h.outFiles(), label).toEqual([['f', 'hello']])
        expect([...h.fs.out.root.entries.keys()], label).toEqual(['f'])
      }
    })

    it('fd_readdir and fd_read: the job\'s buffer untouched', () => {
      const { h } = withFile()
      h.bytes().fill(0xaa, BUF, BUF + 1000)
      h.allow(CALL + 10)
      expect(() => h.call('fd_readdir', 4, BUF, 1000, 0n, RESULT)).toThrow(FuelExhausted)
      expect(h.bytes().subarray(BUF, BUF + 1000).every(b => b === 0xaa)).toBe(true)

      const again = withFile()
      expect(again.h.call('fd_seek', again.fd, 0n, WHENCE.SET, RESULT)).toBe(ERRNO.SUCCESS)
      again.h.bytes().fill(0xaa, DATA, DATA + 5)
      again.h.iovecs([2, 3])
      again.h.allow(CALL + 4)
      expect(() => again.h.call('fd_read', again.fd, IOVS, 2, RESULT)).toThrow(FuelExhausted)
      expect(again.h.bytes().subarray(DATA, DATA + 5).every(b => b === 0xaa)).toBe(true)
    })
  })
})

function spec (module: Uint8Array, overrides: Partial<ExecSpec> = {}): ExecSpec {
  return {
    moduleCid: rawCid(module),
    module,
    stdin: new Uint8Array(0),
    args: [],
    env: {},
    memoryMiB: 64,
    timeoutMs: 60_000,
    seed: sha256(utf8('fs-fuel')),
    ...overrides
  }
}

/** Everything deterministic about a result: not wallMs, cpuMs. */
const outcome = (r: ExecResult): unknown => ({
  exitCode: r.exitCode,
  trap: r.trap,
  stdout: text(r.stdout),
  stderr: text(r.stderr),
  fuel: r.fuel,
  manifest: r.outputs?.manifestCid.toString(),
  files: r.outputs?.files.map(f => [f.path, hex(f.bytes)])
})

/** `n` bytes that differ from file to file. */
const filler = (n: number, seed: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed * 7) & 0xff)

describe('metered jobs with files', () => {
  const copytree = load('examples/copytree.wasm')
  const uppercase = load('examples/uppercase.wasm')
  const probe = load('test/fixtures/wasm/fs-probe.wasm')
  const OUT_CAP = 1024 * 1024
  let executor: WasiExecutor
  let other: WasiExecutor
  let unmetered: WasiExecutor

  beforeAll(async () => {
    executor = createExecutor({ workers: 2, maxOutBytes: OUT_CAP })
    other = createExecutor({ workers: 1, moduleCacheEntries: 4, maxOutBytes: OUT_CAP })
    unmetered = createExecutor({ workers: 1, metering: false, maxOutBytes: OUT_CAP })
    await Promise.all([executor.start(), other.start(), unmetered.start()])
  })

  afterAll(async () => {
    await Promise.all([executor.stop(), other.stop(), unmetered.stop()])
  })

  const tree: InputFile[] = [
    { path: 'docs/readme.txt', bytes: utf8('Hello, files!\nsecond line\n'.repeat(50)) },
    { path: 'docs/nested/deep.txt', bytes: utf8('deep\n') },
    { path: 'top.txt', bytes: utf8('top') },
    { path: 'data.bin', bytes: filler(70_000, 1) } // more than copytree's 64 KiB buffer: two reads, two writes
  ]

  it('copytree and uppercase report the same fuel and output files on every run and executor', async () => {
    for (const module of [copytree, uppercase]) {
      const job = spec(module, { files: tree })
      const runs = await Promise.all([executor.run(job), executor.run(job), executor.run(job), other.run(job)])
      expect(runs[0].exitCode).toBe(0)
      expect(runs[0].fuel).toBeGreaterThan(0n)
      expect(runs[0].outputs?.files.length).toBeGreaterThan(0)
      for (const r of runs.slice(1)) expect(outcome(r)).toEqual(outcome(runs[0]))
    }
  })

  it('copytree costs exactly 2 fuel more per byte it copies (the byte read, the byte written)', async () => {
    // Sizes between wasi-libc's 1 KiB stdio buffer (smaller copies go through it, at instruction
    // cost) and copytree's 64 KiB buffer, with as many decimal digits (its stdout line "a.bin N"):
    // each is one fd_read and one fd_write of n bytes straight from and to the job's buffer, so the
    // rest of the job does the same work whatever n is.
    const fuelFor = async (n: number): Promise<bigint> => {
      const r = await executor.run(spec(copytree, { files: [{ path: 'a.bin', bytes: filler(n, 2) }] }))
      expect(r.exitCode).toBe(0)
      expect(r.outputs?.files[0].size).toBe(n)
      return r.fuel ?? -1n
    }
    const sizes = [2000, 2001, 3000, 5555, 9999]
    const fuels = await Promise.all(sizes.map(fuelFor))
    for (let i = 1; i < sizes.length; i++) {
      expect(fuels[i] - fuels[0]).toBe(BigInt(2 * (sizes[i] - sizes[0]) * HOST_BYTE_FUEL))
    }
  })

  it('a fuel limit stops a file-writing job at the same point with the same output files on every executor', async () => {
    const inputs = [0, 1, 2, 3].map(i => ({ path: `f${i}.bin`, bytes: filler(3000, i) }))
    const full = await executor.run(spec(copytree, { files: inputs }))
    expect(full.exitCode).toBe(0)
    const total = full.fuel ?? 0n
    // exactly the fuel it needs: it finishes, with the same files
    const exact = await other.run(spec(copytree, { files: inputs, fuel: total }))
    expect(outcome(exact)).toEqual(outcome(full))

    let completeBefore = -1
    const seen = new Set<number>()
    for (const limit of [total / 5n, total * 2n / 5n, total / 2n, total * 3n / 5n, total * 4n / 5n, total - 1n]) {
      const job = spec(copytree, { files: inputs, fuel: limit })
      const [a, b] = await Promise.all([executor.run(job), other.run(job)])
      expect(a).toMatchObject({ exitCode: -1, trap: OUT_OF_FUEL_TRAP, fuel: limit })
      expect(outcome(b)).toEqual(outcome(a))
      // the files so far: each written whole by one fd_write, so complete or still empty, never cut
      const files = a.outputs?.files ?? []
      let complete = 0
      for (const file of files) {
        const input = inputs.find(i => i.path === file.path)
        expect(input, file.path).toBeDefined()
        if (file.size > 0) {
          expect(hex(file.bytes)).toBe(hex(input?.bytes ?? new Uint8Array(0)))
          complete++
        }
      }
      expect(complete).toBeGreaterThanOrEqual(completeBefore) // more fuel, never fewer files
      completeBefore = complete
      seen.add(complete)
    }
    // the limits cut the job at different places: some before every file, some between files
    expect([...seen].some(n => n > 0 && n < inputs.length)).toBe(true)
  })

  it('a file write that would pass the fuel limit writes nothing: the file is empty one fuel short, whole at the limit', async () => {
    const run = async (on: WasiExecutor, bytes: Uint8Array, fuel?: bigint): Promise<ExecResult> =>
      await on.run(spec(copytree, { files: [{ path: 'a.bin', bytes }], ...(fuel === undefined ? {} : { fuel }) }))
    /** The smallest limit at which copytree's copy of `bytes` is whole. */
    const enoughFor = async (bytes: Uint8Array): Promise<bigint> => {
      let low = 0n
      let high = (await run(executor, bytes)).fuel ?? 0n
      while (high - low > 1n) {
        const mid = (low + high) / 2n
        if ((await run(executor, bytes, mid)).outputs?.files[0]?.size === bytes.byteLength) high = mid; else low = mid
      }
      return high
    }
    const small = filler(3000, 8)
    const bytes = filler(5000, 9)
    const enough = await enoughFor(bytes)
    // 2 fuel a byte: the write happens only once the bytes read and the bytes written are paid
    expect(enough - await enoughFor(small)).toBe(BigInt(2 * (bytes.byteLength - small.byteLength) * HOST_BYTE_FUEL))
    // one short, the bytes' one charge fails whole; so does every limit down to the write call's own charge
    for (const fuel of [enough - 1n, enough - BigInt(bytes.byteLength * HOST_BYTE_FUEL)]) {
      for (const on of [executor, other]) {
        const r = await run(on, bytes, fuel)
        expect(r).toMatchObject({ exitCode: -1, trap: OUT_OF_FUEL_TRAP, fuel })
        expect(r.outputs?.files.map(f => [f.path, f.size])).toEqual([['a.bin', 0]])
      }
    }
    const whole = await run(other, bytes, enough)
    expect(whole.outputs?.files.map(f => [f.path, hex(f.bytes)])).toEqual([['a.bin', hex(bytes)]])
  })

  it('metering on or off, the file system behaves the same: same stdout, exit code and output files', async () => {
    const probeInputs: InputFile[] = [{ path: 'x', bytes: utf8('input x') }, { path: 'sub/y', bytes: utf8('yy') }]
    const jobs: ExecSpec[] = [
      ...[['basics'], ['escape'], ['nul'], ['long', '10000'], ['fill'], ['filesize'], ['rename'], ['write-in'],
        ['links'], ['list'], ['readdirs'], ['trap']].map(args => spec(probe, { args, files: probeInputs })),
      spec(copytree, { files: tree }),
      spec(uppercase, { files: tree })
    ]
    for (const job of jobs) {
      const [on, off] = await Promise.all([executor.run(job), unmetered.run(job)])
      expect(on.fuel, job.args.join(' ')).toBeGreaterThan(0n)
      expect(off.fuel).toBeUndefined()
      expect({ ...(outcome(on) as object), fuel: undefined }, job.args.join(' ')).toEqual(outcome(off))
    }
  })
})
