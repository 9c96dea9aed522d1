/**
 * Listing jobs reads only what it shows: `GET /v1/jobs?limit=N` on a node that keeps thousands of
 * job records decodes N of them (counted through the store's `recordsDecoded` seam, not timed),
 * newest first, with the status and role filters and `total` as documented; the same on a worker
 * that keeps thousands of served-lease records beside its own jobs (both roles in one list, a lease
 * it serves now among them); and a store written before the time indexes existed is indexed once.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { MemoryLevel } from 'memory-level'
import { createTestnet, type Testnet } from '../src/node/testnet.ts'
import type { ComputeNode } from '../src/node/compute-node.ts'
import { ApiServer } from '../src/node/api/server.ts'
import { jobsRoutes } from '../src/node/api/jobs-routes.ts'
import { listJobs } from '../src/node/api/jobs-list.ts'
import { JobLabels } from '../src/node/job-labels.ts'
import { createJob } from '../src/scheduler/job.ts'
import { JobStore, type JobStatus, type LeaseRecord, type RequestedJob } from '../src/scheduler/job-store.ts'
import type { Store } from '../src/shared/store.ts'
import { AUTH, TOKEN, call } from './api-helpers.ts'
import { example, fixture, waitForCapacity } from './jobs-helpers.ts'
import { waitFor } from './helpers.ts'

const RECORDS = 3000
const STATUSES: JobStatus[] = ['completed', 'failed', 'cancelled', 'timed-out', 'unverified']
const BASE = Date.now() - RECORDS * 1000

/** Job `i`: created at i seconds, its status by i (every 5th completed, …); exit 0 and verified when completed. */
function record (body: RequestedJob['body'], i: number, base = BASE): RequestedJob {
  const status = STATUSES[i % STATUSES.length]
  return {
    id: `job-${String(i).padStart(5, '0')}`, body, status, createdAt: base + i * 1000, updatedAt: base + i * 1000 + 500, replicas: [],
    ...(status === 'completed' || status === 'unverified' ? { exitCode: 0, verified: status === 'completed' } : {})
  }
}

interface Listing { jobs: any[], total: number, decoded: number }

/** `GET /v1/jobs<query>` on a node's API, with the number of records the listing decoded. */
async function listOn (node: ComputeNode, port: number, query: string): Promise<Listing> {
  const records = node.scheduler.records
  records.recordsDecoded = 0
  const answer = await call(port, `/v1/jobs${query}`, { headers: AUTH })
  expect(answer.status, answer.text).toBe(200)
  return { ...answer.json, decoded: records.recordsDecoded }
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

  const list = async (query: string): Promise<Listing> => await listOn(node, port, query)

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

/** Lease `i` of a worker: started at i seconds; every 4th broke (`failed`), the others ended normally. */
function lease (requester: string, i: number, base = BASE): LeaseRecord {
  const startedAt = base + i * 1000
  return {
    leaseId: `lease-${String(i).padStart(5, '0')}`, requester, startedAt, endedAt: startedAt + 900, tasks: 3, refused: 0, fuel: '1000', amount: 3, paid: 3,
    reason: i % 4 === 1 ? 'ERR_ACK_TIMEOUT' : i % 4 === 3 ? 'ERR_LEASE_EXPIRED' : 'closed'
  }
}

describe('GET /v1/jobs on a worker reads only the served-lease records it shows', () => {
  // Record i (created or started at i seconds): a job of the worker's own for even i, a lease it served for odd i.
  const N = 4000
  const base = Date.now() - (N + 60) * 1000
  let net: Testnet
  let worker: ComputeNode
  let server: ApiServer
  let port: number
  let openLease: string
  let cancel: () => void

  beforeAll(async () => {
    net = await createTestnet({ nodes: 2, nodeInit: (i) => ({ retention: { intervalMs: 0 }, ...(i === 0 ? { capacity: { slots: 0 } } : {}) }) })
    worker = net.nodes[1]
    server = new ApiServer({ host: '127.0.0.1', port: 0, token: TOKEN }, [jobsRoutes(worker)])
    port = (await server.start()).port
    const { body } = createJob(worker.peerId, { module: example('echo') })
    const requester = net.nodes[0].peerId
    await Promise.all(Array.from({ length: N }, async (_, i) => {
      if (i % 2 === 0) await worker.scheduler.records.putRequested(record(body, i, base))
      else await worker.scheduler.records.putLease(lease(requester, i, base))
    }))
    // One lease served now (from memory, never stored while open), started after all of those.
    await waitForCapacity(net.nodes[0], 1)
    const handle = await net.nodes[0].submitJob({ module: fixture('loop'), timeoutMs: 120_000 })
    cancel = () => { handle.cancel() }
    openLease = await waitFor(() => worker.scheduler.worker.openLeases()[0]?.leaseId, { timeoutMs: 30_000, what: 'the worker to open a lease' })
  })

  afterAll(async () => {
    cancel?.()
    await server?.stop()
    await net?.stop()
  })

  const list = async (query: string): Promise<Listing> => await listOn(worker, port, query)
  const id = (i: number): string => `${i % 2 === 0 ? 'job' : 'lease'}-${String(i).padStart(5, '0')}`

  it('limit=30: the open lease, then both roles newest first, from the 29 stored records shown', async () => {
    const { jobs, total, decoded } = await list('?limit=30')
    expect(total).toBe(N + 1)
    expect(jobs.map((j) => j.id)).toEqual([openLease, ...Array.from({ length: 29 }, (_, k) => id(N - 1 - k))])
    expect(jobs[0]).toMatchObject({ role: 'worker', status: 'running', requester: net.nodes[0].peerId })
    // The fields of a stored lease's line, as they always were.
    expect(jobs.find((j) => j.id === id(N - 1))).toEqual({
      id: id(N - 1), role: 'worker', status: 'completed', verified: false, running: [], workers: [], requester: net.nodes[0].peerId,
      module: 'lease (3 tasks)', fuel: '1000', cost: 3, createdAt: base + (N - 1) * 1000, updatedAt: base + (N - 1) * 1000 + 900
    })
    expect(decoded).toBe(29)
  })

  it('role=worker: leases only, newest first; total counts every lease without reading them', async () => {
    const { jobs, total, decoded } = await list('?role=worker&limit=5')
    expect(total).toBe(N / 2 + 1)
    expect(jobs.map((j) => j.id)).toEqual([openLease, id(N - 1), id(N - 3), id(N - 5), id(N - 7)])
    expect(decoded).toBe(4)
    const requesterOnly = await list('?role=requester&limit=3')
    expect([requesterOnly.total, requesterOnly.jobs.map((j) => j.id), requesterOnly.decoded]).toEqual([N / 2, [id(N - 2), id(N - 4), id(N - 6)], 3])
  })

  it('filters leases by their state before the limit: failed (broke), completed (ended normally), active (served now)', async () => {
    const failed = await list('?role=worker&status=failed&limit=3')
    expect(failed.total).toBe(N / 4)
    // Leases i ≡ 1 (mod 4) broke: 3997, 3993, 3989.
    expect(failed.jobs.map((j) => [j.id, j.status, j.reason])).toEqual([N - 3, N - 7, N - 11].map((i) => [id(i), 'failed', 'the lease ended: ERR_ACK_TIMEOUT']))
    expect(failed.decoded).toBe(3)
    const completed = await list('?role=worker&status=completed&limit=2')
    expect([completed.total, completed.jobs.map((j) => j.id), completed.decoded]).toEqual([N / 4, [id(N - 1), id(N - 5)], 2])
    const active = await list('?status=active')
    expect([active.total, active.jobs.map((j) => j.id), active.decoded]).toEqual([1, [openLease], 0])
    // Both roles: the requester's failed jobs (i ≡ 1 mod 5, even: i ≡ 6 mod 10) and the leases that broke, merged.
    const both = await list('?status=failed&limit=4')
    expect(both.jobs.map((j) => j.id)).toEqual([N - 3, N - 4, N - 7, N - 11].map(id))
    expect(both.total).toBe(N / 4 + N / 10)
    expect(both.decoded).toBe(4)
  })

  it('GET /v1/jobs/:id of a stored lease reads that record alone', async () => {
    const records = worker.scheduler.records
    records.recordsDecoded = 0
    const answer = await call(port, `/v1/jobs/${id(1)}`, { headers: AUTH })
    expect(answer.status, answer.text).toBe(200)
    expect(answer.json).toMatchObject({ id: id(1), role: 'worker', status: 'failed', reason: 'the lease ended: ERR_ACK_TIMEOUT', module: 'lease (3 tasks)' })
    expect(records.recordsDecoded).toBe(1)
    expect((await call(port, `/v1/jobs/${openLease}`, { headers: AUTH })).json).toMatchObject({ id: openLease, status: 'running' })
  })

  it('a stored lease that starts after the open one comes first, and deleted leases leave the list with their index entries', async () => {
    const records = worker.scheduler.records
    const later = { ...lease(net.nodes[0].peerId, N + 1, base), leaseId: 'lease-later', startedAt: Date.now() + 3_600_000 }
    await records.putLease(later)
    expect((await list('?role=worker&limit=2')).jobs.map((j) => j.id)).toEqual(['lease-later', openLease])
    await records.deleteLeases(['lease-later', id(N - 1)])
    const after = await list('?role=worker&limit=2')
    expect([after.total, after.jobs.map((j) => j.id)]).toEqual([N / 2, [openLease, id(N - 3)]])
    const indexed: string[] = []
    for await (const entry of records.leasesNewestFirst()) indexed.push(entry.id)
    expect(indexed).toHaveLength(N / 2 - 1)
    expect(indexed).not.toContain(id(N - 1))
  })
})

describe('the served leases time index', () => {
  it('is built once for a store written without it (the requested jobs\' index already built)', async () => {
    const db = new MemoryLevel({ keyEncoding: 'view', valueEncoding: 'view' }) as unknown as Store
    const old = new JobStore(db)
    await old.ensureIndex()
    for (let i = 0; i < 20; i++) await old.putLease(lease('12D3KooWBSNUWRbaR7hXC3rVfLGY1z6pD9kNRhyc6gEsnoowTmhc', i))
    // What a store of a version with the requested jobs' index but not the leases' holds.
    const jobs = db.sublevel('jobs', { keyEncoding: 'view', valueEncoding: 'view' })
    await jobs.sublevel('leases-at', { keyEncoding: 'view', valueEncoding: 'view' }).clear()
    await jobs.sublevel('meta', { keyEncoding: 'view', valueEncoding: 'view' }).del(new TextEncoder().encode('leases-at') as unknown as string)
    const store = new JobStore(db)
    await store.ensureIndex()
    const digests = async (): Promise<Array<{ id: string, startedAt: number, reason: string }>> => { const out = []; for await (const e of store.leasesNewestFirst()) out.push(e); return out }
    store.recordsDecoded = 0
    const built = await digests()
    expect(built.map((d) => d.id)).toEqual(Array.from({ length: 20 }, (_, k) => `lease-${String(19 - k).padStart(5, '0')}`))
    expect(built[0]).toEqual({ id: 'lease-00019', startedAt: BASE + 19_000, reason: 'ERR_LEASE_EXPIRED' })
    expect(built[2]).toEqual({ id: 'lease-00017', startedAt: BASE + 17_000, reason: 'ERR_ACK_TIMEOUT' })
    // Read from the index: no record decoded once it is built, and not built again.
    expect(store.recordsDecoded).toBe(0)
    expect(await (await store.getLease('lease-00017'))?.reason).toBe('ERR_ACK_TIMEOUT')
    const again = new JobStore(db)
    await again.ensureIndex()
    expect(again.recordsDecoded).toBe(0)
  })
})

describe('total between pages: older entries counted once, not read for every page', () => {
  // 1,500 jobs and 1,500 leases from 3 hours ago, and 10 jobs of the last minute.
  const OLD = 3000
  const RECENT = 10
  const base = Date.now() - 3 * 3600_000
  let net: Testnet
  let node: ComputeNode
  let server: ApiServer
  let port: number
  let body: RequestedJob['body']
  const FILTERS = ['', '?status=completed', '?status=unverified', '?status=failed', '?status=timed-out', '?status=cancelled', '?status=active', '?role=worker', '?role=requester&status=failed', '?role=worker&status=failed', '?role=worker&status=completed']

  beforeAll(async () => {
    net = await createTestnet({ nodes: 1, nodeInit: () => ({ retention: { intervalMs: 0 } }) })
    node = net.nodes[0]
    server = new ApiServer({ host: '127.0.0.1', port: 0, token: TOKEN }, [jobsRoutes(node)])
    port = (await server.start()).port
    body = createJob(node.peerId, { module: example('echo') }).body
    const records = node.scheduler.records
    await Promise.all(Array.from({ length: OLD }, async (_, i) => {
      if (i % 2 === 0) await records.putRequested(record(body, i, base))
      else await records.putLease(lease(node.peerId, i, base))
    }))
    await Promise.all(Array.from({ length: RECENT }, async (_, i) => { await records.putRequested(record(body, OLD + i, Date.now() - 60_000 - OLD * 1000)) }))
  })

  afterAll(async () => {
    await server?.stop()
    await net?.stop()
  })

  /** A page's total and the index entries it read. */
  const page = async (query: string): Promise<{ total: number, read: number }> => {
    node.scheduler.records.indexEntriesRead = 0
    const answer = await call(port, `/v1/jobs${query}${query === '' ? '?' : '&'}limit=5`, { headers: AUTH })
    expect(answer.status, answer.text).toBe(200)
    return { total: answer.json.total, read: node.scheduler.records.indexEntriesRead }
  }
  /** Every filter's total by reading every entry (what each page did before), against the page's. */
  const expectTotalsRight = async (): Promise<void> => {
    const labels = new JobLabels(node.services().store)
    for (const query of FILTERS) {
      const params = new URLSearchParams(query.slice(1))
      const truth = await listJobs(node, () => labels, { status: params.get('status') as any ?? undefined, role: params.get('role') as any ?? undefined, limit: 1 })
      expect((await page(query)).total, query).toBe(truth.total)
    }
  }

  it('a second page reads the recent entries and the page, not every entry', async () => {
    const first = await page('')
    expect(first.total).toBe(OLD + RECENT)
    expect(first.read).toBeGreaterThanOrEqual(OLD)
    const second = await page('')
    expect(second.total).toBe(OLD + RECENT)
    expect(second.read).toBeLessThan(30)
    // Any filter, from the same counts.
    expect((await page('?role=worker&status=failed')).read).toBeLessThan(30)
    await expectTotalsRight()
  })

  it('stays right when an older entry changes (a job finishing differently, pruned jobs and leases, a long lease ending), walking once again', async () => {
    const records = node.scheduler.records
    await page('')
    // job 0 was completed and verified; now failed.
    await records.putRequested({ ...record(body, 0, base), status: 'failed', exitCode: 1, verified: false })
    const changed = await page('?status=failed')
    expect(changed.read).toBeGreaterThanOrEqual(OLD)
    await expectTotalsRight()
    expect((await page('')).read).toBeLessThan(30)
    // A prune: old jobs and leases deleted.
    await records.deleteRequested([2, 4, 6].map((i) => `job-${String(i).padStart(5, '0')}`))
    await records.deleteLeases([1, 3].map((i) => `lease-${String(i).padStart(5, '0')}`))
    expect((await page('')).total).toBe(OLD + RECENT - 5)
    await expectTotalsRight()
    // A lease that started 3 hours ago ends now.
    await records.putLease({ ...lease(node.peerId, OLD + 1, base), leaseId: 'lease-long' })
    expect((await page('?role=worker')).total).toBe(OLD / 2 - 2 + 1)
    await expectTotalsRight()
    // A recent job changing needs no walk.
    await page('')
    await records.putRequested({ ...record(body, OLD + 1, Date.now() - 60_000 - OLD * 1000), status: 'cancelled' })
    expect((await page('')).read).toBeLessThan(30)
    await expectTotalsRight()
  })

  it('stays right for old leases whose state comes from their unacknowledged results, and when a lease-tail claim acknowledges them', async () => {
    const records = node.scheduler.records
    const failed = (await page('?role=worker&status=failed')).total
    // Started 3 hours ago (counted once, not read per page); both ended when the requester went away.
    const gone = (id: string, acknowledged: number): LeaseRecord => ({ ...lease(node.peerId, 5, base), leaseId: id, reason: 'ERR_CHANNEL_CLOSED', acknowledged })
    await records.putLease(gone('lease-gone', 3))
    await records.putLease(gone('lease-tail', 1))
    await page('')
    expect((await page('?role=worker&status=failed')).total).toBe(failed + 1)
    await expectTotalsRight()
    // Its tail acknowledged: completed now, on every page's count.
    await records.putLease(gone('lease-tail', 3))
    expect((await page('?role=worker&status=failed')).total).toBe(failed)
    await expectTotalsRight()
  })
})
