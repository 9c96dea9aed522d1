/**
 * The job market's metrics as an operator reads them, on a real two-node network (in process,
 * real libp2p over loopback, real executor): jobs that end cancelled or timed out leave the
 * active gauges, the worker's open leases while it serves one (and the task cancelled there
 * counted as cancelled in its GET /metrics), batch tasks counted on the
 * requester like jobs' tasks, payload bytes moved on leases on both sides; and, without a
 * network, scrape-time gauges read fresh on the very first scrape and every final stage ending
 * a job's activity.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { createTestnet, type Testnet } from '../src/node/testnet.ts'
import { createNodeMetrics, type NodeMetrics } from '../src/node/metrics/index.ts'
import { JobActivity } from '../src/node/job-activity.ts'
import { FINAL_STATUSES } from '../src/scheduler/job-store.ts'
import { readFile } from 'node:fs/promises'
import { example, fixture, utf8, waitForCapacity } from './jobs-helpers.ts'
import { waitFor } from './helpers.ts'
import { AUTH, call, startApi } from './api-helpers.ts'

type Labels = Record<string, string>

/** One scrape (collectors run once), then a reader of its samples (0 for a series not there). */
async function scrape (m: NodeMetrics): Promise<(name: string, labels?: Labels) => number> {
  const families = await m.registry.getMetricsAsJSON()
  return (name, labels = {}) => {
    for (const family of families) {
      for (const v of family.values as Array<{ metricName?: string, labels: Labels, value: number }>) {
        if ((v.metricName ?? family.name) === name && Object.entries(labels).every(([k, x]) => String(v.labels[k]) === x)) return v.value
      }
    }
    return 0
  }
}

describe('scrape-time gauges and job activity (no network)', () => {
  it('a gauge set by a collector behind an await is in the first scrape, and each scrape reads now', async () => {
    const m = createNodeMetrics({ libp2p: false })
    let running = 2
    m.addCollector(async () => {
      await new Promise((resolve) => { setImmediate(resolve) })
      m.workerTasks.set({ state: 'running' }, running)
      m.queueLength('worker-execution', running + 1)
      m.leasesOpen.set({ role: 'worker' }, running)
    })
    const first = await m.text()
    expect(first).toMatch(/^depin_worker_tasks\{state="running"\} 2$/m)
    expect(first).toMatch(/^depin_queue_length\{queue="worker-execution"\} 3$/m)
    expect(first).toMatch(/^depin_leases_open\{role="worker"\} 2$/m)
    running = 0
    const second = await m.text()
    expect(second).toMatch(/^depin_worker_tasks\{state="running"\} 0$/m)
    expect(second).toMatch(/^depin_queue_length\{queue="worker-execution"\} 1$/m)
  })

  it('every final status ends a job\'s activity (nobody runs it, it is not unfinished)', () => {
    expect([...FINAL_STATUSES].sort()).toEqual(['cancelled', 'completed', 'failed', 'timed-out', 'unverified'])
    const activity = new JobActivity()
    for (const stage of FINAL_STATUSES) {
      const jobId = `job-${stage}`
      activity.add({ jobId, stage: 'queued', at: 1 })
      activity.add({ jobId, stage: 'running', peerId: 'worker', at: 2 })
      const live = activity.add({ jobId, stage, at: 3 })
      expect(live.finished, stage).toBe(true)
      expect(live.running.size, stage).toBe(0)
    }
    expect(activity.unfinished()).toEqual([])
  })
})

describe('job market metrics on a two-node network', () => {
  let net: Testnet
  let metrics: NodeMetrics[]

  beforeAll(async () => {
    metrics = [createNodeMetrics({ libp2p: false }), createNodeMetrics({ libp2p: false })]
    net = await createTestnet({ nodes: 2, nodeInit: (i) => ({ metrics: metrics[i], ...(i === 0 ? { capacity: { slots: 0 } } : {}) }) })
    await waitForCapacity(net.nodes[0], 1)
  })

  afterAll(async () => { await net?.stop() })

  it('a running job: the worker shows its lease open and its task running; cancelled, the job leaves the active gauges', async () => {
    const handle = await net.nodes[0].submitJob({ module: fixture('loop'), timeoutMs: 60_000 })
    const worker = await waitFor(async () => {
      const s = await scrape(metrics[1])
      return s('depin_worker_tasks', { state: 'running' }) === 1 ? s : undefined
    }, { timeoutMs: 30_000, what: 'the worker to run the task' })
    // Counted when the lease opened, not when it ends.
    expect(worker('depin_leases_open', { role: 'worker' })).toBe(1)
    expect(worker('depin_leases_opened_total', { role: 'worker' })).toBe(1)
    expect(worker('depin_leases_closed_total', { role: 'worker', reason: 'done' })).toBe(0)
    expect((await scrape(metrics[0]))('depin_jobs_active', { state: 'running' })).toBe(1)

    handle.cancel()
    expect((await handle.result()).status).toBe('cancelled')
    await waitFor(async () => {
      const s = await scrape(metrics[0])
      return s('depin_jobs_finished_total', { outcome: 'cancelled' }) === 1 && s('depin_jobs_active', { state: 'running' }) === 0 &&
        s('depin_jobs_active', { state: 'queued' }) === 0 && s('depin_queue_length', { queue: 'requester-placement' }) === 0
    }, { timeoutMs: 10_000, what: 'the cancelled job to leave depin_jobs_active' })
    // The worker stops the cancelled run: its running gauge drops at the next scrape, and the
    // task is counted as cancelled on the worker (not completed, not failed: it has no result).
    const stopped = await waitFor(async () => {
      const s = await scrape(metrics[1])
      return s('depin_worker_tasks', { state: 'running' }) === 0 && s('depin_tasks_finished_total', { role: 'worker', outcome: 'cancelled' }) === 1 ? s : undefined
    }, { timeoutMs: 30_000, what: 'the worker to stop the cancelled task and count it' })
    expect(stopped('depin_tasks_finished_total', { role: 'worker', outcome: 'completed' })).toBe(0)
    expect(stopped('depin_tasks_finished_total', { role: 'worker', outcome: 'failed' })).toBe(0)
    // What an operator scrapes from the worker's API.
    const { server, port } = await startApi(net.nodes[1], metrics[1])
    try {
      const scraped = await call(port, '/metrics', { headers: AUTH })
      expect(scraped.status).toBe(200)
      expect(scraped.text).toMatch(/^depin_tasks_finished_total\{role="worker",outcome="cancelled"\} 1$/m)
    } finally {
      await server.stop()
    }
  })

  it('a job that times out leaves the active gauges', async () => {
    // Past its time limit on the worker, or (on a slow machine) past its deadline: timed out either way.
    const handle = await net.nodes[0].submitJob({ module: fixture('loop'), timeoutMs: 1500, deadline: Date.now() + 20_000 })
    expect((await handle.result()).status).toBe('timed-out')
    await waitFor(async () => {
      const s = await scrape(metrics[0])
      return s('depin_jobs_finished_total', { outcome: 'timed-out' }) === 1 && s('depin_jobs_active', { state: 'running' }) === 0 && s('depin_jobs_active', { state: 'queued' }) === 0
    }, { timeoutMs: 10_000, what: 'the timed-out job to leave depin_jobs_active' })
  })

  it('counts batch tasks on the requester as tasks, and the payload bytes moved on leases on both sides', async () => {
    const before = await scrape(metrics[0])
    const completed = before('depin_tasks_finished_total', { role: 'requester', outcome: 'completed' })
    const executions = before('depin_task_execution_seconds_count', { role: 'requester' })
    // One input past the inline size: fetched by the worker, and its echo comes back in data frames.
    const big = new Uint8Array(100 * 1024).fill(0x61)
    const inputs = [utf8('one'), utf8('two'), utf8('three'), utf8('four'), big]
    const result = await (await net.nodes[0].submitBatch({ module: example('echo'), tasks: inputs.map((input) => ({ input })) })).result()
    expect(result.completed).toBe(inputs.length)
    const inputBytes = inputs.reduce((n, i) => n + i.byteLength, 0)
    await waitFor(async () => {
      const r = await scrape(metrics[0])
      const w = await scrape(metrics[1])
      const bytes = (s: typeof r, direction: string, kind: string): number => s('depin_job_bytes_total', { direction, kind })
      return r('depin_tasks_finished_total', { role: 'requester', outcome: 'completed' }) === completed + inputs.length &&
        r('depin_task_execution_seconds_count', { role: 'requester' }) === executions + inputs.length &&
        bytes(r, 'sent', 'module') >= example('echo').byteLength && bytes(r, 'sent', 'module') === bytes(w, 'received', 'module') &&
        bytes(r, 'sent', 'input') >= inputBytes && bytes(r, 'sent', 'input') === bytes(w, 'received', 'input') &&
        bytes(r, 'received', 'output') >= inputBytes && bytes(r, 'received', 'output') === bytes(w, 'sent', 'output') &&
        bytes(r, 'received', 'module') === 0 && bytes(w, 'sent', 'input') === 0
    }, { timeoutMs: 10_000, what: 'batch tasks and payload bytes to be counted' })
  })

  it('reports exactly the queues the README lists, and the README\'s labels of each market metric are those reported', async () => {
    const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8')
    const row = (name: string): string => readme.split('\n').find((l) => l.startsWith(`| \`${name}\``)) ?? ''
    const listed = (name: string, label: string): string[] => (new RegExp(`\`${label}\`: ([a-z-]+(?:, [a-z-]+)*)`).exec(row(name))?.[1] ?? '').split(', ')
    const reported = async (name: string, label: string): Promise<string[]> => {
      const values = new Set<string>()
      for (const m of metrics) {
        for (const family of await m.registry.getMetricsAsJSON()) {
          if (family.name !== name) continue
          for (const v of family.values) if (v.labels[label] != null) values.add(String(v.labels[label]))
        }
      }
      return [...values].sort()
    }
    expect(listed('depin_queue_length', 'queue').sort()).toEqual(['requester-placement', 'requester-tasks', 'worker-execution'])
    expect(await reported('depin_queue_length', 'queue')).toEqual(['requester-placement', 'requester-tasks', 'worker-execution'])
    for (const [name, label] of [['depin_tasks_finished_total', 'outcome'], ['depin_job_bytes_total', 'direction'], ['depin_job_bytes_total', 'kind'], ['depin_leases_closed_total', 'reason'], ['depin_jobs_active', 'state'], ['depin_worker_tasks', 'state']]) {
      const documented = listed(name, label)
      for (const value of await reported(name, label)) expect(documented, `${name}{${label}="${value}"}`).toContain(value)
    }
  })

  it('a lease the worker served is closed in its gauge once it ends', async () => {
    net.nodes[0].scheduler.closeLeases()
    await waitFor(async () => {
      const s = await scrape(metrics[1])
      return s('depin_leases_open', { role: 'worker' }) === 0 && s('depin_leases_opened_total', { role: 'worker' }) >= 1 &&
        s('depin_leases_opened_total', { role: 'worker' }) === s('depin_leases_closed_total', { role: 'worker', reason: 'done' })
    }, { timeoutMs: 30_000, what: 'the worker\'s leases to close' })
  })
})
