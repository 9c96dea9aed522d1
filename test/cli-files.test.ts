/**
 * Files and fuel through the real CLI: three daemons (separate processes, real TCP on loopback),
 * one requester that runs nothing and two workers. `submit --in … --out DIR` gives DIR exactly
 * what the same job leaves when the executor runs it here (bytes, manifest CID, fuel), with one
 * replica and with two; `job ID --out` downloads the files later; `map --in … --out` puts each
 * task's files in DIR/<input name>/; `--fuel` stops a run; each user mistake is one line and
 * submits nothing.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises'
import { join, relative } from 'node:path'
import { runCli, startDaemonProcess, type DaemonProcess } from './cli-helpers.ts'
import { tempDir, waitFor } from './helpers.ts'
import { testnetGenesis } from '../src/node/testnet.ts'
import { createExecutor, type ExecResult, type WasiExecutor } from '../src/scheduler/executor/index.ts'
import { readInputFiles, scanInputs } from '../src/scheduler/files/disk.ts'
import { rawCid } from '../src/proofs/encoding.ts'

const EXAMPLES = new URL('../examples/', import.meta.url).pathname

/** Every file under `dir`, as tree path → bytes. */
async function treeOf (dir: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>()
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) {
      const full = join(entry.parentPath, entry.name)
      out.set(relative(dir, full), await readFile(full))
    }
  }
  return out
}

/** A binary PGM of w×h pixels whose values follow a pattern set by `seed`. */
function pgm (w: number, h: number, seed: number): Buffer {
  const pixels = Buffer.alloc(w * h)
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 7 + seed * 31 + (i % w) * (i % 13)) & 0xff
  return Buffer.concat([Buffer.from(`P5\n${w} ${h}\n255\n`), pixels])
}

describe('depin submit / job / map with --in, --out and --fuel, against real daemons', () => {
  let dir: { path: string, remove: () => Promise<void> }
  let requester: DaemonProcess
  const workers: DaemonProcess[] = []
  let requesterDir: string
  let executor: WasiExecutor
  let tree: string
  let single: string

  const cli = async (...args: string[]) => await runCli([...args, '--data-dir', requesterDir], { timeoutMs: 120_000 })
  /** The executor's run of `module` over `--in` paths, here. */
  const localRun = async (module: string, inPaths: string[], args: string[] = []): Promise<ExecResult> => {
    const bytes = new Uint8Array(await readFile(join(EXAMPLES, module)))
    return await executor.run({
      moduleCid: rawCid(bytes), module: bytes, stdin: new Uint8Array(0), args, env: {}, memoryMiB: 256, timeoutMs: 60_000,
      seed: new Uint8Array(32), files: await readInputFiles(await scanInputs(inPaths))
    })
  }
  const jobCount = async (): Promise<number> => JSON.parse((await cli('jobs', '--json', '--role', 'requester')).stdout).total

  beforeAll(async () => {
    dir = await tempDir()
    requesterDir = join(dir.path, 'requester')
    const dirs = [requesterDir, join(dir.path, 'worker-1'), join(dir.path, 'worker-2')]
    const peers: string[] = []
    for (const d of dirs) {
      const init = await runCli(['init', '--data-dir', d, '--json'])
      expect(init.code).toBe(0)
      peers.push(JSON.parse(init.stdout).peerId)
    }
    const network = testnetGenesis(peers)
    for (const d of dirs) {
      const config = JSON.parse(await readFile(join(d, 'config.json'), 'utf8'))
      // testnet: these three peers on one machine count as three hosts (replicas go to distinct hosts).
      await writeFile(join(d, 'config.json'), JSON.stringify({ ...config, network, testnet: true }))
    }
    workers.push(await startDaemonProcess(dirs[1], ['--listen', '/ip4/127.0.0.1/tcp/0', '--api', '127.0.0.1:0']))
    const first = JSON.parse(await readFile(join(dirs[1], 'api.json'), 'utf8'))
    workers.push(await startDaemonProcess(dirs[2], ['--listen', '/ip4/127.0.0.1/tcp/0', '--api', '127.0.0.1:0', '--bootstrap', first.multiaddrs[0]]))
    requester = await startDaemonProcess(requesterDir, ['--listen', '/ip4/127.0.0.1/tcp/0', '--api', '127.0.0.1:0', '--bootstrap', first.multiaddrs[0], '--slots', '0'])
    await waitFor(async () => {
      const capacity = JSON.parse((await cli('capacity', '--json')).stdout)
      return peers.slice(1).every((id) => capacity.peers.some((p: { peerId: string }) => p.peerId === id))
    }, { timeoutMs: 60_000, what: 'the requester to find both workers' })

    executor = createExecutor({ workers: 1 })
    await executor.start()
    // An input tree: nested directories, a name with spaces and quotes, a non-ASCII name, an empty file.
    tree = join(dir.path, 'photos')
    await mkdir(join(tree, 'holiday', 'day 2'), { recursive: true })
    await writeFile(join(tree, 'holiday', 'beach.pgm'), pgm(64, 48, 1))
    await writeFile(join(tree, 'holiday', 'day 2', 'the "sea".pgm'), pgm(40, 40, 2))
    await writeFile(join(tree, 'ünïcödé.pgm'), pgm(16, 24, 3))
    await writeFile(join(tree, 'notes.txt'), 'not an image\n')
    await writeFile(join(tree, 'empty'), '')
    single = join(dir.path, 'cover.pgm')
    await writeFile(single, pgm(32, 32, 4))
  }, 180_000)

  afterAll(async () => {
    await executor?.stop()
    await requester?.stop('SIGKILL')
    for (const w of workers) await w.stop('SIGKILL')
    await dir?.remove()
  })

  it('submit --in DIR --in FILE --out OUT: OUT holds byte for byte what a local run of copytree leaves, with the same manifest CID and fuel', async () => {
    const out = join(dir.path, 'copy-out')
    const result = await cli('submit', join(EXAMPLES, 'copytree.wasm'), '--in', tree, '--in', single, '--out', out, '--json')
    expect(result.code, result.stderr).toBe(0)
    const job = JSON.parse(result.stdout)
    const local = await localRun('copytree.wasm', [tree, single])
    expect(local.exitCode).toBe(0)
    expect(job).toMatchObject({ status: 'completed', verified: true, exitCode: 0 })
    expect(job.filesCid).toBe(local.outputs?.manifestCid.toString())
    expect(job.fuel).toBe(local.fuel?.toString())
    expect(job.files).toEqual(local.outputs?.files.map((f) => ({ path: f.path, size: f.size, cid: f.cid.toString() })))
    const written = await treeOf(out)
    expect([...written.keys()].sort()).toEqual(local.outputs?.files.map((f) => f.path).sort())
    for (const f of local.outputs?.files ?? []) expect(new Uint8Array(written.get(f.path) as Buffer), f.path).toEqual(f.bytes)
    expect(written.get('photos/holiday/day 2/the "sea".pgm')).toEqual(await readFile(join(tree, 'holiday', 'day 2', 'the "sea".pgm')))
    expect(written.get('cover.pgm')).toEqual(await readFile(single))

    // Later, `job ID --out` downloads the same files again; the text shows fuel and the files.
    const again = join(dir.path, 'copy-again')
    const shown = await cli('job', job.id, '--out', again)
    expect(shown.code, shown.stderr).toBe(0)
    expect(shown.stdout).toMatch(new RegExp(`^fuel: +${job.fuel as string} \\(limit \\d+\\)$`, 'm'))
    expect(shown.stdout).toMatch(new RegExp(`^files: +6 in /out, manifest ${job.filesCid as string}; 6 files \\(\\d+ bytes\\) written to .*copy-again$`, 'm'))
    expect(shown.stdout).toMatch(new RegExp(`^ +photos/holiday/beach\\.pgm +${pgm(64, 48, 1).byteLength} +bafkrei`, 'm'))
    expect(await treeOf(again)).toEqual(written)
  })

  it('thumbnail with --replicas 2: both workers agree, and the thumbnails are those of a local run', async () => {
    const out = join(dir.path, 'thumbs')
    const result = await cli('submit', join(EXAMPLES, 'thumbnail.wasm'), '--arg', '4', '--arg', 'invert', '--in', tree, '--replicas', '2', '--out', out)
    expect(result.code, result.stderr).toBe(0)
    const local = await localRun('thumbnail.wasm', [tree], ['4', 'invert'])
    expect(local.exitCode).toBe(0)
    // stdout is the program's; the closing line gives fuel and what was written.
    expect(result.stdout).toBe(new TextDecoder().decode(local.stdout))
    const last = result.stderr.trim().split('\n').at(-1) as string
    expect(last).toMatch(/: completed · verified · ran on \S+, \S+ · /)
    expect(last).toContain(`fuel ${local.fuel as bigint}`)
    expect(last).toMatch(/3 files \(\d+ bytes\) written to .*thumbs$/)
    const written = await treeOf(out)
    expect([...written.keys()].sort()).toEqual(['photos/holiday/beach.pgm', 'photos/holiday/day 2/the "sea".pgm', 'photos/ünïcödé.pgm'])
    for (const f of local.outputs?.files ?? []) expect(new Uint8Array(written.get(f.path) as Buffer), f.path).toEqual(f.bytes)
    expect(written.get('photos/holiday/beach.pgm')?.subarray(0, 10).toString('latin1')).toBe('P5\n16 12\n2')
    const id = /^job (\S+):/m.exec(last)?.[1] as string
    const job = JSON.parse((await cli('job', id, '--json')).stdout)
    expect(job.workers).toHaveLength(2)
    for (const w of job.workers) expect(w).toMatchObject({ agreed: true, fuel: job.fuel, filesCid: local.outputs?.manifestCid.toString() })
  }, 150_000)

  it('map --in TREE --out DIR: each task\'s stdout in DIR/<name>.out, its files in DIR/<name>/, fuel and files in results.jsonl', async () => {
    const inputs = join(dir.path, 'map-in')
    await mkdir(inputs)
    await writeFile(join(inputs, 'a.txt'), 'first\n')
    await writeFile(join(inputs, 'b.txt'), 'second\n')
    const out = join(dir.path, 'map-out')
    const result = await cli('map', join(EXAMPLES, 'copytree.wasm'), inputs, '--in', single, '--fuel', '1000000000', '--out', out, '--json')
    expect(result.code, result.stderr).toBe(0)
    const summary = JSON.parse(result.stdout)
    expect(summary).toMatchObject({ tasks: 2, completed: 2, files: 2 })
    const local = await localRun('copytree.wasm', [single])
    expect(summary.fuel).toBe(((local.fuel as bigint) * 2n).toString())
    for (const name of ['a.txt', 'b.txt']) {
      expect(await readFile(join(out, `${name}.out`), 'utf8')).toBe(new TextDecoder().decode(local.stdout))
      expect(await readFile(join(out, name, 'cover.pgm'))).toEqual(await readFile(single))
    }
    const lines = (await readFile(join(out, 'results.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l))
    for (const l of lines) {
      expect(l).toMatchObject({ status: 'completed', fuel: local.fuel?.toString(), filesCid: local.outputs?.manifestCid.toString() })
      expect(l.files).toEqual([{ path: 'cover.pgm', size: pgm(32, 32, 4).byteLength, cid: rawCid(await readFile(single)).toString() }])
    }
    // Inputs whose outputs would collide in DIR are refused before anything is sent.
    await writeFile(join(dir.path, 'results.jsonl'), 'x')
    const clash = await cli('map', join(EXAMPLES, 'echo.wasm'), join(dir.path, 'results.jsonl'), '--out', join(dir.path, 'map-clash'))
    expect(clash.code).toBe(1)
    expect(clash.stderr.trim()).toMatch(/^depin: an input is named results\.jsonl: /)
    // A name whose stdout file (name + .out) a file system would refuse: refused up front too.
    const long = join(dir.path, 'a'.repeat(253))
    await writeFile(long, 'x')
    const tooLong = await cli('map', join(EXAMPLES, 'echo.wasm'), long, '--out', join(dir.path, 'map-long'))
    expect(tooLong.code).toBe(1)
    expect(tooLong.stderr.trim()).toMatch(/^depin: the input name a{40}… is too long: /)
  })

  it('--fuel stops a run at exactly its limit: failed, trap out of fuel, the fuel shown', async () => {
    const result = await cli('submit', join(EXAMPLES, 'primes.wasm'), '--arg', '100000000', '--fuel', '5000', '--wait', '--json')
    expect(result.code).toBe(1)
    const job = JSON.parse(result.stdout)
    expect(job).toMatchObject({ status: 'failed', trap: 'out of fuel', fuel: '5000', fuelLimit: '5000', error: { code: 'ERR_OUT_OF_FUEL' } })
    expect(result.stderr.trim().split('\n').at(-1)).toBe(`depin: job ${job.id as string}: the program stopped: out of fuel`)
    // It ran: its output can be fetched.
    expect((await cli('job', job.id, '-o', join(dir.path, 'starved.txt'))).code).toBe(0)
  })

  it('user mistakes are one line each and submit nothing: bad --fuel, missing --in, symlink loop, --out under a file or not writable', async () => {
    const before = await jobCount()
    const echo = join(EXAMPLES, 'echo.wasm')
    for (const fuel of ['-1', '18446744073709551616', 'abc', '1.5', '']) {
      const result = await cli('submit', echo, '--fuel', fuel)
      expect(result.code, fuel).toBe(2)
      expect(result.stderr.trim(), fuel).toBe(`depin: option '--fuel <n>' argument '${fuel}' is invalid. expected an integer from 0 to 18446744073709551615 (2^64-1), got ${JSON.stringify(fuel)}`)
    }
    const mapFuel = await cli('map', echo, single, '--out', join(dir.path, 'm'), '--fuel', '-5')
    expect(mapFuel.code).toBe(2)
    expect(mapFuel.stderr).toMatch(/--fuel/)

    const missing = await cli('submit', echo, '--in', join(dir.path, 'nope'), '--wait')
    expect(missing.code).toBe(1)
    expect(missing.stderr.trim()).toBe(`depin: --in: input ${JSON.stringify(join(dir.path, 'nope'))} does not exist`)

    const loop = join(dir.path, 'loop')
    await symlink(loop, loop)
    const looped = await cli('submit', echo, '--in', loop)
    expect(looped.code).toBe(1)
    expect(looped.stderr.trim()).toBe(`depin: --in: input ${JSON.stringify(loop)} is a symlink loop`)
    // A loop inside a tree: a link to a directory it is in.
    const inner = join(dir.path, 'tree-with-loop')
    await mkdir(join(inner, 'sub'), { recursive: true })
    await symlink('..', join(inner, 'sub', 'up'))
    const innerLoop = await cli('map', echo, single, '--in', inner, '--out', join(dir.path, 'm2'))
    expect(innerLoop.code).toBe(1)
    expect(innerLoop.stderr.trim()).toBe('depin: --in: input "tree-with-loop/sub/up" is a symlink loop')

    // A name with a line break is a valid path but cannot travel in a multipart header: refused here.
    const odd = join(dir.path, 'odd')
    await mkdir(odd)
    await writeFile(join(odd, 'two\nlines'), 'x')
    const lineBreak = await cli('submit', echo, '--in', odd)
    expect(lineBreak.code).toBe(1)
    expect(lineBreak.stderr.trim()).toBe('depin: --in: file "odd/two\\nlines" has a line break in its name, which an upload cannot carry; rename it (nothing was uploaded)')

    const file = join(dir.path, 'a-file')
    await writeFile(file, 'x')
    const underFile = await cli('submit', echo, '--out', join(file, 'sub'))
    expect(underFile.code).toBe(1)
    expect(underFile.stderr.trim()).toBe(`depin: --out ${join(file, 'sub')}: its parent ${file} is not a directory`)

    // Not writable: root writes anywhere chmod allows, but not into sysfs.
    const locked = process.getuid?.() === 0 ? '/sys/depin-cli-files-test' : join(dir.path, 'locked', 'out')
    if (process.getuid?.() !== 0) await mkdir(join(dir.path, 'locked'), { mode: 0o500 })
    const notWritable = await cli('submit', echo, '--out', locked)
    expect(notWritable.code).toBe(1)
    expect(notWritable.stderr.trim()).toMatch(/^depin: --out: output directory ".*" is not writable$/)

    expect(await jobCount()).toBe(before)
  })
})
