/**
 * The CLI's client of the local API. Finds the daemon through, in order: `--api HOST:PORT`,
 * `$DEPIN_API`, the `api.json` a running daemon wrote in the data dir, the data dir's config.
 * The token comes from `$DEPIN_API_TOKEN`, else the data dir's `api-token` file.
 */
import { defaultDataDir, readApiInfo, readApiToken } from '../node/data-dir.ts'
import { readConfigFile } from '../node/config.ts'
import { ApiResponseError, DaemonUnreachableError, UsageError } from './errors.ts'

export interface ClientOptions {
  api?: string
  dataDir?: string
}

export interface ApiClient {
  readonly api: string
  get<T = unknown>(path: string): Promise<T>
  post<T = unknown>(path: string, body: unknown): Promise<T>
  /** Raw request for uploads and downloads. */
  request(path: string, init?: RequestInit): Promise<Response>
}

const REQUEST_TIMEOUT_MS = 10 * 60 * 1000

export async function resolveApi (options: ClientOptions): Promise<{ api: string, token: string }> {
  const dataDir = options.dataDir ?? defaultDataDir()
  let api = options.api ?? process.env.DEPIN_API
  if (api == null) api = (await readApiInfo(dataDir))?.api
  if (api == null) api = (await readConfigFile(dataDir).catch(() => undefined))?.api
  if (api == null) throw new UsageError('no API address: pass --api HOST:PORT or --data-dir DIR')
  const token = process.env.DEPIN_API_TOKEN ?? await readApiToken(dataDir)
  if (token == null) {
    throw new UsageError(`no API token: ${dataDir}/api-token does not exist; pass --data-dir of the node or set DEPIN_API_TOKEN`)
  }
  return { api, token }
}

export async function createClient (options: ClientOptions): Promise<ApiClient> {
  const { api, token } = await resolveApi(options)
  const base = `http://${api}`
  const request = async (path: string, init: RequestInit = {}): Promise<Response> => {
    try {
      return await fetch(base + path, {
        ...init,
        headers: { authorization: `Bearer ${token}`, ...(init.headers as Record<string, string> | undefined) },
        signal: init.signal ?? AbortSignal.timeout(REQUEST_TIMEOUT_MS)
      })
    } catch (err) {
      throw new DaemonUnreachableError(api, { cause: err })
    }
  }
  const json = async <T>(response: Response): Promise<T> => {
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
    request,
    get: async (path) => await json(await request(path)),
    post: async (path, body) => await json(await request(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body)
    }))
  }
}

/** Throws the daemon's error for a non-OK raw response. */
export async function assertOk (response: Response): Promise<void> {
  if (response.ok) return
  let code = 'ERR_API'
  let message = `the daemon answered ${response.status}`
  try {
    const body = await response.json() as { error?: { code?: string, message?: string } }
    code = body.error?.code ?? code
    message = body.error?.message ?? message
  } catch {}
  throw new ApiResponseError(response.status, code, message)
}
