/** `depin balance [PEER]`: credits on the canonical chain. */
import { createClient } from '../client.ts'
import { credits, line, printJson } from '../output.ts'
import type { CommonOptions } from '../program.ts'

interface BalanceView { peerId: string, balance: number, spendable: number, nonce: number }

export async function balanceCommand (peer: string | undefined, opts: CommonOptions): Promise<void> {
  const client = await createClient(opts)
  const view = await client.get<BalanceView>(peer != null ? `/v1/ledger/balance/${encodeURIComponent(peer)}` : '/v1/ledger/balance')
  if (opts.json === true) { printJson(view); return }
  line(`${view.peerId}: ${credits(view.balance)}${view.spendable !== view.balance ? ` (${credits(view.spendable)} spendable after pending transactions)` : ''}`)
}
