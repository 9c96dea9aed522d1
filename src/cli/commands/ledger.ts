/** Client commands for the ledger: balance, chain, transfer. */
import type { BlockSummary, TxView } from '../../ledger/index.ts'
import { createClient } from '../client.ts'
import { line, printJson, printTable, shortPeer } from '../output.ts'
import type { ChainOptions, CommonOptions } from '../program.ts'

/** Amounts are integers in the smallest unit, the credit. */
export function credits (amount: number): string {
  return `${amount.toLocaleString('en-US')} ${amount === 1 ? 'credit' : 'credits'}`
}

interface BalanceView { peerId: string, balance: number, spendable: number, nonce: number }

export async function balanceCommand (peer: string | undefined, opts: CommonOptions): Promise<void> {
  const client = await createClient(opts)
  const view = await client.get<BalanceView>(peer != null ? `/v1/ledger/balance/${encodeURIComponent(peer)}` : '/v1/ledger/balance')
  if (opts.json === true) { printJson(view); return }
  line(`${view.peerId}: ${credits(view.balance)}${view.spendable !== view.balance ? ` (${credits(view.spendable)} spendable after pending transactions)` : ''}`)
}

interface ChainView {
  networkId: string
  genesis: string
  height: number
  tip: string
  tipTimestamp: number
  chainWork: string
  mempool: { size: number, bytes: number }
  mining: { running: boolean, hashes: number, found: number }
  blocks?: BlockSummary[]
}

export async function chainCommand (opts: ChainOptions): Promise<void> {
  const client = await createClient(opts)
  const view = await client.get<ChainView>(`/v1/ledger/chain${opts.blocks != null ? `?blocks=${opts.blocks}` : ''}`)
  if (opts.json === true) { printJson(view); return }
  line(`network: ${view.networkId} (genesis ${view.genesis.slice(0, 16)}…)`)
  line(`height:  ${view.height}`)
  line(`tip:     ${view.tip}${view.height > 0 ? ` (${new Date(view.tipTimestamp).toISOString()})` : ''}`)
  line(`mempool: ${view.mempool.size} transaction(s)`)
  line(`mining:  ${view.mining.running ? `yes, ${view.mining.found} block(s) found` : 'no'}`)
  if (view.blocks != null && view.blocks.length > 0) {
    printTable(['HEIGHT', 'HASH', 'TXS', 'MINER', 'TIME'], view.blocks.map((b) => [b.height, b.hash.slice(0, 16) + '…', b.txCount, shortPeer(b.miner), new Date(b.timestamp).toISOString()]))
  }
}

export async function transferCommand (peer: string, amount: number, opts: CommonOptions): Promise<void> {
  const client = await createClient(opts)
  const tx = await client.post<TxView>('/v1/ledger/transfers', { to: peer, amount })
  if (opts.json === true) { printJson(tx); return }
  line(`transfer of ${credits(tx.amount)} to ${tx.to} is pending (tx ${tx.hash}); it counts once a block includes it`)
}
