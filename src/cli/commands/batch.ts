/**
 * `depin batch ID`: one batch's summary. `depin batches [--limit N]`: the batches this node
 * submitted (`depin map`), newest first, one line each with its progress.
 */
import { createClient } from '../client.ts'
import { credits, creditAmount, duration, line, printable, printJson, printTable } from '../output.ts'
import type { BatchesOptions, CommonOptions } from '../program.ts'
import type { Summary } from './map.ts'

export async function batchCommand (id: string, opts: CommonOptions): Promise<void> {
  const client = await createClient(opts)
  const summary = await client.get<Summary>(`/v1/batches/${encodeURIComponent(id)}`)
  if (opts.json === true) { printJson(summary); return }
  line(`batch:     ${summary.id}`)
  line(`status:    ${printable(summary.status)}`)
  if (summary.waiting != null) line(`waiting:   ${summary.waiting.tasks} task${summary.waiting.tasks === 1 ? '' : 's'}: ${printable(summary.waiting.message)}`)
  line(`tasks:     ${summary.tasks} (${summary.completed} completed, ${summary.failed} not completed, ${summary.verified} verified)`)
  line(`cost:      ${credits(summary.cost)}`)
  line(`time:      ${summary.seconds.toFixed(1)} s`)
}

interface BatchRow extends Summary { done: number, createdAt: number }

export async function batchesCommand (opts: BatchesOptions): Promise<void> {
  const client = await createClient(opts)
  const { batches, total } = await client.get<{ batches: BatchRow[], total: number }>(`/v1/batches${opts.limit != null ? `?limit=${opts.limit}` : ''}`)
  if (opts.json === true) { printJson({ batches, total }); return }
  if (batches.length === 0) { line('no batches yet'); return }
  printTable(['BATCH', 'STATUS', 'DONE', 'COMPLETED', 'NOT COMPLETED', 'VERIFIED', 'COST', 'SUBMITTED'], batches.map((b) => [
    b.id,
    b.waiting != null ? `${b.status} · ${b.waiting.tasks} waiting for workers` : b.status,
    `${b.done}/${b.tasks}`,
    b.completed,
    b.failed,
    b.verified,
    creditAmount(b.cost),
    `${duration(Date.now() - b.createdAt)} ago`
  ]), { shrink: [1] })
  if (total > batches.length) line(`${batches.length} of ${total} shown (--limit N for more)`)
}
