/**
 * GET /metrics: the node's Prometheus metrics on the API listener (bearer token as for every
 * route). For a scraper without the token, `depin start --metrics HOST:PORT` serves the same text
 * on a separate loopback listener (metrics-server.ts).
 */
import type { FastifyInstance } from 'fastify'
import type { NodeMetrics } from '../metrics/node-metrics.ts'

export function metricsRoutes (metrics: NodeMetrics) {
  return (app: FastifyInstance): void => {
    app.get('/metrics', { schema: { tags: ['metrics'], summary: 'Prometheus text format: depin\'s and libp2p\'s metrics' } }, async (_request, reply) => {
      return await reply.type(metrics.contentType).send(await metrics.text())
    })
  }
}
