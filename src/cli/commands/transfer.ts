/** `depin transfer PEER AMOUNT`: a signed transfer from this node. */
import type { TxView } from '../../ledger/index.ts'
import { createClient } from '../client.ts'
import { credits, line, printJson } from '../output.ts'
import type { CommonOptions } from '../program.ts'

export async function transferCommand (peer: string, amount: number, opts: CommonOptions): Promise<void> {
  const client = await createClient(opts)
  const tx = await client.post<TxView>('/v1/ledger/transfers', { to: peer, amount })
  if (opts.json === true) { printJson(tx); return }
  line(`transfer of ${credits(tx.amount)} to ${tx.to} is pending (tx ${tx.hash}); it counts once a block includes it`)
}
