/**
 * Listing jobs reads only what it shows: `GET /v1/jobs?limit=N` on a node that keeps thousands of
 * job records decodes N of them (counted through the store's `recordsDecoded` seam, not timed),
 * newest first, with the status and role filters and `total` as documented; and a store written
 * before the time index existed is indexed at its first listing.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { MemoryLevel } from 'memory-level'
import { createTestnet, type Testnet } from '../src/node/testnet.ts'
import type { ComputeNode } from '../src/node/compute-node.ts'
import { ApiServer } from '../src/node/api/server.ts'
import { jobsRoutes } from '../src/node/api/jobs-routes.ts'
import { createJob } from '../src/scheduler/job.ts'
import { JobStore, type JobStatus, type RequestedJob } from '../src/scheduler/job-store.ts'
import type { Store } from '../src/shared/store.ts'
import { AUTH, TOKEN, call } from './api-helpers.ts'
import { example } from './jobs-helpers.ts'

const RECORDS = 3000
const STATUSES: JobStatus[] = ['completed', 'failed', 'cancelled', 'timed-out', 'unverified']
const BASE = Date.now() - RECORDS * 1000

/** Job `i`: created at i seconds, its status by i (every 5th completed, …); exit 0 and verified when completed. */
function record (body: RequestedJob['body'], i: number): RequestedJob {
  const status = STATUSES[i % STATUSES.length]
  return {
    id: `job-${String(i).padStart(5, '0')}`, body, status, createdAt: BASE + i * 1000, updatedAt: BASE + i * 1000 + 500, replicas: [],
    ...(status === 'completed' || status === 'unverified' ? { exitCode: 0, verified: status === 'completed' } : {})
  }
}

describe('GET /v1/jobs reads only the records it shows', () => {
  let net: Testnet
  let node: ComputeNode
  let server: ApiServer
  let port: number

  beforeAll(async () => {
    // No automatic prune: it reads every record, and the counts here are the listing's alone.
    net = await createTestnet({ nodes: 1, nodeInit: () => ({ retention: { intervalMs: 0 } }) })
    node = net.nodes[0]
    server = new ApiServer({ host: '127.0.0.1', port: 0, token: TOKEN }, [jobsRoutes(node)])
    port = (await server.start()).port
    const { body } = createJob(node.peerId, { module: example('echo') })
    await Promise.all(Array.from({ length: RECORDS }, async (_, i) => { await node.scheduler.records.putRequested(record(body, i)) }))
  })

  afterAll(async () => {
    await server?.stop()
    await net?.stop()
  })

  const list = async (query: string): Promise<{ jobs: any[], total: number, decoded: number }> => {
    const records = node.scheduler.records
    records.recordsDecoded = 0
    const answer = await call(port, `/v1/jobs${query}`, { headers: AUTH })
    expect(answer.status, answer.text).toBe(200)
    return { ...answer.json, decoded: records.recordsDecoded }
  }

  it('limit=30: the 30 newest, newest first, of all of them, from 30 records read', async () => {
    const { jobs, total, decoded } = await list('?limit=30')
    expect(total).toBe(RECORDS)
    expect(jobs.map((j) => j.id)).toEqual(Array.from({ length: 30 }, (_, k) => `job-${String(RECORDS - 1 - k).padStart(5, '0')}`))
    expect(decoded).toBe(30)
  })

  it('filters by status (the words the CLI shows) before the limit; total counts every match', async () => {
    const completed = await list('?status=completed&limit=5')
    expect(completed.total).toBe(RECORDS / 5)
    expect(completed.jobs.map((j) => [j.id, j.status, j.verified])).toEqual([2995, 2990, 2985, 2980, 2975].map((i) => [`job-0${i}`, 'completed', true]))
    expect(completed.decoded).toBe(5)
    const unverified = await list('?status=unverified&limit=3')
    expect(unverified.total).toBe(RECORDS / 5)
    expect(unverified.jobs.map((j) => [j.id, j.status, j.verified])).toEqual([2999, 2994, 2989].map((i) => [`job-0${i}`, 'completed', false]))
    expect(unverified.decoded).toBe(3)
    const timedOut = await list('?status=timed-out&limit=2')
    expect(timedOut.jobs.map((j) => j.id)).toEqual(['job-02998', 'job-02993'])
    expect(timedOut.decoded).toBe(2)
    expect((await list('?status=active')).total).toBe(0)
    const workers = await list('?role=worker')
    expect([workers.jobs, workers.total, workers.decoded]).toEqual([[], 0, 0])
  })

  it('a deleted record leaves the list (and its index entry goes with it)', async () => {
    await node.scheduler.records.deleteRequested([`job-0${RECORDS - 1}`])
    const { jobs, total } = await list('?limit=1')
    expect(total).toBe(RECORDS - 1)
    expect(jobs[0].id).toBe(`job-0${RECORDS - 2}`)
  })
})

describe('the requested jobs time index', () => {
  it('is built at the first listing of a store written without it, then kept', async () => {
    const db = new MemoryLevel({ keyEncoding: 'view', valueEncoding: 'view' }) as unknown as Store
    const { body } = createJob('12D3KooWBSNUWRbaR7hXC3rVfLGY1z6pD9kNRhyc6gEsnoowTmhc', { module: example('echo') })
    const old = new JobStore(db)
    for (let i = 0; i < 20; i++) await old.putRequested(record(body, i))
    // What a store of a version without the index holds: the records alone.
    const jobs = db.sublevel('jobs', { keyEncoding: 'view', valueEncoding: 'view' })
    await jobs.sublevel('requested-at', { keyEncoding: 'view', valueEncoding: 'view' }).clear()
    await jobs.sublevel('meta', { keyEncoding: 'view', valueEncoding: 'view' }).clear()
    const store = new JobStore(db)
    const ids = async (): Promise<string[]> => { const out: string[] = []; for await (const e of store.requestedNewestFirst()) out.push(e.id); return out }
    expect(await ids()).toEqual(Array.from({ length: 20 }, (_, k) => `job-${String(19 - k).padStart(5, '0')}`))
    await store.putRequested(record(body, 20))
    store.recordsDecoded = 0
    expect((await ids())[0]).toBe('job-00020')
    // Built once: later listings read no record.
    expect(store.recordsDecoded).toBe(0)
    const [first] = await (async () => { const out = []; for await (const e of store.requestedNewestFirst()) out.push(e); return out })()
    expect(first).toMatchObject({ id: 'job-00020', status: 'completed', verified: true, ok: true, createdAt: BASE + 20_000 })
  })
})
