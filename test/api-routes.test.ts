/**
 * The API's routes against what they document, on one real node with every route (no worker:
 * jobs and batches are aimed at a peer that does not exist, so they stay queued): each route acts
 * only on what it names, and every refusal, the router's and the parser's included, is
 * `{"error":{"code","message"}}` with a fitting status.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { request, type ClientRequest } from 'node:http'
import { connect } from 'node:net'
import { createTestnet, type Testnet } from '../src/node/testnet.ts'
import type { ComputeNode } from '../src/node/compute-node.ts'
import { ApiServer } from '../src/node/api/server.ts'
import { nodeRoutes } from '../src/node/api/node-routes.ts'
import { jobsRoutes } from '../src/node/api/jobs-routes.ts'
import { batchesRoutes } from '../src/node/api/batches-routes.ts'
import { storageRoutes } from '../src/node/api/storage-routes.ts'
import { eventsRoutes } from '../src/node/api/events-routes.ts'
import { ledgerRoutes } from '../src/node/api/ledger-routes.ts'
import { AUTH, TOKEN, call } from './api-helpers.ts'
import { example, utf8 } from './jobs-helpers.ts'
import { waitFor } from './helpers.ts'

const NOBODY = '12D3KooWBSNUWRbaR7hXC3rVfLGY1z6pD9kNRhyc6gEsnoowTmhc'

describe('API routes act on what they name and answer in one shape', () => {
  let net: Testnet
  let node: ComputeNode
  let server: ApiServer
  let port: number
  let limited: ApiServer
  let limitedPort: number
  let jobId: string
  let batchId: string

  beforeAll(async () => {
    net = await createTestnet({ nodes: 1 })
    node = net.nodes[0]
    server = new ApiServer({ host: '127.0.0.1', port: 0, token: TOKEN }, [nodeRoutes(node), jobsRoutes(node), batchesRoutes(node), storageRoutes(node), eventsRoutes(node), ledgerRoutes(node)])
    port = (await server.start()).port
    // The same node behind a server that allows 2 event streams at once.
    limited = new ApiServer({ host: '127.0.0.1', port: 0, token: TOKEN, maxEventStreams: 2 }, [jobsRoutes(node), batchesRoutes(node), eventsRoutes(node)])
    limitedPort = (await limited.start()).port
    jobId = (await node.submitJob({ module: example('echo'), input: utf8('never runs'), peers: [NOBODY] })).id
    batchId = (await node.submitBatch({ module: example('echo'), tasks: [{ input: utf8('t1') }], peers: [NOBODY] })).id
  })

  afterAll(async () => {
    await limited?.stop()
    await server?.stop()
    await net?.stop()
  })

  const post = async (path: string, body?: string, headers: Record<string, string> = {}) => await call(port, path, { method: 'POST', headers: { ...AUTH, ...headers }, ...(body != null ? { body } : {}) })

  /** Opens a request and answers its status (and JSON error, if any) as soon as its headers come; the request stays open. */
  const open = (p: number, path: string): { req: ClientRequest, answer: Promise<{ status: number, code?: string }> } => {
    const req = request({ host: '127.0.0.1', port: p, path, headers: AUTH })
    const answer = new Promise<{ status: number, code?: string }>((resolve, reject) => {
      req.on('response', (res) => {
        if (res.statusCode === 200) { resolve({ status: 200 }); return }
        let text = ''
        res.setEncoding('utf8').on('data', (d) => { text += d }).on('end', () => { resolve({ status: res.statusCode ?? 0, code: JSON.parse(text).error?.code }) })
      })
      req.on('error', reject)
    })
    req.end()
    return { req, answer }
  }

  it('event streams share one limit over every event route: two job streams fill it for /v1/events and batch streams too', async () => {
    const streams = [open(limitedPort, `/v1/jobs/${jobId}/events`), open(limitedPort, `/v1/jobs/${jobId}/events`)]
    try {
      // The job streams write nothing until the job moves: poll until they hold their slots.
      await waitFor(async () => {
        const probe = open(limitedPort, '/v1/events')
        const answer = await probe.answer
        probe.req.destroy()
        return answer.status === 429 && answer.code === 'ERR_TOO_MANY_STREAMS'
      }, { what: '/v1/events to be refused' })
      const batch = open(limitedPort, `/v1/batches/${batchId}/events`)
      expect(await batch.answer).toEqual({ status: 429, code: 'ERR_TOO_MANY_STREAMS' })
      const job = open(limitedPort, `/v1/jobs/${jobId}/events`)
      expect(await job.answer).toEqual({ status: 429, code: 'ERR_TOO_MANY_STREAMS' })
    } finally {
      streams[0].req.destroy()
    }
    // One client left: its slot is free for any event route.
    await waitFor(async () => {
      const probe = open(limitedPort, '/v1/events')
      const answer = await probe.answer
      probe.req.destroy()
      return answer.status === 200
    }, { what: 'a slot to come free' })
    streams[1].req.destroy()
  })

  it('POST /v1/batches/:id/cancel cancels batches only: a job\'s id or an unknown one is 404 ERR_BATCH_NOT_FOUND', async () => {
    const job = await post(`/v1/batches/${jobId}/cancel`)
    expect(job.status).toBe(404)
    expect(job.json.error.code).toBe('ERR_BATCH_NOT_FOUND')
    expect((await call(port, `/v1/jobs/${jobId}`, { headers: AUTH })).json.status).toBe('queued')
    const unknown = await post('/v1/batches/bafkreinothingatall/cancel')
    expect(unknown.status).toBe(404)
    expect(unknown.json.error.code).toBe('ERR_BATCH_NOT_FOUND')
    const batch = await post(`/v1/batches/${batchId}/cancel`)
    expect(batch.status).toBe(200)
    expect(batch.json).toEqual({ cancelled: true })
  })

  it('what the router and the HTTP parser refuse is answered in the API\'s shape, and ids up to 200 characters reach their route', async () => {
    const badUrl = await call(port, '/v1/jobs/%ZZ', { headers: AUTH })
    expect(badUrl.status).toBe(400)
    expect(badUrl.json.error.code).toBe('ERR_BAD_REQUEST')
    const longId = await call(port, `/v1/jobs/${'b'.repeat(150)}`, { headers: AUTH })
    expect(longId.status).toBe(404)
    expect(longId.json.error.code).toBe('ERR_JOB_NOT_FOUND')
    const tooLong = await call(port, `/v1/jobs/${'b'.repeat(300)}`, { headers: AUTH })
    expect(tooLong.status).toBe(400)
    expect(tooLong.json.error.code).toBe('ERR_BAD_REQUEST')
    // Node's parser refuses this Content-Length before any route or hook: a raw answer.
    const raw = await new Promise<string>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1')
      let text = ''
      socket.setEncoding('utf8').on('data', (d) => { text += d }).on('close', () => { resolve(text) }).on('error', reject)
      socket.write(`POST /v1/peers HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 99999999999999999999999999\r\n\r\n{}`)
    })
    expect(raw).toMatch(/^HTTP\/1\.1 400 /)
    expect(JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)).error.code).toBe('ERR_BAD_REQUEST')
  })

  it('HEAD of an event route is answered at once (no route: 404) and opens no stream', async () => {
    for (const path of ['/v1/events', `/v1/jobs/${jobId}/events`, `/v1/batches/${batchId}/events`]) {
      // Three HEADs on a server of two slots: each must end, none may hold a slot.
      for (let i = 0; i < 3; i++) {
        const head = await call(limitedPort, path, { method: 'HEAD', headers: AUTH })
        expect(head.status, path).toBe(404)
      }
    }
    const stream = open(limitedPort, '/v1/events')
    expect((await stream.answer).status).toBe(200)
    stream.req.destroy()
  })

  it('POST /v1/jobs/prune takes no body, an empty JSON body or null as {}; a bad body is still 400', async () => {
    for (const [body, headers] of [[undefined, {}], ['', { 'content-type': 'application/json' }], ['null', { 'content-type': 'application/json' }], ['{}', { 'content-type': 'application/json' }]] as const) {
      const answer = await post('/v1/jobs/prune', body, headers)
      expect(answer.status, JSON.stringify(body)).toBe(200)
      expect(answer.json).toMatchObject({ jobs: 0, batches: 0 })
    }
    const bad = await post('/v1/jobs/prune', '{"olderThanMs": -1}', { 'content-type': 'application/json' })
    expect(bad.status).toBe(400)
    expect(bad.json.error.code).toBe('ERR_BAD_REQUEST')
    const malformed = await post('/v1/jobs/prune', '{"olderThanMs": ', { 'content-type': 'application/json' })
    expect(malformed.status).toBe(400)
    expect(malformed.json.error.code).toBe('ERR_MALFORMED_JSON')
  })

  it('every invalid query is 400 ERR_BAD_REQUEST `invalid query: <name>: …`; a repeated parameter is named as such on every route', async () => {
    const refused = async (path: string): Promise<string> => {
      const answer = await call(port, path, { headers: AUTH })
      expect(answer.status, path).toBe(400)
      expect(answer.json.error.code, path).toBe('ERR_BAD_REQUEST')
      return answer.json.error.message
    }
    // An empty runtime passed the route's schema and the library refused it: a 422 in another shape.
    expect(await refused('/v1/capacity?runtime=')).toMatch(/^invalid query: runtime: /)
    expect(await refused('/v1/capacity?minCores=0')).toMatch(/^invalid query: minCores: /)
    for (const path of ['/v1/ledger/chain?blocks=1&blocks=2', '/v1/ledger/history?blocks=3&blocks=3', '/v1/ledger/receipts?limit=1&limit=2',
      '/v1/capacity?limit=1&limit=2', '/v1/capacity?runtime=wasi-p1&runtime=x', '/v1/jobs?limit=1&limit=2', '/v1/jobs?status=queued&status=failed',
      '/v1/batches?limit=1&limit=2', `/v1/batches/${batchId}/tasks?from=0&limit=5&from=1`]) {
      const name = /[?&]([a-zA-Z]+)=[^&]*&(?:.*&)?\1=/.exec(path)?.[1]
      expect(await refused(path), path).toBe(`invalid query: ${name}: given more than once`)
    }
    // Given once, the same parameters are fine.
    expect((await call(port, '/v1/ledger/chain?blocks=1', { headers: AUTH })).json.blocks).toHaveLength(1)
    expect((await call(port, '/v1/capacity?runtime=wasi-p1&limit=1', { headers: AUTH })).status).toBe(200)
  })

  it('batch routes declare their path and query parameters: refused as `invalid path` / `invalid query`, and described in OpenAPI', async () => {
    const index = await call(port, `/v1/batches/${batchId}/tasks/-1/output`, { headers: AUTH })
    expect(index.status).toBe(400)
    expect(index.json.error.code).toBe('ERR_BAD_REQUEST')
    expect(index.json.error.message).toMatch(/^invalid path: index/)
    // (a job's file route too: its wildcard keeps the id out of a params schema)
    const jobFile = await call(port, `/v1/jobs/${'b'.repeat(201)}/files/x`, { headers: AUTH })
    expect(jobFile.status).toBe(400)
    expect(jobFile.json.error.message).toMatch(/^invalid path: id/)
    const limit = await call(port, `/v1/batches/${batchId}/tasks?limit=0`, { headers: AUTH })
    expect(limit.status).toBe(400)
    expect(limit.json.error.message).toMatch(/^invalid query: limit/)
    const tasks = await call(port, `/v1/batches/${batchId}/tasks?from=0&limit=5`, { headers: AUTH })
    expect(tasks.status).toBe(200)
    expect(tasks.json.tasks).toHaveLength(1)
    const openapi = (await call(port, '/v1/openapi.json', { headers: AUTH })).json
    const names = (path: string, method = 'get'): string[] => (openapi.paths[path]?.[method]?.parameters ?? []).map((p: { name: string }) => p.name)
    expect(names('/v1/batches')).toEqual(['limit'])
    expect(names('/v1/batches/{id}/tasks').sort()).toEqual(['from', 'id', 'limit'])
    expect(names('/v1/batches/{id}/tasks/{index}/output').sort()).toEqual(['id', 'index'])
    expect(names('/v1/batches/{id}/cancel', 'post')).toEqual(['id'])
  })
})
