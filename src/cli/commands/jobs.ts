/** `depin jobs [--status S] [--role R] [--limit N]`: jobs this node requested or ran, newest first. */
import type { JobSummaryView } from '../../node/api/job-view.ts'
import { createClient } from '../client.ts'
import { stateText } from '../job-format.ts'
import { line, printJson, printTable, shortCid, shortPeer } from '../output.ts'
import type { JobsOptions } from '../program.ts'

export async function jobsCommand (opts: JobsOptions): Promise<void> {
  const client = await createClient(opts)
  const query = new URLSearchParams()
  if (opts.status != null) query.set('status', opts.status)
  if (opts.role != null) query.set('role', opts.role)
  if (opts.limit != null) query.set('limit', String(opts.limit))
  const { jobs, total } = await client.get<{ jobs: JobSummaryView[], total: number }>(`/v1/jobs${query.size > 0 ? `?${query.toString()}` : ''}`)
  if (opts.json === true) { printJson({ jobs, total }); return }
  if (jobs.length === 0) { line(opts.status != null || opts.role != null ? 'no jobs match' : 'no jobs yet'); return }
  printTable(['JOB', 'MODULE', 'ROLE', 'STATUS', 'EXIT', 'COST', 'PEERS', 'CREATED'], jobs.map((j) => [
    j.id,
    j.module.startsWith('baf') ? shortCid(j.module) : j.module,
    j.role,
    stateText(j),
    j.exitCode,
    j.role === 'requester' ? j.cost : undefined,
    j.role === 'requester' ? (j.status === 'running' ? undefined : j.workers.map(shortPeer).join(',')) : `for ${shortPeer(j.requester)}`,
    new Date(j.createdAt).toISOString().replace('T', ' ').slice(0, 19)
  ]), { shrink: [3, 6, 1, 0] })
  if (total > jobs.length) line(`${jobs.length} of ${total} shown (--limit N for more)`)
}
