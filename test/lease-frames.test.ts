/**
 * The hand-written checks of `tasks` and `results` frames (lease-frame-checks.ts) against the
 * zod schemas they stand in for: every field of a valid frame missing, null, of another type,
 * at and past its bounds, plus unknown keys; whenever the fast path accepts a frame, zod accepts
 * it too and both give the same value; valid frames take the fast path; and what the fast path
 * does not take, parse*Frame still judges with zod (same error as before).
 */
import { describe, expect, it } from 'vitest'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import type { MultihashDigest } from 'multiformats/hashes/interface'
import { InvalidMessageError } from '../src/errors.ts'
import { decode, encode, rawCid, valueCid } from '../src/proofs/encoding.ts'
import { MAX_UINT64 } from '../src/proofs/schema.ts'
import { INLINE_BYTES, MAX_INPUT_BYTES, MAX_MODULE_BYTES, MAX_OUTPUT_BYTES, MAX_STDERR_BYTES } from '../src/scheduler/constants.ts'
import { MAX_MANIFEST_BYTES } from '../src/scheduler/files/constants.ts'
import { checkResults, checkTasks } from '../src/scheduler/lease-frame-checks.ts'
import { MAX_FRAME_ITEMS, parseRequesterFrame, parseWorkerFrame, requesterFrameSchema, workerFrameSchema } from '../src/scheduler/lease-frames.ts'
import { MAX_ARG_CHARS, MAX_ARGS, MAX_ENV, MAX_INPUT_FILES_BYTES, MAX_JOB_MEMORY_MIB, MAX_JOB_TIMEOUT_MS } from '../src/scheduler/task.ts'

type Obj = Record<string, unknown>
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)
const moduleCid = rawCid(utf8('module'))
const inputCid = rawCid(utf8('input'))
const manifestCid = valueCid({ files: [] })
// Content addresses of the wrong kind: the same digest as CIDv0, under sha2-512, under another codec.
const v0Cid = CID.createV0(moduleCid.multihash as MultihashDigest<0x12>)
const sha512Cid = CID.createV1(0x55, Digest.create(0x13, new Uint8Array(64)))
const jsonCid = CID.createV1(0x0200, moduleCid.multihash)

function spec (): Obj {
  return {
    v: 1, key: new Uint8Array(36), runtime: 'wasi-p1', module: moduleCid, moduleBytes: 714, input: inputCid, inputBytes: 5,
    args: ['-n', '3'], env: { LANG: 'C', X: '' }, memoryMiB: 64, timeoutMs: 10_000, fuel: 1_000_000_000_000
  }
}
function task (): Obj { return { spec: spec(), deadline: 1_800_000_000_000, stdin: utf8('input') } }
function result (): Obj {
  return {
    task: valueCid({ t: 1 }), exit: 0, out: rawCid(utf8('out')), outBytes: 3, errBytes: 0, fuel: 12_345, cpuMs: 1, wallMs: 2,
    stdoutTruncated: false, stderrTruncated: false, stdout: utf8('out'), stderr: new Uint8Array(0)
  }
}

/** Values to put in a field: wrong types, nulls, CIDs, edge numbers. */
const odd: unknown[] = [
  null, undefined, true, 'x', '', -1, 0, 1, 1.5, 2 ** 53, -(2 ** 53), NaN, 0n, 1n, -1n, MAX_UINT64, MAX_UINT64 + 1n,
  new Uint8Array(0), new Uint8Array(65), [], ['a'], {}, { a: 1 }, moduleCid, manifestCid, v0Cid, sha512Cid, jsonCid, 'a\0b'
]

/** Bounds per field: values at and just past each limit. */
const bounds: Record<string, unknown[]> = {
  moduleBytes: [1, MAX_MODULE_BYTES, MAX_MODULE_BYTES + 1],
  inputBytes: [0, MAX_INPUT_BYTES, MAX_INPUT_BYTES + 1],
  memoryMiB: [1, MAX_JOB_MEMORY_MIB, MAX_JOB_MEMORY_MIB + 1],
  timeoutMs: [1, MAX_JOB_TIMEOUT_MS, MAX_JOB_TIMEOUT_MS + 1],
  fuel: [0, Number.MAX_SAFE_INTEGER, 2n ** 53n, MAX_UINT64, MAX_UINT64 + 1n, -1],
  key: [new Uint8Array(64), new Uint8Array(65)],
  args: [Array.from({ length: MAX_ARGS }, () => 'a'), Array.from({ length: MAX_ARGS + 1 }, () => 'a'), ['x'.repeat(MAX_ARG_CHARS)], ['x'.repeat(MAX_ARG_CHARS + 1)], ['a\0'], [1]],
  env: [
    Object.fromEntries(Array.from({ length: MAX_ENV }, (_, i) => [`K${i}`, 'v'])), Object.fromEntries(Array.from({ length: MAX_ENV + 1 }, (_, i) => [`K${i}`, 'v'])),
    { '': 'v' }, { 'A=B': 'v' }, { 'A\0': 'v' }, { ['K'.repeat(256)]: 'v' }, { ['K'.repeat(257)]: 'v' }, { K: 'x'.repeat(MAX_ARG_CHARS) }, { K: 'x'.repeat(MAX_ARG_CHARS + 1) }, { K: 'a\0' }, { K: 1 }, ['a']
  ],
  files: [
    { cid: manifestCid, manifestBytes: 1, size: 0 }, { cid: manifestCid, manifestBytes: MAX_MANIFEST_BYTES, size: MAX_INPUT_FILES_BYTES },
    { cid: manifestCid, manifestBytes: 0, size: 0 }, { cid: manifestCid, manifestBytes: MAX_MANIFEST_BYTES + 1, size: 0 }, { cid: manifestCid, manifestBytes: 1, size: MAX_INPUT_FILES_BYTES + 1 },
    { cid: 'x', manifestBytes: 1, size: 0 }, { cid: manifestCid, manifestBytes: 1 }, { cid: manifestCid, manifestBytes: 1, size: 0, extra: 1 }
  ],
  deadline: [0, Number.MAX_SAFE_INTEGER, 2 ** 53],
  stdin: [new Uint8Array(INLINE_BYTES), new Uint8Array(INLINE_BYTES + 1)],
  exit: [-1, 255, -2, 256],
  outBytes: [MAX_OUTPUT_BYTES, MAX_OUTPUT_BYTES + 1],
  errBytes: [MAX_STDERR_BYTES, MAX_STDERR_BYTES + 1],
  filesBytes: [1, MAX_MANIFEST_BYTES, MAX_MANIFEST_BYTES + 1],
  trap: ['x'.repeat(512), 'x'.repeat(513), 'a\0b'],
  stdout: [new Uint8Array(INLINE_BYTES), new Uint8Array(INLINE_BYTES + 1)],
  stderr: [new Uint8Array(INLINE_BYTES), new Uint8Array(INLINE_BYTES + 1)]
}

/** Every variant of an item: each field set to each odd value and bound, removed, plus extra keys. */
function variants (make: () => Obj, extraFields: string[]): Array<() => Obj> {
  const out: Array<() => Obj> = [make]
  for (const field of [...Object.keys(make()), ...extraFields]) {
    for (const value of [...odd, ...(bounds[field] ?? [])]) out.push(() => ({ ...make(), [field]: value }))
    out.push(() => { const o = make(); delete o[field]; return o })
  }
  out.push(() => ({ ...make(), extra: 1 }))
  return out
}

/** Whether a value holds `undefined` anywhere (never the case after the wire: DAG-CBOR has no undefined). */
function hasUndefined (v: unknown): boolean {
  if (v === undefined) return true
  if (typeof v !== 'object' || v === null || v instanceof Uint8Array) return false
  return Object.values(v).some(hasUndefined)
}

/** The same value, fuel and CIDs included (zod's output vs the fast path's). */
function canonical (v: unknown): string {
  return Buffer.from(encode(v)).toString('hex')
}

describe('tasks frames: hand checks against zod', () => {
  const specVariants = variants(spec, ['files'])
  const taskVariants = [
    ...variants(task, []),
    ...specVariants.map((s) => () => ({ ...task(), spec: s() }))
  ]

  it('valid frames take the fast path; whatever it accepts zod accepts, with the same value', () => {
    let fast = 0
    let agreed = 0
    for (const make of taskVariants) {
      for (const build of [() => [make()], () => [task(), make()], () => [make(), task(), task()]]) {
        const z = requesterFrameSchema.safeParse({ t: 'tasks', tasks: build() })
        const f = checkTasks(build(), MAX_FRAME_ITEMS)
        if (f !== undefined) {
          fast++
          expect(z.success, JSON.stringify(Object.keys(build()[0]))).toBe(true)
          if (z.success && z.data.t === 'tasks') expect(canonical(f)).toBe(canonical(z.data.tasks))
        } else if (z.success && !hasUndefined(build())) {
          agreed++ // zod takes what the fast path left to it (an optional field set to undefined can only be made locally)
        }
      }
    }
    expect(checkTasks([task()], MAX_FRAME_ITEMS)).toBeDefined()
    expect(checkTasks([{ ...task(), spec: { ...spec(), files: bounds.files[0] } }], MAX_FRAME_ITEMS)).toBeDefined()
    expect(fast).toBeGreaterThan(100)
    expect(agreed).toBe(0)
  })

  it('counts: none, the most, one more', () => {
    expect(checkTasks([], MAX_FRAME_ITEMS)).toBeUndefined()
    expect(checkTasks(Array.from({ length: MAX_FRAME_ITEMS }, task), MAX_FRAME_ITEMS)).toHaveLength(MAX_FRAME_ITEMS)
    expect(checkTasks(Array.from({ length: MAX_FRAME_ITEMS + 1 }, task), MAX_FRAME_ITEMS)).toBeUndefined()
  })

  it('after the wire, a frame parses to the same value as through zod; a bad one is refused with zod\'s error', () => {
    const wire = (v: unknown): unknown => decode(encode(v), 4 << 20)
    const second: Obj = { ...task(), spec: { ...spec(), files: bounds.files[1], fuel: MAX_UINT64 } }
    delete second.stdin
    const frame = { t: 'tasks', tasks: [task(), second] }
    const parsed = parseRequesterFrame(wire(frame))
    const viaZod = requesterFrameSchema.parse(wire(frame))
    expect(canonical(parsed)).toBe(canonical(viaZod))
    expect(parsed.t === 'tasks' && parsed.tasks[1].spec.fuel).toBe(MAX_UINT64)
    expect(parsed.t === 'tasks' && typeof parsed.tasks[0].spec.fuel).toBe('bigint')
    const bad = wire({ t: 'tasks', tasks: [{ ...task(), spec: { ...spec(), memoryMiB: 0 } }] })
    expect(() => parseRequesterFrame(bad)).toThrow(InvalidMessageError)
    expect(() => parseRequesterFrame(bad)).toThrow(/at tasks\.0\.spec\.memoryMiB/)
    expect(() => parseRequesterFrame({ t: 'tasks', tasks: [task()], extra: 1 })).toThrow(InvalidMessageError)
  })
})

describe('results frames: hand checks against zod', () => {
  const resultVariants = variants(result, ['trap', 'files', 'filesBytes'])

  it('valid frames take the fast path; whatever it accepts zod accepts, with the same value', () => {
    let fast = 0
    let agreed = 0
    for (const make of resultVariants) {
      for (const build of [() => [make()], () => [result(), make()]]) {
        const z = workerFrameSchema.safeParse({ t: 'results', results: build() })
        const f = checkResults(build(), MAX_FRAME_ITEMS)
        if (f !== undefined) {
          fast++
          expect(z.success).toBe(true)
          if (z.success && z.data.t === 'results') expect(canonical(f)).toBe(canonical(z.data.results))
        } else if (z.success && !hasUndefined(build())) {
          agreed++
        }
      }
    }
    const full = { ...result(), stdout: undefined, stderr: undefined, trap: 'unreachable', files: manifestCid, filesBytes: 10, fuel: MAX_UINT64 }
    expect(checkResults([Object.fromEntries(Object.entries(full).filter(([, v]) => v !== undefined))], MAX_FRAME_ITEMS)).toBeDefined()
    expect(fast).toBeGreaterThan(50)
    expect(agreed).toBe(0)
  })

  it('counts, and zod\'s error for what the fast path leaves to it', () => {
    expect(checkResults([], MAX_FRAME_ITEMS)).toBeUndefined()
    expect(checkResults(Array.from({ length: MAX_FRAME_ITEMS + 1 }, result), MAX_FRAME_ITEMS)).toBeUndefined()
    expect(() => parseWorkerFrame({ t: 'results', results: [{ ...result(), exit: 256 }] })).toThrow(/at results\.0\.exit/)
    expect(() => parseWorkerFrame({ t: 'results', results: [result()], extra: 1 })).toThrow(InvalidMessageError)
    const parsed = parseWorkerFrame(decode(encode({ t: 'results', results: [result()] }), 1 << 20))
    expect(parsed.t === 'results' && parsed.results[0].fuel).toBe(12_345n)
  })
})

describe('content addresses are strict (CIDv1, sha2-256; raw for blobs, dag-cbor for objects)', () => {
  it('a result whose output CID is another codec, version or hash is refused, as is a task id that is a blob\'s', () => {
    const wire = (v: unknown): unknown => decode(encode(v), 1 << 20)
    expect(parseWorkerFrame(wire({ t: 'results', results: [result()] })).t).toBe('results')
    for (const out of [valueCid(utf8('out')), v0Cid, sha512Cid, jsonCid]) {
      expect(() => parseWorkerFrame(wire({ t: 'results', results: [{ ...result(), out }] }))).toThrow(/at results\.0\.out: expected a CIDv1 raw sha2-256/)
    }
    expect(() => parseWorkerFrame(wire({ t: 'results', results: [{ ...result(), task: moduleCid }] }))).toThrow(/at results\.0\.task: expected a CIDv1 dag-cbor/)
    expect(() => parseWorkerFrame(wire({ t: 'want', cids: [v0Cid] }))).toThrow(InvalidMessageError)
    expect(parseWorkerFrame(wire({ t: 'want', cids: [moduleCid, manifestCid] })).t).toBe('want')
  })

  it('a task whose module or input is not a raw CID, or whose files manifest is not dag-cbor, is refused', () => {
    const wire = (v: unknown): unknown => decode(encode(v), 1 << 20)
    for (const bad of [{ module: manifestCid }, { module: v0Cid }, { input: sha512Cid }, { files: { cid: moduleCid, manifestBytes: 1, size: 0 } }]) {
      expect(() => parseRequesterFrame(wire({ t: 'tasks', tasks: [{ ...task(), spec: { ...spec(), ...bad } }] }))).toThrow(InvalidMessageError)
    }
    expect(() => parseRequesterFrame(wire({ t: 'cancel', task: moduleCid }))).toThrow(InvalidMessageError)
  })
})
