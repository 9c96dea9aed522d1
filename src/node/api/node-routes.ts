/** Routes of the node itself: status, peers, capacity. */
import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import type { ComputeNode } from '../compute-node.ts'
import { ApiError } from './errors.ts'
import { parseBody, parseQuery } from './validate.ts'

const capacityQuery = z.object({
  runtime: z.string().max(32).optional(),
  minCores: z.coerce.number().int().min(1).optional(),
  minMemoryMiB: z.coerce.number().int().min(1).optional(),
  maxPrice: z.coerce.number().int().min(0).optional(),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
  timeoutMs: z.coerce.number().int().min(100).max(120_000).optional()
}).strict()

const connectBody = z.object({ address: z.string().min(1).max(1024) }).strict()

export function nodeRoutes (node: ComputeNode) {
  return (app: FastifyInstance): void => {
    app.get('/v1/status', async () => node.status())
    app.get('/v1/peers', async () => ({ peers: node.peers() }))
    app.get('/v1/capacity', async (request) => {
      const query = parseQuery(capacityQuery, request.query)
      const peers = await node.findCapacity({ ...query, signal: AbortSignal.timeout(query.timeoutMs ?? 15_000) })
      return { self: { peerId: node.peerId, ...node.status().capacity }, peers }
    })
    // Dials a peer: {"address": "<multiaddr with /p2p/…>"}.
    app.post('/v1/peers', async (request) => {
      const { address } = parseBody(connectBody, request.body)
      let peerId: string
      try {
        peerId = await node.dial(address, { signal: AbortSignal.timeout(10_000) })
      } catch (err) {
        throw new ApiError(502, 'ERR_DIAL_FAILED', `could not connect to ${address}: ${(err as Error).message}`)
      }
      return { peerId }
    })
  }
}
