/** An in-process node with the daemon's full API (all routes) and a raw HTTP caller for tests. */
import { request } from 'node:http'
import type { ComputeNode } from '../src/node/compute-node.ts'
import { ApiServer } from '../src/node/api/server.ts'
import { nodeRoutes } from '../src/node/api/node-routes.ts'
import { jobsRoutes } from '../src/node/api/jobs-routes.ts'
import { batchesRoutes } from '../src/node/api/batches-routes.ts'
import { storageRoutes } from '../src/node/api/storage-routes.ts'
import { ledgerRoutes } from '../src/node/api/ledger-routes.ts'
import { eventsRoutes } from '../src/node/api/events-routes.ts'
import { metricsRoutes } from '../src/node/api/metrics-routes.ts'
import { dashboardRoutes } from '../src/node/api/dashboard-routes.ts'
import type { NodeMetrics } from '../src/node/metrics/node-metrics.ts'

export const TOKEN = 'operator-test-token-0123456789'
export const AUTH = { authorization: `Bearer ${TOKEN}` }

export async function startApi (node: ComputeNode, metrics: NodeMetrics, init: { requestStop?: () => void } = {}): Promise<{ server: ApiServer, port: number }> {
  const server = new ApiServer({ host: '127.0.0.1', port: 0, token: TOKEN }, [
    nodeRoutes(node, init), jobsRoutes(node, { metrics }), batchesRoutes(node, { metrics }), storageRoutes(node), ledgerRoutes(node), eventsRoutes(node), metricsRoutes(metrics), dashboardRoutes()
  ])
  const { port } = await server.start()
  return { server, port }
}

export interface Answer { status: number, headers: Record<string, string | string[] | undefined>, text: string, json: any }

/** One request with full control of the headers (Host and Origin included). */
export function call (port: number, path: string, options: { method?: string, headers?: Record<string, string>, body?: string | Uint8Array } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: options.method ?? 'GET', headers: options.headers }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk) => { text += chunk })
      res.on('end', () => {
        let json: unknown
        try { json = JSON.parse(text) } catch {}
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json })
      })
    })
    req.on('error', reject)
    req.end(options.body)
  })
}

/** Uploads a job through POST /v1/jobs as the CLI does; returns the answer. */
export async function uploadJob (port: number, module: Uint8Array, spec: Record<string, unknown> = {}, input?: Uint8Array, name = 'module.wasm'): Promise<{ status: number, body: any }> {
  const form = new FormData()
  form.set('spec', JSON.stringify(spec))
  form.set('module', new Blob([module]), name)
  if (input != null) form.set('input', new Blob([input]), 'input')
  const response = await fetch(`http://127.0.0.1:${port}/v1/jobs`, { method: 'POST', body: form, headers: AUTH })
  return { status: response.status, body: await response.json() }
}
