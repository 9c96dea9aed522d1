/**
 * `depin jobs [--status S] [--role R] [--limit N]`: jobs this node requested or ran, newest first.
 * `depin jobs --prune [--older-than D]`: deletes what ended longer ago than the retention.
 */
import type { JobSummaryView } from '../../node/api/job-view.ts'
import type { PruneReport } from '../../scheduler/retention/index.ts'
import { formatDuration } from '../../shared/duration.ts'
import { createClient } from '../client.ts'
import { stateText } from '../job-format.ts'
import { byteSize, creditAmount, duration, line, printJson, printTable, shortCid, shortPeer } from '../output.ts'
import type { JobsOptions } from '../program.ts'

/** The first worker and how many more (`depin job ID` lists them all). */
function peersCell (workers: string[]): string | undefined {
  if (workers.length === 0) return undefined
  return workers.length === 1 ? shortPeer(workers[0]) : `${shortPeer(workers[0])} +${workers.length - 1}`
}

export async function jobsCommand (opts: JobsOptions): Promise<void> {
  if (opts.prune === true) { await pruneCommand(opts); return }
  const client = await createClient(opts)
  const query = new URLSearchParams()
  if (opts.status != null) query.set('status', opts.status)
  if (opts.role != null) query.set('role', opts.role)
  if (opts.limit != null) query.set('limit', String(opts.limit))
  const { jobs, total } = await client.get<{ jobs: JobSummaryView[], total: number }>(`/v1/jobs${query.size > 0 ? `?${query.toString()}` : ''}`)
  if (opts.json === true) { printJson({ jobs, total }); return }
  if (jobs.length === 0) { line(opts.status != null || opts.role != null ? 'no jobs match' : 'no jobs yet'); return }
  printTable(['JOB', 'MODULE', 'ROLE', 'STATUS', 'EXIT', 'FUEL', 'COST', 'PEERS', 'SUBMITTED'], jobs.map((j) => [
    j.id,
    j.module.startsWith('baf') ? shortCid(j.module) : j.module,
    j.role,
    stateText(j),
    j.exitCode,
    j.fuel,
    // A requester's is what it paid, a worker's what it earned.
    j.cost != null ? creditAmount(j.cost) : undefined,
    j.role === 'requester' ? (j.status === 'running' ? undefined : peersCell(j.workers)) : `for ${shortPeer(j.requester)}`,
    `${duration(Date.now() - j.createdAt)} ago`
  ]), { shrink: [7, 1, 3] })
  if (total > jobs.length) line(`${jobs.length} of ${total} shown (--limit N for more)`)
}

function count (n: number, one: string, many = `${one}s`): string {
  return `${n.toLocaleString('en-US')} ${n === 1 ? one : many}`
}

/** The report of a prune or delete as one line. */
export function pruneText (report: PruneReport): string {
  const records = [
    count(report.jobs, 'job'),
    `${count(report.batches, 'batch', 'batches')} (${count(report.tasks, 'task')})`,
    count(report.leases, 'lease record')
  ].join(', ')
  const age = report.olderThanMs == null ? 'kept every record (retention forever)' : `removed ${records} that ended more than ${formatDuration(report.olderThanMs)} ago`
  return `${age}; deleted ${count(report.blobs, 'unreferenced blob')} (${byteSize(report.bytes)} freed)`
}

async function pruneCommand (opts: JobsOptions): Promise<void> {
  const client = await createClient(opts)
  const report = await client.post<PruneReport>('/v1/jobs/prune', opts.olderThan != null ? { olderThanMs: opts.olderThan } : {})
  if (opts.json === true) { printJson(report); return }
  line(pruneText(report))
}
