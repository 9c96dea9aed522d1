/**
 * The web dashboard's static files, served by the daemon on its API listener:
 *   GET /dashboard/            the page (dashboard/index.html in the package)
 *   GET /dashboard/<file>      its script, style sheet and the uPlot chart library (from the
 *                              `uplot` dependency): a fixed list, nothing else from disk
 *
 * These are the only routes served without the bearer token: they are the same bytes for every
 * node and hold no data. The page reads the token from its URL fragment (`#token=…`, which
 * browsers never send to a server), keeps it in sessionStorage, removes it from the address bar,
 * and sends it as `Authorization: Bearer` on every request for data. The Host and Origin checks
 * of the server apply here too, and the headers below keep the page from being framed or from
 * talking to anything but its own origin.
 */
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import type { FastifyInstance } from 'fastify'

const require = createRequire(import.meta.url)

interface StaticFile { path: string, type: string }

/** The dashboard's files: name under /dashboard/ → file in the package. */
function dashboardFiles (): Record<string, StaticFile> {
  const own = (name: string): string => new URL(`../../../dashboard/${name}`, import.meta.url).pathname
  return {
    '': { path: own('index.html'), type: 'text/html; charset=utf-8' },
    'app.js': { path: own('app.js'), type: 'text/javascript; charset=utf-8' },
    'style.css': { path: own('style.css'), type: 'text/css; charset=utf-8' },
    'uplot.js': { path: require.resolve('uplot/dist/uPlot.iife.min.js'), type: 'text/javascript; charset=utf-8' },
    'uplot.css': { path: require.resolve('uplot/dist/uPlot.min.css'), type: 'text/css; charset=utf-8' }
  }
}

export const DASHBOARD_HEADERS: Record<string, string> = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'cache-control': 'no-cache'
}

export function dashboardRoutes () {
  // Read once: a handful of small files (uPlot is 50 KB).
  const files = new Map(Object.entries(dashboardFiles()).map(([name, file]) => [name, { body: readFileSync(file.path), type: file.type }]))
  return (app: FastifyInstance): void => {
    const config = { public: true }
    app.get('/dashboard', { config, schema: { hide: true } }, async (_request, reply) => await reply.redirect('/dashboard/'))
    app.get('/dashboard/', { config, schema: { tags: ['dashboard'], summary: 'The web dashboard (static; the token goes in the URL fragment)' } }, async (_request, reply) => {
      const file = files.get('') as { body: Buffer, type: string }
      return await reply.headers(DASHBOARD_HEADERS).type(file.type).send(file.body)
    })
    app.get('/dashboard/:file', { config, schema: { hide: true } }, async (request, reply) => {
      const file = files.get((request.params as { file: string }).file)
      if (file == null) return await reply.code(404).send({ error: { code: 'ERR_NOT_FOUND', message: 'no such dashboard file' } })
      return await reply.headers(DASHBOARD_HEADERS).type(file.type).send(file.body)
    })
  }
}
