/**
 * Trees on disk under what a hostile worker or an unlucky disk can do (src/scheduler/files/disk.ts
 * and the CLI's checks on it): a write that fails half way (a full disk; here a file size limit,
 * which fails the same `write` for real) leaves no part of a file under its name and keeps the
 * file that was there; every system error is the library's error with a short message; a FIFO in
 * the way is refused, not opened; names on disk that are not UTF-8, a symlink graph that reaches
 * directories exponentially often, and an `--in` manifest over its limit are refused locally.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { execFileSync, spawnSync } from 'node:child_process'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import {
  encodedManifestBytes, InvalidPathError, MAX_MANIFEST_BYTES, OutputNotWritableError, OutputPathConflictError, scanInputs,
  TooManyEntriesError, writeOutputTree
} from '../src/scheduler/files/index.ts'
import { scanInParts } from '../src/cli/files.ts'
import { expandInputs } from '../src/cli/commands/map.ts'

const DISK_TS = new URL('../src/scheduler/files/disk.ts', import.meta.url).pathname
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)

describe('trees on disk, against failures and hostile input', () => {
  const dirs: string[] = []
  const tmp = (): string => {
    const d = mkdtempSync(join(tmpdir(), 'depin-disk-'))
    dirs.push(d)
    return d
  }
  afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }) })

  it('a write that fails half way leaves the earlier file whole and no temporary file, and says why', () => {
    const out = tmp()
    writeFileSync(join(out, 'f'), 'the good file')
    // A file size limit of a few KiB (sh counts 512- or 1024-byte blocks): the 64 KiB write fails with EFBIG after the first bytes.
    const script = `import { writeOutputTree } from ${JSON.stringify(DISK_TS)}
      try { await writeOutputTree(process.argv[1], [{ path: 'f', bytes: new Uint8Array(65536).fill(120) }]); console.log('{"written":true}') }
      catch (e) { console.log(JSON.stringify({ name: e.constructor.name, code: e.code, systemCode: e.systemCode, message: e.message })) }`
    const run = spawnSync('sh', ['-c', 'ulimit -f 4 && exec "$0" --input-type=module -e "$1" "$2"', process.execPath, script, out], { encoding: 'utf8' })
    expect(run.status, run.stderr).toBe(0)
    const result = JSON.parse(run.stdout.trim().split('\n').at(-1) as string)
    expect(result).toEqual({
      name: 'OutputNotWritableError', code: 'ERR_OUTPUT_NOT_WRITABLE', systemCode: 'EFBIG', message: `cannot write ${JSON.stringify(join(out, 'f'))}: file too large (EFBIG)`
    })
    expect(readFileSync(join(out, 'f'), 'utf8')).toBe('the good file')
    expect(readdirSync(out)).toEqual(['f'])
  })

  it('a path the file system refuses (ENAMETOOLONG) is OutputNotWritableError with the code and a short message', async () => {
    const out = join(tmp(), 'x'.repeat(200))
    const deep = Array.from({ length: 16 }, (_, i) => `${i}`.padEnd(250, 'd')).join('/') + '/file'
    const err = await writeOutputTree(out, [{ path: deep, bytes: utf8('x') }]).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(OutputNotWritableError)
    expect(err).toMatchObject({ code: 'ERR_OUTPUT_NOT_WRITABLE', systemCode: 'ENAMETOOLONG', cause: { code: 'ENAMETOOLONG' } })
    const message = (err as Error).message
    expect(message).toMatch(/^cannot write ".{60}….{90}": name too long \(ENAMETOOLONG\)$/)
    expect(message.length).toBeLessThan(200)
  })

  it('a FIFO, a directory or a symlink at a file\'s path is refused at once, never opened or followed', async () => {
    const out = tmp()
    execFileSync('mkfifo', [join(out, 'fifo')])
    mkdirSync(join(out, 'dir'))
    writeFileSync(join(out, 'victim'), 'safe')
    symlinkSync('victim', join(out, 'link'))
    for (const path of ['fifo', 'dir', 'link']) {
      await expect(writeOutputTree(out, [{ path, bytes: utf8('x') }]), path).rejects.toBeInstanceOf(OutputPathConflictError)
    }
    await expect(writeOutputTree(out, [{ path: 'fifo', bytes: utf8('x') }])).rejects.toThrow(/: a FIFO, socket or device is in the way \(not opened\)$/)
    expect(readFileSync(join(out, 'victim'), 'utf8')).toBe('safe')
    expect(readdirSync(out).sort()).toEqual(['dir', 'fifo', 'link', 'victim'])
  })

  it('names on disk that are not UTF-8 are refused, escaped, naming --in or the map input', async () => {
    const root = tmp()
    mkdirSync(join(root, 'd'))
    writeFileSync(join(root, 'd', 'good'), 'x')
    writeFileSync(Buffer.concat([Buffer.from(join(root, 'd', 'bad')), Buffer.from([0xff])]), 'x')
    const err = await scanInputs([join(root, 'd')]).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(InvalidPathError)
    expect(err).toMatchObject({ code: 'ERR_INVALID_PATH', reason: 'not-unicode', message: 'input "d/bad\\uFFFD" is not a valid UTF-8 name; rename it' })
    await expect(scanInParts([join(root, 'd')])).rejects.toThrow(/^--in: input "d\/bad\\uFFFD" is not a valid UTF-8 name; rename it$/)
    const mapErr = await expandInputs([join(root, 'd')]).catch((e: unknown) => e)
    expect(mapErr).toMatchObject({ code: 'ERR_INVALID_PATH', message: `input ${JSON.stringify(join(root, 'd', 'bad'))}`.replace(/"$/, '\\uFFFD"') + ' is not a valid UTF-8 name; rename it (nothing was uploaded)' })
    // A name that is valid UTF-8 (U+FFFD itself, and a leading BOM, which a decoder could drop) is read as it is.
    rmSync(Buffer.concat([Buffer.from(join(root, 'd', 'bad')), Buffer.from([0xff])]))
    writeFileSync(join(root, 'd', '\uFEFFbom\uFFFD'), 'y')
    expect((await scanInputs([join(root, 'd')])).map((f) => f.path)).toEqual(['d/good', 'd/\uFEFFbom\uFFFD'])
  })

  it('a small graph of symlinks to directories that reaches them exponentially often stops at the bound', async () => {
    const bomb = join(tmp(), 'bomb')
    // d0..d24, each holding two links to the next: 2^24 ways down, and not a file in it.
    for (let i = 0; i < 25; i++) mkdirSync(join(bomb, `d${i}`), { recursive: true })
    for (let i = 0; i < 24; i++) for (const l of ['a', 'b']) symlinkSync(`../d${i + 1}`, join(bomb, `d${i}`, l))
    const err = await scanInputs([bomb], { maxEntries: 1000 }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(TooManyEntriesError)
    expect((err as Error).message).toBe('input tree has 1001 directories to walk (a directory reached through several symlinks counts each time), over the limit of 1000')
    // A directory reached through two links is still walked (and listed) twice, within the bound.
    const shared = join(tmp(), 'shared')
    mkdirSync(join(shared, 'real'), { recursive: true })
    writeFileSync(join(shared, 'real', 'f'), 'x')
    symlinkSync('real', join(shared, 'one'))
    symlinkSync('real', join(shared, 'two'))
    expect((await scanInputs([shared])).map((f) => f.path)).toEqual(['shared/one/f', 'shared/real/f', 'shared/two/f'])
  })

  it('--in whose manifest would be over 16 MiB is refused locally, naming --in', async () => {
    // Paths of ~4000 bytes (the limit is 4096): about 4,300 empty files make a manifest over 16 MiB.
    const root = tmp()
    const dirs = Array.from({ length: 15 }, (_, i) => `${i}`.padEnd(250, 'd'))
    const deep = join(root, 'in', ...dirs)
    mkdirSync(deep, { recursive: true })
    const count = 4300
    for (let i = 0; i < count; i++) writeFileSync(join(deep, `${i}`.padEnd(200, 'f')), '')
    const pathBytes = Buffer.byteLength(['in', ...dirs, 'f'.repeat(200)].join('/'))
    const expected = encodedManifestBytes(Array.from({ length: count }, () => ({ pathBytes, size: 0 })))
    expect(expected).toBeGreaterThan(MAX_MANIFEST_BYTES)
    await expect(scanInParts([join(root, 'in')])).rejects.toMatchObject({
      code: 'ERR_LOCAL_CHECK',
      message: `--in: the input files' manifest would be ${expected} bytes, over the limit of ${MAX_MANIFEST_BYTES} (16 MiB): too many files, or too long paths; nothing was uploaded`
    })
    expect(existsSync(deep)).toBe(true)
  })
})
