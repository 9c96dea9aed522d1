/**
 * Uploads against what the whole process can afford, and malformed multipart bodies, on one real
 * node (no peers: nothing here needs a job to run): every upload shares one memory budget and a
 * cap on how many stream at once, a part's overhead counts against the budget, and every way a
 * multipart body can be malformed is a 400 with the API's error shape, never a 500.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { request, type ClientRequest } from 'node:http'
import { createComputeNode, type ComputeNode } from '../src/node/compute-node.ts'
import { ApiServer } from '../src/node/api/server.ts'
import { jobsRoutes } from '../src/node/api/jobs-routes.ts'
import { nodeRoutes } from '../src/node/api/node-routes.ts'
import { batchesRoutes } from '../src/node/api/batches-routes.ts'
import { UploadGate, processUploads } from '../src/node/api/upload-gate.ts'
import { PART_OVERHEAD_BYTES } from '../src/node/api/upload-spool.ts'
import { waitFor } from './helpers.ts'

const TOKEN = 'uploads-test-token-0123456789'
const AUTH = { authorization: `Bearer ${TOKEN}` }
const BOUNDARY = 'depin-uploads-test'
const WASM = Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00])

interface Answer { status: number, json: any }

function post (port: number, path: string, body: Buffer | string, contentType = `multipart/form-data; boundary=${BOUNDARY}`): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'POST', headers: { ...AUTH, 'content-type': contentType } }, (res) => {
      let text = ''
      res.setEncoding('utf8').on('data', (d) => { text += d }).on('end', () => {
        let json: unknown
        try { json = JSON.parse(text) } catch {}
        resolve({ status: res.statusCode ?? 0, json })
      })
    })
    req.on('error', reject)
    req.end(body)
  })
}

/** An upload whose `module` part has sent `bytes` (after the WebAssembly header) and then waits. */
function openUpload (port: number, bytes: Buffer): ClientRequest {
  const req = request({ host: '127.0.0.1', port, path: '/v1/jobs', method: 'POST', headers: { ...AUTH, 'content-type': `multipart/form-data; boundary=${BOUNDARY}`, 'transfer-encoding': 'chunked' } })
  req.on('error', () => {}) // destroyed by the test
  req.write(Buffer.concat([Buffer.from(`--${BOUNDARY}\r\ncontent-disposition: form-data; name="module"; filename="m.wasm"\r\ncontent-type: application/octet-stream\r\n\r\n`), WASM, bytes]))
  return req
}

describe('uploads share one budget and a cap on how many stream at once', () => {
  let node: ComputeNode
  let gate: UploadGate
  let gated: ApiServer
  let gatedPort: number
  let plain: ApiServer
  let plainPort: number

  beforeAll(async () => {
    node = createComputeNode({ listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false })
    await node.start()
    gate = new UploadGate({ maxUploads: 1, memoryBytes: 1024 * 1024 })
    gated = new ApiServer({ host: '127.0.0.1', port: 0, token: TOKEN }, [jobsRoutes(node, { uploads: gate }), batchesRoutes(node, { uploads: gate })])
    gatedPort = (await gated.start()).port
    plain = new ApiServer({ host: '127.0.0.1', port: 0, token: TOKEN }, [jobsRoutes(node), batchesRoutes(node)])
    plainPort = (await plain.start()).port
  })

  afterAll(async () => {
    await gated?.stop()
    await plain?.stop()
    await node?.stop()
  })

  it('an upload past the cap is refused with 503 ERR_TOO_MANY_UPLOADS, on any upload route; a part costs its bytes and its overhead until the upload ends', async () => {
    const full = gate.budget.left
    const slow = openUpload(gatedPort, Buffer.from('abc'))
    try {
      // The part's 11 bytes and its overhead are taken from the shared budget while it waits.
      await waitFor(() => gate.budget.left === full - (WASM.byteLength + 3 + PART_OVERHEAD_BYTES), { what: 'the slow upload to hold its part in memory' })
      expect(gate.uploads).toBe(1)
      for (const path of ['/v1/jobs', '/v1/batches']) {
        const refused = await post(gatedPort, path, `--${BOUNDARY}--\r\n`)
        expect(refused.status).toBe(503)
        expect(refused.json.error.code).toBe('ERR_TOO_MANY_UPLOADS')
      }
    } finally {
      slow.destroy()
    }
    // The client went away: its place and its memory are free again.
    await waitFor(() => gate.uploads === 0 && gate.budget.left === full, { what: 'the slow upload to let go' })
    const next = await post(gatedPort, '/v1/jobs', `--${BOUNDARY}--\r\n`)
    expect(next.json.error.code).toBe('ERR_MISSING_MODULE')
  })

  it('routes given no gate of their own share the process\'s', async () => {
    const full = processUploads.budget.left
    const slow = openUpload(plainPort, Buffer.from('x'))
    try {
      await waitFor(() => processUploads.uploads === 1 && processUploads.budget.left === full - (WASM.byteLength + 1 + PART_OVERHEAD_BYTES), { what: 'the upload to count against the process' })
    } finally {
      slow.destroy()
    }
    await waitFor(() => processUploads.uploads === 0 && processUploads.budget.left === full, { what: 'the upload to let go' })
  })
})

describe('malformed multipart bodies are 400 ERR_MALFORMED_UPLOAD, never a 500', () => {
  let node: ComputeNode
  let server: ApiServer
  let port: number

  beforeAll(async () => {
    node = createComputeNode({ listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false })
    await node.start()
    server = new ApiServer({ host: '127.0.0.1', port: 0, token: TOKEN }, [jobsRoutes(node), batchesRoutes(node)])
    port = (await server.start()).port
  })

  afterAll(async () => {
    await server?.stop()
    await node?.stop()
  })

  const bodies: Array<[string, string, string?]> = [
    ['a text part without a name', `--${BOUNDARY}\r\nContent-Disposition: form-data\r\n\r\nv\r\n--${BOUNDARY}--\r\n`],
    ['a file part without a name', `--${BOUNDARY}\r\nContent-Disposition: form-data; filename="m.wasm"\r\nContent-Type: application/octet-stream\r\n\r\nv\r\n--${BOUNDARY}--\r\n`],
    ['a content type without a boundary', `--${BOUNDARY}\r\nContent-Disposition: form-data; name="spec"\r\n\r\n{}\r\n--${BOUNDARY}--\r\n`, 'multipart/form-data'],
    // Parts the parser drops without a word: refused, never read without them.
    ['a part without a Content-Disposition', `--${BOUNDARY}\r\nContent-Type: application/octet-stream\r\n\r\nv\r\n--${BOUNDARY}--\r\n`],
    ['a part whose name has a line break', `--${BOUNDARY}\r\nContent-Disposition: form-data; name*=UTF-8''spec%0A\r\n\r\n{}\r\n--${BOUNDARY}--\r\n`],
    ['blanks after a delimiter', `--${BOUNDARY} \r\nContent-Disposition: form-data; name="spec"\r\n\r\n{}\r\n--${BOUNDARY}--\r\n`]
  ]
  /** A `module` part (the WebAssembly header), then parts with these filenames under `field`, as raw bytes. */
  const withParts = (field: string, dispositions: string[]): Buffer => Buffer.concat([
    Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="module"; filename="m.wasm"\r\nContent-Type: application/octet-stream\r\n\r\n`), WASM,
    ...dispositions.map((d, i) => Buffer.from(`\r\n--${BOUNDARY}\r\nContent-Disposition: form-data; name="${field}"; ${d}\r\nContent-Type: application/octet-stream\r\n\r\npart ${i}`, 'latin1')),
    Buffer.from(`\r\n--${BOUNDARY}--\r\n`)
  ])

  it('a part whose filename has a line break (which the parser drops) is 400 ERR_INVALID_PATH: a job never runs without an `in` file, a batch never loses a task', async () => {
    const cases: Array<[string, string, string[]]> = [
      ['/v1/jobs', 'in', ["filename*=UTF-8''good.txt", "filename*=UTF-8''bad%0Aname.txt"]],
      ['/v1/jobs', 'in', ['filename="a\rb"']],
      ['/v1/jobs', 'input', ["filename*=UTF-8''x%0D"]],
      ['/v1/batches', 'input', ["filename*=UTF-8''first", "filename*=UTF-8''sec%0Aond", "filename*=UTF-8''third"]],
      ['/v1/batches', 'in', ["filename*=UTF-8''shared%0A.txt"]]
    ]
    for (const [path, field, dispositions] of cases) {
      const answer = await post(port, path, withParts(field, dispositions))
      expect([answer.status, answer.json?.error?.code], `${path} ${dispositions.join(' ')}`).toEqual([400, 'ERR_INVALID_PATH'])
      expect(answer.json.error.message).toMatch(new RegExp(`^the \`${field}\` part: its filename has a line break \\(CR or LF\\)`))
    }
  })

  it('an `in` filename that is not valid UTF-8 is 400 ERR_INVALID_PATH; valid UTF-8 passes', async () => {
    const inPart = (disposition: string): string => `--${BOUNDARY}\r\nContent-Disposition: form-data; name="in"; ${disposition}\r\nContent-Type: application/octet-stream\r\n\r\nv\r\n--${BOUNDARY}--\r\n`
    for (const path of ['/v1/jobs', '/v1/batches']) {
      for (const disposition of ["filename*=UTF-8''bad%FF%FE.txt", "filename*=UTF-8''%C3%28.txt"]) {
        const answer = await post(port, path, inPart(disposition))
        expect(answer.status, `${path} ${disposition}`).toBe(400)
        expect(answer.json.error.code).toBe('ERR_INVALID_PATH')
      }
      // é, well-formed: the path passes; the upload then lacks its module.
      const good = await post(port, path, inPart("filename*=UTF-8''caf%C3%A9.txt"))
      expect(good.json.error.code).toBe('ERR_MISSING_MODULE')
      // U+FFFD sent as such (percent-encoded, or raw bytes in filename="…") is a valid name, not a decoding error.
      for (const disposition of ["filename*=UTF-8''%EF%BF%BD.txt", 'filename="d/\xEF\xBF\xBD"']) {
        const fffd = await post(port, path, Buffer.from(inPart(disposition), 'latin1'))
        expect(fffd.json.error.code, `${path} ${disposition}`).toBe('ERR_MISSING_MODULE')
      }
      const raw = await post(port, path, Buffer.from(inPart('filename="d/\xC3("'), 'latin1'))
      expect([raw.json.error.code, raw.json.error.message]).toEqual(['ERR_INVALID_PATH', '`in` part: its filename is not valid UTF-8 ("d/\uFFFD(")'])
    }
  })

  for (const [what, body, contentType] of bodies) {
    it(what, async () => {
      for (const path of ['/v1/jobs', '/v1/batches']) {
        const answer = await post(port, path, body, contentType)
        expect(answer.status, `${path}: ${JSON.stringify(answer.json)}`).toBe(400)
        expect(answer.json.error.code).toBe('ERR_MALFORMED_UPLOAD')
      }
    })
  }
})

describe('idle timers: an upload\'s counts every byte; a JSON body that stalls is refused', () => {
  let node: ComputeNode
  let server: ApiServer
  let port: number
  const IDLE_MS = 500

  beforeAll(async () => {
    node = createComputeNode({ listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false })
    await node.start()
    const gate = new UploadGate({ idleTimeoutMs: IDLE_MS })
    server = new ApiServer({ host: '127.0.0.1', port: 0, token: TOKEN, bodyIdleTimeoutMs: IDLE_MS }, [jobsRoutes(node, { uploads: gate }), nodeRoutes(node)])
    port = (await server.start()).port
  })

  afterAll(async () => {
    await server?.stop()
    await node?.stop()
  })

  /** Sends `head`, then `trickle` one byte at a time every `everyMs`, then `tail`; resolves with the answer. */
  const trickled = (head: string, trickle: string, everyMs: number, tail: string): Promise<Answer> => new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/v1/jobs', method: 'POST', headers: { ...AUTH, 'content-type': `multipart/form-data; boundary=${BOUNDARY}`, 'transfer-encoding': 'chunked' } }, (res) => {
      clearInterval(timer)
      let text = ''
      res.setEncoding('utf8').on('data', (d) => { text += d }).on('end', () => { resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) }) })
    })
    req.on('error', reject)
    req.write(head)
    let at = 0
    const timer = setInterval(() => {
      if (at < trickle.length) { req.write(trickle[at++]); return }
      clearInterval(timer)
      req.end(tail)
    }, everyMs)
  })

  it('a spec field sent a byte at a time, for longer than the idle timeout in all, is read to its end', async () => {
    // 30 bytes 50 ms apart: 1.5 s in all, never 500 ms without a byte.
    const spec = '{' + ' '.repeat(28) + '}'
    const answer = await trickled(`--${BOUNDARY}\r\ncontent-disposition: form-data; name="spec"\r\n\r\n`, spec, IDLE_MS / 10, `\r\n--${BOUNDARY}--\r\n`)
    // Read whole and found to lack a module: not dropped as stalled.
    expect(answer.json.error.code).toBe('ERR_MISSING_MODULE')
    expect(answer.status).toBe(400)
  })

  it('an upload that sends nothing is still dropped: 408 ERR_UPLOAD_STALLED', async () => {
    const answer = await trickled(`--${BOUNDARY}\r\ncontent-disposition: form-data; name="spec"\r\n\r\n{`, '', 60_000, '')
    expect(answer.status).toBe(408)
    expect(answer.json.error.code).toBe('ERR_UPLOAD_STALLED')
  })

  it('a JSON body that stops before its end is refused with 408 ERR_BODY_STALLED (it was held open forever)', async () => {
    const answer = await new Promise<Answer>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/v1/peers', method: 'POST', headers: { ...AUTH, 'content-type': 'application/json', 'content-length': '100' } }, (res) => {
        let text = ''
        res.setEncoding('utf8').on('data', (d) => { text += d }).on('end', () => { resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) }) })
      })
      req.on('error', reject)
      req.write('{"address": ')
    })
    expect(answer.status).toBe(408)
    expect(answer.json.error.code).toBe('ERR_BODY_STALLED')
    // A whole body is read as before.
    const whole = await post(port, '/v1/peers', '{"addr": 1}', 'application/json')
    expect(whole.status).toBe(400)
    expect(whole.json.error.code).toBe('ERR_BAD_REQUEST')
  })
})
