/**
 * Routes of the node itself:
 *   GET  /v1/status        peer id, addresses, peers, capacity, version
 *   GET  /v1/peers         connected peers: listen addresses, connections, scores
 *   POST /v1/peers         dial a peer {"address"}
 *   GET  /v1/capacity      this node's capacity and capable peers from the DHT
 *   POST /v1/node/stop     stop the daemon (answers 202 first)
 */
import type { FastifyInstance } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { multiaddr } from '@multiformats/multiaddr'
import type { ComputeNode } from '../compute-node.ts'
import { ApiError } from './errors.ts'
import { VERSION } from '../../version.ts'

export const capacityQuery = z.object({
  runtime: z.string().min(1).max(32).optional().describe('runtime the peers must offer (default wasi-p1)'),
  minCores: z.coerce.number().int().min(1).optional(),
  minMemoryMiB: z.coerce.number().int().min(1).optional(),
  maxPrice: z.coerce.number().int().min(0).optional(),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
  timeoutMs: z.coerce.number().int().min(100).max(120_000).optional()
}).strict()

export const connectBody = z.object({ address: z.string().min(1).max(1024).describe('multiaddr ending in /p2p/<peer id>') }).strict()

export interface NodeRoutesInit {
  /** Stops the daemon (what SIGTERM does); absent: POST /v1/node/stop answers 501. */
  requestStop?: () => void
}

export function nodeRoutes (node: ComputeNode, init: NodeRoutesInit = {}) {
  return (root: FastifyInstance): void => {
    const app = root.withTypeProvider<ZodTypeProvider>()
    app.get('/v1/status', { schema: { tags: ['node'], summary: 'This node: peer id, addresses, peers, capacity, version' } },
      async () => ({ ...node.status(), version: VERSION }))

    app.get('/v1/peers', { schema: { tags: ['node'], summary: 'Connected peers with their app-level score' } },
      async () => ({ peers: await node.peers() }))

    app.post('/v1/peers', { schema: { tags: ['node'], summary: 'Connect to a peer', body: connectBody } }, async (request) => {
      const { address } = request.body
      // Not a multiaddr at all is the request's fault (400), not a failed dial (502).
      try {
        multiaddr(address)
      } catch (err) {
        throw new ApiError(400, 'ERR_BAD_REQUEST', `invalid request body: address: not a multiaddr (${(err as Error).message})`)
      }
      let peerId: string
      try {
        peerId = await node.dial(address, { signal: AbortSignal.timeout(10_000) })
      } catch (err) {
        throw new ApiError(502, 'ERR_DIAL_FAILED', `could not connect to ${address}: ${(err as Error).message}`)
      }
      return { peerId }
    })

    app.get('/v1/capacity', { schema: { tags: ['node'], summary: 'This node\'s capacity and capable peers found through the DHT and from connected peers', querystring: capacityQuery } }, async (request) => {
      const query = request.query
      const peers = await node.findCapacity({ ...query, signal: AbortSignal.timeout(query.timeoutMs ?? 15_000) })
      return { self: { peerId: node.peerId, ...node.status().capacity }, peers }
    })

    app.post('/v1/node/stop', { schema: { tags: ['node'], summary: 'Stop the daemon (as SIGTERM does); answers 202 before it stops' } }, async (_request, reply) => {
      if (init.requestStop == null) throw new ApiError(501, 'ERR_NOT_SUPPORTED', 'this API server cannot stop its node')
      const requestStop = init.requestStop
      // Answer first: the server closes while stopping.
      reply.raw.once('finish', () => { setImmediate(requestStop) })
      return await reply.code(202).send({ stopping: true, peerId: node.peerId })
    })
  }
}
