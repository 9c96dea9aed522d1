/**
 * The sandbox's file system with real modules: the file examples in examples/ and the probe in
 * test/fixtures/wasm/fs-probe.c, which tries what a hostile or careless job would try and prints
 * the errno it got (wasi-libc's errno values are WASI's: 76 ENOTCAPABLE, 69 EROFS, ...). After
 * every bad input the executor must still run the next job.
 */
import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ConfigError } from '../src/errors.ts'
import { rawCid, sha256 } from '../src/proofs/encoding.ts'
import {
  createExecutor, DEFAULT_MAX_OPEN_FDS, DEFAULT_MAX_OUT_FILES, ERRNO, InvalidExecSpecError
} from '../src/scheduler/executor/index.ts'
import type { ExecResult, ExecSpec, InputFile, WasiExecutor } from '../src/scheduler/executor/index.ts'
import {
  DuplicatePathError, EMPTY_MANIFEST, encodedManifestBytes, InvalidPathError, manifestCid, manifestOf, MAX_MANIFEST_BYTES,
  PathConflictError
} from '../src/scheduler/files/index.ts'

import { FileData, MAX_RESIZABLE_FILES, SMALL_FILE_BYTES } from '../src/scheduler/executor/file-data.ts'

const root = new URL('../', import.meta.url)
const load = (path: string): Uint8Array => new Uint8Array(readFileSync(new URL(path, root)))
const example = (name: string): Uint8Array => load(`examples/${name}.wasm`)
const probe = load('test/fixtures/wasm/fs-probe.wasm')
const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes)
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)
const lines = (r: ExecResult): string[] => text(r.stdout).trimEnd().split('\n')
const paths = (r: ExecResult): string[] => (r.outputs?.files ?? []).map(f => f.path)

/** /in of the probe: a file x and a directory sub. */
const probeInputs = (): InputFile[] => [{ path: 'x', bytes: utf8('input x') }, { path: 'sub/y', bytes: utf8('yy') }]

function spec (module: Uint8Array, overrides: Partial<ExecSpec> = {}): ExecSpec {
  return {
    moduleCid: rawCid(module),
    module,
    stdin: new Uint8Array(0),
    args: [],
    env: {},
    memoryMiB: 64,
    timeoutMs: 60_000,
    seed: sha256(utf8('job-1')),
    ...overrides
  }
}

describe('sandbox file system', () => {
  let executor: WasiExecutor
  const OUT_CAP = 1024 * 1024

  beforeAll(async () => {
    executor = createExecutor({ workers: 2, maxOutBytes: OUT_CAP })
    await executor.start()
  })

  afterAll(async () => {
    await executor.stop()
  })

  const runProbe = async (...args: string[]): Promise<ExecResult> => {
    const result = await executor.run(spec(probe, { args, files: probeInputs() }))
    expect(result).toMatchObject({ exitCode: 0, trap: undefined })
    return result
  }

  /** The executor still runs jobs, files included. */
  async function stillRuns (): Promise<void> {
    const result = await executor.run(spec(example('copytree'), { files: [{ path: 'ok.txt', bytes: utf8('fine') }] }))
    expect(result.exitCode).toBe(0)
    expect(text(result.outputs?.files[0].bytes ?? new Uint8Array(0))).toBe('fine')
  }

  describe('bad input from the job', () => {
    it('never leaves /in or /out: `..`, absolute and host paths are ENOTCAPABLE', async () => {
      const result = await runProbe('escape')
      expect(lines(result)).toEqual([
        `open /in/../../etc/passwd: errno ${ERRNO.NOTCAPABLE}`,
        `open /etc/passwd: errno ${ERRNO.NOTCAPABLE}`,
        `open /out/../in/x: errno ${ERRNO.NOTCAPABLE}`,
        'open /in/./x: ok (read 7 bytes)',
        'open /in/sub/../x: ok (read 7 bytes)', // `..` inside a tree is fine
        `raw fd3 ../../etc/passwd: errno ${ERRNO.NOTCAPABLE}`,
        `raw fd3 /etc/passwd: errno ${ERRNO.NOTCAPABLE}`,
        `raw fd4 ../in/x: errno ${ERRNO.NOTCAPABLE}`,
        `raw fd3 sub/../../x: errno ${ERRNO.NOTCAPABLE}`,
        `raw fd4 ..: errno ${ERRNO.NOTCAPABLE}`,
        `raw fd5 x: errno ${ERRNO.BADF}`,
        `raw fd1 x: errno ${ERRNO.NOTSUP}`,
        `mkdir raw fd4 ../escape: errno ${ERRNO.NOTCAPABLE}`,
        `mkdir /out/../escape: errno ${ERRNO.NOTCAPABLE}`
      ])
      expect(text(result.stdout)).not.toContain('root:')
      expect(paths(result)).toEqual([])
      await stillRuns()
    })

    it('refuses a path with NUL (EINVAL) or bytes that are not UTF-8 (EILSEQ)', async () => {
      const result = await runProbe('nul')
      expect(lines(result)).toEqual([
        `raw fd4 a\\0b create: errno ${ERRNO.INVAL}`,
        `raw fd3 x\\0: errno ${ERRNO.INVAL}`,
        `raw fd4 invalid utf-8: errno ${ERRNO.ILSEQ}`
      ])
      expect(paths(result)).toEqual([])
      await stillRuns()
    })

    it('refuses a 10,000-character path, a 256-byte name and a tree deeper than the path limit (ENAMETOOLONG)', async () => {
      const result = await runProbe('long', '10000')
      expect(lines(result)).toEqual([
        `create long path: errno ${ERRNO.NAMETOOLONG}`,
        `raw fd4 long path: errno ${ERRNO.NAMETOOLONG}`,
        `raw fd3 long path: errno ${ERRNO.NAMETOOLONG}`,
        `create 256-byte name: errno ${ERRNO.NAMETOOLONG}`,
        'create 255-byte name: ok',
        // 20 levels of 199 bytes + '/' are 4000 bytes; a 21st would pass 4096
        `nested dirs of 199-byte names: 20, then errno ${ERRNO.NAMETOOLONG}`
      ])
      expect(paths(result)).toEqual(['b'.repeat(255)])
      await stillRuns()
    })

    it('stops writes at the output cap with ENOSPC, and unlinking frees the space', async () => {
      const result = await runProbe('fill')
      expect(lines(result)).toEqual([
        `wrote ${OUT_CAP} then errno ${ERRNO.NOSPC}`,
        `write second: errno ${ERRNO.NOSPC}`,
        'unlink big: ok',
        'write second after unlink: ok'
      ])
      expect(result.outputs?.files.map(f => [f.path, f.size])).toEqual([['second', 1]])
      await stillRuns()
    })

    it('stops a file at the file size cap with EFBIG', async () => {
      const result = await runProbe('filesize')
      expect(lines(result)).toEqual(['seek far: ok', `write far: errno ${ERRNO.FBIG}`, `ftruncate far: errno ${ERRNO.FBIG}`])
      await stillRuns()
    })

    it('stops a job creating 100,000 files at the file count cap with EDQUOT', async () => {
      const result = await runProbe('files', '100000')
      expect(lines(result)).toEqual([
        `created ${DEFAULT_MAX_OUT_FILES} then errno ${ERRNO.DQUOT}`,
        `mkdir after: errno ${ERRNO.DQUOT}`,
        'unlink one: ok',
        'mkdir after unlink: ok'
      ])
      expect(result.outputs?.files.length).toBe(DEFAULT_MAX_OUT_FILES - 1)
      expect(result.outputs?.files[0].path).toBe('f000001')
      await stillRuns()
    })

    it('refuses renames across /in and /out (EXDEV) and inside /in (EROFS)', async () => {
      const result = await runProbe('rename')
      expect(lines(result)).toEqual([
        `rename /in/x /out/x: errno ${ERRNO.XDEV}`,
        `rename /out/y /in/y: errno ${ERRNO.XDEV}`,
        `rename /in/x /in/z: errno ${ERRNO.ROFS}`,
        `raw rename fd3 x -> fd4 x: errno ${ERRNO.XDEV}`,
        `raw rename fd4 y -> fd3 ../out/z: errno ${ERRNO.NOTCAPABLE}`,
        'rename /out/y /out/z: ok'
      ])
      expect(paths(result)).toEqual(['z'])
      await stillRuns()
    })

    it('refuses every write to /in with EROFS and leaves its bytes as they were', async () => {
      const inputs = probeInputs()
      const result = await executor.run(spec(probe, { args: ['write-in'], files: inputs }))
      expect(lines(result)).toEqual([
        `open /in/x O_WRONLY: errno ${ERRNO.ROFS}`,
        `open /in/x O_RDWR: errno ${ERRNO.ROFS}`,
        `open /in/x O_TRUNC: errno ${ERRNO.ROFS}`,
        `open /in/x O_APPEND: errno ${ERRNO.ROFS}`,
        `create /in/new: errno ${ERRNO.ROFS}`,
        `mkdir /in/d: errno ${ERRNO.ROFS}`,
        `unlink /in/x: errno ${ERRNO.ROFS}`,
        `rmdir /in/sub: errno ${ERRNO.ROFS}`,
        `write to read-only fd: errno ${ERRNO.BADF}`,
        `ftruncate read-only fd: errno ${ERRNO.BADF}`,
        '/in/x still holds 7 bytes: input x'
      ])
      expect(text(inputs[0].bytes)).toBe('input x') // the caller's bytes too
      await stillRuns()
    })

    it('stops a job holding 10,000 descriptors at the descriptor cap with EMFILE; closing frees them', async () => {
      const result = await runProbe('fds', '10000')
      expect(lines(result)).toEqual([
        `opened ${DEFAULT_MAX_OPEN_FDS - 5} then errno ${ERRNO.MFILE}`, // stdio and the two preopens hold 5
        'mkdir while full: ok',
        'after closing: fd 5'
      ])
      await stillRuns()
    })

    it('bounds the directory listings a job holds at once with ENOMEM', async () => {
      // each listing is of a directory changed since the previous one, so none can be shared
      const result = await runProbe('readdirs')
      const [, listed, errno] = /^listed (\d+) then errno (\d+)$/.exec(lines(result)[0]) ?? []
      expect(Number(errno)).toBe(ERRNO.NOMEM)
      // 1000 + 1001 + ... names until the sum passes MAX_LISTING_ENTRIES (1,000,000)
      expect(Number(listed)).toBe(732)
      await stillRuns()
    })

    it('ends a job whose output manifest would be over MAX_MANIFEST_BYTES with a trap, not a crash', async () => {
      const result = await executor.run(spec(probe, { args: ['bigmanifest'] }))
      expect(lines(result)).toEqual(['created 5000'])
      // 5000 entries of 4006-byte paths
      const bytes = encodedManifestBytes(Array.from({ length: 5000 }, () => ({ pathBytes: 4006, size: 0 })))
      expect(result).toMatchObject({ exitCode: -1, trap: `output manifest too large (${bytes} bytes, over ${MAX_MANIFEST_BYTES})` })
      expect(result.outputs.files).toEqual([])
      await stillRuns()
    })

    it('has no links: symlink and link are ENOTSUP, readlink of a file EINVAL', async () => {
      const result = await runProbe('links')
      expect(lines(result)).toEqual([
        `symlink: errno ${ERRNO.NOTSUP}`,
        `link: errno ${ERRNO.NOTSUP}`,
        `readlink /in/x: errno ${ERRNO.INVAL}`,
        `readlink /in/missing: errno ${ERRNO.NOENT}`
      ])
      expect(paths(result)).toEqual([])
      await stillRuns()
    })
  })

  describe('file operations', () => {
    it('reads, writes, seeks, truncates, appends, renames and removes like POSIX', async () => {
      const result = await runProbe('basics')
      expect(lines(result)).toEqual([
        'write: ok', 'seek 6: ok', 'read: ok', 'read back: world', 'pwrite at 0: ok', 'pread at 0: ok',
        'pread back: HELLO world', 'ftruncate 5: ok', 'seek end: ok', 'seek 8 past the end: ok', 'write past the end: ok',
        'size 9', 'append: ok', 'mkdir d: ok', `mkdir d again: errno ${ERRNO.EXIST}`, 'rename a.txt d/b.txt: ok',
        `open old name: errno ${ERRNO.NOENT}`, `rmdir non-empty d: errno ${ERRNO.NOTEMPTY}`, `unlink d: errno ${ERRNO.ISDIR}`,
        `open file as dir: errno ${ERRNO.NOTDIR}`, 'mkdir e: ok', 'rmdir e: ok', `rename d into itself: errno ${ERRNO.INVAL}`,
        `open /in as write: errno ${ERRNO.ROFS}`, `read a directory: errno ${ERRNO.ISDIR}`, 'fcntl F_GETFL on stdout: ok',
        'final: HELLO...!+ (10 bytes)', // the gap left by seeking past the end reads as zeros
        'unlink open file: ok', 'read unlinked open file: ok', 'unlinked: still here'
      ])
      // empty directories are not part of the output tree; the unlinked file is gone
      expect(result.outputs?.files.map(f => [f.path, text(f.bytes)])).toEqual([
        ['d/b.txt', 'HELLO\0\0\0!+'], ['d/empty-dir-marker', '']
      ])
    })

    it('lists directories in bytewise name order with fixed inode numbers and timestamps', async () => {
      // given in another order, with names whose UTF-16 and UTF-8 orders differ
      const files: InputFile[] = ['\u{1F600}', 'b/z', 'é', 'a.txt', 'b/a', '\uFFFD', 'B', 'a-b']
        .map(path => ({ path, bytes: utf8(path) }))
      const result = await executor.run(spec(probe, { args: ['list'], files }))
      const epoch = 1704067200
      expect(lines(result)).toEqual([
        `f B 1 ino=2 mtime=${epoch}`,
        `f a-b 3 ino=3 mtime=${epoch}`,
        `f a.txt 5 ino=4 mtime=${epoch}`,
        `d b 0 ino=5 mtime=${epoch}`,
        `f b/a 3 ino=6 mtime=${epoch}`,
        `f b/z 3 ino=7 mtime=${epoch}`,
        `f é 2 ino=8 mtime=${epoch}`,
        `f \uFFFD 3 ino=9 mtime=${epoch}`,
        `f \u{1F600} 4 ino=10 mtime=${epoch}`
      ])
    })

    it('keeps what a job wrote to /out before it trapped, and nothing after a timeout', async () => {
      const trapped = await executor.run(spec(probe, { args: ['trap'] }))
      expect(trapped).toMatchObject({ exitCode: -1, trap: 'unreachable' })
      expect(trapped.outputs?.files.map(f => [f.path, text(f.bytes)])).toEqual([['before-trap.txt', 'written before the trap']])
      const timedOut = await executor.run(spec(load('test/fixtures/wasm/loop.wasm'), { timeoutMs: 200 }))
      expect(timedOut.trap).toBe('timeout')
      expect(timedOut.outputs?.files).toEqual([])
      expect(timedOut.outputs?.manifestCid.equals(manifestCid(EMPTY_MANIFEST))).toBe(true)
      await stillRuns()
    })
  })

  describe('examples', () => {
    const tree: InputFile[] = [
      { path: 'docs/readme.txt', bytes: utf8('Hello, files!\nsecond line\n') },
      { path: 'docs/nested/deep.txt', bytes: utf8('deep\n') },
      { path: 'top.txt', bytes: utf8('top') }
    ]

    it('copytree copies /in to /out byte for byte, same paths, and the manifests match', async () => {
      const result = await executor.run(spec(example('copytree'), { files: tree }))
      expect(result.exitCode).toBe(0)
      expect(lines(result)).toEqual(['docs/nested/deep.txt 5', 'docs/readme.txt 26', 'top.txt 3'])
      expect(result.outputs?.manifestCid.equals(manifestCid(manifestOf(tree)))).toBe(true)
      for (const file of result.outputs?.files ?? []) expect(file.cid.equals(rawCid(file.bytes))).toBe(true)
    })

    it('uppercase writes each text file upper-cased at the same path', async () => {
      const result = await executor.run(spec(example('uppercase'), { files: tree }))
      expect(result.exitCode).toBe(0)
      expect(lines(result)).toEqual(['docs/nested/deep.txt 1 5', 'docs/readme.txt 2 26', 'top.txt 0 3'])
      expect(result.outputs?.files.map(f => [f.path, text(f.bytes)])).toEqual([
        ['docs/nested/deep.txt', 'DEEP\n'], ['docs/readme.txt', 'HELLO, FILES!\nSECOND LINE\n'], ['top.txt', 'TOP']
      ])
    })

    it('thumbnail shrinks and inverts the PGM images mandelbrot renders', async () => {
      const image = await executor.run(spec(example('mandelbrot'), { args: ['64', '48', '100'] }))
      const ascii = utf8('P2\n# a 4x2 test image\n4 2\n15\n0 15 15 0\n15 0 0 15\n')
      const result = await executor.run(spec(example('thumbnail'), {
        args: ['4', 'invert'],
        files: [{ path: 'img/mandelbrot.pgm', bytes: image.stdout }, { path: 'img/tiny.pgm', bytes: ascii }, { path: 'notes.txt', bytes: utf8('not an image') }]
      }))
      expect(result.exitCode).toBe(0)
      expect(lines(result)).toEqual(['img/mandelbrot.pgm 64x48 -> 16x12', 'img/tiny.pgm 4x2 -> 1x1'])
      expect(text(result.stderr)).toBe('notes.txt: not a PGM image, skipped\n')
      const [big, tiny] = result.outputs?.files ?? []
      expect(text(big.bytes.subarray(0, 13))).toBe('P5\n16 12\n255\n')
      expect(big.size).toBe(13 + 16 * 12)
      // 8 of 8 pixels: half 0, half 15 of 15 → mean 127.5 → 128, inverted 127
      expect([...tiny.bytes]).toEqual([...utf8('P5\n1 1\n255\n'), 127])
      expect(paths(result)).toEqual(['img/mandelbrot.pgm', 'img/tiny.pgm'])
    })
  })

  describe('determinism', () => {
    it('gives the same output manifest CID on every run and every worker', async () => {
      const files: InputFile[] = [{ path: 'a/one.txt', bytes: utf8('one') }, { path: 'b.txt', bytes: utf8('two') }]
      const runs = await Promise.all([1, 2, 3, 4].map(async () => executor.run(spec(example('uppercase'), { files }))))
      const cids = runs.map(r => r.outputs?.manifestCid.toString())
      expect(new Set(cids).size).toBe(1)
      expect(runs[0].outputs?.manifestCid.equals(manifestCid(runs[0].outputs.manifest))).toBe(true)
      expect(runs.map(r => text(r.stdout))).toEqual(runs.map(() => text(runs[0].stdout)))
    })
  })

  describe('inputs', () => {
    it('shares SharedArrayBuffer-backed input with the worker and leaves the caller\'s other buffers usable', async () => {
      const shared = new Uint8Array(new SharedArrayBuffer(5))
      shared.set(utf8('share'))
      const plain = Buffer.from('....plain....').subarray(4, 9) // a view into a larger allocation
      const result = await executor.run(spec(example('copytree'), { files: [{ path: 's', bytes: shared }, { path: 'p', bytes: plain }] }))
      expect(result.outputs?.files.map(f => [f.path, text(f.bytes)])).toEqual([['p', 'plain'], ['s', 'share']])
      expect(text(shared)).toBe('share')
      expect(plain.toString()).toBe('plain')
    })

    it('refuses input paths that break the path rules, with the path errors', async () => {
      const run = async (files: InputFile[]): Promise<unknown> => executor.run(spec(example('copytree'), { files })).catch((e: unknown) => e)
      expect(await run([{ path: '../etc/passwd', bytes: utf8('x') }])).toBeInstanceOf(InvalidPathError)
      expect(await run([{ path: '/abs', bytes: utf8('x') }])).toBeInstanceOf(InvalidPathError)
      expect(await run([{ path: 'a', bytes: utf8('x') }, { path: 'a', bytes: utf8('y') }])).toBeInstanceOf(DuplicatePathError)
      expect(await run([{ path: 'a', bytes: utf8('x') }, { path: 'a/b', bytes: utf8('y') }])).toBeInstanceOf(PathConflictError)
      expect(await run([{ path: 'a', bytes: 'not bytes' as unknown as Uint8Array }])).toBeInstanceOf(InvalidExecSpecError)
      await stillRuns()
    })

    it('takes lower limits per job, never higher ones than the executor\'s', async () => {
      const lowered = await executor.run(spec(probe, { args: ['files', '100'], files: probeInputs(), fsLimits: { maxOutFiles: 10 } }))
      expect(lines(lowered)[0]).toBe(`created 10 then errno ${ERRNO.DQUOT}`)
      await expect(executor.run(spec(probe, { fsLimits: { maxOutBytes: OUT_CAP + 1 } }))).rejects.toBeInstanceOf(InvalidExecSpecError)
      await expect(executor.run(spec(probe, { fsLimits: { maxOpenFds: 2 } }))).rejects.toBeInstanceOf(InvalidExecSpecError)
      await expect(executor.run(spec(probe, { fsLimits: { bogus: 1 } as never }))).rejects.toBeInstanceOf(InvalidExecSpecError)
    })

    it('refuses executor limits out of range', () => {
      expect(() => createExecutor({ maxOpenFds: 4 })).toThrow(ConfigError)
      expect(() => createExecutor({ maxPathBytes: 5000 })).toThrow(ConfigError)
      expect(() => createExecutor({ maxOutFiles: 1_000_000 })).toThrow(ConfigError)
      expect(() => createExecutor({ maxFileBytes: 2 ** 33 })).toThrow(ConfigError)
    })
  })
})

describe('a 100 MiB input copied to /out', () => {
  let executor: WasiExecutor

  beforeAll(async () => {
    executor = createExecutor({ workers: 1 })
    await executor.start()
  })

  afterAll(async () => {
    await executor.stop()
  })

  it('holds the input and the output once each (RSS)', async () => {
    const size = 100 * 1024 * 1024
    const before = process.memoryUsage.rss()
    const input = new Uint8Array(new SharedArrayBuffer(size))
    for (let i = 0; i < size; i += 4096) input[i] = i & 0xff
    let peak = process.memoryUsage.rss()
    const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage.rss()) }, 5)
    let result: ExecResult
    try {
      result = await executor.run(spec(example('copytree'), { memoryMiB: 16, files: [{ path: 'big.bin', bytes: input }] }))
      peak = Math.max(peak, process.memoryUsage.rss())
    } finally {
      clearInterval(sampler)
    }
    expect(result.exitCode).toBe(0)
    const out = result.outputs?.files[0]
    expect(out?.size).toBe(size)
    expect(out?.cid.equals(rawCid(input))).toBe(true)
    // input (100 MiB) + output (100 MiB) + the job's 16 MiB memory; a second copy of either would pass 300
    const growthMiB = (peak - before) / 2 ** 20
    expect(growthMiB).toBeLessThan(290)
  })
})

describe('many large files (buffers per job bounded)', () => {
  it('four jobs at once, each making 10,000 files past the small-file size and truncating them: all complete, the process lives', async () => {
    // Each such file once took a resizable buffer reserving the whole file cap, kept after
    // truncation: four of these jobs side by side aborted the process (too many mappings).
    const many = load('test/fixtures/wasm/many-large-files.wasm')
    const executor = createExecutor({ workers: 4 })
    await executor.start()
    try {
      const results = await Promise.all([0, 1, 2, 3].map(async (i) => await executor.run(spec(many, { args: ['10000'], seed: sha256(utf8(`many-${i}`)), timeoutMs: 120_000 }))))
      for (const r of results) {
        expect(text(r.stdout)).toBe('made 10000\n')
        expect(r.outputs?.files).toHaveLength(10_000)
        expect(r.outputs?.files.every((f) => f.bytes.byteLength === 0)).toBe(true)
      }
    } finally {
      await executor.stop()
    }
  }, 180_000)

  it('FileData: at most MAX_RESIZABLE_FILES large buffers per file system; the rest grow by doubling; truncation gives them back', () => {
    const budget = { resizable: 0 }
    const files = Array.from({ length: MAX_RESIZABLE_FILES + 20 }, () => FileData.empty(1024 ** 3, budget))
    const bytes = new Uint8Array(SMALL_FILE_BYTES + 1).fill(7)
    for (const f of files) f.write(0, bytes)
    expect(budget.resizable).toBe(MAX_RESIZABLE_FILES)
    // Past the budget a file still grows and reads back what was written.
    const last = files[files.length - 1]
    last.write(bytes.byteLength, new Uint8Array(300_000).fill(9))
    const back = new Uint8Array(bytes.byteLength + 300_000)
    expect(last.read(0, back)).toBe(back.byteLength)
    expect(back.subarray(0, bytes.byteLength).every((b) => b === 7) && back.subarray(bytes.byteLength).every((b) => b === 9)).toBe(true)
    // Truncated back to small: the large buffers go, the kept bytes stay.
    for (const f of files) f.resize(10)
    expect(budget.resizable).toBe(0)
    const ten = new Uint8Array(10)
    expect(files[0].read(0, ten)).toBe(10)
    expect(ten.every((b) => b === 7)).toBe(true)
    // A detached (transferred) large file no longer counts either.
    const big = FileData.empty(1024 ** 3, budget)
    big.write(0, bytes)
    expect(budget.resizable).toBe(1)
    expect(big.detach().byteLength).toBe(bytes.byteLength)
    expect(budget.resizable).toBe(0)
  })
})
