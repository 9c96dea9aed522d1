/**
 * Job uploads are streamed and checked while they stream (issue 9): against a real daemon process,
 * a 1 GiB upload is refused after its part's cap with the daemon's memory barely moving; sizes
 * declared in Content-Length or in the spec that lie are caught; parts are counted; a module that
 * is not WebAssembly is refused on its first bytes. The daemon keeps serving afterwards.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { request } from 'node:http'
import { connect } from 'node:net'
import { join } from 'node:path'
import { runCli, startDaemonProcess, type DaemonProcess } from './cli-helpers.ts'
import { tempDir, waitFor } from './helpers.ts'
import { MAX_INPUT_BYTES, MAX_MODULE_BYTES } from '../src/scheduler/constants.ts'

const GiB = 1024 * 1024 * 1024
const MiB = 1024 * 1024
const WASM = new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00])
const BOUNDARY = 'depin-test-boundary'

function rssBytes (pid: number): Promise<number> {
  return readFile(`/proc/${pid}/status`, 'utf8').then((s) => Number(/VmRSS:\s+(\d+) kB/.exec(s)?.[1] ?? 0) * 1024)
}

interface StreamedAnswer { status: number, body: any, sentBytes: number }

/**
 * Sends one multipart upload whose `field` part is `totalBytes` long (zeros after an optional
 * WebAssembly header), chunked (no Content-Length), and stops sending once the daemon answers.
 */
function streamUpload (port: number, token: string, field: 'module' | 'input', totalBytes: number): Promise<StreamedAnswer> {
  return new Promise((resolve, reject) => {
    let sent = 0
    let answered = false
    const chunk = Buffer.alloc(MiB)
    const req = request({ host: '127.0.0.1', port, path: '/v1/jobs', method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': `multipart/form-data; boundary=${BOUNDARY}`, 'transfer-encoding': 'chunked' } }, (res) => {
      answered = true
      let text = ''
      res.setEncoding('utf8').on('data', (d) => { text += d }).on('end', () => { resolve({ status: res.statusCode ?? 0, body: JSON.parse(text), sentBytes: sent }) })
    })
    req.on('error', (err) => { if (!answered) reject(err) })
    const head = Buffer.from(`--${BOUNDARY}\r\ncontent-disposition: form-data; name="${field}"; filename="big"\r\ncontent-type: application/octet-stream\r\n\r\n`)
    req.write(Buffer.concat([head, field === 'module' ? Buffer.from(WASM) : Buffer.alloc(0)]))
    const pump = (): void => {
      while (!answered && sent < totalBytes) {
        sent += chunk.byteLength
        if (!req.write(chunk)) { req.once('drain', pump); return }
      }
      if (!answered) req.end(`\r\n--${BOUNDARY}--\r\n`)
    }
    pump()
  })
}

/** A raw HTTP request (headers and body exactly as given), for lying Content-Length headers. */
function rawRequest (port: number, text: string | Buffer): Promise<{ status: number, body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    let data = ''
    socket.setEncoding('utf8')
    socket.on('data', (d) => {
      data += d
      const end = data.indexOf('\r\n\r\n')
      const length = Number(/content-length: (\d+)/i.exec(data)?.[1] ?? NaN)
      if (end >= 0 && data.length >= end + 4 + length) {
        socket.destroy()
        resolve({ status: Number(data.slice(9, 12)), body: data.slice(end + 4, end + 4 + length) })
      }
    })
    socket.on('error', reject)
    socket.write(text)
  })
}

function multipart (parts: Array<{ name: string, filename?: string, body: Uint8Array | string }>): Buffer {
  const chunks: Buffer[] = []
  for (const part of parts) {
    chunks.push(Buffer.from(`--${BOUNDARY}\r\ncontent-disposition: form-data; name="${part.name}"${part.filename != null ? `; filename="${part.filename}"` : ''}\r\n\r\n`))
    chunks.push(Buffer.from(part.body))
    chunks.push(Buffer.from('\r\n'))
  }
  chunks.push(Buffer.from(`--${BOUNDARY}--\r\n`))
  return Buffer.concat(chunks)
}

describe('job uploads are streamed and checked while streaming', () => {
  let dir: { path: string, remove: () => Promise<void> }
  let daemon: DaemonProcess
  let port: number
  let token: string

  const post = async (body: Buffer, extraHeaders: Record<string, string> = {}): Promise<{ status: number, body: any }> => {
    const response = await fetch(`http://127.0.0.1:${port}/v1/jobs`, { method: 'POST', body, headers: { authorization: `Bearer ${token}`, 'content-type': `multipart/form-data; boundary=${BOUNDARY}`, ...extraHeaders } })
    return { status: response.status, body: await response.json() }
  }

  beforeAll(async () => {
    dir = await tempDir()
    const dataDir = join(dir.path, 'node')
    expect((await runCli(['init', '--data-dir', dataDir])).code).toBe(0)
    // What a daemon killed mid-upload leaves in tmp/: its spool dir with a part in it.
    await mkdir(join(dataDir, 'tmp', 'depin-upload-crashed', 'sub'), { recursive: true })
    await writeFile(join(dataDir, 'tmp', 'depin-upload-crashed', 'sub', '0'), 'a spooled part')
    daemon = await startDaemonProcess(dataDir, ['--listen', '/ip4/127.0.0.1/tcp/0', '--api', '127.0.0.1:0', '--slots', '0'])
    port = Number(daemon.api.split(':')[1])
    token = (await readFile(join(dataDir, 'api-token'), 'utf8')).trim()
  })

  afterAll(async () => {
    await daemon?.stop('SIGKILL')
    await dir?.remove()
  })

  for (const [field, cap, code] of [['input', MAX_INPUT_BYTES, 'ERR_INPUT_TOO_LARGE'], ['module', MAX_MODULE_BYTES, 'ERR_MODULE_TOO_LARGE']] as const) {
    it(`a 1 GiB ${field} is refused after its cap (${cap / MiB} MiB), and the daemon's memory grows by less than 64 MiB`, async () => {
      const pid = daemon.child.pid as number
      const before = await rssBytes(pid)
      let peak = before
      const sampler = setInterval(() => { void rssBytes(pid).then((rss) => { peak = Math.max(peak, rss) }) }, 10)
      let answer: StreamedAnswer
      try {
        answer = await streamUpload(port, token, field, GiB)
      } finally {
        clearInterval(sampler)
      }
      peak = Math.max(peak, await rssBytes(pid))
      expect(answer.status).toBe(413)
      expect(answer.body.error.code).toBe(code)
      // The client stopped sending soon after the cap: the daemon did not read the whole GiB.
      expect(answer.sentBytes).toBeLessThan(cap + 128 * MiB)
      const growth = peak - before
      console.log(`1 GiB ${field} upload: refused after ${Math.round(answer.sentBytes / MiB)} MiB sent; daemon RSS ${Math.round(before / MiB)} MiB before, peak ${Math.round(peak / MiB)} MiB (growth ${Math.round(growth / MiB)} MiB)`)
      expect(growth).toBeLessThan(64 * MiB)
    })
  }

  it('a Content-Length over the caps is refused before any byte of the body is read', async () => {
    const answer = await rawRequest(port, `POST /v1/jobs HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\nauthorization: Bearer ${token}\r\ncontent-type: multipart/form-data; boundary=${BOUNDARY}\r\ncontent-length: ${2 * GiB}\r\n\r\n`)
    expect(answer.status).toBe(413)
    expect(JSON.parse(answer.body).error.code).toBe('ERR_UPLOAD_TOO_LARGE')
  })

  it('a Content-Length that lies is caught: a form cut short is refused, a body that never comes leaves nothing behind', async () => {
    const body = multipart([{ name: 'spec', body: '{}' }, { name: 'module', filename: 'm.wasm', body: new Uint8Array([...WASM, ...new Uint8Array(1000)]) }])
    const head = (length: number): string => `POST /v1/jobs HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\nauthorization: Bearer ${token}\r\ncontent-type: multipart/form-data; boundary=${BOUNDARY}\r\ncontent-length: ${length}\r\n\r\n`
    // Shorter than the form: the daemon reads 200 bytes, and the form ends before its module does.
    const short = await rawRequest(port, Buffer.concat([Buffer.from(head(200)), body.subarray(0, 200)]))
    expect(short.status, short.body).toBe(400)
    expect(JSON.parse(short.body).error.code).toBe('ERR_MALFORMED_UPLOAD')
    // Longer than what is sent: the client gives up half way; the daemon drops the upload.
    await new Promise<void>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => { socket.end(Buffer.concat([Buffer.from(head(body.byteLength * 10)), body])) })
      socket.on('close', () => { resolve() })
      socket.on('error', () => { resolve() })
      socket.resume()
    })
  })

  it('sizes declared in the spec that lie are caught, whether the part is longer or shorter', async () => {
    const module = new Uint8Array([...WASM, ...new Uint8Array(200)])
    const longer = await post(multipart([{ name: 'spec', body: JSON.stringify({ moduleBytes: 100 }) }, { name: 'module', filename: 'm.wasm', body: module }]))
    expect(longer.status).toBe(400)
    expect(longer.body.error.code).toBe('ERR_UPLOAD_SIZE_MISMATCH')
    expect(longer.body.error.message).toMatch(/longer than the 100 bytes declared/)
    const shorter = await post(multipart([{ name: 'spec', body: JSON.stringify({ inputBytes: 1000 }) }, { name: 'module', filename: 'm.wasm', body: module }, { name: 'input', filename: 'i', body: 'ten bytes!' }]))
    expect(shorter.status).toBe(400)
    expect(shorter.body.error.message).toMatch(/input has 10 bytes, not the 1000 declared/)
    // A spec that comes after the files still catches the lie.
    const after = await post(multipart([{ name: 'module', filename: 'm.wasm', body: module }, { name: 'spec', body: JSON.stringify({ moduleBytes: 5 }) }]))
    expect(after.status).toBe(400)
    expect(after.body.error.code).toBe('ERR_UPLOAD_SIZE_MISMATCH')
    // Declaring more than the cap is refused by the schema before any file is read.
    const huge = await post(multipart([{ name: 'spec', body: JSON.stringify({ moduleBytes: MAX_MODULE_BYTES + 1 }) }]))
    expect(huge.status).toBe(400)
  })

  it('parts are counted and bounded; unknown and repeated parts are refused', async () => {
    const module = new Uint8Array(WASM)
    const tooMany = await post(multipart([
      { name: 'module', filename: 'a', body: module }, { name: 'input', filename: 'b', body: 'x' }, { name: 'input', filename: 'c', body: 'y' }
    ]))
    expect([400, 413]).toContain(tooMany.status)
    expect(tooMany.body.error.code).toBe('ERR_TOO_MANY_PARTS')
    const fields = await post(multipart(Array.from({ length: 50 }, (_, i) => ({ name: `f${i}`, body: 'x' }))))
    expect(fields.status).toBeGreaterThanOrEqual(400)
    expect(['ERR_TOO_MANY_PARTS', 'ERR_BAD_REQUEST']).toContain(fields.body.error.code)
    const twoModules = await post(multipart([{ name: 'module', filename: 'a', body: module }, { name: 'module', filename: 'b', body: module }]))
    expect(twoModules.body.error.code).toBe('ERR_TOO_MANY_PARTS')
    const unknown = await post(multipart([{ name: 'payload', filename: 'a', body: module }]))
    expect(unknown.status).toBe(400)
  })

  it('a module that is not WebAssembly is refused on its first bytes', async () => {
    const answer = await post(multipart([{ name: 'module', filename: 'notes.txt', body: 'hello, I am text' }]))
    expect(answer.status).toBe(400)
    expect(answer.body.error.code).toBe('ERR_NOT_WASM')
  })

  it('removed at start the spool dirs a crashed daemon had left in tmp/', async () => {
    const { readdir } = await import('node:fs/promises')
    expect(await readdir(join(dir.path, 'node', 'tmp'))).not.toContain('depin-upload-crashed')
  })

  it('keeps serving, counted every refusal, and left no job and no spooled file behind', async () => {
    const status = await fetch(`http://127.0.0.1:${port}/v1/status`, { headers: { authorization: `Bearer ${token}` } })
    expect(status.status).toBe(200)
    const jobs = await (await fetch(`http://127.0.0.1:${port}/v1/jobs`, { headers: { authorization: `Bearer ${token}` } })).json() as { jobs: unknown[] }
    expect(jobs.jobs).toEqual([])
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { authorization: `Bearer ${token}` } })).text()
    for (const reason of ['too_large', 'size_mismatch', 'parts', 'not_wasm', 'malformed']) {
      expect(metrics).toMatch(new RegExp(`depin_api_uploads_refused_total\\{reason="${reason}"\\} [1-9]`))
    }
    const { readdir } = await import('node:fs/promises')
    await waitFor(async () => (await readdir(join(dir.path, 'node', 'tmp'))).length === 0, { what: 'spooled uploads to be removed' })
  })
})
