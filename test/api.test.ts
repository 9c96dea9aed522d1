/** The local API's gatekeeping (Host check, bearer token) and error answers, against a real node. */
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { request } from 'node:http'
import { createComputeNode, type ComputeNode } from '../src/node/compute-node.ts'
import { ApiServer, tokenMatches } from '../src/node/api/server.ts'
import { nodeRoutes } from '../src/node/api/node-routes.ts'

const TOKEN = 'test-token-0123456789abcdef'

interface Answer { status: number, body: any }

function call (port: number, path: string, options: { method?: string, headers?: Record<string, string>, body?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: options.method ?? 'GET', headers: options.headers }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk) => { text += chunk })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, body: text.length > 0 ? JSON.parse(text) : undefined }) })
    })
    req.on('error', reject)
    if (options.body != null) req.write(options.body)
    req.end()
  })
}

describe('local API', () => {
  let node: ComputeNode
  let server: ApiServer
  let port: number
  const auth = { authorization: `Bearer ${TOKEN}` }

  beforeAll(async () => {
    node = createComputeNode({ listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false })
    await node.start()
    server = new ApiServer({ host: '127.0.0.1', port: 0, token: TOKEN }, [nodeRoutes(node)])
    port = (await server.start()).port
  })

  afterAll(async () => {
    await server?.stop()
    await node?.stop()
  })

  it('answers status with the right token', async () => {
    const answer = await call(port, '/v1/status', { headers: auth })
    expect(answer.status).toBe(200)
    expect(answer.body.peerId).toBe(node.peerId)
    expect(answer.body.capacity.runtimes).toEqual(['wasi-p1'])
  })

  it('401 without a token or with a wrong one', async () => {
    const none = await call(port, '/v1/status')
    expect(none.status).toBe(401)
    expect(none.body.error.code).toBe('ERR_UNAUTHORIZED')
    expect((await call(port, '/v1/status', { headers: { authorization: `Bearer ${TOKEN}x` } })).status).toBe(401)
    expect((await call(port, '/v1/status', { headers: { authorization: TOKEN } })).status).toBe(401)
  })

  it('the scheme of the Authorization header is case-insensitive, the token is not', async () => {
    for (const scheme of ['bearer', 'BEARER', 'BeArEr']) {
      expect((await call(port, '/v1/status', { headers: { authorization: `${scheme} ${TOKEN}` } })).status, scheme).toBe(200)
    }
    expect((await call(port, '/v1/status', { headers: { authorization: `bearer ${TOKEN.toUpperCase()}` } })).status).toBe(401)
    expect((await call(port, '/v1/status', { headers: { authorization: `Basic ${TOKEN}` } })).status).toBe(401)
  })

  it('compares tokens without depending on their length', () => {
    expect(tokenMatches(TOKEN, TOKEN)).toBe(true)
    expect(tokenMatches('x', TOKEN)).toBe(false)
    expect(tokenMatches(TOKEN + TOKEN, TOKEN)).toBe(false)
    expect(tokenMatches(undefined, TOKEN)).toBe(false)
  })

  it('403 for a Host header that is not a loopback name (DNS rebinding), even with the token', async () => {
    const answer = await call(port, '/v1/status', { headers: { ...auth, host: `evil.example.com:${port}` } })
    expect(answer.status).toBe(403)
    expect(answer.body.error.code).toBe('ERR_FORBIDDEN_HOST')
    expect((await call(port, '/v1/status', { headers: { ...auth, host: `localhost:${port}` } })).status).toBe(200)
    expect((await call(port, '/v1/status', { headers: { ...auth, host: `127.0.0.1.evil.com:${port}` } })).status).toBe(403)
  })

  it('400 for a malformed JSON body and for a body of the wrong shape', async () => {
    const headers = { ...auth, 'content-type': 'application/json' }
    const malformed = await call(port, '/v1/peers', { method: 'POST', headers, body: '{"address": ' })
    expect(malformed.status).toBe(400)
    expect(malformed.body.error.code).toBe('ERR_MALFORMED_JSON')
    const wrongShape = await call(port, '/v1/peers', { method: 'POST', headers, body: '{"addr": 1}' })
    expect(wrongShape.status).toBe(400)
    expect(wrongShape.body.error.code).toBe('ERR_BAD_REQUEST')
  })

  it('400 for a bad query and 404 for an unknown route', async () => {
    expect((await call(port, '/v1/capacity?limit=abc', { headers: auth })).status).toBe(400)
    const missing = await call(port, '/v1/nothing', { headers: auth })
    expect(missing.status).toBe(404)
    expect(missing.body.error.code).toBe('ERR_NOT_FOUND')
  })

  it('400 ERR_BAD_REQUEST for an address that is not a multiaddr (no dial is tried)', async () => {
    for (const address of ['x', '/ip4/999.1.1.1/tcp/1', '/nosuchprotocol/1']) {
      const answer = await call(port, '/v1/peers', { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ address }) })
      expect(answer.status, address).toBe(400)
      expect(answer.body.error.code).toBe('ERR_BAD_REQUEST')
    }
  })

  it('502 with a clear message when a peer cannot be dialled', async () => {
    const answer = await call(port, '/v1/peers', {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ address: '/ip4/127.0.0.1/tcp/1/p2p/12D3KooWBSNUWRbaR7hXC3rVfLGY1z6pD9kNRhyc6gEsnoowTmhc' })
    })
    expect(answer.status).toBe(502)
    expect(answer.body.error.code).toBe('ERR_DIAL_FAILED')
  })
})
