/** `depin chain [--blocks N]`: network, height, tip, mempool, mining, recent blocks. */
import type { BlockSummary } from '../../ledger/index.ts'
import { createClient } from '../client.ts'
import { line, printJson, printTable, shortPeer } from '../output.ts'
import type { ChainOptions } from '../program.ts'

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
