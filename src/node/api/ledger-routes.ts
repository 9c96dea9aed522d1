/**
 * Ledger routes:
 *   GET  /v1/ledger/balance[/:peer]    {peerId, balance, spendable, nonce}
 *   GET  /v1/ledger/chain?blocks=N     {networkId, genesis, height, tip, mempool, mining, blocks?}
 *   GET  /v1/ledger/blocks/:id         a block by hex hash or by height, with its transactions
 *   GET  /v1/ledger/receipts?worker&requester&limit   settled work receipts
 *   POST /v1/ledger/transfers {to, amount}              a signed transfer from this node → 202 tx
 */
import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import type { ComputeNode } from '../compute-node.ts'
import { peerIdSchema } from '../../proofs/schema.ts'
import { ApiError } from './errors.ts'
import { parseBody, parseQuery } from './validate.ts'

const peerParams = z.object({ peer: peerIdSchema }).strict()
const blockParams = z.object({ id: z.string().regex(/^([0-9a-fA-F]{64}|\d{1,15})$/, 'expected a 64-hex block hash or a height') }).strict()
const chainQuery = z.object({ blocks: z.coerce.number().int().min(0).max(100).optional() }).strict()
const receiptsQuery = z.object({
  worker: peerIdSchema.optional(),
  requester: peerIdSchema.optional(),
  limit: z.coerce.number().int().min(1).max(1000).optional()
}).strict()
const transferBody = z.object({ to: peerIdSchema, amount: z.number().int().positive().max(Number.MAX_SAFE_INTEGER) }).strict()

export function ledgerRoutes (node: ComputeNode) {
  const balanceOf = async (peerId: string): Promise<Record<string, unknown>> => ({
    peerId,
    balance: await node.ledger.balance(peerId),
    spendable: await node.ledger.spendable(peerId),
    nonce: await node.ledger.nonce(peerId)
  })
  return (app: FastifyInstance): void => {
    app.get('/v1/ledger/balance', async () => await balanceOf(node.peerId))
    app.get('/v1/ledger/balance/:peer', async (request) => await balanceOf(parseBody(peerParams, request.params).peer))
    app.get('/v1/ledger/chain', async (request) => {
      const { blocks } = parseQuery(chainQuery, request.query)
      const stats = node.ledger.stats()
      const tip = node.ledger.tip()
      return {
        networkId: stats.networkId,
        genesis: stats.genesis,
        height: tip.height,
        tip: tip.hash,
        tipTimestamp: tip.timestamp,
        chainWork: tip.chainWork,
        target: tip.target,
        mempool: stats.mempool,
        mining: stats.mining,
        sideBlocks: stats.sideBlocks,
        ...(blocks != null && blocks > 0 ? { blocks: await node.ledger.blocks({ last: blocks }) } : {})
      }
    })
    app.get('/v1/ledger/blocks/:id', async (request) => {
      const { id } = parseBody(blockParams, request.params)
      const block = await node.ledger.block(/^\d+$/.test(id) && id.length < 64 ? Number(id) : id.toLowerCase())
      if (block == null) throw new ApiError(404, 'ERR_BLOCK_NOT_FOUND', `no block ${id}`)
      return block
    })
    app.get('/v1/ledger/receipts', async (request) => ({ receipts: await node.ledger.receipts(parseQuery(receiptsQuery, request.query)) }))
    app.post('/v1/ledger/transfers', async (request, reply) => {
      const { to, amount } = parseBody(transferBody, request.body)
      return await reply.code(202).send(await node.ledger.transfer(to, amount))
    })
  }
}
