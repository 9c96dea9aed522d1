/**
 * Retention through a real node on a data dir (LevelDB on disk) and its API: the prune at start,
 * DELETE of unknown, unfinished and ended jobs and batches, POST /v1/jobs/prune. Jobs are aimed
 * at a peer that does not exist, so they stay queued until cancelled (no worker needed).
 * A restart of the node (same data dir) forgets pin times, so the blobs of ended jobs can go.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { join } from 'node:path'
import { mkdir } from 'node:fs/promises'
import { CID } from 'multiformats/cid'
import { createTestnet, type Testnet } from '../src/node/testnet.ts'
import { ApiServer } from '../src/node/api/server.ts'
import { jobsRoutes } from '../src/node/api/jobs-routes.ts'
import { batchesRoutes } from '../src/node/api/batches-routes.ts'
import { storageRoutes } from '../src/node/api/storage-routes.ts'
import { openStore } from '../src/node/storage.ts'
import { dataDirPaths } from '../src/node/paths.ts'
import { BlobStore } from '../src/scheduler/blob-store.ts'
import { JobStore } from '../src/scheduler/job-store.ts'
import { createJob } from '../src/scheduler/job.ts'
import { JobLabels } from '../src/node/job-labels.ts'
import type { ComputeNode } from '../src/node/compute-node.ts'
import type { GenesisConfig } from '../src/ledger/index.ts'
import { AUTH, TOKEN, call } from './api-helpers.ts'
import { example, utf8 } from './jobs-helpers.ts'
import { tempDir, waitFor } from './helpers.ts'

const NOBODY = '12D3KooWBSNUWRbaR7hXC3rVfLGY1z6pD9kNRhyc6gEsnoowTmhc'
const DAY = 24 * 60 * 60 * 1000

describe('retention on a running node and its API', () => {
  let dir: { path: string, remove: () => Promise<void> }
  let net: Testnet | undefined
  let server: ApiServer | undefined
  let port: number
  let node: ComputeNode
  let dataDir: string
  let network: GenesisConfig | undefined

  const startNode = async (): Promise<void> => {
    // The same ledger network on every start (a restart keeps its chain).
    net = await createTestnet({ nodes: 1, dir: dir.path, network })
    network = net.network
    node = net.nodes[0]
    server = new ApiServer({ host: '127.0.0.1', port: 0, token: TOKEN }, [jobsRoutes(node), batchesRoutes(node), storageRoutes(node)])
    port = (await server.start()).port
  }
  const stopNode = async (): Promise<void> => {
    await server?.stop()
    await net?.stop()
    server = undefined
    net = undefined
  }
  const del = async (path: string) => await call(port, path, { method: 'DELETE', headers: AUTH })
  const prune = async (body: unknown) => await call(port, '/v1/jobs/prune', { method: 'POST', headers: { ...AUTH, 'content-type': 'application/json' }, body: JSON.stringify(body) })

  beforeAll(async () => {
    dir = await tempDir()
    dataDir = join(dir.path, 'node-0')
  })

  afterAll(async () => {
    await stopNode()
    await dir?.remove()
  })

  it('prunes at start: a job that ended 40 days ago goes, with its blobs and its module name', async () => {
    // Written to the data dir's database before the node ever runs (as a node long ago would have).
    await mkdir(dataDir, { recursive: true })
    const store = await openStore(dataDirPaths(dataDir).db)
    const { body, id } = createJob(NOBODY, { module: example('echo'), input: utf8('forty days ago') })
    const blobs = new BlobStore(store)
    await blobs.pinMany([{ bytes: example('echo'), cid: body.module }, { bytes: utf8('forty days ago'), cid: body.input }])
    const ended = Date.now() - 40 * DAY
    await new JobStore(store).putRequested({ id: id.toString(), body, status: 'completed', createdAt: ended - 1000, updatedAt: ended, replicas: [] })
    await new JobLabels(store).set(id.toString(), { module: 'echo.wasm' })
    await store.close()

    await startNode()
    await waitFor(() => node.retention.last, { what: 'the prune at start' })
    expect(node.retention.last).toMatchObject({ jobs: 1, blobs: 2, bytes: example('echo').byteLength + 'forty days ago'.length })
    expect((await call(port, `/v1/jobs/${id.toString()}`, { headers: AUTH })).status).toBe(404)
    expect(await node.scheduler.blobs.get(body.module)).toBeUndefined()
    expect(await new JobLabels(node.services().store).get(id.toString())).toEqual({})
  })

  it('DELETE refuses an unknown or unfinished job or batch (404, 409) and deletes an ended one', async () => {
    const unknown = await del('/v1/jobs/bafkreinosuchjob')
    expect([unknown.status, unknown.json.error.code]).toEqual([404, 'ERR_JOB_NOT_FOUND'])
    const unknownBatch = await del('/v1/batches/bafkreinosuchbatch')
    expect([unknownBatch.status, unknownBatch.json.error.code]).toEqual([404, 'ERR_BATCH_NOT_FOUND'])

    const queued = await node.submitJob({ module: example('echo'), input: utf8('never runs'), peers: [NOBODY] })
    const refused = await del(`/v1/jobs/${queued.id}`)
    expect([refused.status, refused.json.error.code]).toEqual([409, 'ERR_JOB_RUNNING'])
    expect(refused.json.error.message).toMatch(/queued; cancel it first/)
    await node.cancelJob(queued.id)
    const deleted = await del(`/v1/jobs/${queued.id}`)
    expect(deleted.status, deleted.text).toBe(200)
    // Pinned a moment ago: the record goes, its blobs stay until they are older (see the next test).
    expect(deleted.json).toMatchObject({ jobs: 1, batches: 0, blobs: 0, olderThanMs: null })
    expect((await call(port, `/v1/jobs/${queued.id}`, { headers: AUTH })).status).toBe(404)

    const batch = await node.submitBatch({ module: example('echo'), tasks: [{ input: utf8('t1') }, { input: utf8('t2') }], peers: [NOBODY] })
    const running = await del(`/v1/batches/${batch.id}`)
    expect([running.status, running.json.error.code]).toEqual([409, 'ERR_JOB_RUNNING'])
    expect(await node.cancel(batch.id)).toBe(true)
    await batch.result()
    const gone = await del(`/v1/batches/${batch.id}`)
    expect(gone.status, gone.text).toBe(200)
    expect(gone.json).toMatchObject({ batches: 1, tasks: 2 })
    expect((await call(port, `/v1/batches/${batch.id}`, { headers: AUTH })).status).toBe(404)
  })

  it('after a restart, DELETE removes the blobs only that job referenced and POST /v1/jobs/prune the rest', async () => {
    const module = example('echo')
    const a = await node.submitJob({ module, input: utf8('input of a'), peers: [NOBODY] })
    const b = await node.submitJob({ module, input: utf8('input of b'), peers: [NOBODY] })
    await node.cancelJob(a.id)
    await node.cancelJob(b.id)
    const jobB = await node.scheduler.record(b.id)
    await stopNode()
    await startNode()

    const one = await del(`/v1/jobs/${a.id}`)
    expect(one.status, one.text).toBe(200)
    // Its input only: the module is b's too.
    expect(one.json).toMatchObject({ jobs: 1, blobs: 1, bytes: 'input of a'.length })
    expect(await node.scheduler.blobs.get(jobB.body.module)).toBeDefined()

    const bad = await prune({ olderThanMs: -1 })
    expect([bad.status, bad.json.error.code]).toEqual([400, 'ERR_BAD_REQUEST'])
    const kept = await prune({})
    expect(kept.json).toMatchObject({ jobs: 0, olderThanMs: 30 * DAY })
    const all = await prune({ olderThanMs: 0 })
    expect(all.status, all.text).toBe(200)
    expect(all.json).toMatchObject({ jobs: 1, blobs: 2, bytes: module.byteLength + 'input of b'.length, olderThanMs: 0 })
    expect(await node.scheduler.blobs.get(jobB.body.module)).toBeUndefined()
    expect(await node.scheduler.blobs.get(CID.asCID(jobB.body.input) as CID)).toBeUndefined()
    expect((await call(port, '/v1/jobs', { headers: AUTH })).json.jobs).toEqual([])
  })
})
