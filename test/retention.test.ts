/**
 * Retention on a real LevelDB on disk: which records a prune deletes, exactly which pinned blobs
 * go with them, what is never deleted (running work, fresh pins, blobs a kept record or a kept
 * manifest references), single deletes, the automatic prune, and the worker cache's budget.
 * "Restart" closes and reopens the database with a new blob store: pin times live in memory, so
 * after a restart nothing is protected by its pin time.
 */
import { describe, it, expect, beforeEach, afterEach } from 'vitest'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { CID } from 'multiformats/cid'
import { openStore, type Store } from '../src/node/storage.ts'
import { BlobStore } from '../src/scheduler/blob-store.ts'
import { JobStore, type BatchRecord, type BatchTaskRecord, type JobStatus, type RequestedJob } from '../src/scheduler/job-store.ts'
import { createBatch, createJob } from '../src/scheduler/job.ts'
import { createSigner } from '../src/proofs/signing.ts'
import { rawCid } from '../src/proofs/encoding.ts'
import { createManifest, encodeManifest, manifestCid } from '../src/scheduler/files/index.ts'
import { Retention } from '../src/scheduler/retention/index.ts'
import { BatchNotFoundError, JobNotFoundError } from '../src/scheduler/errors.ts'
import { JobRunningError } from '../src/scheduler/retention/errors.ts'
import { tempDir, waitFor } from './helpers.ts'
import { formatDuration, parseDuration } from '../src/shared/duration.ts'
import { setConfigValue, validateConfig } from '../src/node/config-edit.ts'
import { ConfigError } from '../src/errors.ts'

const DAY = 24 * 60 * 60 * 1000
const RETENTION = 30 * DAY
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)
const signer = createSigner(await generateKeyPair('Ed25519'))
const cid = (text: string | undefined): CID => CID.parse(text as string)

describe('retention on LevelDB', () => {
  let dir: { path: string, remove: () => Promise<void> }
  let store: Store
  let records: JobStore
  let blobs: BlobStore
  let live: Set<string>

  const open = async (cacheBytes?: number): Promise<void> => {
    store = await openStore(join(dir.path, 'db'))
    records = new JobStore(store)
    blobs = new BlobStore(store, { cacheBytes })
    await blobs.start()
  }
  /** Closes and reopens the database: a node restart (pin times forgotten). */
  const restart = async (cacheBytes?: number): Promise<void> => {
    await store.close()
    await open(cacheBytes)
  }
  const retention = (init: { retentionMs?: number, intervalMs?: number } = {}, removed: string[] = []): Retention =>
    new Retention({ records, blobs, isLive: (id) => live.has(id), onRemoved: (ids) => { removed.push(...ids) } }, { retentionMs: RETENTION, intervalMs: 0, ...init })
  const has = async (cid: CID): Promise<boolean> => await blobs.get(cid) != null

  /** A job record with its module, input and (when it ran) output and stderr pinned. */
  const job = async (module: Uint8Array, input: Uint8Array, status: JobStatus, ageMs: number, output?: { stdout: Uint8Array, stderr: Uint8Array }): Promise<RequestedJob> => {
    const { body, id } = createJob(signer.peerId, { module, input })
    await blobs.pinMany([{ bytes: module, cid: body.module }, { bytes: input, cid: body.input }])
    const [outputCid, stderrCid] = output != null ? await blobs.pinMany([{ bytes: output.stdout }, { bytes: output.stderr }]) : []
    const at = Date.now() - ageMs
    const record: RequestedJob = {
      id: id.toString(), body, status, createdAt: at - 1000, updatedAt: at, replicas: [],
      ...(outputCid != null ? { outputCid: outputCid.toString(), stderrCid: stderrCid.toString() } : {})
    }
    await records.putRequested(record)
    return record
  }

  /** A batch record (unless `orphan`) and its tasks, each with its input and output pinned. */
  const batch = async (module: Uint8Array, inputs: string[], status: BatchRecord['status'], ageMs: number, options: { orphan?: boolean } = {}): Promise<{ record: BatchRecord, tasks: BatchTaskRecord[] }> => {
    const { body, id } = createBatch(signer.peerId, { module, tasks: inputs.map((i) => ({ input: utf8(i) })) })
    await blobs.pin(module, body.module)
    const tasks: BatchTaskRecord[] = []
    for (const [index, text] of inputs.entries()) {
      const [input] = await blobs.pinMany([{ bytes: utf8(text) }])
      // Tasks of a running batch have not run; those of an ended one have an output.
      const [output] = status === 'running' ? [] : await blobs.pinMany([{ bytes: utf8(text.toUpperCase() + '!') }])
      tasks.push({ index, input, inputBytes: text.length, status: output == null ? 'queued' : 'completed', ...(output != null ? { outputCid: output.toString() } : {}) })
    }
    await records.putBatchTasks(id.toString(), tasks)
    const at = Date.now() - ageMs
    const record: BatchRecord = { id: id.toString(), body, status, createdAt: at - 1000, updatedAt: at, done: 0, failed: 0, verified: 0, cost: 0 }
    if (options.orphan !== true) await records.putBatch(record)
    return { record, tasks }
  }

  const allJobs = async (): Promise<string[]> => { const ids: string[] = []; for await (const r of records.allRequested()) ids.push(r.id); return ids.sort() }
  const allBatches = async (): Promise<string[]> => { const ids: string[] = []; for await (const r of records.allBatches()) ids.push(r.id); return ids.sort() }
  const allTasks = async (): Promise<string[]> => { const ids: string[] = []; for await (const { batchId, task } of records.allBatchTasks()) ids.push(`${batchId}/${task.index}`); return ids }
  const pinnedCount = async (): Promise<number> => { let n = 0; for await (const _ of blobs.pinnedKeys()) n++; return n }

  beforeEach(async () => {
    dir = await tempDir()
    live = new Set()
    await open()
  })

  afterEach(async () => {
    await store.close()
    await dir.remove()
  })

  it('deletes ended jobs past the retention and exactly the blobs no kept job references; a module shared with a kept job stays', async () => {
    const shared = utf8('\0asm shared module')
    const old = await job(shared, utf8('old input'), 'completed', 40 * DAY, { stdout: utf8('old output'), stderr: utf8('old stderr') })
    const recent = await job(shared, utf8('recent input'), 'completed', 1 * DAY, { stdout: utf8('recent output'), stderr: utf8('recent stderr') })
    const stalled = await job(utf8('\0asm stalled module'), utf8('stalled input'), 'running', 40 * DAY)
    const garbage = await blobs.pin(utf8('referenced by nothing'))
    await restart()

    const removed: string[] = []
    const report = await retention({}, removed).prune()
    expect(report).toMatchObject({ jobs: 1, batches: 0, tasks: 0, leases: 0, olderThanMs: RETENTION })
    // The old job's input, output and stderr, and the blob nothing referenced: nothing else.
    expect(report.blobs).toBe(4)
    expect(report.bytes).toBe('old input'.length + 'old output'.length + 'old stderr'.length + 'referenced by nothing'.length)
    expect(removed).toEqual([old.id])
    expect(await allJobs()).toEqual([recent.id, stalled.id].sort())
    for (const c of [old.body.input, cid(old.outputCid), cid(old.stderrCid), garbage]) expect(await has(c)).toBe(false)
    for (const c of [recent.body.module, recent.body.input, cid(recent.outputCid), cid(recent.stderrCid), stalled.body.module, stalled.body.input]) expect(await has(c)).toBe(true)
    expect(await pinnedCount()).toBe(6)

    // Nothing more to do: a second prune deletes nothing.
    expect(await retention().prune()).toMatchObject({ jobs: 0, blobs: 0, bytes: 0 })
  })

  it('never deletes a job that has not ended or that the requester is still placing, however old', async () => {
    const queued = await job(utf8('\0asm a'), utf8('a'), 'queued', 90 * DAY)
    const running = await job(utf8('\0asm b'), utf8('b'), 'running', 90 * DAY)
    const placing = await job(utf8('\0asm c'), utf8('c'), 'completed', 90 * DAY, { stdout: utf8('c!'), stderr: utf8('') })
    live.add(placing.id)
    await restart()
    const report = await retention().prune({ olderThanMs: 0 })
    expect(report).toMatchObject({ jobs: 0, blobs: 0 })
    expect(await allJobs()).toEqual([queued.id, running.id, placing.id].sort())
    await expect(retention().deleteJob(running.id)).rejects.toThrow(JobRunningError)
    await expect(retention().deleteJob(placing.id)).rejects.toThrow(JobRunningError)
  })

  it('never deletes a blob pinned in the last minutes, referenced or not; after a restart an unreferenced one goes', async () => {
    // A submission pins its blobs before it writes its record: here the record never comes.
    const fresh = await blobs.pin(utf8('pinned, record not written yet'))
    expect(await retention().prune({ olderThanMs: 0 })).toMatchObject({ blobs: 0 })
    expect(await has(fresh)).toBe(true)
    await restart()
    expect(await retention().prune({ olderThanMs: 0 })).toMatchObject({ blobs: 1 })
    expect(await has(fresh)).toBe(false)
  })

  it('a blob pinned again while its delete is being decided is kept', async () => {
    const bytes = utf8('pinned again by a new job')
    const pinned = await blobs.pin(bytes)
    await restart()
    // The delete reads sizes first; the pin lands before the delete checks pin times.
    const deleting = blobs.deletePinned([pinned.bytes], Date.now() - 1)
    await blobs.pin(bytes)
    expect(await deleting).toEqual({ blobs: 0, bytes: 0 })
    expect(await has(pinned)).toBe(true)
    // Without a new pin the same delete goes through.
    await restart()
    expect(await blobs.deletePinned([pinned.bytes], Date.now() - 1)).toEqual({ blobs: 1, bytes: bytes.byteLength })
    expect(await has(pinned)).toBe(false)
  })

  it('deletes ended batches past the retention with their tasks and blobs; keeps running ones; cleans up a submission a crash cut short', async () => {
    const shared = utf8('\0asm batch module')
    const keptJob = await job(shared, utf8('job input'), 'completed', DAY, { stdout: utf8('o'), stderr: utf8('') })
    const old = await batch(shared, ['one', 'two', 'three'], 'done', 40 * DAY)
    const running = await batch(utf8('\0asm running batch'), ['r1', 'r2'], 'running', 40 * DAY)
    const crashed = await batch(utf8('\0asm crashed submission'), ['c1', 'c2'], 'running', 0, { orphan: true })
    await restart()
    // A submission under way now: its inputs are pinned, its tasks written, its batch record not yet.
    const underWay = await batch(utf8('\0asm under way'), ['u1'], 'running', 0, { orphan: true })

    const removed: string[] = []
    const report = await retention({}, removed).prune()
    expect(report).toMatchObject({ jobs: 0, batches: 1, tasks: 3 + 2, leases: 0 })
    expect(removed).toEqual([old.record.id])
    expect(await allBatches()).toEqual([running.record.id])
    expect(await allTasks()).toEqual([...running.tasks.map((t) => `${running.record.id}/${t.index}`), ...underWay.tasks.map((t) => `${underWay.record.id}/${t.index}`)].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))))
    // Old batch: inputs and outputs gone, the module (shared with a kept job) kept.
    for (const t of old.tasks) {
      expect(await has(t.input)).toBe(false)
      expect(await has(cid(t.outputCid))).toBe(false)
    }
    expect(await has(keptJob.body.module)).toBe(true)
    // The crashed submission's module and inputs are gone; the running batch's and the one under way kept.
    expect(await has(crashed.record.body.module)).toBe(false)
    for (const t of crashed.tasks) expect(await has(t.input)).toBe(false)
    for (const t of [...running.tasks, ...underWay.tasks]) expect(await has(t.input)).toBe(true)
    expect(await has(running.record.body.module)).toBe(true)
    expect(report.blobs).toBe(3 * 2 + 1 + 2)
  })

  it('deletes served-lease records that ended before the retention', async () => {
    const lease = (leaseId: string, ageMs: number) => ({ leaseId, requester: signer.peerId, startedAt: Date.now() - ageMs - 1000, endedAt: Date.now() - ageMs, tasks: 1, refused: 0, amount: 1, paid: 1, reason: 'closed' })
    await records.putLease(lease('old', 31 * DAY))
    await records.putLease(lease('new', 29 * DAY))
    expect(await retention().prune()).toMatchObject({ leases: 1, jobs: 0 })
    const left: string[] = []
    for await (const l of records.allLeases()) left.push(l.leaseId)
    expect(left).toEqual(['new'])
  })

  it('keeps the files of a manifest a kept record references, and deletes them with it', async () => {
    const files = [{ path: 'a.txt', bytes: utf8('file a') }, { path: 'dir/b.txt', bytes: utf8('file b') }]
    const fileCids = await blobs.pinMany(files.map((f) => ({ bytes: f.bytes })))
    const manifest = createManifest(files.map((f, i) => ({ path: f.path, size: f.bytes.byteLength, cid: fileCids[i] })))
    const mcid = await blobs.pin(encodeManifest(manifest), manifestCid(manifest))
    const withFiles = await job(utf8('\0asm writes files'), utf8('in'), 'completed', DAY)
    // The job's output is a file tree: its record names the tree's manifest.
    await records.putRequested({ ...withFiles, outputCid: mcid.toString() })
    await restart()
    expect(await retention().prune()).toMatchObject({ jobs: 0, blobs: 0 })
    for (const c of [mcid, ...fileCids]) expect(await has(c)).toBe(true)
    expect(await retention().prune({ olderThanMs: 0 })).toMatchObject({ jobs: 1, blobs: 2 + 1 + 2 })
    for (const c of [mcid, ...fileCids]) expect(await has(c)).toBe(false)
  })

  it('deletes one ended job or batch on request with the blobs only it referenced; refuses unknown and unfinished ones', async () => {
    const shared = utf8('\0asm used twice')
    const a = await job(shared, utf8('input a'), 'cancelled', 0)
    const b = await job(shared, utf8('input b'), 'completed', 0, { stdout: utf8('out b'), stderr: utf8('') })
    const done = await batch(shared, ['x', 'y'], 'done', 0)
    const running = await batch(utf8('\0asm r'), ['r'], 'running', 0)
    await restart()
    const removed: string[] = []
    const r = retention({}, removed)

    await expect(r.deleteJob('bafkreinosuchjob')).rejects.toThrow(JobNotFoundError)
    await expect(r.deleteBatch('bafkreinosuchbatch')).rejects.toThrow(BatchNotFoundError)
    await expect(r.deleteBatch(running.record.id)).rejects.toThrow(JobRunningError)

    const first = await r.deleteJob(a.id)
    expect(first).toMatchObject({ jobs: 1, batches: 0, blobs: 1, bytes: 'input a'.length, olderThanMs: null })
    expect(await has(a.body.input)).toBe(false)
    expect(await has(b.body.module)).toBe(true)

    const second = await r.deleteBatch(done.record.id)
    expect(second).toMatchObject({ jobs: 0, batches: 1, tasks: 2, blobs: 4 })
    expect(await has(b.body.module)).toBe(true)
    expect(await allTasks()).toEqual([`${running.record.id}/0`])

    // The last user of the module: it goes too (with its input, output and stderr).
    expect(await r.deleteJob(b.id)).toMatchObject({ jobs: 1, blobs: 4 })
    expect(await has(b.body.module)).toBe(false)
    expect(removed).toEqual([a.id, done.record.id, b.id])
    await expect(r.deleteJob(a.id)).rejects.toThrow(JobNotFoundError)
  })

  it('retention forever keeps every record but still deletes blobs nothing references', async () => {
    await job(utf8('\0asm'), utf8('ancient'), 'completed', 3650 * DAY)
    await blobs.pin(utf8('garbage'))
    await restart()
    expect(await retention({ retentionMs: Infinity }).prune()).toMatchObject({ jobs: 0, blobs: 1, olderThanMs: null })
    expect(await allJobs()).toHaveLength(1)
  })

  it('prunes by itself once at start and then every interval', async () => {
    const first = await job(utf8('\0asm'), utf8('first'), 'failed', 40 * DAY)
    await restart()
    const r = retention({ intervalMs: 20 })
    r.start()
    try {
      await waitFor(async () => r.last != null && (await allJobs()).length === 0, { what: 'the prune at start' })
      expect(await has(first.body.input)).toBe(false)
      // Another record ages past the retention while the node runs: a later prune takes it.
      const second = await job(utf8('\0asm 2'), utf8('second'), 'timed-out', 40 * DAY)
      await waitFor(async () => (await allJobs()).length === 0, { what: 'a periodic prune' })
      expect(await records.getRequested(second.id)).toBeUndefined()
    } finally {
      await r.stop()
      await r.stop()
    }
  })

  it('the worker cache stays within its budget, also when the budget is lowered', async () => {
    const blob = (i: number): Uint8Array => new Uint8Array(1000).fill(i)
    await restart(3000)
    for (let i = 0; i < 5; i++) await blobs.cacheVerified(rawCid(blob(i)), blob(i))
    expect(blobs.cacheUsage()).toEqual({ bytes: 3000, blobs: 3, budget: 3000 })
    expect(await has(rawCid(blob(4)))).toBe(true)
    await restart(1500)
    expect(blobs.cacheUsage()).toEqual({ bytes: 1000, blobs: 1, budget: 1500 })
    // Cached blobs are not the requester's: prune never touches them.
    expect(await retention().prune({ olderThanMs: 0 })).toMatchObject({ blobs: 0 })
    expect(blobs.cacheUsage().blobs).toBe(1)
  })
})

describe('durations and the retention config key', () => {
  it('parses a whole number and a unit, or forever; formats back', () => {
    expect(parseDuration('30d')).toBe(30 * DAY)
    expect(parseDuration(' 12H ')).toBe(12 * 60 * 60 * 1000)
    expect(parseDuration('90m')).toBe(90 * 60 * 1000)
    expect(parseDuration('0s')).toBe(0)
    expect(parseDuration('2w')).toBe(14 * DAY)
    expect(parseDuration('forever')).toBe(Infinity)
    expect(parseDuration('forever', { allowForever: false })).toBeUndefined()
    for (const bad of ['', '30', 'd', '1.5d', '-1d', '3x', '30 d', '1y', '99999999d']) expect(parseDuration(bad), bad).toBeUndefined()
    expect([30 * DAY, 14 * DAY, 36 * 60 * 60 * 1000, 90_000, 0, Infinity].map(formatDuration)).toEqual(['30d', '14d', '36h', '90s', '0s', 'forever'])
  })

  it('config set validates retention and cacheMiB as the node reads them', () => {
    expect(setConfigValue({}, 'retention', '12h')).toEqual({ retention: '12h' })
    expect(setConfigValue({}, 'retention', 'forever')).toEqual({ retention: 'forever' })
    expect(() => setConfigValue({}, 'retention', '3x')).toThrow(ConfigError)
    expect(() => setConfigValue({}, 'retention', '3x')).toThrow(/retention: must be a whole number and a unit/)
    expect(setConfigValue({}, 'cacheMiB', '2048')).toEqual({ cacheMiB: 2048 })
    expect(() => setConfigValue({}, 'cacheMiB', '0')).toThrow(ConfigError)
    expect(validateConfig({})).toMatchObject({ retention: '30d', cacheMiB: 512 })
  })
})
