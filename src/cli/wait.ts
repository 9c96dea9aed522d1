/** Waiting on a job with live progress: `submit --wait`, `job ID --wait`, `job ID --follow`. */
import { writeFile } from 'node:fs/promises'
import type { JobDetailView } from '../node/api/job-view.ts'
import { assertOk, type ApiClient } from './client.ts'
import { serverEvents } from './events.ts'
import { describe, ProgressView, VerifiedWording, type ProgressEvent } from './progress.ts'
import { isFinished, stateText } from './job-format.ts'
import { connectionLost, jobDaemonStopped, onInterrupt } from './interrupt.ts'
import { credits, line, printJson, shortPeer } from './output.ts'
import { writtenText, type Written } from './files-text.ts'

export async function getJob (client: ApiClient, id: string): Promise<JobDetailView> {
  return await client.get<JobDetailView>(`/v1/jobs/${encodeURIComponent(id)}`)
}

export async function fetchOutput (client: ApiClient, id: string): Promise<Uint8Array> {
  const response = await client.request(`/v1/jobs/${encodeURIComponent(id)}/output`)
  await assertOk(response)
  return await response.bytes()
}

/** Stages after which the daemon ends a job's event stream. */
const ENDS = new Set(['completed', 'unverified', 'failed', 'timed-out', 'cancelled'])

/**
 * The progress events of job `id` until it ends, then its record. A daemon that stops meanwhile
 * (the stream is cut, or ends before the job did) is one line saying the job resumes with the node.
 */
async function followEvents (client: ApiClient, id: string, onEvent: (event: ProgressEvent) => void): Promise<JobDetailView> {
  let ended = false
  try {
    for await (const { event, data } of serverEvents(client, `/v1/jobs/${encodeURIComponent(id)}/events`)) {
      if (event !== 'progress') continue
      const progress = data as ProgressEvent
      onEvent(progress)
      if (ENDS.has(progress.stage)) { ended = true; break }
    }
  } catch (err) {
    if (connectionLost(err)) throw jobDaemonStopped(id, err)
    throw err
  }
  // The record says how it ended (the events alone may not: see VerifiedWording).
  let job: JobDetailView
  try {
    job = await getJob(client, id)
  } catch (err) {
    if (!ended && connectionLost(err)) throw jobDaemonStopped(id, err)
    throw err
  }
  // (a stream the daemon ended as it stopped, the job still unfinished)
  if (!isFinished(job)) throw jobDaemonStopped(id)
  return job
}

/**
 * Follows a job's events into `view` until it ends, then returns the job. Ctrl-C (SIGTERM,
 * SIGHUP) clears the display, prints how to follow the job, and exits 130 (143, 129): the job
 * goes on in the daemon. Starts `view` (from `since`); `handOver` releases the signals' previous
 * holder once this holds them.
 */
export async function waitForJob (client: ApiClient, id: string, view: ProgressView, options: { since?: number, handOver?: () => void } = {}): Promise<JobDetailView> {
  const release = onInterrupt(() => { view.interrupt() })
  // (the previous holder of the signals, the upload's, lets go only now: see `onInterrupt`)
  options.handOver?.()
  try {
    // Started (the job's id printed) only once a signal says where the job goes on.
    await view.start(options.since)
    const job = await followEvents(client, id, (progress) => { view.update(progress) })
    view.finish(job)
    return job
  } finally {
    view.stop()
    release()
  }
}

/** Prints a finished job's output (stdout, or a file) and its closing line; JSON with --json. */
export async function printFinished (client: ApiClient, job: JobDetailView, opts: { json?: boolean, output?: string, written?: Written }): Promise<void> {
  const output = job.outputCid != null ? await fetchOutput(client, job.id) : new Uint8Array(0)
  if (opts.output != null && job.outputCid != null) await writeFile(opts.output, output)
  if (opts.json === true) {
    printJson(job)
    return
  }
  if (opts.output == null) process.stdout.write(output)
  const ran = job.workers.filter((w) => w.agreed === true).map((w) => shortPeer(w.peerId))
  const on = ran.length > 0 ? ran : job.workers.filter((w) => w.status === 'done').map((w) => shortPeer(w.peerId))
  const parts = [`job ${job.id}: ${stateText(job)}`]
  if (on.length > 0) parts.push(`ran on ${on.join(', ')}`)
  if (job.fuel != null) parts.push(`fuel ${job.fuel}`)
  parts.push(`cost ${credits(job.cost ?? 0)}`)
  if (opts.output != null && job.outputCid != null) parts.push(`output in ${opts.output} (${output.byteLength} bytes)`)
  if (opts.written != null) parts.push(`${writtenText(opts.written)}`)
  process.stderr.write(parts.join(' · ') + '\n')
}

/** `--follow`: one plain line per event until the job ends. */
export async function followJob (client: ApiClient, id: string, json: boolean): Promise<JobDetailView> {
  const wording = new VerifiedWording()
  const job = await followEvents(client, id, (progress) => {
    if (json) process.stdout.write(JSON.stringify(progress) + '\n')
    else for (const shown of wording.push(progress)) line(`${new Date(shown.at).toISOString()} ${describe(shown)}`)
  })
  if (!json) for (const shown of wording.settle(job)) line(`${new Date(shown.at).toISOString()} ${describe(shown)}`)
  return job
}
