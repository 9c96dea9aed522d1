/**
 * What `submit`/`job --out` and `map` write on the operator's machine, and what they print, when
 * the worker or the disk is hostile: names with terminal escapes are shown escaped, a path too
 * long for the file system or a write that fails (a file size limit standing in for a full disk)
 * is one `--out` line (for `map`: that task's `filesError`, the others go on) and never leaves a
 * cut file under its name, a symlink or FIFO under `map --out` is refused, and `-o` inside `--out`
 * is refused before anything is sent. Two daemons (separate processes, real TCP on loopback).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { spawn } from 'node:child_process'
import { execFileSync } from 'node:child_process'
import { mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { BIN, runCli, startRequesterAndWorker, type CliResult, type DaemonProcess } from './cli-helpers.ts'
import { tempDir } from './helpers.ts'
import { createClient } from '../src/cli/client.ts'
import { printable, renderTable } from '../src/cli/output.ts'

const EXAMPLES = new URL('../examples/', import.meta.url).pathname
const OUT_NAMES = new URL('./fixtures/wasm/out-names.wasm', import.meta.url).pathname
/** results.jsonl lines come in the order tasks finish. */
const byName = (a: { name: string }, b: { name: string }): number => a.name < b.name ? -1 : a.name > b.name ? 1 : 0
/** Any control character a terminal acts on (line feeds and tabs aside), or a bidi control. */
const RAW_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/

/** `depin ARGS` with a file size limit of a few KiB (512- or 1024-byte blocks, as sh counts them): a write past it fails with EFBIG. */
function runCliLimited (blocks: number, args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn('sh', ['-c', `ulimit -f ${blocks} && exec "$@"`, 'sh', process.execPath, BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d) => { stdout += d })
    child.stderr.setEncoding('utf8').on('data', (d) => { stderr += d })
    child.on('exit', (code) => { resolve({ code, stdout, stderr }) })
  })
}

describe('printable', () => {
  it('escapes C0, DEL, C1 and bidi controls as JSON does; keeps line feeds and tabs only when asked', () => {
    expect(printable('a\u001b[31mRED\u0007 \r\n\t\u007f\u009b\u202etxt.exe\u2066')).toBe('a\\u001b[31mRED\\u0007 \\r\\n\\t\\u007f\\u009b\\u202etxt.exe\\u2066')
    expect(printable('line 1\n\tline 2\u001b]52;c;aGk=\u0007\n', { lines: true })).toBe('line 1\n\tline 2\\u001b]52;c;aGk=\\u0007\n')
    expect(printable('plain ünïcödé / "quotes" \\ €')).toBe('plain ünïcödé / "quotes" \\ €')
    expect(renderTable(['PATH'], [['x\u001b[2Jy']])).toBe('PATH\nx\\u001b[2Jy')
  })
})

describe('depin submit / job / map writing files from a hostile worker or onto a failing disk', () => {
  let dir: { path: string, remove: () => Promise<void> }
  let requester: DaemonProcess
  let worker: DaemonProcess
  let requesterDir: string

  const cli = async (...args: string[]): Promise<CliResult> => await runCli([...args, '--data-dir', requesterDir], { timeoutMs: 120_000 })
  const jobCount = async (): Promise<number> => JSON.parse((await cli('jobs', '--json', '--role', 'requester')).stdout).total
  const batchCount = async (): Promise<number> => (await (await createClient({ dataDir: requesterDir })).get<{ total: number }>('/v1/batches')).total
  /** Paths of ~3800 bytes under /out (the limit is 4096): under a long --out they pass the file system's PATH_MAX. */
  const deepPath = Array.from({ length: 15 }, (_, i) => `${i}`.padEnd(250, 'd')).join('/') + '/file'

  beforeAll(async () => {
    dir = await tempDir()
    ;({ requesterDir, requester, worker } = await startRequesterAndWorker(dir.path))
  })

  afterAll(async () => {
    await requester?.stop('SIGKILL')
    await worker?.stop('SIGKILL')
    await dir?.remove()
  })

  it('file names, stderr and errors a worker chose are printed escaped in text, raw in --json', async () => {
    const names = ['a\u001b[31mRED', '\u202etxt.exe', 'hidden\rshown', 'osc\u001b]52;c;aGk=\u0007']
    const out = join(dir.path, 'escapes')
    const submitted = await cli('submit', OUT_NAMES, ...names.flatMap((n) => ['--arg', n]), '--out', out)
    expect(submitted.code, submitted.stderr).toBe(0)
    expect(submitted.stderr).not.toMatch(RAW_CONTROL)
    const id = /^job (\S+):/m.exec(submitted.stderr)?.[1] as string
    const shown = await cli('job', id)
    expect(shown.code, shown.stderr).toBe(0)
    expect(shown.stdout).not.toMatch(RAW_CONTROL)
    for (const escaped of ['a\\u001b[31mRED', '\\u202etxt.exe', 'hidden\\rshown', 'osc\\u001b]52;c;aGk=\\u0007']) {
      expect(shown.stdout).toMatch(new RegExp(`^ +${escaped.replace(/[\\[\]]/g, '\\$&')} +\\d+ +bafkrei`, 'm'))
    }
    expect(shown.stdout).toContain('stderr:\na\\u001b[31mRED\n\\u202etxt.exe\nhidden\\rshown\nosc\\u001b]52;c;aGk=\\u0007\n')
    const json = JSON.parse((await cli('job', id, '--json')).stdout)
    expect(json.files.map((f: { path: string }) => f.path).sort()).toEqual([...names].sort())
    expect(json.stderr).toBe(names.map((n) => `${n}\n`).join(''))
  })

  it('-o inside --out is refused before anything is sent (exit 2)', async () => {
    const before = await jobCount()
    const out = join(dir.path, 'both')
    const result = await cli('submit', join(EXAMPLES, 'echo.wasm'), '--out', out, '-o', join(out, 'result.txt'))
    expect(result.code).toBe(2)
    expect(result.stderr.trim()).toBe(`depin: -o ${join(out, 'result.txt')} is inside --out ${out}: the job's files written there and its output could overwrite each other; give -o a path outside ${out}`)
    expect(await jobCount()).toBe(before)
  })

  it('a path too long for the file system under --out: one --out line for submit; filesError for each map task, which all go on', async () => {
    const longOut = join(dir.path, 'o'.repeat(240), 'p'.repeat(240))
    const submitted = await cli('submit', OUT_NAMES, '--arg', deepPath, '--out', longOut)
    expect(submitted.code).toBe(1)
    const last = submitted.stderr.trim().split('\n').at(-1) as string
    expect(last).toMatch(/^depin: --out: cannot write ".{60}….{90}": name too long \(ENAMETOOLONG\)$/)

    const inputs = join(dir.path, 'long-in')
    await mkdir(inputs)
    await writeFile(join(inputs, 'one'), '1')
    await writeFile(join(inputs, 'two'), '2')
    const mapped = await cli('map', OUT_NAMES, inputs, '--arg', deepPath, '--out', longOut)
    expect(mapped.code).toBe(1)
    expect(mapped.stderr.trim().split('\n').at(-1)).toMatch(/^depin: the outputs of 2 tasks could not be written; see filesError in .*results\.jsonl$/)
    const lines = (await readFile(join(longOut, 'results.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l)).sort(byName)
    expect(lines.map((l) => l.name)).toEqual(['one', 'two'])
    for (const l of lines) {
      expect(l.status).toBe('completed')
      expect(l.filesError).toMatch(/^--out: cannot write ".*": name too long \(ENAMETOOLONG\)$/)
    }
  })

  it('a write that fails half way (EFBIG): job --out keeps the earlier file whole; map gives that task filesError and goes on', async () => {
    const big = join(dir.path, 'big.bin')
    await writeFile(big, Buffer.alloc(64 * 1024, 'x'))
    const submitted = JSON.parse((await cli('submit', join(EXAMPLES, 'copytree.wasm'), '--in', big, '--wait', '--json')).stdout)
    expect(submitted.status).toBe('completed')
    const out = join(dir.path, 'limited')
    await mkdir(out)
    await writeFile(join(out, 'big.bin'), 'the good file')
    const job = await runCliLimited(4, ['job', submitted.id, '--out', out, '--data-dir', requesterDir])
    expect(job.code).toBe(1)
    expect(job.stderr.trim()).toBe(`depin: --out: cannot write ${JSON.stringify(join(out, 'big.bin'))}: file too large (EFBIG)`)
    expect(await readFile(join(out, 'big.bin'), 'utf8')).toBe('the good file')
    expect(await readdir(out)).toEqual(['big.bin'])

    const inputs = join(dir.path, 'efbig-in')
    await mkdir(inputs)
    await writeFile(join(inputs, 'big'), Buffer.alloc(64 * 1024, 'y'))
    await writeFile(join(inputs, 'small'), 'small\n')
    const mapOut = join(dir.path, 'efbig-out')
    const mapped = await runCliLimited(4, ['map', join(EXAMPLES, 'echo.wasm'), inputs, '--out', mapOut, '--data-dir', requesterDir])
    expect(mapped.code).toBe(1)
    expect(mapped.stderr.trim().split('\n').at(-1)).toMatch(/^depin: the outputs of 1 task could not be written; see filesError in /)
    const lines = (await readFile(join(mapOut, 'results.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l)).sort(byName)
    expect(lines).toMatchObject([
      { name: 'big', status: 'completed', filesError: `its stdout could not be written: cannot write ${JSON.stringify(join(mapOut, 'big.out'))}: file too large (EFBIG)` },
      { name: 'small', status: 'completed' }
    ])
    expect(lines[1].filesError).toBeUndefined()
    expect((await readdir(mapOut)).sort()).toEqual(['results.jsonl', 'small.out'])
    expect(await readFile(join(mapOut, 'small.out'), 'utf8')).toBe('small\n')
  })

  it('map never writes through a symlink under --out, nor opens a FIFO there', async () => {
    const elsewhere = join(dir.path, 'elsewhere')
    await mkdir(join(elsewhere, 'dir'), { recursive: true })
    await writeFile(join(elsewhere, 'victim'), 'precious')
    const inputs = join(dir.path, 'sym-in')
    await mkdir(inputs)
    for (const name of ['a', 'b', 'c']) await writeFile(join(inputs, name), `${name}\n`)
    const single = join(dir.path, 'cover.txt')
    await writeFile(single, 'cover')
    const out = join(dir.path, 'sym-out')
    await mkdir(out)
    await symlink(join(elsewhere, 'victim'), join(out, 'a.out')) // a's stdout file
    await symlink(join(elsewhere, 'dir'), join(out, 'b')) // b's files directory
    const mapped = await cli('map', join(EXAMPLES, 'copytree.wasm'), inputs, '--in', single, '--out', out)
    expect(mapped.code).toBe(1)
    const lines = (await readFile(join(out, 'results.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l)).sort(byName)
    expect(lines.map((l) => [l.name, l.status, l.filesError])).toEqual([
      ['a', 'completed', `its stdout could not be written: cannot write ${JSON.stringify(join(out, 'a.out'))}: a symlink is in the way (not followed)`],
      ['b', 'completed', `--out: cannot write ${JSON.stringify(join(out, 'b'))}: a symlink is in the way (not followed)`],
      ['c', 'completed', undefined]
    ])
    expect(await readFile(join(elsewhere, 'victim'), 'utf8')).toBe('precious')
    expect(await readdir(join(elsewhere, 'dir'))).toEqual([])
    expect(await readFile(join(out, 'c', 'cover.txt'), 'utf8')).toBe('cover')

    // results.jsonl as a symlink, or a FIFO: refused before the batch is submitted.
    const before = await batchCount()
    const linked = join(dir.path, 'sym-results')
    await mkdir(linked)
    await symlink(join(elsewhere, 'victim'), join(linked, 'results.jsonl'))
    const refused = await cli('map', join(EXAMPLES, 'echo.wasm'), inputs, '--out', linked)
    expect(refused.code).toBe(1)
    expect(refused.stderr.trim()).toBe(`depin: --out: cannot write ${JSON.stringify(join(linked, 'results.jsonl'))}: a symlink is in the way (not followed); nothing was submitted`)
    const fifo = join(dir.path, 'fifo-results')
    await mkdir(fifo)
    execFileSync('mkfifo', [join(fifo, 'results.jsonl')])
    const blocked = await cli('map', join(EXAMPLES, 'echo.wasm'), inputs, '--out', fifo)
    expect(blocked.code).toBe(1)
    expect(blocked.stderr.trim()).toBe(`depin: --out: cannot write ${JSON.stringify(join(fifo, 'results.jsonl'))}: a FIFO, socket or device is in the way (not opened); nothing was submitted`)
    expect(await readFile(join(elsewhere, 'victim'), 'utf8')).toBe('precious')
    expect(await batchCount()).toBe(before)
  })

  it('--in and map inputs whose names on disk are not UTF-8 are refused, naming --in or the input', async () => {
    const bad = join(dir.path, 'bad-names')
    await mkdir(bad)
    await writeFile(Buffer.concat([Buffer.from(join(bad, 'bad')), Buffer.from([0xff])]), 'x')
    const submitted = await cli('submit', join(EXAMPLES, 'echo.wasm'), '--in', bad)
    expect(submitted.code).toBe(1)
    expect(submitted.stderr.trim()).toBe('depin: --in: input "bad-names/bad\\uFFFD" is not a valid UTF-8 name; rename it')
    const mapped = await cli('map', join(EXAMPLES, 'echo.wasm'), bad, '--out', join(dir.path, 'bad-out'))
    expect(mapped.code).toBe(1)
    expect(mapped.stderr.trim()).toBe(`depin: input ${JSON.stringify(join(bad, 'bad'))}`.replace(/"$/, '\\uFFFD"') + ' is not a valid UTF-8 name; rename it (nothing was uploaded)')
  })
})
