/**
 * How a lease this node served as worker is listed once it ended (`depin jobs`, `depin job ID`,
 * `GET /v1/jobs`, the dashboard): by whether every result it returned was acknowledged, not by
 * how its stream ended. A lease whose requester went away after acknowledging everything (the
 * connection went: `ERR_CHANNEL_CLOSED`) read `failed: the lease ended: ERR_CHANNEL_CLOSED`
 * beside its pay; it now reads `completed (ran here) · the lease ended early: ERR_CHANNEL_CLOSED`.
 * One that ended with results unacknowledged reads `failed`, saying how many, until a lease-tail
 * claim gets them acknowledged. The decision on made-up records, the index digest it is filtered
 * on, then two real nodes over TCP on loopback with real .wasm.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { MemoryLevel } from 'memory-level'
import { peerIdFromString } from '@libp2p/peer-id'
import { servedLeaseState } from '../src/scheduler/served-lease-state.ts'
import { JobStore, OPEN_LEASE, type LeaseRecord } from '../src/scheduler/job-store.ts'
import { parseLeaseDigest } from '../src/scheduler/lease-store.ts'
import { leaseSummaryView } from '../src/node/api/job-view.ts'
import { stateText } from '../src/cli/job-format.ts'
import { createTestnet, type Testnet } from '../src/node/testnet.ts'
import { ApiServer } from '../src/node/api/server.ts'
import { jobsRoutes } from '../src/node/api/jobs-routes.ts'
import type { ComputeNode } from '../src/node/compute-node.ts'
import type { LeaseSummary } from '../src/scheduler/worker/lease-server.ts'
import { creditsFor } from '../src/scheduler/task.ts'
import type { Store } from '../src/shared/store.ts'
import { AUTH, TOKEN, call } from './api-helpers.ts'
import { example, text, waitForCapacity } from './jobs-helpers.ts'
import { waitFor } from './helpers.ts'

const REQUESTER = '12D3KooWBSNUWRbaR7hXC3rVfLGY1z6pD9kNRhyc6gEsnoowTmhc'
const lease = (fields: Partial<LeaseRecord>): LeaseRecord => ({
  leaseId: 'bafylease', requester: REQUESTER, startedAt: 1_000, endedAt: 2_000, tasks: 3, refused: 0, fuel: '900', amount: 3, paid: 3, reason: 'closed', ...fields
})

describe('the state of a served lease (made-up records)', () => {
  it('every result acknowledged: completed, however it ended; an early end is noted', () => {
    expect(servedLeaseState(OPEN_LEASE, 2)).toEqual({ status: 'running' })
    expect(servedLeaseState('closed', 0)).toEqual({ status: 'completed' })
    expect(servedLeaseState('ERR_LEASE_EXPIRED', 0)).toEqual({ status: 'completed' })
    expect(servedLeaseState('ERR_CHANNEL_CLOSED', 0)).toEqual({ status: 'completed', reason: 'the lease ended early: ERR_CHANNEL_CLOSED' })
    expect(servedLeaseState('ERR_STOPPING', 0)).toEqual({ status: 'completed', reason: 'the lease ended early: ERR_STOPPING' })
  })

  it('results unacknowledged: failed, saying how many and that a lease-tail claim may still get them paid', () => {
    expect(servedLeaseState('ERR_CHANNEL_CLOSED', 1)).toEqual({ status: 'failed', reason: 'the lease ended: ERR_CHANNEL_CLOSED, with 1 result unacknowledged (unpaid unless a lease-tail claim gets it acknowledged)' })
    expect(servedLeaseState('closed', 12)).toEqual({ status: 'failed', reason: 'the lease ended: closed, with 12 results unacknowledged (unpaid unless a lease-tail claim gets them acknowledged)' })
  })

  it('not known (a record of an earlier version, or of a lease this node was serving when it went down): by the end reason alone, as before', () => {
    expect(servedLeaseState('closed')).toEqual({ status: 'completed' })
    expect(servedLeaseState('ERR_CHANNEL_CLOSED')).toEqual({ status: 'failed', reason: 'the lease ended: ERR_CHANNEL_CLOSED' })
    expect(servedLeaseState('ERR_INTERRUPTED')).toEqual({ status: 'failed', reason: 'the lease ended: ERR_INTERRUPTED' })
  })

  it('the API view and the CLI words, with the pay beside them', () => {
    const gone = leaseSummaryView(lease({ reason: 'ERR_CHANNEL_CLOSED', acknowledged: 3 }))
    expect(gone).toMatchObject({ role: 'worker', status: 'completed', verified: false, reason: 'the lease ended early: ERR_CHANNEL_CLOSED', cost: 3, module: 'lease (3 tasks)' })
    expect(stateText(gone)).toBe('completed (ran here) · the lease ended early: ERR_CHANNEL_CLOSED')
    expect(stateText(leaseSummaryView(lease({ acknowledged: 3 })))).toBe('completed (ran here)')
    const tail = leaseSummaryView(lease({ reason: 'ERR_CHANNEL_CLOSED', acknowledged: 1, paid: 1 }))
    expect(tail).toMatchObject({ status: 'failed', cost: 1 })
    expect(stateText(tail)).toBe('failed: the lease ended: ERR_CHANNEL_CLOSED, with 2 results unacknowledged (unpaid unless a lease-tail claim gets them acknowledged)')
    expect(stateText(leaseSummaryView(lease({ reason: 'ERR_CHANNEL_CLOSED' })))).toBe('failed: the lease ended: ERR_CHANNEL_CLOSED')
  })

  it('the index digest carries what the state needs, so a list filters as it shows; old entries read as before', async () => {
    expect(parseLeaseDigest('closed')).toEqual({ reason: 'closed' })
    expect(parseLeaseDigest('ERR_CHANNEL_CLOSED\u00002')).toEqual({ reason: 'ERR_CHANNEL_CLOSED', unacknowledged: 2 })
    expect(parseLeaseDigest('ERR_CHANNEL_CLOSED\u0000x')).toEqual({ reason: 'ERR_CHANNEL_CLOSED' })
    expect(parseLeaseDigest('ERR_CHANNEL_CLOSED\u0000-1')).toEqual({ reason: 'ERR_CHANNEL_CLOSED' })
    const store = new JobStore(new MemoryLevel({ keyEncoding: 'view', valueEncoding: 'view' }) as unknown as Store)
    await store.ensureIndex()
    await store.putLease(lease({ leaseId: 'old', startedAt: 1_000, reason: 'ERR_CHANNEL_CLOSED' }))
    await store.putLease(lease({ leaseId: 'tail', startedAt: 2_000, reason: 'ERR_CHANNEL_CLOSED', acknowledged: 1 }))
    await store.putLease(lease({ leaseId: 'gone', startedAt: 3_000, reason: 'ERR_CHANNEL_CLOSED\u0000odd', acknowledged: 3 }))
    const digests = async (): Promise<unknown[]> => { const out = []; for await (const d of store.leasesNewestFirst()) out.push(d); return out }
    expect(await digests()).toEqual([
      { id: 'gone', startedAt: 3_000, reason: 'ERR_CHANNEL_CLOSED odd', unacknowledged: 0 },
      { id: 'tail', startedAt: 2_000, reason: 'ERR_CHANNEL_CLOSED', unacknowledged: 2 },
      { id: 'old', startedAt: 1_000, reason: 'ERR_CHANNEL_CLOSED' }
    ])
    // A lease-tail claim acknowledging the rest: the entry follows its record.
    await store.putLease(lease({ leaseId: 'tail', startedAt: 2_000, reason: 'ERR_CHANNEL_CLOSED', acknowledged: 3 }))
    expect((await digests())[1]).toEqual({ id: 'tail', startedAt: 2_000, reason: 'ERR_CHANNEL_CLOSED', unacknowledged: 0 })
  })
})

describe('a lease whose requester went away, on the worker\'s job list', () => {
  let net: Testnet
  let server: ApiServer
  let port: number

  beforeAll(async () => {
    // Node 0 requests (no slots); node 1 works and serves the API.
    net = await createTestnet({ nodes: 2, nodeInit: (i) => ({ retention: { intervalMs: 0 }, ...(i === 0 ? { capacity: { slots: 0 } } : { capacity: { pricePerGigafuel: 10 } }) }) })
    server = new ApiServer({ host: '127.0.0.1', port: 0, token: TOKEN }, [jobsRoutes(net.nodes[1])])
    port = (await server.start()).port
    await waitForCapacity(net.nodes[0], 1)
  })

  afterAll(async () => {
    await server?.stop()
    await net?.stop()
  })

  const listed = async (query: string): Promise<{ jobs: any[], total: number }> => {
    const answer = await call(port, `/v1/jobs${query}`, { headers: AUTH })
    expect(answer.status, answer.text).toBe(200)
    return answer.json
  }
  const served = (W: ComputeNode): LeaseSummary[] => {
    const out: LeaseSummary[] = []
    W.addEventListener('lease:served', (evt) => { out.push(evt.detail) })
    return out
  }

  it('every result acknowledged, then the connection goes: completed (ran here), the early end noted, its pay beside it', { timeout: 120_000 }, async () => {
    const [R, W] = net.nodes
    const ended = served(W)
    const result = await (await R.submitJob({ module: example('primes'), args: ['100000'], peers: [W.peerId] })).result()
    expect(text(result.stdout)).toBe('9592\n')
    // The requester keeps the lease open for its next job; it acknowledged the result.
    const open = await waitFor(() => W.scheduler.worker.openLeases().find((l) => l.tasks === 1 && l.acknowledged === 1 && l.paid > 0), { timeoutMs: 60_000, what: 'the result to be acknowledged' })
    await R.host.hangUp(peerIdFromString(W.peerId))
    const summary = await waitFor(() => ended[0], { timeoutMs: 60_000, what: 'the worker\'s lease to end' })
    expect(summary).toMatchObject({ leaseId: open.leaseId, reason: 'ERR_CHANNEL_CLOSED', tasks: 1, acknowledged: 1 })

    const row = await waitFor(async () => (await listed('?role=worker')).jobs.find((j) => j.id === open.leaseId && j.status !== 'running'), { timeoutMs: 30_000, what: 'the stored lease on the list' })
    // Before: `failed`, reason `the lease ended: ERR_CHANNEL_CLOSED`.
    expect(row).toMatchObject({ role: 'worker', status: 'completed', reason: 'the lease ended early: ERR_CHANNEL_CLOSED', cost: open.paid, module: 'lease (1 task)' })
    expect(stateText(row)).toBe('completed (ran here) · the lease ended early: ERR_CHANNEL_CLOSED')
    // `depin job ID` (GET /v1/jobs/:id) says the same, and the filters agree with what is shown.
    const one = await call(port, `/v1/jobs/${open.leaseId}`, { headers: AUTH })
    expect(one.json).toMatchObject({ id: open.leaseId, status: 'completed', reason: row.reason, cost: row.cost })
    expect((await listed('?role=worker&status=completed')).jobs.map((j) => j.id)).toContain(open.leaseId)
    expect((await listed('?role=worker&status=failed')).jobs.map((j) => j.id)).not.toContain(open.leaseId)
    // The library's summaries too.
    expect((await W.jobs()).find((j) => j.id === open.leaseId)).toMatchObject({ kind: 'lease', status: 'done', earned: open.paid })
  })

  it('a result unacknowledged when the connection goes: failed, saying so, until the lease-tail claim gets it acknowledged', { timeout: 120_000 }, async () => {
    const [R, W] = net.nodes
    await waitFor(() => R.scheduler.leases().length === 0 && W.scheduler.worker.openLeases().length === 0, { timeoutMs: 30_000, what: 'no lease held' })
    const ended = served(W)
    const accepted: Array<{ leaseId: string, price: number }> = []
    W.addEventListener('lease:accepted', (evt) => { accepted.push(evt.detail) })
    // Cut as the result arrives: before the worker's checkpoint (due 2 s after the result left).
    let cut: Promise<void> | undefined
    const handle = await R.submitJob({ module: example('primes'), args: ['100000'], peers: [W.peerId] }, {
      onProgress: (p) => { if (p.stage === 'result') cut ??= R.host.hangUp(peerIdFromString(W.peerId)) }
    })
    const result = await handle.result()
    await cut
    const summary = await waitFor(() => ended[0], { timeoutMs: 60_000, what: 'the worker\'s lease to end' })
    expect(summary).toMatchObject({ tasks: 1, acknowledged: 0, paid: 0 })
    // As it was recorded when it ended (the claim comes 1.5 s later, at the soonest).
    const atEnd = leaseSummaryView({ ...summary, fuel: summary.fuel.toString() })
    expect(atEnd).toMatchObject({ status: 'failed', cost: 0 })
    expect(stateText(atEnd)).toBe(`failed: the lease ended: ${summary.reason}, with 1 result unacknowledged (unpaid unless a lease-tail claim gets it acknowledged)`)

    // The tail claim: acknowledged and paid, and the list shows it completed.
    const due = creditsFor(accepted[0].price, BigInt(result.fuel ?? '0'))
    const row = await waitFor(async () => (await listed('?role=worker')).jobs.find((j) => j.id === summary.leaseId && j.status === 'completed'), { timeoutMs: 60_000, what: 'the lease to read completed once its tail is acknowledged' })
    expect(row.cost).toBe(due)
    expect((await listed('?role=worker&status=failed')).jobs.map((j) => j.id)).not.toContain(summary.leaseId)
    expect((await W.scheduler.servedLease(summary.leaseId))).toMatchObject({ tasks: 1, acknowledged: 1, paid: due })
  })
})
