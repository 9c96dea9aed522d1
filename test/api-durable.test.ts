/**
 * The API's answers are on the disk first, tested at the routes: a node on a data dir whose
 * LevelDB store records each write's `sync` option and holds synced writes until the test lets
 * them land (the store is swapped in where the node opens it). `POST /v1/jobs` and
 * `POST /v1/batches` answer 202 only after a synced write of the submission; a batch's cancel
 * answers only after its synced record. (durable-answers.test.ts checks the same order one layer
 * down, with the write's contents; this checks that the routes ask for it.)
 */
import { describe, it, expect, beforeAll, afterAll, vi } from 'vitest'
import { join } from 'node:path'
import { createComputeNode, type ComputeNode } from '../src/node/compute-node.ts'
import { createNodeMetrics } from '../src/node/metrics/index.ts'
import type { ApiServer } from '../src/node/api/server.ts'
import { AUTH, call, startApi, uploadJob } from './api-helpers.ts'
import { tempDir, waitFor } from './helpers.ts'
import { example } from './jobs-helpers.ts'
import { stateOf, WatchedLevel } from './watched-level.ts'

const opened: WatchedLevel[] = []
vi.mock('../src/node/storage.ts', async (original) => {
  const real = await original<typeof import('../src/node/storage.ts')>()
  return {
    ...real,
    openStore: async (path?: string) => {
      if (path == null) return await real.openStore(path)
      const db = new WatchedLevel(path, { keyEncoding: 'view', valueEncoding: 'view' })
      await db.open()
      opened.push(db)
      return db
    }
  }
})

const BOUNDARY = 'depin-durable-test'
function batchForm (module: Uint8Array, inputs: string[]): Uint8Array {
  const parts: Buffer[] = []
  const part = (name: string, filename: string, bytes: Uint8Array): void => {
    parts.push(Buffer.from(`--${BOUNDARY}\r\ncontent-disposition: form-data; name="${name}"; filename="${filename}"\r\ncontent-type: application/octet-stream\r\n\r\n`), Buffer.from(bytes), Buffer.from('\r\n'))
  }
  part('module', 'module.wasm', module)
  inputs.forEach((text, i) => { part('input', `in-${i}`, new TextEncoder().encode(text)) })
  parts.push(Buffer.from(`--${BOUNDARY}--\r\n`))
  return Buffer.concat(parts)
}

describe('API answers after a synced write', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>
  let node: ComputeNode
  let api: { server: ApiServer, port: number }
  let db: WatchedLevel
  let module: Uint8Array

  beforeAll(async () => {
    dir = await tempDir()
    module = example('echo')
    // No worker: the submissions stay queued, so only their own writes happen while the test watches.
    node = createComputeNode({ dataDir: join(dir.path, 'node'), listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, capacity: { slots: 0 } })
    await node.start()
    db = opened[opened.length - 1]
    api = await startApi(node, createNodeMetrics({ libp2p: false }))
  })

  afterAll(async () => {
    db?.release()
    await api?.server.stop()
    await node?.stop()
    await dir?.remove()
  })

  it('POST /v1/jobs answers 202 only once a synced write has landed; its cancel only once the cancel is synced', async () => {
    db.log.length = 0
    db.held = true
    const answered = uploadJob(api.port, module, {}, new TextEncoder().encode('hello'))
    await waitFor(() => db.log.some((l) => l.startsWith('sync')), { timeoutMs: 30_000 })
    expect(await stateOf(answered)).toBe('pending')
    db.release()
    const { status, body } = await answered
    expect(status).toBe(202)
    expect(typeof body.id).toBe('string')
    // The write that was synced is the job's record: it is there, queued.
    expect(await node.scheduler.records.getRequested(body.id)).toMatchObject({ id: body.id, status: 'queued' })

    // Its cancel: answered once the cancelled record is synced (a restart does not place it again).
    db.log.length = 0
    db.held = true
    const cancelled = call(api.port, `/v1/jobs/${body.id}/cancel`, { method: 'POST', headers: AUTH })
    await waitFor(() => db.log.some((l) => l.startsWith('sync')), { timeoutMs: 30_000 })
    expect(await stateOf(cancelled)).toBe('pending')
    db.release()
    expect((await cancelled).status).toBe(200)
    expect(await node.scheduler.records.getRequested(body.id)).toMatchObject({ id: body.id, status: 'cancelled' })
  })

  it('POST /v1/batches answers 202 only once a synced write has landed; its cancel only once the cancel is synced', async () => {
    db.log.length = 0
    db.held = true
    const answered = call(api.port, '/v1/batches', {
      method: 'POST', headers: { ...AUTH, 'content-type': `multipart/form-data; boundary=${BOUNDARY}` }, body: batchForm(module, ['a', 'b', 'c'])
    })
    await waitFor(() => db.log.some((l) => l.startsWith('sync')), { timeoutMs: 30_000 })
    expect(await stateOf(answered)).toBe('pending')
    db.release()
    const posted = await answered
    expect(posted.status).toBe(202)
    const id = posted.json.id
    expect(await node.scheduler.records.getBatch(id)).toMatchObject({ id, status: 'running' })

    db.log.length = 0
    db.held = true
    const cancelled = call(api.port, `/v1/batches/${id}/cancel`, { method: 'POST', headers: AUTH })
    await waitFor(() => db.log.some((l) => l.startsWith('sync')), { timeoutMs: 30_000 })
    expect(await stateOf(cancelled)).toBe('pending')
    db.release()
    const answer = await cancelled
    expect(answer.status).toBe(200)
    expect(answer.json).toEqual({ cancelled: true })
    expect(await node.scheduler.records.getBatch(id)).toMatchObject({ id, cancelled: true })
  })
})
