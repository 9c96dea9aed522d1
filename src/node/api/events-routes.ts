/**
 * GET /v1/events: one server-sent event stream of what changes on this node, for live views
 * (the dashboard): `progress` (a requested job's stage), `tip` (a new chain tip), `peer`
 * (`{"peerId","connected"}`). The stream stays open until the client leaves; a keep-alive comment
 * every 15 s. It counts against the server's limit of event streams (sse.ts). Browsers read it with fetch (EventSource cannot send the bearer token).
 */
import type { FastifyInstance } from 'fastify'
import type { ComputeNode } from '../compute-node.ts'
import type { JobProgress } from '../../scheduler/requester/jobs.ts'
import type { BlockSummary } from '../../ledger/index.ts'
import { sseWrite } from './sse.ts'

const KEEP_ALIVE_MS = 15_000

export function eventsRoutes (node: ComputeNode) {
  return (app: FastifyInstance): void => {
    // No HEAD route: Fastify's automatic one would run this handler and open a stream that never ends.
    app.get('/v1/events', { exposeHeadRoute: false, schema: { tags: ['node'], summary: 'Server-sent events: job progress, chain tips, peers connecting and leaving' } }, async (_request, reply) => {
      // Counted with every other event stream of this server (429 ERR_TOO_MANY_STREAMS past the limit).
      const release = app.eventStreams.take()
      const ledger = node.ledger
      reply.hijack()
      const raw = reply.raw
      raw.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' })
      const send = (event: string, data: unknown): void => { sseWrite(raw, `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`) }
      const onProgress = (evt: CustomEvent<JobProgress>): void => { send('progress', evt.detail) }
      const onTip = (evt: CustomEvent<BlockSummary>): void => { send('tip', evt.detail) }
      const onConnect = (evt: CustomEvent<string>): void => { send('peer', { peerId: evt.detail, connected: true }) }
      const onDisconnect = (evt: CustomEvent<string>): void => { send('peer', { peerId: evt.detail, connected: false }) }
      node.addEventListener('job:progress', onProgress)
      ledger.addEventListener('tip', onTip)
      node.addEventListener('peer:connect', onConnect)
      node.addEventListener('peer:disconnect', onDisconnect)
      const keepAlive = setInterval(() => { sseWrite(raw, ': keep-alive\n\n') }, KEEP_ALIVE_MS)
      let closed = false
      raw.on('close', () => {
        if (closed) return
        closed = true
        release()
        clearInterval(keepAlive)
        node.removeEventListener('job:progress', onProgress)
        ledger.removeEventListener('tip', onTip)
        node.removeEventListener('peer:connect', onConnect)
        node.removeEventListener('peer:disconnect', onDisconnect)
      })
      sseWrite(raw, ': connected\n\n')
    })
  }
}
