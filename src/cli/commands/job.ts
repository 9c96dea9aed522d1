/** `depin job ID [-o FILE] [--wait | --follow]`: one job; wait for it or follow its events. */
import { writeFile } from 'node:fs/promises'
import type { JobDetailView } from '../../node/api/job-view.ts'
import { createClient } from '../client.ts'
import { UsageError } from '../errors.ts'
import { assertSucceeded, isFinished, stateText } from '../job-format.ts'
import { credits, line, printJson, printTable } from '../output.ts'
import type { JobOptions } from '../program.ts'
import { ProgressView } from '../progress.ts'
import { fetchOutput, followJob, getJob, waitForJob } from '../wait.ts'

export async function jobCommand (id: string, opts: JobOptions): Promise<void> {
  if (opts.wait === true && opts.follow === true) throw new UsageError('use --wait or --follow, not both')
  const client = await createClient(opts)
  let job = await getJob(client, id)
  if (!isFinished(job) && opts.follow === true) {
    job = await followJob(client, id, opts.json === true)
  } else if (!isFinished(job) && opts.wait === true) {
    const view = new ProgressView({ jobId: id, replicas: job.replicas, quiet: opts.json === true })
    await view.start(job.createdAt)
    job = await waitForJob(client, id, view)
  }
  if (opts.output != null) {
    if (job.outputCid == null) {
      throw new UsageError(isFinished(job)
        ? `job ${id} ${job.status === 'cancelled' ? 'was cancelled' : job.status === 'timed-out' ? 'timed out' : 'failed'} before it produced output; nothing was written to ${opts.output}`
        : `job ${id} is ${job.status}; it has no output yet, nothing was written to ${opts.output} (wait for it: depin job ${id} --wait -o ${opts.output})`)
    }
    await writeFile(opts.output, await fetchOutput(client, id))
  }
  if (opts.json === true) printJson(job)
  else printJob(job, opts.output)
  if (opts.wait === true || opts.follow === true) assertSucceeded(job)
}

function printJob (job: JobDetailView, output?: string): void {
  line(`job:       ${job.id}`)
  line(`module:    ${job.module}${job.moduleCid !== '' && job.module !== job.moduleCid ? ` (${job.moduleCid})` : ''}`)
  line(`role:      ${job.role === 'requester' ? 'requested here' : `ran here for ${job.requester}`}`)
  line(`status:    ${stateText(job)}`)
  if (job.error != null && job.reason !== job.error.message) line(`error:     ${job.error.code}: ${job.error.message}`)
  if (job.exitCode != null) line(`exit code: ${job.exitCode}${job.trap != null ? ` (${job.trap})` : ''}`)
  if (job.role === 'requester') {
    line(`verified:  ${job.verified ? 'yes' : 'no'}${job.spotCheck != null ? ` (spot check ${job.spotCheck})` : ''} · ${job.quorum} of ${job.replicas} replica(s) must agree`)
    line(`cost:      ${credits(job.cost ?? 0)}`)
  }
  if (job.outputCid != null) line(`output:    ${job.outputCid} (${job.outputBytes} bytes)${output != null ? ` → ${output}` : ''}`)
  if (job.workers.length > 0) {
    line('workers:')
    printTable(['  PEER', 'STATUS', 'EXIT', 'AGREED', 'CPU ms', 'COST', 'ERROR'], job.workers.map((w) => [
      `  ${w.peerId}`, w.status, w.exitCode, w.agreed == null ? undefined : w.agreed ? 'yes' : 'no', w.cpuMs, w.cost, w.error
    ]), { shrink: [6] })
  }
  if (job.stderr.length > 0) line(`stderr:\n${job.stderr}`)
}
