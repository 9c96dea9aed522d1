/**
 * Write before you answer: a submission the caller is told about, and a cancel it is told took
 * effect, are on the disk first. A power cut cannot be shown by killing or freezing a process
 * (LevelDB hands every write to the OS at once: a copy of a frozen daemon's data dir reads it
 * from the page cache), so this checks the order instead, over a store that records each write's
 * `sync` option and holds synced writes until the test lets them land: a synced submission
 * resolves only after its synced write; a cancel resolves only once the batch's record says it
 * is cancelled (synced), so a restart right after it (no stop: a kill) places nothing more.
 */
import { describe, it, expect, afterEach } from 'vitest'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createSigner } from '../src/proofs/signing.ts'
import { createBatch, createJob } from '../src/scheduler/job.ts'
import { JobStore } from '../src/scheduler/job-store.ts'
import { BlobStore } from '../src/scheduler/blob-store.ts'
import { Batches } from '../src/scheduler/requester/batches.ts'
import { Jobs } from '../src/scheduler/requester/jobs.ts'
import type { Store } from '../src/shared/store.ts'
import { tempDir } from './helpers.ts'
import { holdingDispatcher } from './jobs-helpers.ts'
import { stateOf, WatchedLevel } from './watched-level.ts'

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)
const requester = createSigner(await generateKeyPair('Ed25519'))
const MODULE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0])

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => { for (const c of cleanups.splice(0)) await c() })

async function watchedStore (): Promise<WatchedLevel> {
  const dir = await tempDir()
  const db = new WatchedLevel(join(dir.path, 'db'), { keyEncoding: 'view', valueEncoding: 'view' })
  await db.open()
  cleanups.push(async () => { db.release(); await db.close(); await dir.remove() })
  return db
}

describe('submissions on the disk before they are answered', () => {
  it('a job submitted with sync resolves only once its record\'s synced write has landed; without, nothing is synced', async () => {
    const db = await watchedStore()
    const records = new JobStore(db as unknown as Store)
    const jobs = new Jobs({ blobs: new BlobStore(db as unknown as Store) as never, records, dispatcher: holdingDispatcher() as never, emit: () => {}, spotCheckRate: 0 })
    const plain = createJob(requester.peerId, { module: MODULE, input: utf8('plain') })
    await jobs.submit(plain.body, plain.id, utf8('plain'))
    expect(db.log.filter((l) => l.startsWith('sync'))).toEqual([])

    db.held = true
    const synced = createJob(requester.peerId, { module: MODULE, input: utf8('synced') })
    const submitted = jobs.submit(synced.body, synced.id, utf8('synced'), { sync: true })
    await waitForLog(db, 'sync batch of 2')
    expect(await stateOf(submitted)).toBe('pending')
    db.release()
    const handle = await submitted
    expect((await records.getRequested(handle.id))?.status).toBe('queued')
    jobs.stop()
  })

  it('a batch submitted with sync: its task records first, then one synced write of its record; resolves after it', async () => {
    const db = await watchedStore()
    const records = new JobStore(db as unknown as Store)
    const batches = new Batches({ blobs: new BlobStore(db as unknown as Store) as never, records, dispatcher: holdingDispatcher() as never, spotCheckRate: 0 })
    const tasks = Array.from({ length: 3 }, (_, i) => ({ input: utf8(`in ${i}`) }))
    const { body, id } = createBatch(requester.peerId, { module: MODULE, tasks })
    db.held = true
    const submitted = batches.submit(body, id, tasks, { sync: true })
    await waitForLog(db, 'sync put')
    expect(await stateOf(submitted)).toBe('pending')
    // (the inputs pinned, then the task records, then the batch's record: the one synced write)
    expect(db.log.filter((l) => l.startsWith('sync'))).toEqual(['sync put'])
    expect(db.log.slice(-2)).toEqual(['write batch of 3', 'sync put'])
    db.release()
    await submitted
    await batches.stop()
  })
})

describe('cancels on the disk before they are answered', () => {
  it('a batch cancel resolves once its record says cancelled (synced); a restart right after (a kill) places none of its tasks', async () => {
    const db = await watchedStore()
    const records = new JobStore(db as unknown as Store)
    // Its placed tasks answer the cancel later (a spot check runs): they are not final when the cancel is answered.
    const first = holdingDispatcher(false)
    const batches = new Batches({ blobs: new BlobStore(db as unknown as Store) as never, records, dispatcher: first as never, spotCheckRate: 0 })
    const tasks = Array.from({ length: 10 }, (_, i) => ({ input: utf8(`in ${i}`) }))
    const { body, id } = createBatch(requester.peerId, { module: MODULE, tasks })
    await batches.submit(body, id, tasks)
    expect(first.submitted.size).toBe(10)
    db.log.length = 0
    db.held = true
    const cancelled = batches.cancel(id.toString())
    await waitForLog(db, 'sync put')
    expect(await stateOf(cancelled)).toBe('pending')
    db.release()
    expect(await cancelled).toBe(true)
    expect(await records.getBatch(id.toString())).toMatchObject({ status: 'running', cancelled: true })

    // Killed now: no stop, a new run over the same store. Before, the cancel was answered at
    // once and written up to 100 ms later: the restarted node placed the whole batch again.
    const second = holdingDispatcher()
    const again = new Batches({ blobs: new BlobStore(db as unknown as Store) as never, records, dispatcher: second as never, spotCheckRate: 0 })
    await again.resume()
    const handle = again.handle(id.toString())
    if (handle == null) throw new Error('the batch did not resume')
    expect(await handle.result()).toMatchObject({ status: 'cancelled', completed: 0, failed: 10 })
    expect(second.submitted.size).toBe(0)
    const stored = []
    for await (const t of records.batchTasksOf(id.toString())) stored.push(t.status)
    expect(stored).toEqual(Array(10).fill('cancelled'))
    expect((await records.getBatch(id.toString()))?.status).toBe('cancelled')
    await again.stop()
  })

  it('a job cancel resolves once the job has ended cancelled and that record\'s synced write has landed', async () => {
    const db = await watchedStore()
    const records = new JobStore(db as unknown as Store)
    const jobs = new Jobs({ blobs: new BlobStore(db as unknown as Store) as never, records, dispatcher: holdingDispatcher() as never, emit: () => {}, spotCheckRate: 0 })
    const { body, id } = createJob(requester.peerId, { module: MODULE, input: utf8('x') })
    const handle = await jobs.submit(body, id, utf8('x'))
    db.log.length = 0
    db.held = true
    const cancelled = jobs.cancel(handle.id)
    await waitForLog(db, 'sync batch of 2')
    expect(await stateOf(cancelled)).toBe('pending')
    db.release()
    expect(await cancelled).toBe(true)
    expect((await records.getRequested(handle.id))?.status).toBe('cancelled')
    expect(await jobs.cancel(handle.id)).toBe(false) // ended: nothing more to cancel
  })
})

async function waitForLog (db: WatchedLevel, line: string): Promise<void> {
  const deadline = Date.now() + 10_000
  while (!db.log.includes(line)) {
    if (Date.now() > deadline) throw new Error(`no "${line}" write; writes: ${db.log.join(', ')}`)
    await new Promise((resolve) => { setImmediate(resolve) })
  }
}
