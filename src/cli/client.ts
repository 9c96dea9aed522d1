/**
 * The CLI's client of the local API. Finds the daemon through, in order: `--api HOST:PORT`,
 * `$DEPIN_API`, the `api.json` a running daemon wrote in the data dir, the data dir's config.
 * The token comes from `$DEPIN_API_TOKEN`, else the data dir's `api-token` file.
 *
 * Light on purpose: no libp2p, no zod, no multiaddr (a client command must start fast).
 */
import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http'
import { http } from '../shared/node-http.ts'
import { dataDirPaths, defaultDataDir, readApiInfo, readApiToken, isProcessAlive } from '../node/paths.ts'
import { DEFAULT_API_HOST, DEFAULT_API_PORT } from '../node/constants.ts'
import { ApiResponseError, DaemonUnreachableError, NodeNotRunningError, UsageError } from './errors.ts'
import { multipartBody, type FormPart } from './multipart.ts'

export interface ClientOptions {
  api?: string
  dataDir?: string
}

export interface ApiClient {
  readonly api: string
  /** Where the address came from: a flag or env var, the running daemon's api.json, or config.json. */
  readonly source: ApiSource
  readonly dataDir: string
  get<T = unknown>(path: string): Promise<T>
  post<T = unknown>(path: string, body: unknown): Promise<T>
  /** Raw request for downloads and event streams. */
  request(path: string, init?: ClientRequestInit): Promise<ClientResponse>
  /**
   * A multipart upload of parts streamed from disk, with its exact Content-Length. Resolves with
   * the daemon's answer as soon as it comes, even one given before the body was all sent.
   */
  uploadParts(path: string, parts: readonly FormPart[]): Promise<ClientResponse>
}

export interface ClientRequestInit {
  method?: string
  headers?: Record<string, string>
  body?: string | Uint8Array
  signal?: AbortSignal
}

/** What a request answers: status, headers, and the body to read once. */
export interface ClientResponse {
  status: number
  ok: boolean
  headers: IncomingHttpHeaders
  /** The body as it arrives (event streams). */
  body: AsyncIterable<Uint8Array>
  bytes(): Promise<Uint8Array>
  text(): Promise<string>
  /** Drops an unread body (else its connection keeps the process alive). */
  discard(): void
}

export type ApiSource = 'flag' | 'api.json' | 'config'

const REQUEST_TIMEOUT_MS = 10 * 60 * 1000

/** The `api` field of config.json, read without validating the rest (the daemon validates it). */
async function configuredApi (dataDir: string): Promise<string | undefined> {
  try {
    const config = JSON.parse(await readFile(dataDirPaths(dataDir).config, 'utf8')) as { api?: unknown }
    return typeof config.api === 'string' ? config.api : undefined
  } catch {
    return undefined
  }
}

/**
 * A `depin testnet` directory given where a node's data dir belongs (`--data-dir testnet`): it has
 * the testnet's token but no node, so the default port would be asked, with a misleading answer.
 */
async function refuseTestnetDir (dataDir: string): Promise<void> {
  const isFile = async (path: string): Promise<boolean> => await stat(path).then((s) => s.isFile(), () => false)
  if (await isFile(dataDirPaths(dataDir).config)) return
  if (!await isFile(join(dataDir, 'node-0', 'config.json'))) return
  const root = dataDirPaths(dataDir).root
  throw new UsageError(`${root} is a testnet's directory, not a node's: pass the data dir of one of its nodes, e.g. --data-dir ${join(root, 'node-0')}`)
}

/**
 * A data dir that does not exist (mistyped, or never initialised): said as such, not as a missing
 * token, and never taken for the node that answers on the default port.
 */
async function refuseMissingDir (dataDir: string): Promise<void> {
  if (await stat(dataDir).then(() => true, () => false)) return
  const root = dataDirPaths(dataDir).root
  throw new UsageError(`data directory ${root} does not exist; pass the data dir of a node (\`depin init --data-dir ${root}\` makes one)`)
}

export async function resolveApi (options: ClientOptions): Promise<{ api: string, token: string, source: ApiSource, dataDir: string }> {
  const dataDir = options.dataDir ?? defaultDataDir()
  let api = options.api ?? process.env.DEPIN_API
  let source: ApiSource = 'flag'
  if (api == null || api === '') {
    const info = await readApiInfo(dataDir)
    // A stale api.json (the node crashed) names a dead pid: fall back to the config.
    if (info != null && isProcessAlive(info.pid)) {
      api = info.api
      source = 'api.json'
    } else {
      await refuseMissingDir(dataDir)
      await refuseTestnetDir(dataDir)
      api = (await configuredApi(dataDir)) ?? (info == null ? `${DEFAULT_API_HOST}:${DEFAULT_API_PORT}` : info.api)
      source = 'config'
      // Port 0 means "any free port": only a running node's api.json can say which.
      if (/:0$/.test(api)) throw new NodeNotRunningError(dataDirPaths(dataDir).root, info == null ? 'it has no api.json' : `its api.json names pid ${info.pid}, which is not running`)
    }
  }
  const fromEnv = process.env.DEPIN_API_TOKEN
  const token = fromEnv != null && fromEnv !== '' ? fromEnv : await readApiToken(dataDir)
  if (token == null) {
    throw new UsageError(`no API token: ${dataDirPaths(dataDir).apiToken} does not exist; pass --data-dir of the node or set DEPIN_API_TOKEN`)
  }
  return { api, token, source, dataDir: dataDirPaths(dataDir).root }
}

function wrap (message: IncomingMessage): ClientResponse {
  const bytes = async (): Promise<Uint8Array> => {
    const chunks: Buffer[] = []
    for await (const chunk of message) chunks.push(chunk as Buffer)
    return new Uint8Array(Buffer.concat(chunks))
  }
  const status = message.statusCode ?? 0
  return { status, ok: status >= 200 && status < 300, headers: message.headers, body: message, bytes, text: async () => new TextDecoder().decode(await bytes()), discard: () => { message.destroy() } }
}

/**
 * One request over node:http. (Not fetch: loading fetch's HTTP stack costs a client command about
 * 50 ms, a quarter of its run.)
 */
function send (url: URL, init: ClientRequestInit): Promise<ClientResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: init.method ?? 'GET', headers: init.headers, signal: init.signal }, (res) => { resolve(wrap(res)) })
    req.on('error', reject)
    req.end(init.body)
  })
}

export async function createClient (options: ClientOptions): Promise<ApiClient> {
  const { api, token, source, dataDir } = await resolveApi(options)
  const base = `http://${api}`
  const unreachable = (err: unknown): Error => source === 'config'
    ? new NodeNotRunningError(dataDir, `nothing answers at ${api}`, { cause: err })
    : new DaemonUnreachableError(api, { cause: err })
  const checked = (response: ClientResponse): ClientResponse => {
    // The data dir's node is not running (no api.json) and its configured port answers with
    // another token: that API belongs to another node (e.g. two data dirs on the default port).
    if (response.status === 401 && source === 'config') {
      response.discard()
      throw new NodeNotRunningError(dataDir, `the API at ${api} belongs to another node (it refused this data dir's token)`)
    }
    return response
  }
  const request = async (path: string, init: ClientRequestInit = {}): Promise<ClientResponse> => {
    let response: ClientResponse
    try {
      response = await send(new URL(base + path), {
        ...init,
        headers: { authorization: `Bearer ${token}`, ...init.headers },
        signal: init.signal ?? AbortSignal.timeout(REQUEST_TIMEOUT_MS)
      })
    } catch (err) {
      throw unreachable(err)
    }
    return checked(response)
  }
  const uploadParts = async (path: string, parts: readonly FormPart[]): Promise<ClientResponse> => {
    const body = multipartBody(parts)
    const response = await new Promise<ClientResponse>((resolve, reject) => {
      let answered = false
      const req = http.request(new URL(base + path), {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': body.contentType, 'content-length': body.length },
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS)
      }, (res) => { answered = true; resolve(wrap(res)) })
      // Once the daemon answered (e.g. refused the upload early), a failing rest of the body does not matter.
      req.on('error', (err) => { if (!answered) reject(unreachable(err)) })
      const write = async (): Promise<void> => {
        for await (const chunk of body.chunks()) {
          if (answered || req.destroyed) return
          if (!req.write(chunk)) await new Promise<void>((resolve) => { const done = (): void => { req.off('drain', done); req.off('close', done); resolve() }; req.once('drain', done); req.once('close', done) })
        }
        req.end()
      }
      write().catch((err: unknown) => {
        req.destroy()
        if (!answered) reject(err)
      })
    })
    return checked(response)
  }
  const json = async <T>(response: ClientResponse): Promise<T> => {
    const text = await response.text()
    let body: any
    try {
      body = text.length > 0 ? JSON.parse(text) : undefined
    } catch {
      throw new ApiResponseError(response.status, 'ERR_BAD_RESPONSE', `the daemon answered ${response.status} with a body that is not JSON`)
    }
    if (!response.ok) {
      const error = body?.error ?? {}
      throw new ApiResponseError(response.status, error.code ?? 'ERR_API', error.message ?? `the daemon answered ${response.status}`)
    }
    return body as T
  }
  return {
    api,
    source,
    dataDir,
    request,
    uploadParts,
    get: async (path) => await json(await request(path)),
    post: async (path, body) => await json(await request(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body)
    }))
  }
}

/** Throws the daemon's error for a non-OK raw response. */
export async function assertOk (response: ClientResponse): Promise<void> {
  if (response.ok) return
  let code = 'ERR_API'
  let message = `the daemon answered ${response.status}`
  try {
    const body = JSON.parse(await response.text()) as { error?: { code?: string, message?: string } }
    code = body.error?.code ?? code
    message = body.error?.message ?? message
  } catch {}
  throw new ApiResponseError(response.status, code, message)
}
