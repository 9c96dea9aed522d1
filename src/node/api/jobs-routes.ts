/**
 * Job routes:
 *   POST /v1/jobs                 multipart/form-data: `module` (file, required), `input` (file,
 *                                 optional), `spec` (JSON field, optional; see upload.ts) → 202 {id}
 *   GET  /v1/jobs?status&role&limit   {jobs: JobSummaryView[]}, newest first
 *   GET  /v1/jobs/:id             the job (JobDetailView): state, workers, result without the output bytes
 *   GET  /v1/jobs/:id/output      the output bytes (application/octet-stream)
 *   GET  /v1/jobs/:id/events      server-sent events: one `progress` event per stage; the stream
 *                                 ends after `completed` or `failed`
 *   POST /v1/jobs/:id/cancel      cancel a job that has not ended → the job (status `cancelled`)
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import multipart from '@fastify/multipart'
import { z } from 'zod'
import type { ComputeNode } from '../compute-node.ts'
import type { JobProgress } from '../../scheduler/requester/jobs.ts'
import type { JobInit } from '../../scheduler/job.ts'
import type { RequestedJob } from '../../scheduler/job-store.ts'
import { JobNotFoundError } from '../../scheduler/errors.ts'
import { JOB_STATES, stateWord } from '../../job-status.ts'
import { JobLabels } from '../job-labels.ts'
import { isFinalStage } from '../job-activity.ts'
import type { NodeMetrics } from '../metrics/node-metrics.ts'
import { ApiError } from './errors.ts'
import { leaseSummaryView, requestedDetail, requestedSummary, type JobDetailView, type JobSummaryView } from './job-view.ts'
import { readJobUpload, UPLOAD_LIMITS, UploadRefusedError } from './upload.ts'

export { jobSpecFieldSchema, type JobSpecField } from './upload.ts'

export const jobIdParams = z.object({ id: z.string().min(1).max(200).describe('job id (a CID)') }).strict()

export const jobsQuery = z.object({
  status: z.enum([...JOB_STATES, 'unverified', 'active']).optional()
    .describe('only jobs in this state; `unverified`: completed but not verified; `active`: queued or running'),
  role: z.enum(['requester', 'worker']).optional().describe('only jobs this node requested, or ran for peers'),
  limit: z.coerce.number().int().min(1).max(1000).optional().describe('at most this many (newest first; default 100)')
}).strict()

export const DEFAULT_JOBS_LIMIT = 100
/** How long an idle event stream stays open between keep-alive comments. */
const KEEP_ALIVE_MS = 15_000
/** After the response to a refused upload, how long the rest of the body may drain before the socket closes. */
const REFUSED_UPLOAD_LINGER_MS = 2_000

export interface JobsRoutesInit {
  metrics?: NodeMetrics
  /** Where uploads are spooled while they are checked. @default the OS temp dir */
  tmpDir?: string
}

export function jobsRoutes (node: ComputeNode, init: JobsRoutesInit = {}) {
  let labelsValue: JobLabels | undefined
  const labels = (): JobLabels => (labelsValue ??= new JobLabels(node.services().store))

  const summaries = async (): Promise<JobSummaryView[]> => {
    const out: JobSummaryView[] = []
    const records = node.scheduler.records
    for await (const stored of records.allRequested()) {
      const record = node.scheduler.requester.jobs.liveRecord(stored.id) ?? stored
      out.push(requestedSummary(record, node.activity.get(record.id), await labels().get(record.id)))
    }
    for await (const lease of records.allLeases()) out.push(leaseSummaryView(lease))
    return out.sort((a, b) => b.createdAt - a.createdAt)
  }

  const detail = async (id: string): Promise<JobDetailView> => {
    let record: RequestedJob
    try {
      record = await node.scheduler.record(id)
    } catch (err) {
      if (!(err instanceof JobNotFoundError)) throw err
      // A lease this node served for a peer: its worker-side summary.
      for await (const lease of node.scheduler.records.allLeases()) {
        if (lease.leaseId === id) return { ...leaseSummaryView(lease), workers: [], moduleCid: '', moduleBytes: 0, inputBytes: 0, replicas: 1, quorum: 1, deadline: 0, outputBytes: 0, stderr: '' }
      }
      throw err
    }
    return requestedDetail(record, await node.job(id), node.activity.get(id), await labels().get(id))
  }

  return (root: FastifyInstance): void => {
    const app = root.withTypeProvider<ZodTypeProvider>()

    void app.register(async (scope) => {
      await scope.register(multipart, { limits: UPLOAD_LIMITS })
      scope.post('/v1/jobs', {
        schema: {
          tags: ['jobs'],
          summary: 'Submit a job: multipart/form-data with a `module` file (WebAssembly), an optional `input` file and an optional `spec` JSON field',
          description: 'Parts: `spec` (a JSON text field, best sent first: args, env, memoryMiB, timeoutMs, replicas, quorum, maxPrice, deadline, peers, spotCheck, ' +
            'and the declared sizes moduleBytes and inputBytes), `module` (file, at most 64 MiB, starting with the WebAssembly header), `input` (file, at most 256 MiB). ' +
            'Checked while streaming: a part over its cap or its declared size is refused at once (413 / 400). Answers 202 {"id"}.',
          consumes: ['multipart/form-data']
        }
      }, async (request: FastifyRequest, reply: FastifyReply) => {
        let upload
        try {
          upload = await readJobUpload(request, init.tmpDir)
        } catch (err) {
          if (err instanceof UploadRefusedError) {
            init.metrics?.apiUploadsRefused.inc({ reason: err.reason })
            closeAfterReply(request, reply)
          }
          throw err
        }
        const { spotCheck, moduleBytes: _m, inputBytes: _i, ...jobSpec } = upload.spec
        const job: JobInit = { ...jobSpec, module: upload.module }
        if (upload.input != null) job.input = upload.input
        const handle = await node.submitJob(job, { spotCheck })
        await labels().set(handle.id, { module: upload.moduleName })
        init.metrics?.bytesTransferred('received', 'module', upload.module.byteLength)
        if (upload.input != null) init.metrics?.bytesTransferred('received', 'input', upload.input.byteLength)
        node.log.info({ job: handle.id, module: upload.moduleName, replicas: jobSpec.replicas ?? 1 }, 'job accepted from the API')
        return await reply.code(202).send({ id: handle.id })
      })
    })

    app.get('/v1/jobs', { schema: { tags: ['jobs'], summary: 'Jobs this node requested or ran, newest first', querystring: jobsQuery } }, async (request) => {
      const { status, role, limit } = request.query
      const jobs = (await summaries()).filter((j) => {
        if (role != null && j.role !== role) return false
        if (status == null) return true
        if (status === 'active') return j.status === 'queued' || j.status === 'running'
        // Verification is the requester's verdict: a task run here for a peer is just completed.
        if ((status === 'unverified' || status === 'completed') && j.role === 'requester') return stateWord(j.status, j.verified) === status
        if (status === 'unverified') return false
        return j.status === status
      })
      return { jobs: jobs.slice(0, limit ?? DEFAULT_JOBS_LIMIT), total: jobs.length }
    })

    app.get('/v1/jobs/:id', { schema: { tags: ['jobs'], summary: 'One job: state, workers, verification, cost', params: jobIdParams } },
      async (request) => await detail(request.params.id))

    app.get('/v1/jobs/:id/output', { schema: { tags: ['jobs'], summary: 'The output bytes of a job that ran', params: jobIdParams } }, async (request, reply) => {
      const { id } = request.params
      const record = await node.scheduler.record(id)
      if (record.status !== 'completed') {
        const view = await detail(id)
        const why = view.status === 'queued' || view.status === 'running' ? `is ${view.status}; it has no output yet` : `${view.status === 'cancelled' ? 'was cancelled' : view.status === 'timed-out' ? 'timed out' : 'failed'} before any output`
        throw new ApiError(409, 'ERR_NO_OUTPUT', `job ${id} ${why}`)
      }
      const result = await node.job(id)
      return await reply.type('application/octet-stream').header('x-output-cid', result.outputCid ?? '').send(Buffer.from(result.stdout))
    })

    app.post('/v1/jobs/:id/cancel', { schema: { tags: ['jobs'], summary: 'Cancel a job that has not ended', params: jobIdParams } }, async (request) => {
      const { id } = request.params
      await node.cancelJob(id)
      node.log.info({ job: id }, 'job cancelled by the user')
      return await detail(id)
    })

    app.get('/v1/jobs/:id/events', { schema: { tags: ['jobs'], summary: 'Server-sent progress events of a job until it ends', params: jobIdParams } }, async (request, reply) => {
      const { id } = request.params
      const record = await node.scheduler.record(id)
      reply.hijack()
      const raw = reply.raw
      raw.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' })
      const send = (progress: JobProgress): void => { raw.write(`event: progress\ndata: ${JSON.stringify(progress)}\n\n`) }
      const end = (): void => {
        node.removeEventListener('job:progress', onProgress)
        clearInterval(keepAlive)
        raw.end()
      }
      const onProgress = (evt: CustomEvent<JobProgress>): void => {
        if (evt.detail.jobId !== id) return
        send(evt.detail)
        if (isFinalStage(evt.detail.stage)) end()
      }
      // Comments keep proxies and idle timers from closing a quiet stream.
      const keepAlive = setInterval(() => { raw.write(': keep-alive\n\n') }, KEEP_ALIVE_MS)
      raw.on('close', end)
      const past = node.activity.events(id)
      for (const progress of past) send(progress)
      if (past.some((p) => isFinalStage(p.stage))) { end(); return }
      if (record.status === 'completed' || record.status === 'failed') {
        send({ jobId: id, stage: record.status, at: record.updatedAt, detail: record.error?.message })
        end()
        return
      }
      node.addEventListener('job:progress', onProgress)
    })
  }
}

/**
 * After refusing an upload the rest of its body is not wanted: the answer says `Connection:
 * close`, the body drains for a short while (so the client reads the answer rather than a reset),
 * then the socket closes.
 */
function closeAfterReply (request: FastifyRequest, reply: FastifyReply): void {
  void reply.header('connection', 'close')
  const socket = request.raw.socket
  reply.raw.once('finish', () => {
    const timer = setTimeout(() => { socket.destroy() }, REFUSED_UPLOAD_LINGER_MS)
    timer.unref()
    socket.once('close', () => { clearTimeout(timer) })
  })
}
