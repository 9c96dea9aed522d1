/**
 * File manifests (src/scheduler/files): the canonical encoding, strict decoding of manifests
 * from outside, verification of bytes against their CIDs, scanning input trees on disk and
 * writing output trees to disk.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { execFileSync } from 'node:child_process'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import * as dagCbor from '@ipld/dag-cbor'
import { cidOf, DAG_CBOR_CODE, rawCid } from '../src/proofs/encoding.ts'
import {
  compareBytewise, createManifest, decodeManifest, encodedManifestBytes, DuplicatePathError, EMPTY_MANIFEST, encodeManifest, FileCidMismatchError,
  FileSizeMismatchError, InputNotFoundError, InvalidManifestError, InvalidPathError, manifestCid, ManifestTooLargeError, manifestOf,
  manifestOfDiskFiles, MAX_MANIFEST_ENTRIES, MissingFileError, OutputNotDirectoryError, OutputNotWritableError,
  OutputPathConflictError, PathConflictError, readInputFiles, scanInputs, SymlinkEscapeError, SymlinkLoopError, TooManyEntriesError,
  UnexpectedFileError, UnsupportedFileTypeError, validatePath, verifyFiles, writeOutputTree
} from '../src/scheduler/files/index.ts'
import type { ManifestEntry } from '../src/scheduler/files/index.ts'

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const entry = (path: string, content = path): ManifestEntry => ({ path, size: utf8(content).byteLength, cid: rawCid(utf8(content)) })
/** Encodes a manifest value as-is (no sorting or checks), as a peer could send it. */
const raw = (files: unknown[], extra: Record<string, unknown> = {}): Uint8Array => dagCbor.encode({ v: 1, files, ...extra })

describe('manifest encoding', () => {
  it('has one canonical encoding and CID for a tree, whatever the order it was given in', () => {
    const files = [{ path: 'b.txt', bytes: utf8('b') }, { path: 'a/x', bytes: utf8('x') }]
    const one = manifestOf(files)
    const two = manifestOf([...files].reverse())
    expect(hex(encodeManifest(two))).toBe(hex(encodeManifest(one)))
    expect(one.files.map(f => f.path)).toEqual(['a/x', 'b.txt'])
    // pinned: a change here changes every output CID on the network (docs/protocol.md, "File manifests")
    expect(hex(encodeManifest(one))).toBe(
      'a26176016566696c657382a363636964d82a582500015512202d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a48816470617468' +
      '63612f786473697a6501a363636964d82a582500015512203e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d647061746865622e7478746473697a6501')
    expect(manifestCid(one).toString()).toBe('bafyreifgngxdqrigme5mp2rhl5csvxmdo43qfza2ywmj22yxxtrzxjnke4')
    expect(manifestCid(one).equals(cidOf(encodeManifest(one), DAG_CBOR_CODE))).toBe(true)
    expect(manifestCid(EMPTY_MANIFEST).toString()).toBe('bafyreib52ek3q3swvgsl6sb45o4xshl6sxv4z2wjfse6mykdygf273eg3m')
  })

  it('sorts by UTF-8 bytes, not by UTF-16 code units', () => {
    // U+FFFD is EF BF BD in UTF-8, U+1F600 is F0 9F 98 80: bytewise the emoji is last, while
    // JS's < puts it (a surrogate pair, D83D DE00) before U+FFFD
    const paths = ['\u{1F600}', '\uFFFD', 'Z', 'a', 'a-b', 'a/b', 'é']
    const sorted = createManifest(paths.map(p => entry(p === 'a' ? 'a0' : p))).files.map(f => f.path)
    expect(sorted).toEqual(['Z', 'a-b', 'a/b', 'a0', 'é', '\uFFFD', '\u{1F600}'])
    expect(['\u{1F600}', '\uFFFD'].sort(compareBytewise)).toEqual(['\uFFFD', '\u{1F600}'])
  })

  it('knows the exact length of an encoding before building it', () => {
    const entries = [
      { path: 'a', size: 0 }, { path: 'b'.repeat(23), size: 23 }, { path: 'c'.repeat(24), size: 24 },
      { path: `${'d'.repeat(255)}/${'e'.repeat(255)}`, size: 65536 }, { path: 'f', size: 2 ** 32 }
    ]
    for (const count of [0, 1, entries.length]) {
      const some = entries.slice(0, count)
      const manifest = createManifest(some.map(e => ({ path: e.path, size: e.size, cid: rawCid(utf8(e.path)) })))
      expect(encodedManifestBytes(some.map(e => ({ pathBytes: utf8(e.path).byteLength, size: e.size })))).toBe(encodeManifest(manifest).byteLength)
    }
    const many = Array.from({ length: 300 }, (_, i) => ({ path: `f${i}`, size: i }))
    const manifest = createManifest(many.map(e => ({ path: e.path, size: e.size, cid: rawCid(utf8(e.path)) })))
    expect(encodedManifestBytes(many.map(e => ({ pathBytes: e.path.length, size: e.size })))).toBe(encodeManifest(manifest).byteLength)
  })

  it('round-trips through decodeManifest', () => {
    const manifest = manifestOf([{ path: 'dir/é.txt', bytes: utf8('accent') }, { path: 'z', bytes: new Uint8Array(0) }])
    const decoded = decodeManifest(encodeManifest(manifest))
    expect(decoded.files.map(f => [f.path, f.size, f.cid.toString()])).toEqual(manifest.files.map(f => [f.path, f.size, f.cid.toString()]))
  })
})

describe('manifest validation (bad input)', () => {
  it('refuses the same path twice', () => {
    expect(() => createManifest([entry('a'), entry('a')])).toThrow(DuplicatePathError)
    const err = (() => { try { decodeManifest(raw([entry('a'), entry('a')])) } catch (e) { return e } })()
    expect(err).toBeInstanceOf(DuplicatePathError)
    expect(err).toMatchObject({ code: 'ERR_DUPLICATE_PATH', path: 'a' })
  })

  it.each([
    ['/etc/passwd', 'absolute'],
    ['a/../../etc/passwd', 'dot-segment'],
    ['..', 'dot-segment'],
    ['./a', 'dot-segment'],
    ['a//b', 'empty-segment'],
    ['a/', 'trailing-slash'],
    ['', 'empty'],
    ['a\0b', 'nul'],
    ['x'.repeat(5000), 'too-long'],
    [`${'n'.repeat(256)}/f`, 'name-too-long']
  ])('refuses a bad path in a decoded manifest and in createManifest (%#: %s)', (path, reason) => {
    const bytes = raw([{ path, size: 1, cid: rawCid(utf8('x')) }])
    const err = (() => { try { decodeManifest(bytes) } catch (e) { return e } })()
    expect(err).toBeInstanceOf(InvalidPathError)
    expect(err).toMatchObject({ code: 'ERR_INVALID_PATH', reason })
    expect(() => createManifest([{ path, size: 1, cid: rawCid(utf8('x')) }])).toThrow(InvalidPathError)
  })

  it('refuses a path with no UTF-8 form (a lone surrogate) in createManifest', () => {
    // (a decoded manifest cannot hold one: DAG-CBOR strings are UTF-8)
    const err = (() => { try { createManifest([{ path: 'bad\uD800', size: 1, cid: rawCid(utf8('x')) }]) } catch (e) { return e } })()
    expect(err).toMatchObject({ code: 'ERR_INVALID_PATH', reason: 'not-unicode' })
  })

  it('refuses a file that is also used as a directory', () => {
    const err = (() => { try { decodeManifest(raw([entry('a'), entry('a-b'), entry('a/b')])) } catch (e) { return e } })()
    expect(err).toBeInstanceOf(PathConflictError)
    expect(err).toMatchObject({ code: 'ERR_PATH_CONFLICT', path: 'a/b', file: 'a' })
  })

  it('refuses entries out of order, unknown fields, another version, a CID that is not raw sha2-256, a bad size', () => {
    expect(() => decodeManifest(raw([entry('b'), entry('a')]))).toThrow(InvalidManifestError)
    expect(() => decodeManifest(raw([entry('a')], { extra: 1 }))).toThrow(InvalidManifestError)
    expect(() => decodeManifest(dagCbor.encode({ v: 2, files: [] }))).toThrow(InvalidManifestError)
    expect(() => decodeManifest(raw([{ ...entry('a'), cid: cidOf(utf8('a'), DAG_CBOR_CODE) }]))).toThrow(InvalidManifestError)
    expect(() => decodeManifest(raw([{ ...entry('a'), size: -1 }]))).toThrow(InvalidManifestError)
    expect(() => decodeManifest(raw([{ ...entry('a'), mode: 0o755 }]))).toThrow(InvalidManifestError)
    expect(() => decodeManifest(utf8('not cbor at all'))).toThrow(InvalidManifestError)
    // an indefinite-length array (non-canonical) is refused by the strict decoder
    const canonical = raw([])
    const indefinite = Uint8Array.from([...canonical.subarray(0, canonical.byteLength - 1), 0x9f, 0xff])
    expect(() => decodeManifest(indefinite)).toThrow(InvalidManifestError)
  })

  it('refuses bytes that decode but are not the canonical encoding: a float for an integer, invalid UTF-8 in a path', () => {
    const good = Buffer.from(encodeManifest(createManifest([entry('ab', 'x')])))
    expect(decodeManifest(good).files[0]).toMatchObject({ path: 'ab', size: 1 })
    // size 1 as a float64 (fb 3ff0000000000000): the decoder reads 1, which re-encodes as 01
    const at = good.indexOf(Buffer.from([0x64, 0x73, 0x69, 0x7a, 0x65, 0x01])) + 5
    const float = Buffer.concat([good.subarray(0, at), Buffer.from([0xfb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0]), good.subarray(at + 1)])
    // 'a' of the path replaced by 0xff: the decoder reads U+FFFD, which re-encodes as ef bf bd
    const utf = Buffer.from(good)
    utf[utf.indexOf(Buffer.from([0x62, 0x61, 0x62])) + 1] = 0xff
    for (const bytes of [float, utf]) {
      const err = (() => { try { decodeManifest(bytes) } catch (e) { return e } })()
      expect(err).toBeInstanceOf(InvalidManifestError)
      expect((err as Error).message).toMatch(/not in canonical form/)
    }
  })

  it('refuses a manifest of 1,000,000 entries by its size, and by its declared count, before decoding', () => {
    // built by repeating one encoded entry: what a peer could send, without encoding it here
    const one = dagCbor.encode(entry('f'))
    const header = raw([]).subarray(0, 10) // a2 61 76 01 65 'files'
    const count = 1_000_000
    const bytes = new Uint8Array(header.byteLength + 5 + one.byteLength * count)
    bytes.set(header)
    bytes.set([0x9a, 0x00, 0x0f, 0x42, 0x40], header.byteLength) // array of 1,000,000
    for (let i = 0, at = header.byteLength + 5; i < count; i++, at += one.byteLength) bytes.set(one, at)
    const tooLarge = (() => { try { decodeManifest(bytes) } catch (e) { return e } })()
    expect(tooLarge).toBeInstanceOf(ManifestTooLargeError)
    expect(tooLarge).toMatchObject({ code: 'ERR_MANIFEST_TOO_LARGE', bytes: bytes.byteLength })
    // with no byte limit, the count in the array header is enough to refuse it
    const tooMany = (() => { try { decodeManifest(bytes, { maxBytes: Infinity }) } catch (e) { return e } })()
    expect(tooMany).toBeInstanceOf(TooManyEntriesError)
    expect(tooMany).toMatchObject({ code: 'ERR_TOO_MANY_ENTRIES', count, limit: MAX_MANIFEST_ENTRIES })
    expect(() => createManifest(Array.from({ length: 11 }, (_, i) => entry(`f${i}`)), { maxEntries: 10 })).toThrow(TooManyEntriesError)
  })
})

describe('verification', () => {
  const files = [{ path: 'a.txt', bytes: utf8('alpha') }, { path: 'd/b.txt', bytes: utf8('beta') }]
  const manifest = manifestOf(files)

  it('accepts exactly the files of the manifest', () => {
    verifyFiles(manifest, files)
    verifyFiles(manifest, [...files].reverse())
  })

  it('refuses bytes that do not match their CID, naming the file', () => {
    const err = (() => { try { verifyFiles(manifest, [files[0], { path: 'd/b.txt', bytes: utf8('BETA') }]) } catch (e) { return e } })()
    expect(err).toBeInstanceOf(FileCidMismatchError)
    expect(err).toMatchObject({ code: 'ERR_FILE_CID_MISMATCH', path: 'd/b.txt' })
  })

  it('refuses a wrong size, a missing file and a file the manifest does not list', () => {
    expect(() => verifyFiles(manifest, [files[0], { path: 'd/b.txt', bytes: utf8('betas') }])).toThrow(FileSizeMismatchError)
    expect(() => verifyFiles(manifest, [files[0]])).toThrow(MissingFileError)
    expect(() => verifyFiles(manifest, [...files, { path: 'extra', bytes: utf8('') }])).toThrow(UnexpectedFileError)
  })
})

describe('trees on disk', () => {
  const dirs: string[] = []
  const tmp = (): string => {
    const d = mkdtempSync(join(tmpdir(), 'depin-files-'))
    dirs.push(d)
    return d
  }
  afterEach(() => {
    for (const d of dirs.splice(0)) {
      try { chmodSync(d, 0o755) } catch {}
      rmSync(d, { recursive: true, force: true })
    }
  })

  /** photos/{a.pgm, sub/b.pgm, link-to-a (symlink inside the tree)} and notes.txt */
  function sampleTree (): { root: string, photos: string, notes: string } {
    const root = tmp()
    const photos = join(root, 'photos')
    mkdirSync(join(photos, 'sub'), { recursive: true })
    writeFileSync(join(photos, 'a.pgm'), 'A')
    writeFileSync(join(photos, 'sub', 'b.pgm'), 'BB')
    symlinkSync('a.pgm', join(photos, 'link-to-a'))
    const notes = join(root, 'notes.txt')
    writeFileSync(notes, 'notes')
    return { root, photos, notes }
  }

  it('puts a file at its basename and a directory tree under its basename, following links inside the tree', async () => {
    const { photos, notes } = sampleTree()
    const files = await scanInputs([photos, notes])
    expect(files.map(f => [f.path, f.size])).toEqual([
      ['notes.txt', 5], ['photos/a.pgm', 1], ['photos/link-to-a', 1], ['photos/sub/b.pgm', 2]
    ])
    const loaded = await readInputFiles(files)
    expect(loaded[0].bytes.buffer).toBeInstanceOf(SharedArrayBuffer)
    expect(new TextDecoder().decode(loaded[3].bytes)).toBe('BB')
    const streamed = await manifestOfDiskFiles(files)
    expect(manifestCid(streamed).equals(manifestCid(manifestOf(loaded)))).toBe(true)
  })

  it('refuses a missing path and a dangling link', async () => {
    const root = tmp()
    const err = await scanInputs([join(root, 'nope')]).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(InputNotFoundError)
    expect(err).toMatchObject({ code: 'ERR_INPUT_NOT_FOUND' })
    mkdirSync(join(root, 'd'))
    symlinkSync('gone', join(root, 'd', 'dangling'))
    await expect(scanInputs([join(root, 'd')])).rejects.toMatchObject({ code: 'ERR_INPUT_NOT_FOUND', path: 'd/dangling' })
  })

  it('refuses symlink loops: a link to itself, and a link to a directory it is in', async () => {
    const root = tmp()
    symlinkSync('self', join(root, 'self'))
    await expect(scanInputs([join(root, 'self')])).rejects.toBeInstanceOf(SymlinkLoopError)
    mkdirSync(join(root, 'tree', 'deep'), { recursive: true })
    symlinkSync('..', join(root, 'tree', 'deep', 'up'))
    const err = await scanInputs([join(root, 'tree')]).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(SymlinkLoopError)
    expect(err).toMatchObject({ code: 'ERR_SYMLINK_LOOP', path: 'tree/deep/up' })
  })

  it('does not follow a symlink out of the tree', async () => {
    const { root, photos } = sampleTree()
    writeFileSync(join(root, 'secret'), 'do not read')
    symlinkSync(join(root, 'secret'), join(photos, 'escape'))
    const err = await scanInputs([photos]).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(SymlinkEscapeError)
    expect(err).toMatchObject({ code: 'ERR_SYMLINK_ESCAPE', path: 'photos/escape' })
  })

  it('refuses two inputs with the same basename, a FIFO, and too many entries', async () => {
    const a = tmp()
    const b = tmp()
    writeFileSync(join(a, 'same'), '1')
    writeFileSync(join(b, 'same'), '2')
    await expect(scanInputs([join(a, 'same'), join(b, 'same')])).rejects.toBeInstanceOf(DuplicatePathError)
    execFileSync('mkfifo', [join(a, 'fifo')])
    await expect(scanInputs([a])).rejects.toBeInstanceOf(UnsupportedFileTypeError)
    const many = tmp()
    for (let i = 0; i < 20; i++) writeFileSync(join(many, `f${i}`), '')
    await expect(scanInputs([many], { maxEntries: 10 })).rejects.toBeInstanceOf(TooManyEntriesError)
  })

  it('writes an output tree, overwriting files of the same path', async () => {
    const out = join(tmp(), 'new', 'out')
    await writeOutputTree(out, [{ path: 'a.txt', bytes: utf8('one') }, { path: 'd/e/b.bin', bytes: Uint8Array.of(0, 1, 2) }])
    await writeOutputTree(out, [{ path: 'a.txt', bytes: utf8('two') }])
    expect(readFileSync(join(out, 'a.txt'), 'utf8')).toBe('two')
    expect([...readFileSync(join(out, 'd', 'e', 'b.bin'))]).toEqual([0, 1, 2])
  })

  it('refuses an output target that is a file, and writes nothing for a path that would escape', async () => {
    const root = tmp()
    writeFileSync(join(root, 'file'), 'keep')
    await expect(writeOutputTree(join(root, 'file'), [{ path: 'a', bytes: utf8('x') }])).rejects.toBeInstanceOf(OutputNotDirectoryError)
    expect(readFileSync(join(root, 'file'), 'utf8')).toBe('keep')
    const out = join(root, 'out')
    const err = await writeOutputTree(out, [{ path: 'ok', bytes: utf8('x') }, { path: '../escaped', bytes: utf8('x') }]).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(InvalidPathError)
    expect(existsSync(out)).toBe(false)
    expect(existsSync(join(root, 'escaped'))).toBe(false)
  })

  it('never follows a symlink already in the output directory', async () => {
    const root = tmp()
    const out = join(root, 'out')
    const outside = join(root, 'outside')
    mkdirSync(out)
    mkdirSync(outside)
    writeFileSync(join(outside, 'victim'), 'safe')
    symlinkSync(outside, join(out, 'dir'))
    symlinkSync(join(outside, 'victim'), join(out, 'file'))
    await expect(writeOutputTree(out, [{ path: 'dir/victim', bytes: utf8('owned') }])).rejects.toBeInstanceOf(OutputPathConflictError)
    await expect(writeOutputTree(out, [{ path: 'file', bytes: utf8('owned') }])).rejects.toBeInstanceOf(OutputPathConflictError)
    expect(readFileSync(join(outside, 'victim'), 'utf8')).toBe('safe')
    expect(readlinkSync(join(out, 'file'))).toBe(join(outside, 'victim'))
  })

  it('refuses an output directory that is not writable', async () => {
    // as root, permission bits do not stop writes: use sysfs, which refuses new files to anyone
    let target: string
    if (process.getuid?.() === 0) {
      target = '/sys/kernel'
      if (!existsSync(target)) return
    } else {
      target = tmp()
      chmodSync(target, 0o555)
    }
    const err = await writeOutputTree(target, [{ path: 'depin-test-output', bytes: utf8('x') }]).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(OutputNotWritableError)
    expect(err).toMatchObject({ code: 'ERR_OUTPUT_NOT_WRITABLE' })
    expect(existsSync(join(target, 'depin-test-output'))).toBe(false)
  })

  it('validates paths the same way everywhere', () => {
    expect(() => validatePath('ok/path.txt')).not.toThrow()
    expect(() => validatePath('a'.repeat(100), { maxPathBytes: 99 })).toThrow(InvalidPathError)
  })
})
