/**
 * The token-free metrics listener of `depin start --metrics HOST:PORT`: GET /metrics only, on a
 * loopback address, for a Prometheus scraper on this machine. Requests must name a loopback Host
 * (no DNS rebinding from a browser); anything else is 404.
 */
import type { Server } from 'node:http'
import { http } from '../../shared/node-http.ts'
import { isLoopbackHost, formatHostPort } from '../api-address.ts'
import { AddressInUseError } from '../errors.ts'
import type { NodeMetrics } from './node-metrics.ts'

export class MetricsServer {
  private readonly server: Server
  private readonly host: string
  private readonly port: number
  private bound?: string

  constructor (metrics: NodeMetrics, address: { host: string, port: number }) {
    this.host = address.host
    this.port = address.port
    this.server = http.createServer((req, res) => {
      const host = /^(\[[^\]]+\]|[^:]+)(?::\d+)?$/.exec(req.headers.host ?? '')?.[1]
      if (host == null || !isLoopbackHost(host)) {
        res.writeHead(403, { 'content-type': 'text/plain' }).end('forbidden host\n')
        return
      }
      if ((req.method !== 'GET' && req.method !== 'HEAD') || (req.url ?? '').split('?')[0] !== '/metrics') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('only GET /metrics here\n')
        return
      }
      metrics.text().then((text) => {
        res.writeHead(200, { 'content-type': metrics.contentType }).end(req.method === 'HEAD' ? undefined : text)
      }, (err: Error) => {
        res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${err.message}\n`)
      })
    })
    // Scrapers keep connections alive; stop() must not wait for them.
    this.server.keepAliveTimeout = 5_000
  }

  /** Starts listening; resolves with `HOST:PORT` (the real port when 0 was asked). */
  async start (): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        reject(err.code === 'EADDRINUSE' ? new AddressInUseError(formatHostPort(this.host, this.port), { cause: err }) : err)
      }
      this.server.once('error', onError)
      this.server.listen(this.port, this.host, () => {
        this.server.off('error', onError)
        resolve()
      })
    })
    const address = this.server.address()
    this.bound = formatHostPort(this.host, typeof address === 'object' && address != null ? address.port : this.port)
    return this.bound
  }

  get address (): string | undefined {
    return this.bound
  }

  async stop (): Promise<void> {
    if (this.bound == null) return
    this.bound = undefined
    this.server.closeAllConnections()
    await new Promise<void>((resolve) => { this.server.close(() => { resolve() }) })
  }
}
