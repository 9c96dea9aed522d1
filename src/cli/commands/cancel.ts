/**
 * `depin cancel ID`: cancel a job or a batch this node requested that has not ended. A lease this
 * node serves for a peer cannot be cancelled here: only its requester ends it.
 */
import type { JobDetailView } from '../../node/api/job-view.ts'
import { createClient, type ApiClient } from '../client.ts'
import { ApiResponseError } from '../errors.ts'
import { line, printJson } from '../output.ts'
import type { CommonOptions } from '../program.ts'
import { getJob } from '../wait.ts'

const notFound = (err: unknown, code: string): boolean => err instanceof ApiResponseError && err.status === 404 && err.code === code

export async function cancelCommand (id: string, opts: CommonOptions): Promise<void> {
  const client = await createClient(opts)
  let job: JobDetailView
  try {
    job = await client.post<JobDetailView>(`/v1/jobs/${encodeURIComponent(id)}/cancel`, {})
  } catch (err) {
    if (!notFound(err, 'ERR_JOB_NOT_FOUND')) throw err
    await cancelOther(client, id, opts)
    return
  }
  if (opts.json === true) { printJson(job); return }
  line(`job ${job.id} ${job.status === 'cancelled' ? 'cancelled' : `is ${job.status}`}${job.cost != null && job.cost > 0 ? ` (cost so far ${job.cost} credits)` : ''}`)
}

/** Not a job this node requested: a lease it serves (refused), a batch (cancelled), or nothing. */
async function cancelOther (client: ApiClient, id: string, opts: CommonOptions): Promise<void> {
  const served = await getJob(client, id).catch((err: unknown) => { if (notFound(err, 'ERR_JOB_NOT_FOUND')) return undefined; throw err })
  if (served != null && served.role !== 'requester') {
    // (one that ended is not served any more: as for a job that ended, there is nothing to cancel)
    if (served.status !== 'running') throw new ApiResponseError(409, 'ERR_NOT_CANCELLABLE', `${id} is a lease this node served for ${served.requester}; it has already ended: there is nothing to cancel`)
    // The worker has no way to end a lease early: the requester closes it (its tasks go back to it otherwise).
    throw new ApiResponseError(409, 'ERR_NOT_CANCELLABLE', `${id} is a lease this node serves for ${served.requester}: only that requester can cancel its work (\`depin cancel\` on its node); the lease ends when the requester closes it`)
  }
  try {
    await client.post(`/v1/batches/${encodeURIComponent(id)}/cancel`, {})
  } catch (err) {
    if (notFound(err, 'ERR_BATCH_NOT_FOUND')) throw new ApiResponseError(404, 'ERR_NOT_FOUND', `no job or batch ${id}`)
    throw err
  }
  const summary = await client.get<{ id: string, status: string, tasks: number, completed: number, failed: number }>(`/v1/batches/${encodeURIComponent(id)}`)
  if (opts.json === true) { printJson(summary); return }
  line(`batch ${id} cancelled (${summary.completed} of ${summary.tasks} tasks had completed)`)
}
