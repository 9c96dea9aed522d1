/**
 * Receiving a run's output files as they follow a result on a lease stream (OutputTreeReceiver):
 * the manifest in `manifest` data frames, checked against the CID the worker committed to, then
 * each file in the manifest's order in `file` data frames, checked against its CID. What a lying
 * worker can send (another manifest, an invalid one, other bytes, more bytes) is BadResultError;
 * data out of order is ProtocolViolationError. Pure: no network.
 */
import { describe, it, expect } from 'vitest'
import { encode, rawCid } from '../src/proofs/encoding.ts'
import { encodeManifest, manifestCid, manifestOf, type TreeFile } from '../src/scheduler/files/index.ts'
import { OutputTreeReceiver } from '../src/scheduler/requester/output-tree.ts'
import { BadResultError, ProtocolViolationError } from '../src/scheduler/errors.ts'
import { MAX_OUTPUT_TREE_BYTES } from '../src/scheduler/constants.ts'

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)
const text = (b: Uint8Array): string => new TextDecoder().decode(b)

/** A tree as a worker would send it: files in manifest order, the manifest, its bytes and CID. */
function tree (files: TreeFile[]): { files: TreeFile[], bytes: Uint8Array, receiver: () => OutputTreeReceiver } {
  const manifest = manifestOf(files)
  const bytes = encodeManifest(manifest)
  const cid = manifestCid(bytes)
  const sorted = manifest.files.map((e) => ({ path: e.path, bytes: files.find((f) => f.path === e.path)?.bytes ?? new Uint8Array(0) }))
  return { files: sorted, bytes, receiver: () => new OutputTreeReceiver(cid, bytes.byteLength) }
}

/** Splits bytes into chunks of `size` (the way data frames carry them). */
function chunks (bytes: Uint8Array, size: number): Uint8Array[] {
  const out: Uint8Array[] = []
  for (let at = 0; at < bytes.byteLength; at += size) out.push(bytes.subarray(at, at + size))
  return out
}

function caught (f: () => void): Error {
  try {
    f()
  } catch (err) {
    return err as Error
  }
  throw new Error('expected a throw')
}

describe('OutputTreeReceiver', () => {
  const sample = (): ReturnType<typeof tree> => tree([
    { path: 'z/last.txt', bytes: utf8('last file') },
    { path: 'a.txt', bytes: utf8('first file, a little longer') },
    { path: 'empty', bytes: new Uint8Array(0) }
  ])

  it('takes the manifest and each file in chunks, checks them, and returns the tree in manifest order', () => {
    const t = sample()
    const r = t.receiver()
    for (const c of chunks(t.bytes, 7)) {
      expect(r.complete).toBe(false)
      r.data('manifest', c)
    }
    // Empty files need no data frames: only the two with bytes follow.
    for (const f of t.files) for (const c of chunks(f.bytes, 5)) r.data('file', c)
    expect(r.complete).toBe(true)
    const result = r.result()
    expect(result.cid.equals(manifestCid(t.bytes))).toBe(true)
    expect(Buffer.from(result.manifestBytes).equals(Buffer.from(t.bytes))).toBe(true)
    expect(result.files.map((f) => [f.path, text(f.bytes)])).toEqual([['a.txt', 'first file, a little longer'], ['empty', ''], ['z/last.txt', 'last file']])
    expect(result.manifest.files.map((e) => e.path)).toEqual(['a.txt', 'empty', 'z/last.txt'])
  })

  it('a tree of empty files only is complete as soon as its manifest is in', () => {
    const t = tree([{ path: 'b', bytes: new Uint8Array(0) }, { path: 'a', bytes: new Uint8Array(0) }])
    const r = t.receiver()
    r.data('manifest', t.bytes)
    expect(r.complete).toBe(true)
    expect(r.result().files.map((f) => [f.path, f.bytes.byteLength])).toEqual([['a', 0], ['b', 0]])
    // Nothing more may follow.
    expect(caught(() => { r.data('file', utf8('x')) })).toBeInstanceOf(BadResultError)
  })

  it('a manifest that does not match the committed CID is a bad result', () => {
    const t = sample()
    const other = tree([{ path: 'a.txt', bytes: utf8('first file, a little longeR') }, { path: 'empty', bytes: new Uint8Array(0) }, { path: 'z/last.txt', bytes: utf8('last file') }])
    expect(other.bytes.byteLength).toBe(t.bytes.byteLength) // same length, other bytes
    const r = t.receiver()
    const err = caught(() => { r.data('manifest', other.bytes) })
    expect(err).toBeInstanceOf(BadResultError)
    expect(err.message).toMatch(/output manifest does not match the committed/)
    expect(r.complete).toBe(false)
  })

  it('manifest bytes past the announced length are a bad result', () => {
    const t = sample()
    const r = t.receiver()
    r.data('manifest', t.bytes.subarray(0, 10))
    const err = caught(() => { r.data('manifest', t.bytes.subarray(9)) })
    expect(err).toBeInstanceOf(BadResultError)
    expect(err.message).toMatch(/longer than announced/)
  })

  it('an invalid manifest (not a manifest, or out of order), even under its own CID, is a bad result', () => {
    // The worker signed the CID of bytes that are no manifest: the CID matches, the content does not pass.
    const notAManifest = encode({ v: 1, files: [{ path: '../escape', size: 1, cid: rawCid(utf8('x')) }] })
    const r = new OutputTreeReceiver(manifestCid(notAManifest), notAManifest.byteLength)
    const err = caught(() => { r.data('manifest', notAManifest) })
    expect(err).toBeInstanceOf(BadResultError)
    expect(err.message).toMatch(/output manifest is invalid/)
    const unsorted = encode({ v: 1, files: [{ path: 'b', size: 1, cid: rawCid(utf8('x')) }, { path: 'a', size: 1, cid: rawCid(utf8('y')) }] })
    const r2 = new OutputTreeReceiver(manifestCid(unsorted), unsorted.byteLength)
    expect(caught(() => { r2.data('manifest', unsorted) })).toBeInstanceOf(BadResultError)
    const garbage = utf8('not cbor at all')
    const r3 = new OutputTreeReceiver(manifestCid(garbage), garbage.byteLength)
    expect(caught(() => { r3.data('manifest', garbage) })).toBeInstanceOf(BadResultError)
  })

  it('a manifest listing more bytes than an output tree may hold is a bad result, before any file is sent', () => {
    const huge = encode({ v: 1, files: [{ path: 'big', size: MAX_OUTPUT_TREE_BYTES + 1, cid: rawCid(utf8('x')) }] })
    const r = new OutputTreeReceiver(manifestCid(huge), huge.byteLength)
    const err = caught(() => { r.data('manifest', huge) })
    expect(err).toBeInstanceOf(BadResultError)
    expect(err.message).toMatch(/over the limit/)
  })

  it('file bytes that do not match their CID are a bad result, as soon as the file is complete', () => {
    const t = sample()
    const r = t.receiver()
    r.data('manifest', t.bytes)
    const first = t.files[0].bytes
    const forged = first.slice()
    forged[forged.length - 1] ^= 1
    r.data('file', forged.subarray(0, 5)) // incomplete: nothing to check yet
    const err = caught(() => { r.data('file', forged.subarray(5)) })
    expect(err).toBeInstanceOf(BadResultError)
    expect(err.message).toMatch(/a\.txt/)
    expect(r.complete).toBe(false)
  })

  it('a file longer than the manifest lists is a bad result; so is data past the last file', () => {
    const t = sample()
    const r = t.receiver()
    r.data('manifest', t.bytes)
    const first = t.files[0].bytes
    const err = caught(() => { r.data('file', new Uint8Array(first.byteLength + 1)) })
    expect(err).toBeInstanceOf(BadResultError)
    expect(err.message).toMatch(/"a\.txt" is longer than its manifest says/)

    const s = sample()
    const done = s.receiver()
    done.data('manifest', s.bytes)
    for (const f of s.files) if (f.bytes.byteLength > 0) done.data('file', f.bytes)
    expect(done.complete).toBe(true)
    expect(caught(() => { done.data('file', utf8('more')) })).toBeInstanceOf(BadResultError)
  })

  it('file data before the whole manifest, or manifest data after it, is a protocol violation', () => {
    const t = sample()
    const r = t.receiver()
    expect(caught(() => { r.data('file', utf8('first')) })).toBeInstanceOf(ProtocolViolationError)
    r.data('manifest', t.bytes.subarray(0, 3))
    expect(caught(() => { r.data('file', utf8('first')) })).toBeInstanceOf(ProtocolViolationError)
    r.data('manifest', t.bytes.subarray(3))
    const again = caught(() => { r.data('manifest', t.bytes.subarray(0, 1)) })
    expect(again).toBeInstanceOf(ProtocolViolationError)
    expect(again).not.toBeInstanceOf(BadResultError)
  })

  it('result() before the tree is complete is a protocol violation', () => {
    const t = sample()
    const r = t.receiver()
    expect(caught(() => r.result())).toBeInstanceOf(ProtocolViolationError)
    r.data('manifest', t.bytes)
    r.data('file', t.files[0].bytes)
    expect(r.complete).toBe(false) // z/last.txt still to come
    expect(caught(() => r.result())).toBeInstanceOf(ProtocolViolationError)
  })
})
