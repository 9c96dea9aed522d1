/** `depin cancel ID`: cancel a job this node requested that has not ended. */
import type { JobDetailView } from '../../node/api/job-view.ts'
import { createClient } from '../client.ts'
import { line, printJson } from '../output.ts'
import type { CommonOptions } from '../program.ts'

export async function cancelCommand (id: string, opts: CommonOptions): Promise<void> {
  const client = await createClient(opts)
  const job = await client.post<JobDetailView>(`/v1/jobs/${encodeURIComponent(id)}/cancel`, {})
  if (opts.json === true) { printJson(job); return }
  line(`job ${job.id} ${job.status === 'cancelled' ? 'cancelled' : `is ${job.status}`}${job.cost != null && job.cost > 0 ? ` (cost so far ${job.cost} credits)` : ''}`)
}
