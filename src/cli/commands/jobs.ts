/** Client commands for jobs: submit (with live progress), jobs, job. */
import { readFile, writeFile } from 'node:fs/promises'
import { basename } from 'node:path'
import type { JobSummary } from '../../scheduler/scheduler.ts'
import type { JobProgress, WorkerOutcome } from '../../scheduler/requester/jobs.ts'
import { FINAL_STATUSES, type JobStatus } from '../../scheduler/job-store.ts'
import { DepinError } from '../../errors.ts'
import { assertOk, createClient, type ApiClient } from '../client.ts'
import { UsageError } from '../errors.ts'
import { line, printJson, printTable, shortPeer } from '../output.ts'
import type { CommonOptions, JobOptions, SubmitOptions } from '../program.ts'

/** What GET /v1/jobs/:id returns. */
export interface JobView {
  id: string
  status: JobStatus
  exitCode?: number
  trap?: string
  outputCid?: string
  outputBytes: number
  stderr: string
  workers: WorkerOutcome[]
  verified: boolean
  spotCheck?: 'passed' | 'failed' | 'not-checked'
  cost: number
  error?: { code: string, message: string, reasons?: Record<string, number> }
}

/** A job that ran but did not succeed; the CLI exits non-zero with its message. */
export class JobFailedError extends DepinError {
  constructor (message: string) {
    super(message, 'ERR_JOB_FAILED')
  }
}

async function readFileArg (path: string, what: string): Promise<Buffer> {
  try {
    if (path === '-') {
      const chunks: Buffer[] = []
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
      return Buffer.concat(chunks)
    }
    return await readFile(path)
  } catch (err) {
    throw new UsageError(`cannot read ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
}

function parseEnv (pairs: string[] = []): Record<string, string> | undefined {
  if (pairs.length === 0) return undefined
  const env: Record<string, string> = {}
  for (const pair of pairs) {
    const eq = pair.indexOf('=')
    if (eq <= 0) throw new UsageError(`--env takes NAME=VALUE, got ${JSON.stringify(pair)}`)
    env[pair.slice(0, eq)] = pair.slice(eq + 1)
  }
  return env
}

/** Renders progress: a rewritten status line on a terminal, plain lines otherwise. */
class ProgressView {
  private readonly tty = process.stderr.isTTY === true
  private readonly quiet: boolean
  private frame = 0
  private timer?: ReturnType<typeof setInterval>
  private text = 'submitting'
  private readonly workers = new Set<string>()

  /** `quiet`: print nothing (for --json, whose stdout is for programs). */
  constructor (quiet: boolean) {
    this.quiet = quiet
  }

  start (): void {
    if (!this.tty || this.quiet) return
    this.timer = setInterval(() => { this.draw() }, 100)
  }

  update (progress: JobProgress): void {
    if (this.quiet) return
    if (progress.peerId != null && (progress.stage === 'accepted' || progress.stage === 'running' || progress.stage === 'result')) this.workers.add(shortPeer(progress.peerId))
    const who = progress.peerId != null ? ` ${shortPeer(progress.peerId)}` : ''
    const detail = progress.detail != null ? ` (${progress.detail})` : ''
    this.text = `${progress.stage}${who}${detail}`
    if (this.tty) this.draw()
    else process.stderr.write(`${new Date(progress.at).toISOString()} ${this.text}\n`)
  }

  stop (): void {
    clearInterval(this.timer)
    if (this.tty && !this.quiet) process.stderr.write('\r\x1b[K')
  }

  private draw (): void {
    const spinner = '⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏'[this.frame++ % 10]
    const workers = this.workers.size > 0 ? ` · workers: ${[...this.workers].join(', ')}` : ''
    process.stderr.write(`\r\x1b[K${spinner} ${this.text}${workers}`.slice(0, (process.stderr.columns ?? 100) + 8))
  }
}

/** Follows a job's server-sent events until it completes or fails. */
async function follow (client: ApiClient, id: string, view: ProgressView): Promise<void> {
  // No overall deadline: the daemon ends the stream when the job ends (a job may run for hours)
  // and sends a keep-alive every 15 s meanwhile.
  const response = await client.request(`/v1/jobs/${encodeURIComponent(id)}/events`, { headers: { accept: 'text/event-stream' }, signal: new AbortController().signal })
  await assertOk(response)
  if (response.body == null) return
  const decoder = new TextDecoder()
  let buffer = ''
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true })
    let split: number
    while ((split = buffer.indexOf('\n\n')) >= 0) {
      const event = buffer.slice(0, split)
      buffer = buffer.slice(split + 2)
      const data = event.split('\n').find((l) => l.startsWith('data: '))
      if (data == null) continue
      const progress = JSON.parse(data.slice(6)) as JobProgress
      view.update(progress)
      if (FINAL_STATUSES.has(progress.stage as JobStatus)) return
    }
  }
}

async function fetchOutput (client: ApiClient, id: string): Promise<Uint8Array> {
  const response = await client.request(`/v1/jobs/${encodeURIComponent(id)}/output`)
  await assertOk(response)
  return new Uint8Array(await response.arrayBuffer())
}

/** Throws the error a finished job deserves, if any. */
function assertSucceeded (job: JobView): void {
  if (job.status === 'unverified') {
    throw new JobFailedError(`job ${job.id} is UNVERIFIED: ${job.error?.message ?? 'a spot check disagreed with the workers'}; its output is not a verified answer`)
  }
  if (job.status !== 'completed') {
    const reasons = job.error?.reasons != null ? ` [${Object.entries(job.error.reasons).map(([r, n]) => `${r}: ${n}`).join(', ')}]` : ''
    throw new JobFailedError(`job ${job.id} ${job.status}: ${job.error?.message ?? 'unknown error'}${reasons}`)
  }
  if (job.exitCode !== 0) {
    throw new JobFailedError(`job ${job.id}: the program ${job.trap != null ? `stopped: ${job.trap}` : `exited with code ${job.exitCode ?? '?'}`}`)
  }
}

export async function submitCommand (modulePath: string, opts: SubmitOptions): Promise<void> {
  const module = await readFileArg(modulePath, 'module')
  const input = opts.input != null ? await readFileArg(opts.input, 'input') : undefined
  const spec = {
    ...(opts.arg != null ? { args: opts.arg } : {}),
    ...(parseEnv(opts.env) != null ? { env: parseEnv(opts.env) } : {}),
    ...(opts.replicas != null ? { replicas: opts.replicas } : {}),
    ...(opts.quorum != null ? { quorum: opts.quorum } : {}),
    ...(opts.maxPrice != null ? { maxPrice: opts.maxPrice } : {}),
    ...(opts.timeout != null ? { timeoutMs: opts.timeout * 1000 } : {}),
    ...(opts.memory != null ? { memoryMiB: opts.memory } : {}),
    ...(opts.peer != null ? { peers: opts.peer } : {}),
    ...(opts.spotCheck === true ? { spotCheck: true } : {})
  }
  const client = await createClient(opts)
  const form = new FormData()
  form.set('module', new Blob([module]), basename(modulePath))
  if (input != null) form.set('input', new Blob([input]), 'input')
  form.set('spec', JSON.stringify(spec))
  const response = await client.request('/v1/jobs', { method: 'POST', body: form })
  await assertOk(response)
  const { id } = await response.json() as { id: string }
  if (opts.wait !== true) {
    if (opts.json === true) printJson({ id })
    else line(id)
    return
  }

  const view = new ProgressView(opts.json === true)
  view.start()
  try {
    await follow(client, id, view)
  } finally {
    view.stop()
  }
  const job = await client.get<JobView>(`/v1/jobs/${encodeURIComponent(id)}`)
  const output = job.outputCid != null ? await fetchOutput(client, id) : new Uint8Array(0)
  if (opts.output != null) await writeFile(opts.output, output)
  if (opts.json === true) {
    printJson(job)
  } else {
    if (opts.output == null) process.stdout.write(output)
    const agreed = job.workers.filter((w) => w.agreed === true).map((w) => shortPeer(w.peerId))
    if (job.status === 'completed') {
      process.stderr.write(`job ${id}: ${job.verified ? 'verified' : 'not verified'} · ran on ${agreed.join(', ') || job.workers.map((w) => shortPeer(w.peerId)).join(', ')} · cost ${job.cost} credits${opts.output != null ? ` · output in ${opts.output} (${output.byteLength} bytes)` : ''}\n`)
    }
  }
  assertSucceeded(job)
}

export async function jobsCommand (opts: CommonOptions): Promise<void> {
  const client = await createClient(opts)
  const { jobs } = await client.get<{ jobs: JobSummary[] }>('/v1/jobs')
  if (opts.json === true) { printJson({ jobs }); return }
  if (jobs.length === 0) { line('no jobs yet'); return }
  printTable(['ID', 'KIND', 'ROLE', 'STATUS', 'EXIT', 'VERIFIED', 'COST', 'PEERS', 'CREATED'], jobs.map((j) => [
    j.id,
    j.kind,
    j.role,
    j.kind === 'batch' ? `${j.status} ${j.done ?? 0}/${j.tasks ?? 0}` : j.kind === 'lease' ? `${j.status} (${j.tasks ?? 0} tasks, earned ${j.earned ?? 0})` : j.status,
    j.exitCode,
    j.role === 'requester' ? (j.verified === true ? 'yes' : j.status === 'completed' ? 'no' : undefined) : undefined,
    j.cost,
    j.role === 'requester' ? j.workers.map(shortPeer).join(',') || undefined : `for ${shortPeer(j.requester)}`,
    new Date(j.createdAt).toISOString()
  ]))
}

export async function jobCommand (id: string, opts: JobOptions): Promise<void> {
  const client = await createClient(opts)
  const job = await client.get<JobView>(`/v1/jobs/${encodeURIComponent(id)}`)
  if (opts.output != null) {
    if (job.outputCid == null) throw new UsageError(`job ${id} ${FINAL_STATUSES.has(job.status) ? `ended ${job.status}` : 'is still running'}: there is no output to write to ${opts.output}`)
    await writeFile(opts.output, await fetchOutput(client, id))
  }
  if (opts.json === true) { printJson(job); return }
  line(`job:       ${job.id}`)
  line(`status:    ${job.status}${job.error != null ? ` (${job.error.code}: ${job.error.message})` : ''}`)
  if (job.exitCode != null) line(`exit code: ${job.exitCode}${job.trap != null ? ` (${job.trap})` : ''}`)
  line(`verified:  ${job.verified ? 'yes' : 'no'}${job.spotCheck != null ? ` (spot check ${job.spotCheck})` : ''}`)
  line(`cost:      ${job.cost} credits`)
  if (job.outputCid != null) line(`output:    ${job.outputCid} (${job.outputBytes} bytes)${opts.output != null ? ` → ${opts.output}` : ''}`)
  if (job.workers.length > 0) {
    line('workers:')
    printTable(['  PEER', 'STATUS', 'EXIT', 'AGREED', 'CPU ms', 'COST', 'ERROR'], job.workers.map((w) => [
      `  ${w.peerId}`, w.status, w.exitCode, w.agreed == null ? undefined : w.agreed ? 'yes' : 'no', w.cpuMs, w.cost, w.error
    ]))
  }
  if (job.stderr.length > 0) line(`stderr:\n${job.stderr}`)
}
