/**
 * `depin batch ID [--out DIR]`: one batch's summary; with `--out`, its outputs into DIR as `map`
 * writes them (the tasks DIR/results.jsonl does not list yet, following the batch until it
 * ends): what finishes a `map` that stopped (Ctrl-C, a daemon that went down and came back).
 * `depin batches [--limit N]`: the batches this node submitted (`depin map`), newest first, one
 * line each with its progress.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { followBatch } from '../batch-follow.ts'
import { createClient, type ApiClient } from '../client.ts'
import { credits, creditAmount, duration, line, printable, printJson, printTable } from '../output.ts'
import type { BatchOptions, BatchesOptions } from '../program.ts'
import { openResults, prepareOut, RESULTS_FILE, type Summary } from './map.ts'

export async function batchCommand (id: string, opts: BatchOptions): Promise<void> {
  const client = await createClient(opts)
  const summary = await client.get<Summary>(`/v1/batches/${encodeURIComponent(id)}`)
  if (opts.out != null) { await followInto(client, summary, opts.out, opts.json === true); return }
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

/** Writes into `out` the outputs of the batch's tasks that its results.jsonl does not list yet, until the batch ends. */
async function followInto (client: ApiClient, summary: Summary, out: string, json: boolean): Promise<void> {
  await prepareOut(out)
  const resultsFile = join(out, RESULTS_FILE)
  const results = await openResults(resultsFile, 'nothing was written')
  try {
    await followBatch(client, summary.id, { out, results, resultsFile, total: summary.tasks, json, nameOf: (task) => task.name ?? String(task.index), skip: await namesListed(resultsFile) })
  } finally {
    await results.close()
  }
}

/** The task names a results.jsonl lists (lines that are not a task's are ignored). */
async function namesListed (file: string): Promise<Set<string>> {
  const names = new Set<string>()
  for (const text of (await readFile(file, 'utf8')).split('\n')) {
    try {
      const name = (JSON.parse(text) as { name?: unknown }).name
      if (typeof name === 'string') names.add(name)
    } catch {}
  }
  return names
}
