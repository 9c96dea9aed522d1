/**
 * The operator's API on a real two-node network (in process, real libp2p over loopback, real
 * executor): job states in words that do not lie, cancel, filters, metrics (format and values),
 * the operator log, the dashboard's static files and the API's Origin checks, OpenAPI, events.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { createTestnet, type Testnet } from '../src/node/testnet.ts'
import { createNodeMetrics, type NodeMetrics } from '../src/node/metrics/index.ts'
import { createOperatorLog } from '../src/node/operator-log.ts'
import type { ApiServer } from '../src/node/api/server.ts'
import { example, fixture, utf8, waitForCapacity } from './jobs-helpers.ts'
import { waitFor } from './helpers.ts'
import { AUTH, TOKEN, call, startApi, uploadJob } from './api-helpers.ts'
import { checkExposition } from './prom-format.ts'
import { readFile } from 'node:fs/promises'

type Line = Record<string, any>

function captureLog (): { lines: Line[], log: ReturnType<typeof createOperatorLog>['log'] } {
  const lines: Line[] = []
  const { log } = createOperatorLog({ format: 'json', level: 'debug', destination: { write: (s: string) => { lines.push(JSON.parse(s)) } } as any })
  return { lines, log }
}

describe('operator API on a two-node network', () => {
  let net: Testnet
  let metrics: NodeMetrics[]
  let logs: Array<ReturnType<typeof captureLog>>
  let server: ApiServer
  let port: number
  let stopRequested = 0

  const job = async (id: string): Promise<any> => (await call(port, `/v1/jobs/${id}`, { headers: AUTH })).json
  const untilStatus = async (id: string, status: string): Promise<any> => await waitFor(async () => {
    const j = await job(id)
    return j.status === status ? j : undefined
  }, { timeoutMs: 60_000, what: `job ${id} to be ${status}` })

  beforeAll(async () => {
    metrics = [createNodeMetrics({ libp2p: true }), createNodeMetrics({ libp2p: false })]
    logs = [captureLog(), captureLog()]
    net = await createTestnet({ nodes: 2, miners: [0], nodeInit: (i) => ({ metrics: metrics[i], log: logs[i].log, ...(i === 0 ? { capacity: { slots: 0 } } : {}) }) })
    ;({ server, port } = await startApi(net.nodes[0], metrics[0], { requestStop: () => { stopRequested++ } }))
    await waitForCapacity(net.nodes[0], 1)
  })

  afterAll(async () => {
    await server?.stop()
    await net?.stop()
  })

  it('a job that ran and was verified reads completed · verified, with its module name and output', async () => {
    const stream = await fetch(`http://127.0.0.1:${port}/v1/events`, { headers: AUTH })
    const reader = stream.body?.pipeThrough(new TextDecoderStream()).getReader()
    const { status, body } = await uploadJob(port, example('echo'), {}, utf8('hello operator'), 'echo.wasm')
    expect(status).toBe(202)
    const done = await untilStatus(body.id, 'completed')
    expect(done).toMatchObject({ role: 'requester', verified: true, module: 'echo.wasm', exitCode: 0, running: [] })
    expect(done.workers[0].peerId).toBe(net.nodes[1].peerId)
    expect((await call(port, `/v1/jobs/${body.id}/output`, { headers: AUTH })).text).toBe('hello operator')
    // The event stream carried this job's progress.
    let seen = ''
    while (!seen.includes(body.id)) seen += (await reader?.read())?.value ?? ''
    expect(seen).toMatch(/event: progress/)
    await reader?.cancel()
  })

  it('a program that exits non-zero is failed (not completed), with the exit code as reason', async () => {
    const { body } = await uploadJob(port, fixture('exit3'), {}, undefined, 'exit3.wasm')
    const ended = await untilStatus(body.id, 'failed')
    expect(ended).toMatchObject({ exitCode: 3, reason: 'the program exited with code 3' })
  })

  it('a job runs on its worker (running, with the worker) and then times out (timed-out, never completed)', async () => {
    const { body } = await uploadJob(port, fixture('loop'), { timeoutMs: 1500 }, undefined, 'loop.wasm')
    const running = await untilStatus(body.id, 'running')
    expect(running.running).toEqual([net.nodes[1].peerId])
    const listed = (await call(port, '/v1/jobs?status=running', { headers: AUTH })).json.jobs
    expect(listed.map((j: any) => j.id)).toContain(body.id)
    const ended = await untilStatus(body.id, 'timed-out')
    expect(ended.reason).toBe('the program ran past its time limit of 1.5 s')
    expect((await call(port, '/v1/jobs?status=timed-out', { headers: AUTH })).json.jobs.map((j: any) => j.id)).toEqual([body.id])
  })

  it('a module that is not WebAssembly (submitted through the library) is failed, not completed · verified', async () => {
    const handle = await net.nodes[0].submitJob({ module: utf8('this is plain text, not a module') })
    await handle.result()
    const view = await job(handle.id)
    expect(view.status).toBe('failed')
    expect(view.reason).toMatch(/InvalidModuleError|not a WebAssembly|compile/i)
  })

  it('cancel: a queued job ends cancelled; cancelling it again, or an unknown job, is a clear error', async () => {
    const nobody = '12D3KooWBSNUWRbaR7hXC3rVfLGY1z6pD9kNRhyc6gEsnoowTmhc'
    const { body } = await uploadJob(port, example('echo'), { peers: [nobody] }, undefined, 'echo.wasm')
    expect((await job(body.id)).status).toBe('queued')
    const cancelled = await call(port, `/v1/jobs/${body.id}/cancel`, { method: 'POST', headers: AUTH })
    expect(cancelled.status).toBe(200)
    expect(cancelled.json).toMatchObject({ id: body.id, status: 'cancelled' })
    const again = await call(port, `/v1/jobs/${body.id}/cancel`, { method: 'POST', headers: AUTH })
    expect(again.status, again.text).toBe(409)
    expect(again.json.error.code).toBe('ERR_JOB_FINISHED')
    const unknown = await call(port, '/v1/jobs/bafyreidoesnotexist/cancel', { method: 'POST', headers: AUTH })
    expect(unknown.status).toBe(404)
    expect(unknown.json.error.code).toBe('ERR_JOB_NOT_FOUND')
    const output = await call(port, `/v1/jobs/${body.id}/output`, { headers: AUTH })
    expect(output.status).toBe(409)
    expect(output.json.error.message).toMatch(/was cancelled/)
  })

  it('cancel: a running job stops on its worker and ends cancelled', async () => {
    const { body } = await uploadJob(port, fixture('loop'), { timeoutMs: 60_000 }, undefined, 'loop.wasm')
    await untilStatus(body.id, 'running')
    const cancelled = await call(port, `/v1/jobs/${body.id}/cancel`, { method: 'POST', headers: AUTH })
    expect(cancelled.json.status).toBe('cancelled')
    expect(cancelled.json.reason).toBeUndefined()
    // No worker reads as still running a job that ended.
    expect(cancelled.json.workers.map((w: any) => [w.peerId, w.status, w.error])).toEqual([[net.nodes[1].peerId, 'failed', 'stopped: the job was cancelled']])
    // The worker's slot comes back: its running-task count drops to zero.
    await waitFor(() => net.nodes[1].scheduler.worker.load().running === 0, { what: 'the worker to stop the cancelled task' })
  })

  it('lists jobs by status, role and limit', async () => {
    const all = (await call(port, '/v1/jobs', { headers: AUTH })).json
    expect(all.total).toBeGreaterThanOrEqual(6)
    expect(new Set(all.jobs.map((j: any) => j.role))).toEqual(new Set(['requester']))
    expect((await call(port, '/v1/jobs?limit=2', { headers: AUTH })).json.jobs).toHaveLength(2)
    expect((await call(port, '/v1/jobs?status=cancelled', { headers: AUTH })).json.jobs).toHaveLength(2)
    expect((await call(port, '/v1/jobs?status=completed', { headers: AUTH })).json.jobs.every((j: any) => j.verified)).toBe(true)
    expect((await call(port, '/v1/jobs?role=worker', { headers: AUTH })).json.jobs).toEqual([])
    const bad = await call(port, '/v1/jobs?status=done', { headers: AUTH })
    expect(bad.status).toBe(400)
    expect(bad.json.error.message).toMatch(/^invalid query: status:/)
  })

  // Credits are counted once their block is 6 deep (CREDIT_CONFIRMATIONS): ~12 s of testnet blocks
  // after the settle is mined, longer on a loaded machine.
  it('serves Prometheus metrics behind the token, in a valid format, counting what happened', { timeout: 240_000 }, async () => {
    expect((await call(port, '/metrics')).status).toBe(401)
    // Settlement lands in a block mined by node 0; wait for the credits to show.
    await waitFor(async () => /depin_credits_spent_total\{reason="work"\} [1-9]/.test((await call(port, '/metrics', { headers: AUTH })).text), { timeoutMs: 120_000, what: 'a settle to be mined and confirmed' })
    const answer = await call(port, '/metrics', { headers: AUTH })
    expect(answer.status).toBe(200)
    expect(answer.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/)
    const report = checkExposition(answer.text)
    expect(report.problems).toEqual([])
    expect(report.lint).toEqual([])
    if (report.promtool != null) {
      // 0: clean; 3: lint remarks only. libp2p's and prom-client's own names draw some (e.g.
      // `_milliseconds` units, gauges named `_total`); none may be about depin's metrics.
      expect([0, 3], report.promtool.output).toContain(report.promtool.status)
      expect(report.promtool.output.split('\n').filter((l) => l.startsWith('depin_'))).toEqual([])
    }
    const value = (name: string, labels: Record<string, string> = {}): number | undefined => report.families.get(name.replace(/_(bucket|sum|count)$/, ''))?.samples
      .find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value
    expect(value('depin_jobs_finished_total', { outcome: 'completed' })).toBeGreaterThanOrEqual(1)
    expect(value('depin_jobs_finished_total', { outcome: 'timed-out' })).toBe(1)
    expect(value('depin_jobs_finished_total', { outcome: 'cancelled' })).toBe(2)
    expect(value('depin_jobs_finished_total', { outcome: 'failed' })).toBeGreaterThanOrEqual(2)
    expect(value('depin_jobs_submitted_total')).toBeGreaterThanOrEqual(6)
    // Every job above ended (cancelled and timed-out ones too): none is active any more.
    expect(value('depin_jobs_active', { state: 'queued' })).toBe(0)
    expect(value('depin_jobs_active', { state: 'running' })).toBe(0)
    expect(value('depin_queue_length', { queue: 'requester-placement' })).toBe(0)
    expect(value('depin_task_execution_seconds_count', { role: 'requester' })).toBeGreaterThanOrEqual(3)
    expect(value('depin_blocks_mined_total')).toBeGreaterThanOrEqual(1)
    expect(value('depin_chain_height')).toBeGreaterThanOrEqual(1)
    expect(value('depin_peers_connected')).toBe(1)
    expect(value('depin_peer_score', { peer: net.nodes[1].peerId })).toBe(0)
    expect(value('depin_gossip_messages_total', { topic: 'blocks', result: 'accept' }) ?? 0).toBeGreaterThanOrEqual(0)
    // libp2p's own metrics, through @libp2p/prometheus-metrics.
    expect([...report.families.keys()].some((n) => n.startsWith('libp2p_'))).toBe(true)
    expect(report.families.has('process_cpu_user_seconds_total')).toBe(true)
    // The worker counted what it ran and, once mined, what it earned.
    const worker = checkExposition(await metrics[1].text())
    expect(worker.problems).toEqual([])
    expect(worker.families.get('depin_tasks_finished_total')?.samples.some((s) => s.labels.role === 'worker' && s.value >= 3)).toBe(true)
    await waitFor(async () => /depin_credits_earned_total\{source="work"\} [1-9]/.test(await metrics[1].text()), { timeoutMs: 120_000, what: 'the worker\'s earnings' })
  })

  it('documents every depin metric in the README', async () => {
    const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8')
    const names = (await metrics[0].registry.getMetricsAsJSON()).map((m) => m.name).filter((n) => n.startsWith('depin_'))
    expect(names.length).toBeGreaterThan(20)
    expect(names.filter((n) => !readme.includes(`\`${n}\``))).toEqual([])
  })

  it('logs jobs, leases, tasks, earnings and blocks for the operator', async () => {
    // Leases end (and are settled) when the requester closes them.
    net.nodes[0].scheduler.closeLeases()
    const requester = logs[0].lines
    const worker = logs[1].lines
    await waitFor(() => worker.some((l) => l.msg === 'lease settled: earned credits'), { timeoutMs: 60_000, what: 'the lease settle to be mined' })
    for (const l of [...requester, ...worker]) {
      expect(typeof l.time).toBe('string')
      expect(['trace', 'debug', 'info', 'warn', 'error', 'fatal']).toContain(l.level)
    }
    expect(requester.some((l) => l.msg === 'job submitted')).toBe(true)
    expect(requester.some((l) => l.msg === 'job finished' && l.status === 'completed' && l.level === 'info')).toBe(true)
    expect(requester.some((l) => l.msg === 'job finished' && l.status === 'timed-out' && l.level === 'warn')).toBe(true)
    expect(requester.some((l) => l.msg === 'job finished' && l.status === 'cancelled')).toBe(true)
    expect(requester.some((l) => l.msg === 'block mined' && l.height >= 1)).toBe(true)
    expect(requester.some((l) => l.msg === 'lease opened' && l.worker === net.nodes[1].peerId)).toBe(true)
    expect(requester.some((l) => l.msg === 'lease closed' && l.reason === 'closed')).toBe(true)
    expect(requester.some((l) => l.msg === 'lease settled: paid credits' && l.settled > 0)).toBe(true)
    expect(worker.some((l) => l.msg === 'task finished for a peer' && l.exit === 0 && l.level === 'debug')).toBe(true)
    expect(worker.some((l) => l.msg === 'lease served' && l.tasks >= 1 && l.acknowledged > 0 && l.requester === net.nodes[0].peerId)).toBe(true)
    expect(worker.some((l) => l.msg === 'lease settled: earned credits' && l.settled > 0 && l.from === net.nodes[0].peerId)).toBe(true)
  })

  it('serves the dashboard\'s static files without the token, and nothing else', async () => {
    const page = await call(port, '/dashboard/')
    expect(page.status).toBe(200)
    expect(page.headers['content-type']).toMatch(/^text\/html/)
    expect(page.headers['content-security-policy']).toMatch(/connect-src 'self'/)
    expect(page.headers['content-security-policy']).toMatch(/frame-ancestors 'none'/)
    expect(page.headers['referrer-policy']).toBe('no-referrer')
    expect(page.text).not.toContain(TOKEN)
    for (const file of ['app.js', 'style.css', 'uplot.js', 'uplot.css']) expect((await call(port, `/dashboard/${file}`)).status).toBe(200)
    expect((await call(port, '/dashboard/..%2Fpackage.json')).status).toBe(404)
    expect((await call(port, '/dashboard/index.html')).status).toBe(404)
    // Data is never public.
    expect((await call(port, '/v1/status')).status).toBe(401)
    expect((await call(port, '/v1/jobs')).status).toBe(401)
  })

  it('refuses a foreign Origin or Host, on the dashboard and on the API, even with the token', async () => {
    const foreignOrigin = await call(port, '/v1/status', { headers: { ...AUTH, origin: 'http://evil.example' } })
    expect(foreignOrigin.status).toBe(403)
    expect(foreignOrigin.json.error.code).toBe('ERR_FORBIDDEN_ORIGIN')
    expect((await call(port, '/dashboard/', { headers: { origin: 'http://evil.example' } })).status).toBe(403)
    expect((await call(port, '/dashboard/', { headers: { 'sec-fetch-site': 'cross-site' } })).status).toBe(403)
    expect((await call(port, '/dashboard/', { headers: { host: `evil.example:${port}` } })).status).toBe(403)
    expect((await call(port, '/v1/jobs', { method: 'POST', headers: { ...AUTH, host: `localhost.evil.example:${port}` } })).status).toBe(403)
    // The page's own origin is fine.
    expect((await call(port, '/v1/status', { headers: { ...AUTH, origin: `http://127.0.0.1:${port}`, 'sec-fetch-site': 'same-origin' } })).status).toBe(200)
  })

  it('describes itself in OpenAPI, generated from the route schemas', async () => {
    const answer = await call(port, '/v1/openapi.json', { headers: AUTH })
    expect(answer.status).toBe(200)
    const doc = answer.json
    expect(doc.openapi).toMatch(/^3\./)
    for (const path of ['/v1/status', '/v1/jobs', '/v1/jobs/{id}', '/v1/jobs/{id}/cancel', '/v1/jobs/{id}/events', '/v1/ledger/chain', '/v1/ledger/history', '/metrics', '/v1/node/stop']) {
      expect(doc.paths[path], path).toBeDefined()
    }
    const statusParam = doc.paths['/v1/jobs'].get.parameters.find((p: any) => p.name === 'status')
    expect(statusParam.schema.enum).toContain('timed-out')
    expect(doc.paths['/v1/ledger/transfers'].post.requestBody.content['application/json'].schema.required).toEqual(['to', 'amount'])
    expect((await call(port, '/v1/openapi.json')).status).toBe(401)
  })

  it('stops through the API only when asked by a token holder', async () => {
    expect((await call(port, '/v1/node/stop', { method: 'POST' })).status).toBe(401)
    const answer = await call(port, '/v1/node/stop', { method: 'POST', headers: AUTH })
    expect(answer.status).toBe(202)
    await waitFor(() => stopRequested === 1, { what: 'the stop request' })
  })
})
