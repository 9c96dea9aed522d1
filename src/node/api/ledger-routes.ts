/**
 * Ledger routes:
 *   GET  /v1/ledger/balance[/:peer]    {peerId, balance, spendable, nonce}
 *   GET  /v1/ledger/chain?blocks=N     {networkId, genesis, height, tip, mempool, mining, blocks?}
 *   GET  /v1/ledger/blocks/:id         a block by hex hash or by height, with its transactions
 *   GET  /v1/ledger/receipts?worker&requester&limit   settled work receipts
 *   GET  /v1/ledger/history?blocks=N   this node's balance and earnings over the last N blocks
 *   POST /v1/ledger/transfers {to, amount}              a signed transfer from this node → 202 tx
 */
import type { FastifyInstance } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import type { ComputeNode } from '../compute-node.ts'
import { peerIdSchema } from '../../proofs/schema.ts'
import { ApiError } from './errors.ts'
import { BalanceHistory } from './balance-history.ts'

const peerParams = z.object({ peer: peerIdSchema }).strict()
const blockParams = z.object({ id: z.string().regex(/^([0-9a-fA-F]{64}|\d{1,15})$/, 'expected a 64-hex block hash or a height') }).strict()
const chainQuery = z.object({ blocks: z.coerce.number().int().min(0).max(100).optional().describe('also list the last N blocks') }).strict()
const historyQuery = z.object({ blocks: z.coerce.number().int().min(1).max(500).optional().describe('how many recent blocks (default 100)') }).strict()
const receiptsQuery = z.object({
  worker: peerIdSchema.optional(),
  requester: peerIdSchema.optional(),
  limit: z.coerce.number().int().min(1).max(1000).optional()
}).strict()
const transferBody = z.object({ to: peerIdSchema, amount: z.number().int().positive().max(Number.MAX_SAFE_INTEGER) }).strict()

export function ledgerRoutes (node: ComputeNode) {
  const history = new BalanceHistory(node)
  const balanceOf = async (peerId: string): Promise<Record<string, unknown>> => ({
    peerId,
    balance: await node.ledger.balance(peerId),
    spendable: await node.ledger.spendable(peerId),
    nonce: await node.ledger.nonce(peerId)
  })
  return (root: FastifyInstance): void => {
    const app = root.withTypeProvider<ZodTypeProvider>()
    const tags = ['ledger']
    app.get('/v1/ledger/balance', { schema: { tags, summary: 'This node\'s credits' } }, async () => await balanceOf(node.peerId))
    app.get('/v1/ledger/balance/:peer', { schema: { tags, summary: 'A peer\'s credits', params: peerParams } }, async (request) => await balanceOf(request.params.peer))
    app.get('/v1/ledger/chain', { schema: { tags, summary: 'Network, height, tip, mempool, mining; optionally the last N blocks', querystring: chainQuery } }, async (request) => {
      const { blocks } = request.query
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
    app.get('/v1/ledger/blocks/:id', { schema: { tags, summary: 'A block by hex hash or height, with its transactions', params: blockParams } }, async (request) => {
      const { id } = request.params
      const block = await node.ledger.block(/^\d+$/.test(id) && id.length < 64 ? Number(id) : id.toLowerCase())
      if (block == null) throw new ApiError(404, 'ERR_BLOCK_NOT_FOUND', `no block ${id}`)
      return block
    })
    app.get('/v1/ledger/receipts', { schema: { tags, summary: 'Settled work receipts', querystring: receiptsQuery } },
      async (request) => ({ receipts: await node.ledger.receipts(request.query) }))
    app.get('/v1/ledger/history', { schema: { tags, summary: 'This node\'s balance after each recent block and what it earned and paid in it', querystring: historyQuery } },
      async (request) => ({ peerId: node.peerId, points: await history.points(request.query.blocks ?? 100) }))
    app.post('/v1/ledger/transfers', { schema: { tags, summary: 'Send credits from this node (a signed transfer, final once mined)', body: transferBody } }, async (request, reply) => {
      const { to, amount } = request.body
      return await reply.code(202).send(await node.ledger.transfer(to, amount))
    })
  }
}
