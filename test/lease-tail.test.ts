/**
 * The tail of a lease whose stream died while both nodes run: the requester received a result
 * and recorded it, the connection was lost before the worker's next checkpoint, and the worker
 * is paid for it all the same: it claims the tail on `/depin/lease-tail/1.0.0`, the requester
 * acknowledges what it received, and the settle pays it on chain. Before, the result was never
 * paid (no checkpoint covered it). Real nodes over TCP on loopback, real .wasm, a mining node.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { peerIdFromString } from '@libp2p/peer-id'
import { createTestnet, type Testnet } from '../src/node/testnet.ts'
import type { LeaseSummary } from '../src/scheduler/worker/lease-server.ts'
import { creditsFor } from '../src/scheduler/task.ts'
import { example, text, waitForCapacity } from './jobs-helpers.ts'
import { waitFor } from './helpers.ts'

describe('the tail of a lease whose connection was lost', () => {
  let net: Testnet

  beforeAll(async () => {
    // Node 0 requests (no slots) and mines; node 1 works.
    net = await createTestnet({
      nodes: 2,
      miners: [0],
      genesis: { hashesPerBlock: 2 ** 12, blockIntervalMs: 500 },
      nodeInit: (i) => (i === 0 ? { capacity: { slots: 0 } } : { capacity: { pricePerGigafuel: 10 } })
    })
    await waitForCapacity(net.nodes[0], 1)
  })

  afterAll(async () => { await net?.stop() })

  it('is acknowledged and settled: the worker is paid for exactly the result the requester received', { timeout: 120_000 }, async () => {
    const [R, W] = net.nodes
    const served: LeaseSummary[] = []
    const accepted: Array<{ leaseId: string, price: number }> = []
    W.addEventListener('lease:served', (evt) => { served.push(evt.detail) })
    W.addEventListener('lease:accepted', (evt) => { accepted.push(evt.detail) })
    // The connection is cut as the result arrives: well before the worker's checkpoint, due 2 s
    // after the result went out, so no checkpoint covers it.
    let cut: Promise<void> | undefined
    const handle = await R.submitJob({ module: example('primes'), args: ['100000'], peers: [W.peerId] }, {
      onProgress: (p) => { if (p.stage === 'result') cut ??= R.host.hangUp(peerIdFromString(W.peerId)) }
    })
    const result = await handle.result()
    expect(result.status).toBe('completed')
    expect(text(result.stdout)).toBe('9592\n')
    await cut

    const summary = await waitFor(() => served[0], { what: 'the worker\'s lease to end' })
    const { price } = accepted[0]
    const due = creditsFor(price, BigInt(result.fuel ?? '0'))
    expect(due).toBeGreaterThan(0)
    expect(summary.tasks).toBe(1)
    expect(summary.amount).toBe(due)
    // Its stream died with the result unacknowledged: nothing was paid through the stream.
    expect(summary.paid).toBe(0)

    // The worker claims the tail: its record and the chain pay exactly what the result is worth.
    await waitFor(async () => (await W.scheduler.servedLease(summary.leaseId))?.paid === due, { timeoutMs: 60_000, what: 'the worker\'s record to be paid through the tail' })
    await waitFor(async () => (await W.ledger.settledAmount(summary.leaseId)) === due, { timeoutMs: 60_000, what: 'the lease\'s settle on the chain' })
    expect(await R.ledger.settledAmount(summary.leaseId)).toBe(due)
    expect(W.scheduler.worker.tailClaims).toBe(0)
  })

  it('cut from the worker\'s side, with two results in the tail: both are paid, once', { timeout: 120_000 }, async () => {
    const [R, W] = net.nodes
    const served: LeaseSummary[] = []
    const accepted: Array<{ leaseId: string, price: number }> = []
    W.addEventListener('lease:served', (evt) => { served.push(evt.detail) })
    W.addEventListener('lease:accepted', (evt) => { accepted.push(evt.detail) })
    // A fresh lease: the one of the test before ended with its connection.
    await waitFor(() => R.scheduler.leases().length === 0, { what: 'no lease held' })
    let results = 0
    let cut: Promise<void> | undefined
    const onProgress = (p: { stage: string }): void => {
      if (p.stage === 'result' && ++results === 2) cut ??= W.host.hangUp(peerIdFromString(R.peerId))
    }
    const handles = await Promise.all(['50000', '60000'].map(async (n) => await R.submitJob({ module: example('primes'), args: [n], peers: [W.peerId] }, { onProgress })))
    const jobs = await Promise.all(handles.map(async (h) => await h.result()))
    expect(jobs.map((j) => text(j.stdout))).toEqual(['5133\n', '6057\n'])
    await cut

    const summary = await waitFor(() => served[0], { what: 'the worker\'s lease to end' })
    expect(accepted.map((a) => a.leaseId)).toEqual([summary.leaseId])
    const due = creditsFor(accepted[0].price, jobs.reduce((sum, j) => sum + BigInt(j.fuel ?? '0'), 0n))
    expect(summary.tasks).toBe(2)
    expect(summary.amount).toBe(due)
    // The last result at least went out after the last acknowledged checkpoint.
    expect(summary.paid).toBeLessThan(due)

    await waitFor(async () => (await W.scheduler.servedLease(summary.leaseId))?.paid === due, { timeoutMs: 60_000, what: 'the worker\'s record to be paid through the tail' })
    await waitFor(async () => (await W.ledger.settledAmount(summary.leaseId)) === due, { timeoutMs: 60_000, what: 'the lease\'s settle on the chain' })
  })
})
