/**
 * Jobs with files on a real 4-node testnet: the file examples (copytree, uppercase, thumbnail)
 * with two replicas that must agree, their output trees byte-identical to the same job run by the
 * local executor; a batch sharing one input tree across its tasks, each task with its own output
 * files; output files fetched by path; a tree with empty files, deep paths and many files.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { CID } from 'multiformats/cid'
import { createTestnet, type Testnet } from '../src/node/testnet.ts'
import type { ComputeNode } from '../src/node/compute-node.ts'
import { createExecutor, type WasiExecutor } from '../src/scheduler/executor/index.ts'
import { rawCid } from '../src/proofs/encoding.ts'
import { OutputFileNotFoundError } from '../src/scheduler/errors.ts'
import { jobTaskSpec, type JobInit } from '../src/scheduler/job.ts'
import { taskId, taskSeed } from '../src/scheduler/task.ts'
import { InvalidPathError, DuplicatePathError, type TreeFile } from '../src/scheduler/files/index.ts'
import type { JobResult } from '../src/scheduler/requester/jobs.ts'
import { example, text, utf8, waitForCapacity, waitForOfferMesh } from './jobs-helpers.ts'

/** A binary PGM (P5) of w × h with a gradient. */
function pgm (w: number, h: number, seed: number): Uint8Array {
  const header = utf8(`P5\n${w} ${h}\n255\n`)
  const out = new Uint8Array(header.byteLength + w * h)
  out.set(header, 0)
  for (let i = 0; i < w * h; i++) out[header.byteLength + i] = (i * 7 + seed * 13) & 0xff
  return out
}

const tree: TreeFile[] = [
  { path: 'docs/a.txt', bytes: utf8('hello files\nsecond line\n') },
  { path: 'docs/deep/er/still/b.txt', bytes: utf8('deep\n') },
  { path: 'docs/empty.txt', bytes: new Uint8Array(0) },
  { path: 'top.txt', bytes: utf8('top level\n') }
]

describe('jobs with files on a 4-node testnet', () => {
  let net: Testnet
  let requester: ComputeNode
  let local: WasiExecutor

  beforeAll(async () => {
    net = await createTestnet({ nodes: 4, nodeInit: (i) => (i === 0 ? { capacity: { slots: 0 } } : {}) })
    requester = net.nodes[0]
    await waitForOfferMesh(requester, net.nodes.slice(1).map((n) => n.peerId))
    await waitForCapacity(requester, 3)
    local = createExecutor({ workers: 1 })
    await local.start()
  })
  afterAll(async () => {
    await local?.stop()
    await net?.stop()
  })

  /** Runs a job on the network with two replicas and the same task in the local executor. */
  async function both (init: JobInit): Promise<{ result: JobResult, localRun: Awaited<ReturnType<WasiExecutor['run']>> }> {
    const handle = await requester.submitJob({ ...init, replicas: 2 })
    const result = await handle.result()
    const record = await requester.scheduler.record(result.id)
    const spec = jobTaskSpec(CID.parse(result.id), record.body)
    const localRun = await local.run({
      moduleCid: spec.module, module: init.module, stdin: init.input ?? new Uint8Array(0), args: init.args ?? [], env: init.env ?? {},
      memoryMiB: spec.memoryMiB, timeoutMs: spec.timeoutMs, seed: taskSeed(taskId(spec)), fuel: spec.fuel, files: init.files
    })
    return { result, localRun }
  }

  /** The output tree of a result, fetched file by file through the node's API. */
  async function outputTree (result: JobResult): Promise<Map<string, string>> {
    const out = new Map<string, string>()
    for (const f of result.files ?? []) {
      const { info, bytes } = await requester.jobFile(result.id, f.path)
      expect(info).toEqual(f)
      expect(rawCid(bytes).toString()).toBe(f.cid)
      out.set(f.path, Buffer.from(bytes).toString('hex'))
    }
    return out
  }

  it('copytree: two replicas agree, and the files are those of a local run, byte for byte', async () => {
    const { result, localRun } = await both({ module: example('copytree'), files: tree })
    expect(result.status).toBe('completed')
    expect(result.verified).toBe(true)
    expect(result.workers.filter((w) => w.agreed === true)).toHaveLength(2)
    expect(new Set(result.workers.map((w) => w.filesCid)).size).toBe(1)
    expect(result.filesCid).toBe(localRun.outputs.manifestCid.toString())
    expect(result.fuel).toBe(String(localRun.fuel))
    expect(text(result.stdout)).toBe(text(localRun.stdout))
    const files = await outputTree(result)
    expect([...files.keys()]).toEqual(tree.map((f) => f.path).sort())
    for (const f of tree) expect(files.get(f.path)).toBe(Buffer.from(f.bytes).toString('hex'))
  })

  it('uppercase and thumbnail: outputs verified and identical to local runs', async () => {
    const texts: TreeFile[] = [{ path: 'poem.txt', bytes: utf8('the quick brown fox\njumps over\n') }, { path: 'sub/x.md', bytes: utf8('# Title\n') }]
    const up = await both({ module: example('uppercase'), files: texts })
    expect(up.result.status).toBe('completed')
    expect(up.result.filesCid).toBe(up.localRun.outputs.manifestCid.toString())
    expect(Buffer.from((await requester.jobFile(up.result.id, 'poem.txt')).bytes).toString()).toBe('THE QUICK BROWN FOX\nJUMPS OVER\n')

    const images: TreeFile[] = [{ path: 'photos/one.pgm', bytes: pgm(64, 48, 1) }, { path: 'photos/two.pgm', bytes: pgm(33, 17, 2) }, { path: 'notes.txt', bytes: utf8('not an image') }]
    const thumbs = await both({ module: example('thumbnail'), args: ['4', 'invert'], files: images })
    expect(thumbs.result.status).toBe('completed')
    expect(thumbs.result.verified).toBe(true)
    expect(thumbs.result.filesCid).toBe(thumbs.localRun.outputs.manifestCid.toString())
    expect(thumbs.result.files?.map((f) => f.path)).toEqual(['photos/one.pgm', 'photos/two.pgm'])
    const one = (await requester.jobFile(thumbs.result.id, 'photos/one.pgm')).bytes
    expect(text(one.subarray(0, 12))).toBe('P5\n16 12\n255')
    const localOne = thumbs.localRun.outputs.files.find((f) => f.path === 'photos/one.pgm')
    expect(Buffer.compare(Buffer.from(one), Buffer.from(localOne?.bytes ?? []))).toBe(0)
  })

  it('a batch shares one input tree; each task leaves its own files', async () => {
    const handle = await requester.submitBatch({
      module: example('copytree'),
      files: [{ path: 'shared/data.bin', bytes: new Uint8Array(300_000).map((_, i) => i & 0xff) }],
      tasks: [{ input: utf8('a'), name: 'a' }, { input: utf8('b'), name: 'b' }, { input: utf8('c'), name: 'c' }]
    })
    const summary = await handle.result()
    expect(summary.completed).toBe(3)
    const tasks = await requester.scheduler.batchTasks(handle.id)
    expect(tasks.map((t) => t.status)).toEqual(['completed', 'completed', 'completed'])
    // The same input tree and the same program: the same output manifest for every task.
    expect(new Set(tasks.map((t) => t.filesCid)).size).toBe(1)
    const file = await requester.batchTaskFile(handle.id, 2, 'shared/data.bin')
    expect(file.info.size).toBe(300_000)
    expect(file.bytes[299_999]).toBe(299_999 & 0xff)
  })

  it('a job that writes no files lists none; a path it did not write is not found', async () => {
    const result = await (await requester.submitJob({ module: example('echo'), input: utf8('no files') })).result()
    expect(result.status).toBe('completed')
    expect(result.files).toEqual([])
    expect(result.filesCid).toBeUndefined()
    await expect(requester.jobFile(result.id, 'anything')).rejects.toThrow(OutputFileNotFoundError)
  })

  it('input trees that break the path rules are refused before anything is sent', async () => {
    await expect(requester.submitJob({ module: example('copytree'), files: [{ path: '../etc/passwd', bytes: utf8('x') }] })).rejects.toThrow(InvalidPathError)
    await expect(requester.submitJob({ module: example('copytree'), files: [{ path: '/abs', bytes: utf8('x') }] })).rejects.toThrow(InvalidPathError)
    await expect(requester.submitJob({ module: example('copytree'), files: [{ path: 'a\0b', bytes: utf8('x') }] })).rejects.toThrow(InvalidPathError)
    await expect(requester.submitJob({ module: example('copytree'), files: [{ path: 'a', bytes: utf8('x') }, { path: 'a', bytes: utf8('y') }] })).rejects.toThrow(DuplicatePathError)
    await expect(requester.submitJob({ module: example('copytree'), files: [{ path: 'x'.repeat(10_000), bytes: utf8('x') }] })).rejects.toThrow(InvalidPathError)
  })
})
