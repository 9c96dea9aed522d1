/**
 * Jobs and batches with files through the local API, on a real 3-node testnet (node 0 requests,
 * nodes 1 and 2 run): `in` parts become the job's /in, the files a job leaves in /out are listed
 * and served by path with their CIDs, `fuel` in the spec limits the run, and every bad upload
 * (paths that break the rules, duplicates, a file that is also a directory, too many files or
 * bytes, a bad fuel) gets its own error and leaves no job behind.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { randomBytes } from 'node:crypto'
import { request } from 'node:http'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { access, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createTestnet, type Testnet } from '../src/node/testnet.ts'
import type { ComputeNode } from '../src/node/compute-node.ts'
import { ApiServer } from '../src/node/api/server.ts'
import { jobsRoutes } from '../src/node/api/jobs-routes.ts'
import { batchesRoutes } from '../src/node/api/batches-routes.ts'
import { findFileDirConflict } from '../src/scheduler/files/paths.ts'
import { readSpooled, readSpooledShared, SpoolBudget, SpoolSink, MEMORY_PART_BYTES, PART_OVERHEAD_BYTES } from '../src/node/api/upload-spool.ts'
import { rawCid } from '../src/proofs/encoding.ts'
import { DEFAULT_TIMEOUT_MS } from '../src/scheduler/constants.ts'
import { defaultFuel } from '../src/scheduler/task.ts'
import { manifestCid, manifestOf } from '../src/scheduler/files/manifest.ts'
import { example, utf8, waitForCapacity, waitForOfferMesh } from './jobs-helpers.ts'
import { waitFor } from './helpers.ts'

const TOKEN = 'files-test-token-0123456789'
const AUTH = { authorization: `Bearer ${TOKEN}` }
const BOUNDARY = 'depin-files-test'

interface Part { name: string, body: Uint8Array | string, filename?: string, filenameStar?: string }

/** A multipart body exactly as given: `filename` sent as is, `filenameStar` as RFC 5987 `filename*`. */
function multipart (parts: Part[]): Buffer {
  const chunks: Buffer[] = []
  for (const p of parts) {
    let disposition = `form-data; name="${p.name}"`
    if (p.filename != null) disposition += `; filename="${p.filename}"`
    if (p.filenameStar != null) disposition += `; filename*=UTF-8''${p.filenameStar}`
    const type = p.filename != null || p.filenameStar != null ? '\r\ncontent-type: application/octet-stream' : ''
    chunks.push(Buffer.from(`--${BOUNDARY}\r\ncontent-disposition: ${disposition}${type}\r\n\r\n`), Buffer.from(p.body), Buffer.from('\r\n'))
  }
  chunks.push(Buffer.from(`--${BOUNDARY}--\r\n`))
  return Buffer.concat(chunks)
}

interface Answer { status: number, headers: Record<string, string | string[] | undefined>, bytes: Buffer, json: any }

function call (port: number, path: string, options: { method?: string, body?: Buffer, headers?: Record<string, string> } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: options.method ?? 'GET', headers: { ...AUTH, ...options.headers } }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        const bytes = Buffer.concat(chunks)
        let json: unknown
        try { json = JSON.parse(bytes.toString('utf8')) } catch {}
        resolve({ status: res.statusCode ?? 0, headers: res.headers, bytes, json })
      })
    })
    req.on('error', reject)
    req.end(options.body)
  })
}

async function post (port: number, path: string, parts: Part[]): Promise<Answer> {
  return await call(port, path, { method: 'POST', body: multipart(parts), headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` } })
}

const FINAL = new Set(['completed', 'failed', 'timed-out', 'cancelled'])

describe('files and fuel through the API', () => {
  let net: Testnet
  let R: ComputeNode
  let api: ApiServer
  let port: number
  let small: ApiServer
  let smallPort: number

  const waitJob = async (id: string): Promise<any> => await waitFor(async () => {
    const job = (await call(port, `/v1/jobs/${id}`)).json
    return FINAL.has(job.status) ? job : undefined
  }, { timeoutMs: 60_000, what: `job ${id} to end` })

  beforeAll(async () => {
    net = await createTestnet({ nodes: 3, nodeInit: (i) => (i === 0 ? { capacity: { slots: 0 } } : {}) })
    R = net.nodes[0]
    api = new ApiServer({ host: '127.0.0.1', port: 0, token: TOKEN }, [jobsRoutes(R), batchesRoutes(R)])
    port = (await api.start()).port
    // The same node behind an API whose input trees may hold 3 files and 1000 bytes.
    small = new ApiServer({ host: '127.0.0.1', port: 0, token: TOKEN }, [jobsRoutes(R, { inputTree: { maxFiles: 3, maxBytes: 1000 } }), batchesRoutes(R, { inputTree: { maxFiles: 3, maxBytes: 1000 } })])
    smallPort = (await small.start()).port
    await waitForOfferMesh(R, net.nodes.slice(1).map((n) => n.peerId))
    await waitForCapacity(R, 2)
  })

  afterAll(async () => {
    await small?.stop()
    await api?.stop()
    await net?.stop()
  })

  const tree = [
    { path: 'docs/a b "quoted".txt', bytes: utf8('first file\n') },
    { path: 'docs/sub/ünïcode.txt', bytes: utf8('second\n') },
    { path: 'top.bin', bytes: new Uint8Array([0, 1, 2, 255]) },
    // Over the size an upload keeps in memory: this one waits in a temporary file.
    { path: 'big/random.bin', bytes: new Uint8Array(randomBytes(300 * 1024)) }
  ]
  const treeParts = (): Part[] => tree.map((f) => ({ name: 'in', filenameStar: encodeURIComponent(f.path), body: f.bytes }))

  it('a job with `in` files: /in holds them, its /out files are listed and served by path with their CIDs, fuel is a decimal string', async () => {
    const spec = { replicas: 2, inFiles: tree.length, inBytes: tree.reduce((n, f) => n + f.bytes.byteLength, 0) }
    const posted = await post(port, '/v1/jobs', [{ name: 'spec', body: JSON.stringify(spec) }, { name: 'module', filename: 'copytree.wasm', body: example('copytree') }, ...treeParts()])
    expect(posted.status, posted.bytes.toString()).toBe(202)
    const job = await waitJob(posted.json.id)
    expect(job).toMatchObject({ status: 'completed', verified: true, exitCode: 0 })
    // Fuel: decimal text, the same for both replicas; the limit is the default one.
    expect(job.fuel).toMatch(/^[1-9][0-9]*$/)
    expect(job.fuelLimit).toBe(defaultFuel(DEFAULT_TIMEOUT_MS).toString())
    expect(job.workers.map((w: { fuel: string }) => w.fuel)).toEqual([job.fuel, job.fuel])
    expect(job.inFiles).toEqual({ cid: manifestCid(manifestOf(tree)).toString(), bytes: spec.inBytes })
    // What copytree leaves is /in itself: same paths, same bytes, the same manifest.
    expect(job.filesCid).toBe(manifestCid(manifestOf(tree)).toString())
    const sorted = [...tree].sort((a, b) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)))
    expect(job.files).toEqual(sorted.map((f) => ({ path: f.path, size: f.bytes.byteLength, cid: rawCid(f.bytes).toString() })))
    const list = await call(port, `/v1/jobs/${job.id}/files`)
    expect(list.json).toEqual({ files: job.files, filesCid: job.filesCid })
    for (const f of tree) {
      const got = await call(port, `/v1/jobs/${job.id}/files/${f.path.split('/').map(encodeURIComponent).join('/')}`)
      expect(got.status).toBe(200)
      expect(got.headers['content-type']).toBe('application/octet-stream')
      expect(got.headers['x-depin-cid']).toBe(rawCid(f.bytes).toString())
      expect(new Uint8Array(got.bytes)).toEqual(f.bytes)
    }
    // The summary in the list carries fuel too.
    const listed = (await call(port, '/v1/jobs')).json.jobs.find((j: { id: string }) => j.id === job.id)
    expect(listed.fuel).toBe(job.fuel)

    const missing = await call(port, `/v1/jobs/${job.id}/files/docs/none.txt`)
    expect(missing.status).toBe(404)
    expect(missing.json.error.code).toBe('ERR_FILE_NOT_FOUND')
    // Paths that break the rules are refused before any lookup (the router decodes %2F and %00).
    for (const bad of ['..%2F..%2Fetc%2Fpasswd', 'docs%2F..%2Ftop.bin', 'a%00b', 'docs//x']) {
      const answer = await call(port, `/v1/jobs/${job.id}/files/${bad}`)
      expect(answer.status, bad).toBe(400)
      expect(answer.json.error.code, bad).toBe('ERR_INVALID_PATH')
    }
    const unknownJob = await call(port, '/v1/jobs/bafyreidoesnotexist/files/x')
    expect(unknownJob.status).toBe(404)
    expect(unknownJob.json.error.code).toBe('ERR_JOB_NOT_FOUND')
  })

  it('a job without files lists none; `fuel` limits the run: out of fuel is failed, with its output and files still served', async () => {
    const plain = await post(port, '/v1/jobs', [{ name: 'spec', body: JSON.stringify({ args: ['1000'] }) }, { name: 'module', filename: 'primes.wasm', body: example('primes') }])
    const done = await waitJob(plain.json.id)
    expect(done.status).toBe('completed')
    expect((await call(port, `/v1/jobs/${done.id}/files`)).json).toEqual({ files: [] })

    // A decimal string as fuel: far too little for the program.
    const starved = await post(port, '/v1/jobs', [{ name: 'spec', body: JSON.stringify({ args: ['100000000'], fuel: '5000' }) }, { name: 'module', filename: 'primes.wasm', body: example('primes') }])
    expect(starved.status).toBe(202)
    const job = await waitJob(starved.json.id)
    expect(job).toMatchObject({ status: 'failed', trap: 'out of fuel', fuel: '5000', fuelLimit: '5000', error: { code: 'ERR_OUT_OF_FUEL' } })
    // It ran: its (empty) stdout is served, not refused as "no output".
    const output = await call(port, `/v1/jobs/${job.id}/output`)
    expect(output.status).toBe(200)
    expect(output.headers['x-output-cid']).toBe(job.outputCid)
    expect((await call(port, `/v1/jobs/${job.id}/files`)).json.files).toEqual([])
  })

  it('fuel must be an integer from 0 to 2^64-1: -1, 2^64, "abc", 1.5 and an unsafe number are refused, 2^64-1 is accepted', async () => {
    const module = { name: 'module', filename: 'echo.wasm', body: example('echo') }
    for (const fuel of [-1, '-1', '18446744073709551616', 'abc', 1.5, 1e20, '']) {
      const answer = await post(port, '/v1/jobs', [{ name: 'spec', body: JSON.stringify({ fuel }) }, module])
      expect(answer.status, String(fuel)).toBe(400)
      expect(answer.json.error.code).toBe('ERR_BAD_REQUEST')
      expect(answer.json.error.message, String(fuel)).toMatch(/^invalid spec: fuel: /)
    }
    const max = await post(port, '/v1/jobs', [{ name: 'spec', body: JSON.stringify({ fuel: '18446744073709551615' }) }, module])
    expect(max.status, max.bytes.toString()).toBe(202)
    // Accepted and recorded exactly; whether a worker takes it is the market's business (its
    // whole limit is what the requester could owe, more than it has here).
    const job = await waitJob(max.json.id)
    expect(job.fuelLimit).toBe('18446744073709551615')
    const zero = await post(port, '/v1/jobs', [{ name: 'spec', body: JSON.stringify({ fuel: 0 }) }, module])
    expect(zero.status).toBe(202)
    expect((await waitJob(zero.json.id)).fuelLimit).toBe('0')
  })

  it('bad `in` parts each get their own error, and no job is created', async () => {
    const before = (await call(port, '/v1/jobs')).json.total
    const module = { name: 'module', filename: 'copytree.wasm', body: example('copytree') }
    const cases: Array<{ what: string, parts: Part[], status: number, code: string }> = [
      { what: '../x', parts: [module, { name: 'in', filename: '../x', body: 'x' }], status: 400, code: 'ERR_INVALID_PATH' },
      { what: '/etc/passwd', parts: [module, { name: 'in', filename: '/etc/passwd', body: 'x' }], status: 400, code: 'ERR_INVALID_PATH' },
      { what: 'a NUL', parts: [module, { name: 'in', filenameStar: 'a%00b', body: 'x' }], status: 400, code: 'ERR_INVALID_PATH' },
      { what: 'a/./b', parts: [module, { name: 'in', filename: 'a/./b', body: 'x' }], status: 400, code: 'ERR_INVALID_PATH' },
      { what: 'no filename', parts: [module, { name: 'in', filenameStar: '', body: 'x' }], status: 400, code: 'ERR_INVALID_PATH' },
      { what: 'a 5000-byte path', parts: [module, { name: 'in', filename: 'x'.repeat(200) + '/y'.repeat(2400), body: 'x' }], status: 400, code: 'ERR_INVALID_PATH' },
      { what: 'twice the same path', parts: [module, { name: 'in', filename: 'd/a.txt', body: 'x' }, { name: 'in', filename: 'd/a.txt', body: 'y' }], status: 400, code: 'ERR_DUPLICATE_PATH' },
      { what: 'a file and a directory', parts: [module, { name: 'in', filename: 'd/a', body: 'x' }, { name: 'in', filename: 'd/a/b', body: 'y' }], status: 400, code: 'ERR_PATH_CONFLICT' },
      { what: 'a directory, then the file', parts: [module, { name: 'in', filename: 'd/a/b', body: 'x' }, { name: 'in', filename: 'd/a-c', body: 'z' }, { name: 'in', filename: 'd/a', body: 'y' }], status: 400, code: 'ERR_PATH_CONFLICT' },
      { what: 'an `in` field that is not a file', parts: [module, { name: 'in', body: 'x' }], status: 400, code: 'ERR_BAD_REQUEST' },
      { what: 'fewer files than declared', parts: [{ name: 'spec', body: '{"inFiles":2}' }, module, { name: 'in', filename: 'a', body: 'x' }], status: 400, code: 'ERR_UPLOAD_SIZE_MISMATCH' },
      { what: 'more bytes than declared', parts: [{ name: 'spec', body: '{"inBytes":3}' }, module, { name: 'in', filename: 'a', body: 'xx' }, { name: 'in', filename: 'b', body: 'yy' }], status: 400, code: 'ERR_UPLOAD_SIZE_MISMATCH' }
    ]
    for (const c of cases) {
      const answer = await post(port, '/v1/jobs', c.parts)
      expect(answer.status, c.what).toBe(c.status)
      expect(answer.json.error.code, c.what).toBe(c.code)
    }
    // Over the (lowered) limits: a fourth file, and 1001 bytes in all.
    const four = await post(smallPort, '/v1/jobs', [module, ...['a', 'b', 'c', 'd'].map((p) => ({ name: 'in', filename: p, body: 'x' }))])
    expect(four.status).toBe(413)
    expect(four.json.error.code).toBe('ERR_TOO_MANY_ENTRIES')
    const heavy = await post(smallPort, '/v1/jobs', [module, { name: 'in', filename: 'a', body: 'x'.repeat(600) }, { name: 'in', filename: 'b', body: 'y'.repeat(401) }])
    expect(heavy.status).toBe(413)
    expect(heavy.json.error.code).toBe('ERR_INPUT_FILES_TOO_LARGE')
    // At the limits exactly it is accepted.
    const fits = await post(smallPort, '/v1/jobs', [module, { name: 'in', filename: 'a', body: 'x'.repeat(600) }, { name: 'in', filename: 'b', body: 'y'.repeat(399) }, { name: 'in', filename: 'c', body: 'z' }])
    expect(fits.status, fits.bytes.toString()).toBe(202)
    expect((await waitJob(fits.json.id)).files.map((f: { path: string }) => f.path)).toEqual(['a', 'b', 'c'])
    expect((await call(port, '/v1/jobs')).json.total).toBe(before + 1)
  })

  it('a batch with shared `in` files: each task\'s files and fuel, listed and served per task; GET /v1/batches lists it', async () => {
    const posted = await post(port, '/v1/batches', [
      { name: 'spec', body: JSON.stringify({ fuel: '1000000000' }) },
      { name: 'module', filename: 'copytree.wasm', body: example('copytree') },
      { name: 'input', filename: 'one', body: '' },
      { name: 'input', filename: 'dir/two', body: '' },
      ...treeParts()
    ])
    expect(posted.status, posted.bytes.toString()).toBe(202)
    expect(posted.json.tasks).toBe(2)
    const id = posted.json.id
    await waitFor(async () => (await call(port, `/v1/batches/${id}`)).json.status === 'done', { timeoutMs: 60_000, what: 'the batch to end' })
    const { tasks } = (await call(port, `/v1/batches/${id}/tasks`)).json
    expect(tasks.map((t: { name: string }) => t.name)).toEqual(['one', 'two'])
    for (const t of tasks) {
      expect(t).toMatchObject({ status: 'completed', filesCid: manifestCid(manifestOf(tree)).toString() })
      expect(t.fuel).toMatch(/^[1-9][0-9]*$/)
      const list = (await call(port, `/v1/batches/${id}/tasks/${t.index as number}/files`)).json
      expect(list.files.map((f: { path: string }) => f.path).sort()).toEqual(tree.map((f) => f.path).sort())
      const got = await call(port, `/v1/batches/${id}/tasks/${t.index as number}/files/big/random.bin`)
      expect(got.headers['x-depin-cid']).toBe(rawCid(tree[3].bytes).toString())
      expect(new Uint8Array(got.bytes)).toEqual(tree[3].bytes)
    }
    expect((await call(port, `/v1/batches/${id}/tasks/0/files/nope`)).json.error.code).toBe('ERR_FILE_NOT_FOUND')
    expect((await call(port, `/v1/batches/${id}/tasks/0/files/..%2Fx`)).json.error.code).toBe('ERR_INVALID_PATH')
    expect((await call(port, `/v1/batches/${id}/tasks/7/files`)).json.error.code).toBe('ERR_TASK_NOT_FOUND')
    // A file of a task the batch does not have: the task is what is missing.
    const noTask = await call(port, `/v1/batches/${id}/tasks/999/files/x`)
    expect([noTask.status, noTask.json.error]).toEqual([404, { code: 'ERR_TASK_NOT_FOUND', message: `batch ${id} has no task 999` }])
    // The event stream replays finished tasks with their files.
    const events = (await call(port, `/v1/batches/${id}/events`)).bytes.toString('utf8')
    const replayed = events.split('\n\n').filter((b) => b.startsWith('event: task')).map((b) => JSON.parse(b.split('\ndata: ')[1]))
    expect(replayed).toHaveLength(2)
    for (const t of replayed) expect(t.files).toHaveLength(tree.length)
    const list = (await call(port, '/v1/batches?limit=5')).json
    expect(list.batches[0]).toMatchObject({ id, status: 'done', tasks: 2, done: 2, completed: 2 })
    expect(typeof list.batches[0].createdAt).toBe('number')
    expect((await call(port, '/v1/batches/bafyreinope')).status).toBe(404)
  })

  it('a batch\'s event stream read slowly: every task once, in full, then done (the node waits for the client, holding little)', async () => {
    // 300 tasks of 48 KiB outputs: ~20 MB of events, far past what the socket holds, so the
    // stream waits for the client, and most live events are kept by index only.
    const inputs = Array.from({ length: 300 }, (_, i) => Buffer.alloc(48 * 1024, 65 + (i % 26)))
    const posted = await post(port, '/v1/batches', [
      { name: 'module', filename: 'echo.wasm', body: example('echo') },
      ...inputs.map((body, i) => ({ name: 'input', filename: `in-${i}`, body }))
    ])
    expect(posted.status, posted.bytes.toString()).toBe(202)
    const id = posted.json.id
    const chunks: Buffer[] = []
    let paused: (() => void) | undefined
    const ended = new Promise<void>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: `/v1/batches/${id}/events`, headers: { authorization: `Bearer ${TOKEN}` } }, (res) => {
        res.pause()
        paused = () => { res.on('data', (c: Buffer) => { chunks.push(c) }); res.on('end', resolve); res.resume() }
      })
      req.on('error', reject)
      req.end()
    })
    await waitFor(() => paused, { what: 'the stream to open' })
    await waitFor(async () => (await call(port, `/v1/batches/${id}`)).json.status === 'done', { timeoutMs: 120_000, what: 'the batch to end' })
    paused?.()
    await ended
    const blocks = Buffer.concat(chunks).toString('utf8').split('\n\n').filter((b) => b.startsWith('event: '))
    const tasks = blocks.filter((b) => b.startsWith('event: task')).map((b) => JSON.parse(b.split('\ndata: ')[1]))
    expect(tasks).toHaveLength(300)
    expect(new Set(tasks.map((t) => t.index)).size).toBe(300)
    for (const t of tasks) expect(Buffer.from(t.stdout, 'base64').equals(inputs[t.index])).toBe(true)
    expect(blocks.at(-1)?.startsWith('event: done')).toBe(true)
  }, 180_000)

  it('a client that leaves a batch\'s event stream: the stream lets go of the batch (no listener, no timer left)', async () => {
    // Two long tasks (primes below 100 million) keep the batch running while the client comes and goes.
    const posted = await post(port, '/v1/batches', [
      { name: 'spec', body: JSON.stringify({ args: ['100000000'] }) },
      { name: 'module', filename: 'primes.wasm', body: example('primes') },
      { name: 'input', filename: 'a', body: '' },
      { name: 'input', filename: 'b', body: '' }
    ])
    expect(posted.status, posted.bytes.toString()).toBe(202)
    const id = posted.json.id
    const handle = R.scheduler.batchHandle(id)
    if (handle == null) throw new Error('the batch does not run here')
    const req = request({ host: '127.0.0.1', port, path: `/v1/batches/${id}/events`, headers: { authorization: `Bearer ${TOKEN}` } }, (res) => { res.resume() })
    req.on('error', () => {})
    req.end()
    await waitFor(() => handle.listenerCount('task') > 0, { what: 'the stream to listen' })
    req.destroy()
    await waitFor(() => handle.listenerCount('task') === 0 && handle.listenerCount('progress') === 0, { what: 'the stream to let go' })
    expect((await call(port, `/v1/batches/${id}/cancel`, { method: 'POST' })).json).toEqual({ cancelled: true })
  })

  it('bad batch uploads are refused while streaming', async () => {
    const module = { name: 'module', filename: 'copytree.wasm', body: example('copytree') }
    const input = { name: 'input', filename: 'one', body: '' }
    const dup = await post(port, '/v1/batches', [module, input, { name: 'in', filename: 'x', body: '1' }, { name: 'in', filename: 'x', body: '2' }])
    expect(dup.json.error.code).toBe('ERR_DUPLICATE_PATH')
    const bad = await post(port, '/v1/batches', [module, input, { name: 'in', filename: '../../etc/passwd', body: '1' }])
    expect(bad.json.error.code).toBe('ERR_INVALID_PATH')
    const fuel = await post(port, '/v1/batches', [{ name: 'spec', body: '{"fuel":"18446744073709551616"}' }, module, input])
    expect(fuel.status).toBe(400)
    expect(fuel.json.error.message).toMatch(/fuel/)
    const noTasks = await post(port, '/v1/batches', [module, { name: 'in', filename: 'x', body: '1' }])
    expect(noTasks.json.error.code).toBe('ERR_NO_TASKS')
    const notWasm = await post(port, '/v1/batches', [{ name: 'module', filename: 'm', body: 'text' }, input])
    expect(notWasm.json.error.code).toBe('ERR_NOT_WASM')
    const many = await post(smallPort, '/v1/batches', [module, input, ...['a', 'b', 'c', 'd'].map((p) => ({ name: 'in', filename: p, body: 'x' }))])
    expect(many.json.error.code).toBe('ERR_TOO_MANY_ENTRIES')
  })
})

describe('a file used as a directory is found in one sorted pass', () => {
  it('finds a and a/b whatever lies between them, and nothing in a clean tree', () => {
    expect(findFileDirConflict(['a-c', 'a/b', 'a.txt', 'a'])).toEqual({ file: 'a', inside: 'a/b' })
    expect(findFileDirConflict(['x/y/z', 'x/y'])).toEqual({ file: 'x/y', inside: 'x/y/z' })
    expect(findFileDirConflict(['a', 'ab/c', 'a-b', 'a.c/d'])).toBeUndefined()
    expect(findFileDirConflict([])).toBeUndefined()
  })
})

describe('spooling parts: small ones in memory within a budget, the rest in files', () => {
  it('keeps a small part in memory, moves one past the size or the budget to its file, and reads each back whole', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'depin-spool-test-'))
    try {
      // 100 bytes besides the overhead of two parts (each part kept in memory costs it too).
      const budget = new SpoolBudget(100 + 2 * PART_OVERHEAD_BYTES)
      const spool = async (name: string, chunks: Buffer[]): Promise<SpoolSink> => {
        const sink = new SpoolSink(join(dir, name), budget)
        await pipeline(Readable.from(chunks), sink)
        return sink
      }
      const small = await spool('small', [Buffer.from('0123456789'), Buffer.from('abcdefghij')])
      expect('chunks' in small.spooled).toBe(true)
      expect(budget.left).toBe(80 + PART_OVERHEAD_BYTES)
      // 90 bytes do not fit the 80 left: the part moves to its file, and what it held comes back.
      const over = await spool('over', [Buffer.alloc(50, 1), Buffer.alloc(40, 2)])
      expect(over.spooled).toEqual({ path: join(dir, 'over'), bytes: 90 })
      expect(budget.left).toBe(80 + PART_OVERHEAD_BYTES)
      const large = await spool('large', [Buffer.alloc(MEMORY_PART_BYTES, 3), Buffer.alloc(1, 4)])
      expect('path' in large.spooled).toBe(true)
      expect(Buffer.from(await readSpooled(small.spooled)).toString()).toBe('0123456789abcdefghij')
      expect(await readSpooled(over.spooled)).toEqual(new Uint8Array([...Buffer.alloc(50, 1), ...Buffer.alloc(40, 2)]))
      const shared = await readSpooledShared(large.spooled)
      expect(shared.buffer).toBeInstanceOf(SharedArrayBuffer)
      expect(shared.byteLength).toBe(MEMORY_PART_BYTES + 1)
      expect(shared[MEMORY_PART_BYTES]).toBe(4)
      expect((await readSpooledShared(small.spooled)).buffer).toBeInstanceOf(SharedArrayBuffer)
      await expect(access(join(dir, 'small'))).rejects.toThrow()
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
