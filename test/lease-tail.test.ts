/**
 * The tail of a lease whose stream died while both nodes run: the requester received a result
 * and recorded it, the connection was lost before the worker's next checkpoint, and the worker
 * is paid for it all the same: it claims the tail on `/depin/lease-tail/1.0.0`, the requester
 * acknowledges what it received, and the settle pays it on chain. Before, the result was never
 * paid (no checkpoint covered it). The claim shows in both nodes' operator logs and metrics.
 * Real nodes over TCP on loopback, real .wasm, a mining node.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { peerIdFromString } from '@libp2p/peer-id'
import { createTestnet, type Testnet } from '../src/node/testnet.ts'
import type { LeaseSummary } from '../src/scheduler/worker/lease-server.ts'
import { creditsFor } from '../src/scheduler/task.ts'
import { example, text, waitForCapacity } from './jobs-helpers.ts'
import { waitFor } from './helpers.ts'
import { createNodeMetrics, type NodeMetrics } from '../src/node/metrics/index.ts'
import { createOperatorLog } from '../src/node/operator-log.ts'
import { checkExposition } from './prom-format.ts'

type Line = Record<string, any>

function captureLog (): { lines: Line[], log: ReturnType<typeof createOperatorLog>['log'] } {
  const lines: Line[] = []
  const { log } = createOperatorLog({ format: 'json', level: 'info', destination: { write: (s: string) => { lines.push(JSON.parse(s)) } } as any })
  return { lines, log }
}

describe('the tail of a lease whose connection was lost', () => {
  let net: Testnet
  const metrics: NodeMetrics[] = [createNodeMetrics({ libp2p: false }), createNodeMetrics({ libp2p: false })]
  const logs = [captureLog(), captureLog()]

  beforeAll(async () => {
    // Node 0 requests (no slots) and mines; node 1 works.
    net = await createTestnet({
      nodes: 2,
      miners: [0],
      genesis: { hashesPerBlock: 2 ** 12, blockIntervalMs: 500 },
      nodeInit: (i) => ({ metrics: metrics[i], log: logs[i].log, ...(i === 0 ? { capacity: { slots: 0 } } : { capacity: { pricePerGigafuel: 10 } }) })
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

    // Both operators see the claim: in the log, and in the metrics.
    const claimed = await waitFor(() => logs[1].lines.find((l) => l.msg === 'lease tail claimed: paid'), { what: 'the worker\'s log line' })
    expect(claimed).toMatchObject({ level: 'info', lease: summary.leaseId, requester: R.peerId, tasks: 1, acknowledged: due, credits: due })
    const paid = await waitFor(() => logs[0].lines.find((l) => l.msg === 'lease tail paid'), { what: 'the requester\'s log line' })
    expect(paid).toMatchObject({ level: 'info', lease: summary.leaseId, worker: W.peerId, tasks: 1, acknowledged: due, credits: due })
    const sample = async (i: number, name: string, labels: Record<string, string> = {}): Promise<number | undefined> => {
      const report = checkExposition(await metrics[i].text())
      expect(report.problems).toEqual([])
      return report.families.get(name)?.samples.find((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value
    }
    expect(await sample(1, 'depin_lease_tail_claims_total', { role: 'worker', outcome: 'paid' })).toBe(1)
    expect(await sample(1, 'depin_lease_tail_credits_total', { role: 'worker' })).toBe(due)
    expect(await sample(0, 'depin_lease_tail_claims_total', { role: 'requester', outcome: 'paid' })).toBe(1)
    expect(await sample(0, 'depin_lease_tail_credits_total', { role: 'requester' })).toBe(due)
    // The requester keeps the lease's account (a worker that did not hear the answer may ask again).
    expect(await sample(0, 'depin_lease_tail_accounts')).toBe(1)
    expect(await sample(0, 'depin_lease_tail_account_bytes')).toBeGreaterThan(0)
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
