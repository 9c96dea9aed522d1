/**
 * What does a prune cost a requester with many records, and what does its live set take in memory?
 *
 * On LevelDB on disk: 20,000 jobs (10 modules shared, a 1 KiB input and output each; half ended
 * 40 days ago), a done batch of 20,000 tasks ended 40 days ago and a running one of 20,000 tasks.
 * The prune deletes the old half of the jobs and the old batch, then sweeps. Baseline, in the same
 * run: one plain scan of the same record spaces and pinned keys (what any mark and sweep reads at
 * the least). Then the heap a live set of 1,000,000 CIDs takes.
 *
 * Latest figures (this machine, 2 cores shared with other work, Node 24):
 *   setup: 80,011 blobs pinned, 60,000 records
 *   baseline: scan of records and pinned keys                                  1.7 s
 *   prune (delete 10,000 jobs, 1 batch of 20,000 tasks, 40,004 blobs = 24 MiB)  3.3 s
 *   second prune (nothing to delete)                                           1.2 s
 *   live set of 1,000,000 CIDs: 77 MB of heap (77 bytes a CID)
 */
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { openStore } from '../src/node/storage.ts'
import { BlobStore } from '../src/scheduler/blob-store.ts'
import { JobStore, type BatchTaskRecord } from '../src/scheduler/job-store.ts'
import { createBatch, createJob } from '../src/scheduler/job.ts'
import { createSigner } from '../src/proofs/signing.ts'
import { rawCid } from '../src/proofs/encoding.ts'
import { Retention } from '../src/scheduler/retention/index.ts'
import { LiveSet } from '../src/scheduler/retention/live-set.ts'
import { tempDir } from '../test/helpers.ts'
import { time } from './lib.ts'

const JOBS = 20_000
const TASKS = 20_000
const DAY = 24 * 60 * 60 * 1000

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

const dir = await tempDir('depin-bench-prune-')
try {
  const signer = createSigner(await generateKeyPair('Ed25519'))
  let store = await openStore(join(dir.path, 'db'))
  let blobs = new BlobStore(store)
  let records = new JobStore(store)
  const modules = Array.from({ length: 10 }, (_, i) => new TextEncoder().encode(`\0asm module ${i}`))
  const old = Date.now() - 40 * DAY
  for (let start = 0; start < JOBS; start += 1000) {
    for (let i = start; i < start + 1000; i++) {
      const module = modules[i % modules.length]
      const input = randomBytes(1024)
      const { body, id } = createJob(signer.peerId, { module, input })
      const [, , output, stderr] = await blobs.pinMany([{ bytes: module, cid: body.module }, { bytes: input, cid: body.input }, { bytes: randomBytes(1024) }, { bytes: new Uint8Array(0) }])
      const at = i % 2 === 0 ? old : Date.now()
      await records.putRequested({ id: id.toString(), body, status: 'completed', createdAt: at, updatedAt: at, replicas: [], outputCid: output.toString(), stderrCid: stderr.toString() })
    }
  }
  for (const status of ['done', 'running'] as const) {
    const { body, id } = createBatch(signer.peerId, { module: modules[0], tasks: Array.from({ length: TASKS }, () => ({ input: new Uint8Array(1) })) })
    for (let start = 0; start < TASKS; start += 1000) {
      const tasks: BatchTaskRecord[] = []
      const items = Array.from({ length: 1000 }, () => ({ bytes: randomBytes(256) }))
      const cids = await blobs.pinMany(items)
      for (let j = 0; j < 1000; j++) tasks.push({ index: start + j, input: cids[j], inputBytes: 256, status: status === 'done' ? 'completed' : 'queued' })
      await records.putBatchTasks(id.toString(), tasks)
    }
    const at = status === 'done' ? old : Date.now()
    await records.putBatch({ id: id.toString(), body, status, createdAt: at, updatedAt: at, done: 0, failed: 0, verified: 0, cost: 0 })
  }
  // A restart: pin times are forgotten, so nothing is protected by them.
  await store.close()
  store = await openStore(join(dir.path, 'db'))
  blobs = new BlobStore(store)
  records = new JobStore(store)
  let pinned = 0
  for await (const _ of blobs.pinnedKeys()) pinned++
  console.log(`setup: ${pinned.toLocaleString('en-US')} blobs pinned, ${(JOBS + 2 * TASKS).toLocaleString('en-US')} records`)

  const baseline = await time(async () => {
    for await (const _ of records.allRequested());
    for await (const _ of records.allBatches());
    for await (const _ of records.allBatchTasks());
    for await (const _ of records.allLeases());
    for await (const _ of blobs.pinnedKeys());
  })
  console.log(`baseline: scan of records and pinned keys: ${(baseline / 1000).toFixed(1)} s`)

  const retention = new Retention({ records, blobs, isLive: () => false }, { retentionMs: 30 * DAY, intervalMs: 0 })
  let report = await retention.prune()
  console.log(`prune (delete ${report.jobs.toLocaleString('en-US')} jobs, ${report.batches} batch of ${report.tasks.toLocaleString('en-US')} tasks, ${report.blobs.toLocaleString('en-US')} blobs = ${(report.bytes / 2 ** 20).toFixed(0)} MiB): ${(report.tookMs / 1000).toFixed(1)} s`)
  report = await retention.prune()
  console.log(`second prune (${report.jobs + report.blobs} deleted): ${(report.tookMs / 1000).toFixed(1)} s`)
  await store.close()

  gc()
  const before = process.memoryUsage().heapUsed
  const live = new LiveSet(async () => undefined)
  const batch = []
  for (let i = 0; i < 1_000_000; i++) {
    batch.push(rawCid(randomBytes(8)))
    if (batch.length === 10_000) await live.add(batch.splice(0))
  }
  gc()
  const used = process.memoryUsage().heapUsed - before
  console.log(`live set of ${live.size.toLocaleString('en-US')} CIDs: ${(used / 1e6).toFixed(0)} MB of heap (${Math.round(used / live.size)} bytes a CID)`)
} finally {
  await dir.remove()
}
