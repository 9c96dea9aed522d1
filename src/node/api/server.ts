/**
 * The local control API: HTTP on loopback, base path /v1, JSON bodies; it also serves the web
 * dashboard's static files (/dashboard/) and the Prometheus metrics (/metrics).
 *
 * Every request passes these checks before any route runs:
 *   1. its Host header names a loopback host, else 403 (a web page the operator visits cannot use
 *      DNS rebinding to reach the API through the browser);
 *   2. an Origin header, when present, is this server's own origin, and Sec-Fetch-Site, when
 *      present, is `same-origin` or `none`, else 403 (no other web page can call the API or
 *      embed the dashboard, even with a token it somehow learned);
 *   3. it carries `Authorization: Bearer <token>` (the scheme in any case) with the data dir's
 *      token, else 401 (compared in constant time). Only the dashboard's static files are served without it: they hold no
 *      data, and every request the dashboard makes for data carries the token.
 * Errors are `{ "error": { "code": "ERR_…", "message": "…" } }` with a fitting status.
 * Request schemas are zod schemas (fastify-type-provider-zod); `GET /v1/openapi.json` is the
 * OpenAPI description generated from them.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import swagger from '@fastify/swagger'
import { hasZodFastifySchemaValidationErrors, jsonSchemaTransform, serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod'
import { logger } from '@libp2p/logger'
import { DepinError, InvalidArgumentError, InvalidMessageError, MessageTooLargeError, NotStartedError } from '../../errors.ts'
import { isLoopbackHost } from '../api-address.ts'
import { AddressInUseError } from '../errors.ts'
import { ApiError } from './errors.ts'
import { bodyIdleLimit, BODY_IDLE_TIMEOUT_MS } from './body-idle.ts'
import { MAX_EVENT_STREAMS, StreamSlots } from './sse.ts'
import { clientErrorHandler, frameworkErrors, MAX_PARAM_LENGTH } from './framework-errors.ts'
import { VERSION } from '../../version.ts'

const log = logger('depin:api')

/** Largest JSON body the API reads. */
export const MAX_JSON_BODY_BYTES = 1024 * 1024

export interface ApiServerInit {
  host: string
  port: number
  token: string
  /** Largest JSON request body. @default MAX_JSON_BODY_BYTES */
  bodyLimitBytes?: number
  /** Event streams open at once over all event routes. @default MAX_EVENT_STREAMS */
  maxEventStreams?: number
  /** A JSON request body that sends nothing for this long is refused (408 ERR_BODY_STALLED). @default BODY_IDLE_TIMEOUT_MS */
  bodyIdleTimeoutMs?: number
}

/** Registers routes on the server; each resource (node, jobs, ledger, …) brings its own. */
export type ApiRoutes = (app: FastifyInstance) => void | Promise<void>

/** Route config flag: served without the bearer token (the dashboard's static files only). */
export interface RouteFlags { public?: boolean }

function digest (text: string): Buffer {
  return createHash('sha256').update(text).digest()
}

/** Constant-time comparison of a presented token with the expected one. */
export function tokenMatches (presented: string | undefined, expected: string): boolean {
  if (presented == null) return false
  // Hashing first makes both sides the same length, so timingSafeEqual never leaks the length.
  return timingSafeEqual(digest(presented), digest(expected))
}

function hostOf (header: string | undefined): string | undefined {
  if (header == null || header.length === 0) return undefined
  const match = /^(\[[^\]]+\]|[^:]+)(?::\d+)?$/.exec(header)
  return match?.[1]
}

/**
 * Whether a browser's Origin / Sec-Fetch-Site headers allow the request: absent (a command-line
 * client), or this very origin (`http://<the Host header>`), or a navigation the user made.
 */
export function originAllowed (headers: { origin?: string, host?: string, 'sec-fetch-site'?: string }): boolean {
  const site = headers['sec-fetch-site']
  if (site != null && site !== 'same-origin' && site !== 'none') return false
  const origin = headers.origin
  if (origin == null) return true
  return headers.host != null && origin === `http://${headers.host}`
}

/** Turns a schema validation failure into the API's message: `invalid query: limit: …`. */
function validationMessage (err: { validation: Array<{ instancePath?: string, message?: string }>, validationContext?: string }): string {
  const where = err.validationContext === 'body' ? 'request body' : err.validationContext === 'querystring' ? 'query' : err.validationContext === 'params' ? 'path' : 'request'
  const issue = err.validation[0] ?? {}
  const path = (issue.instancePath ?? '').replace(/^\//, '').replace(/\//g, '.')
  return `invalid ${where}: ${path.length > 0 ? `${path}: ` : ''}${issue.message ?? 'does not match the schema'}`
}

/**
 * No route takes a query parameter more than once; the parser makes a repeated one an array,
 * which each route's schema then refused with a message about the array (`expected number,
 * received NaN`). Refused here for every route, naming the parameter, rather than letting the
 * first or the last win: a URL that says two things is a mistake worth seeing.
 */
async function refuseRepeatedQuery (request: FastifyRequest): Promise<void> {
  const query = request.query
  if (query == null || typeof query !== 'object') return
  const repeated = Object.keys(query).find((key) => Array.isArray((query as Record<string, unknown>)[key]))
  if (repeated != null) throw new ApiError(400, 'ERR_BAD_REQUEST', `invalid query: ${repeated}: given more than once`)
}

/** Maps an error to its HTTP status. */
export function statusOf (err: unknown): number {
  if (err instanceof ApiError) return err.status
  if (err instanceof MessageTooLargeError) return 413
  if (err instanceof InvalidMessageError) return 400
  if (err instanceof NotStartedError) return 503
  const code = (err as { code?: string }).code
  if (code === 'ERR_JOB_NOT_FOUND' || code === 'ERR_BATCH_NOT_FOUND' || code === 'ERR_TASK_NOT_FOUND' || code === 'ERR_FILE_NOT_FOUND') return 404
  // A path that breaks the path rules (files/paths.ts), wherever it came from.
  if (code === 'ERR_INVALID_PATH' || code === 'ERR_DUPLICATE_PATH' || code === 'ERR_PATH_CONFLICT') return 400
  if ((err as { code?: string }).code === 'ERR_JOB_FINISHED' || (err as { code?: string }).code === 'ERR_JOB_NOT_CANCELLABLE' || (err as { code?: string }).code === 'ERR_JOB_RUNNING') return 409
  if ((err as { code?: string }).code === 'ERR_INVALID_JOB' || (err as { code?: string }).code === 'ERR_LEDGER_USAGE') return 400
  // A library call refusing an argument refuses what the request asked for (the routes' schemas
  // should have said so first: a gap between the two was a 422).
  if (err instanceof InvalidArgumentError) return 400
  const e = err as { statusCode?: number, code?: string }
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 600) return e.statusCode
  if (err instanceof DepinError) return 422
  return 500
}

export class ApiServer {
  private readonly init: ApiServerInit
  private readonly app: FastifyInstance
  private listening?: { host: string, port: number }

  constructor (init: ApiServerInit, routes: ApiRoutes[]) {
    this.init = init
    this.app = Fastify({
      bodyLimit: init.bodyLimitBytes ?? MAX_JSON_BODY_BYTES,
      logger: false,
      // Clients are local tools; keep connections short so stop() never waits on keep-alive.
      forceCloseConnections: true,
      return503OnClosing: true,
      // What fails before a route runs answers in the API's error shape too (framework-errors.ts).
      routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
      frameworkErrors,
      clientErrorHandler
    })
    // One count for every event route (each route's scope inherits the decoration).
    this.app.decorate('eventStreams', new StreamSlots(init.maxEventStreams ?? MAX_EVENT_STREAMS))
    this.app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
      const host = hostOf(request.headers.host)
      if (host == null || !isLoopbackHost(host)) {
        return await reply.code(403).send({ error: { code: 'ERR_FORBIDDEN_HOST', message: 'the API answers only requests addressed to a loopback host' } })
      }
      if (!originAllowed(request.headers as Record<string, string | undefined>)) {
        return await reply.code(403).send({ error: { code: 'ERR_FORBIDDEN_ORIGIN', message: 'the API answers only its own origin (no cross-site requests)' } })
      }
      if ((request.routeOptions.config as RouteFlags | undefined)?.public === true && (request.method === 'GET' || request.method === 'HEAD')) return
      const auth = request.headers.authorization
      // The scheme is case-insensitive (RFC 9110 §11.1): `bearer` and `BEARER` are `Bearer`.
      const presented = auth != null ? /^bearer +(.*)$/i.exec(auth)?.[1].trim() : undefined
      if (!tokenMatches(presented, this.init.token)) {
        return await reply.code(401).send({ error: { code: 'ERR_UNAUTHORIZED', message: 'missing or wrong API token (Authorization: Bearer <token from the data dir\'s api-token file>)' } })
      }
    })
    this.app.addHook('preParsing', bodyIdleLimit(init.bodyIdleTimeoutMs ?? BODY_IDLE_TIMEOUT_MS))
    this.app.addHook('preValidation', refuseRepeatedQuery)
    this.app.setValidatorCompiler(validatorCompiler)
    this.app.setSerializerCompiler(serializerCompiler)
    this.app.setErrorHandler(async (err: unknown, _request, reply) => {
      if (hasZodFastifySchemaValidationErrors(err)) {
        await reply.code(400).send({ error: { code: 'ERR_BAD_REQUEST', message: validationMessage(err as unknown as Parameters<typeof validationMessage>[0]) } })
        return
      }
      const status = statusOf(err)
      const e = err as { code?: string, message?: string }
      let code = typeof e.code === 'string' ? e.code : 'ERR_INTERNAL'
      let message = e.message ?? 'internal error'
      if (code === 'FST_ERR_CTP_INVALID_JSON_BODY' || code === 'FST_ERR_CTP_EMPTY_JSON_BODY') {
        code = 'ERR_MALFORMED_JSON'
        message = `malformed JSON body: ${message}`
      } else if (code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
        code = 'ERR_UNSUPPORTED_MEDIA_TYPE'
      } else if (code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
        code = 'ERR_BODY_TOO_LARGE'
      } else if (code.startsWith('FST_')) {
        code = 'ERR_BAD_REQUEST'
      }
      if (status >= 500) log.error('API error: %e', err)
      await reply.code(status).send({ error: { code, message } })
    })
    this.app.setNotFoundHandler(async (request, reply) => {
      await reply.code(404).send({ error: { code: 'ERR_NOT_FOUND', message: `no route ${request.method} ${request.url}` } })
    })
    // The OpenAPI description is built from the routes' schemas, so swagger comes first and the
    // routes are registered in a plugin after it.
    void this.app.register(swagger, {
      openapi: {
        info: { title: 'depin local API', version: VERSION, description: 'Control API of a depin node (loopback only, bearer token).' },
        components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
        security: [{ bearer: [] }]
      },
      transform: jsonSchemaTransform,
      hideUntagged: false
    })
    void this.app.register(async (scope) => {
      scope.get('/v1/openapi.json', { schema: { hide: true } }, async () => this.app.swagger())
      for (const register of routes) await register(scope)
    })
  }

  /** Starts listening; resolves with the bound address (useful with port 0). */
  async start (): Promise<{ host: string, port: number }> {
    try {
      await this.app.listen({ host: this.init.host, port: this.init.port })
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') throw new AddressInUseError(`${this.init.host}:${this.init.port}`, { cause: err })
      throw err
    }
    const address = this.app.server.address()
    const port = typeof address === 'object' && address != null ? address.port : this.init.port
    this.listening = { host: this.init.host, port }
    return this.listening
  }

  /** `HOST:PORT` the server listens on. */
  get address (): string | undefined {
    if (this.listening == null) return undefined
    const host = this.listening.host.includes(':') ? `[${this.listening.host}]` : this.listening.host
    return `${host}:${this.listening.port}`
  }

  async stop (): Promise<void> {
    if (this.listening == null) return
    this.listening = undefined
    await this.app.close()
  }
}
