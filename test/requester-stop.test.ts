/**
 * A requester that stops closes its leases before it goes: the worker sends its final checkpoint
 * over every result it returned, the requester acknowledges it, and the lease ends `closed`, so
 * the worker holds an acknowledgement for all of its work (before, the stop aborted the lease
 * stream: the worker logged "ended early" and results after its last checkpoint, up to 2 s of
 * them, were never acknowledged, so never paid). And a task cancelled in the turn it was placed
 * is not sent at all (its `cancel` frame used to reach the worker ahead of the task, which then
 * ran it, and its result counted against the worker: benched for 10 minutes). Real nodes over
 * TCP on loopback.
 */
import { describe, it, expect, afterAll, beforeAll } from 'vitest'
import { createTestnet, type Testnet } from '../src/node/testnet.ts'
import type { LeaseSummary } from '../src/scheduler/worker/lease-server.ts'
import { example, text, utf8, waitForCapacity } from './jobs-helpers.ts'
import { waitFor } from './helpers.ts'

describe('a requester that stops', () => {
  let net: Testnet

  beforeAll(async () => {
    // Node 0 requests (no slots); node 1 works.
    net = await createTestnet({ nodes: 2, nodeInit: (i) => (i === 0 ? { capacity: { slots: 0 } } : {}) })
    await waitForCapacity(net.nodes[0], 1)
  })

  afterAll(async () => { await net?.stop() })

  it('a job cancelled right after it was submitted, on a warm lease: the worker is not blamed and the lease goes on', async () => {
    const [R] = net.nodes
    expect((await (await R.submitJob({ module: example('echo'), input: utf8('warm') })).result()).status).toBe('completed')
    const [held] = R.scheduler.leases()
    // Placed on the warm lease in this turn of the event loop, and cancelled in the same turn,
    // before its tasks frame went out.
    const handle = await R.submitJob({ module: example('echo'), input: utf8('never mind') })
    handle.cancel()
    expect((await handle.result()).status).toBe('cancelled')
    const next = await (await R.submitJob({ module: example('echo'), input: utf8('next') })).result()
    expect(text(next.stdout)).toBe('next')
    expect(next.workers.map((w) => w.leaseId)).toEqual([held.leaseId])
    expect(R.scheduler.leases().map((l) => l.leaseId)).toEqual([held.leaseId])
  })

  it('closes its leases first: the worker\'s lease ends `closed`, every checkpoint it sent acknowledged', async () => {
    const [R, W] = net.nodes
    const served: LeaseSummary[] = []
    W.addEventListener('lease:served', (evt) => { served.push(evt.detail) })
    // Results come back well within the worker's 2 s checkpoint interval: none is acknowledged
    // by a regular checkpoint before the stop.
    const handle = await R.submitBatch({ module: example('echo'), tasks: Array.from({ length: 5 }, (_, i) => ({ input: utf8(`task ${i}`) })) })
    const summary = await handle.result()
    expect(summary).toMatchObject({ completed: 5, verified: 5 })
    const job = await (await R.submitJob({ module: example('echo'), input: utf8('one more') })).result()
    expect(text(job.stdout)).toBe('one more')
    expect(R.scheduler.leases()).toHaveLength(1)

    await R.stop()
    const lease = await waitFor(() => served[0], { what: 'the worker\'s lease to end' })
    expect(lease.requester).toBe(R.peerId)
    expect(lease.reason).toBe('closed')
    expect(lease.tasks).toBe(8)
    expect(lease.amount).toBeGreaterThan(0)
    // Every checkpoint it sent was acknowledged (else the lease would end ERR_ACK_TIMEOUT, not
    // `closed`). What that acknowledgement paid depends on timing: a regular checkpoint (2 s after
    // the first result) acknowledged before the tasks' verdicts pays less, and no final one
    // follows when nothing is new; the requester's settle pays the rest on chain.
    expect(lease.paid).toBeLessThanOrEqual(lease.amount)
  })
})
