/**
 * Job routes:
 *   POST /v1/jobs                 multipart/form-data: `module` (file, required), `input` (file,
 *                                 optional), `in` (files, their filenames the paths under /in),
 *                                 `spec` (JSON field, optional; see upload.ts) → 202 {id}
 *   GET  /v1/jobs?status&role&limit   {jobs: JobSummaryView[]}, newest first
 *   GET  /v1/jobs/:id             the job (JobDetailView): state, workers, result without the output bytes
 *   GET  /v1/jobs/:id/output      the output bytes (application/octet-stream), of any job that ran
 *   GET  /v1/jobs/:id/files       the files the job left in /out: {files: [{path, size, cid}], filesCid}
 *   GET  /v1/jobs/:id/files/*     one of them by its path (application/octet-stream, X-Depin-Cid)
 *   GET  /v1/jobs/:id/events      server-sent events: one `progress` event per stage; the stream
 *                                 ends after `completed` or `failed`
 *   POST /v1/jobs/:id/cancel      cancel a job that has not ended → the job (status `cancelled`)
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import multipart from '@fastify/multipart'
import { z } from 'zod'
import { CID } from 'multiformats/cid'
import type { ComputeNode } from '../compute-node.ts'
import type { JobProgress } from '../../scheduler/requester/jobs.ts'
import type { JobInit } from '../../scheduler/job.ts'
import { FINAL_STATUSES, type RequestedJob } from '../../scheduler/job-store.ts'
import { JobNotFoundError } from '../../scheduler/errors.ts'
import { MAX_MANIFEST_ENTRIES } from '../../scheduler/files/constants.ts'
import { JOB_STATES } from '../../job-status.ts'
import { JobLabels } from '../job-labels.ts'
import { isFinalStage } from '../job-activity.ts'
import type { NodeMetrics } from '../metrics/node-metrics.ts'
import { ApiError } from './errors.ts'
import { leaseSummaryView, requestedDetail, type JobDetailView } from './job-view.ts'
import { listJobs } from './jobs-list.ts'
import { JobsCounter } from './jobs-count.ts'
import { closeAfterReply, jobUploadLimits, readJobUpload, UploadRefusedError } from './upload.ts'
import { placementOf } from './upload-spec.ts'
import type { InputTreeLimits } from './upload-tree.ts'
import type { UploadGate } from './upload-gate.ts'
import { filePathParam, fileList, sendFile } from './output-files.ts'
import { sseWrite } from './sse.ts'
import { parseParams } from './validate.ts'

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

export interface JobsRoutesInit {
  metrics?: NodeMetrics
  /** Where uploads are spooled while they are checked. @default the OS temp dir */
  tmpDir?: string
  /** Bounds of an upload's input tree (`in` parts). @default MAX_MANIFEST_ENTRIES files, MAX_INPUT_FILES_BYTES */
  inputTree?: InputTreeLimits
  /** How many uploads may stream at once and the memory they share. @default processUploads (one for the whole process) */
  uploads?: UploadGate
}

export function jobsRoutes (node: ComputeNode, init: JobsRoutesInit = {}) {
  let labelsValue: JobLabels | undefined
  const labels = (): JobLabels => (labelsValue ??= new JobLabels(node.services().store))
  // The list's `total` of older entries, kept between pages (jobs-count.ts).
  const counter = new JobsCounter(node)

  const detail = async (id: string): Promise<JobDetailView> => {
    let record: RequestedJob
    try {
      record = await node.scheduler.record(id)
    } catch (err) {
      if (!(err instanceof JobNotFoundError)) throw err
      // A lease this node served for a peer: its worker-side summary.
      const lease = await node.scheduler.servedLease(id)
      if (lease != null) return { ...leaseSummaryView(lease), workers: [], moduleCid: '', moduleBytes: 0, inputBytes: 0, replicas: 1, quorum: 1, deadline: 0, outputBytes: 0, stderr: '' }
      throw err
    }
    return requestedDetail(record, await node.job(id), node.activity.get(id), await labels().get(id))
  }

  return (root: FastifyInstance): void => {
    const app = root.withTypeProvider<ZodTypeProvider>()

    void app.register(async (scope) => {
      await scope.register(multipart, { limits: jobUploadLimits(init.inputTree?.maxFiles ?? MAX_MANIFEST_ENTRIES) })
      scope.post('/v1/jobs', {
        schema: {
          tags: ['jobs'],
          summary: 'Submit a job: multipart/form-data with a `module` file (WebAssembly), an optional `input` file and an optional `spec` JSON field',
          description: 'Parts: `spec` (a JSON text field, best sent first: args, env, memoryMiB, timeoutMs, replicas, quorum, maxPrice, fuel (decimal string or integer, 0..2^64-1), deadline, peers, spotCheck, ' +
            'and the declared sizes moduleBytes, inputBytes, inFiles, inBytes), `module` (file, at most 64 MiB, starting with the WebAssembly header), `input` (file, at most 256 MiB), ' +
            '`in` (files, one per input file, the filename its path under /in, e.g. photos/a.pgm; at most 100,000 files and 1 GiB in all). ' +
            'Checked while streaming: a part over its cap or its declared size, or a bad path, is refused at once (413 / 400). Answers 202 {"id"}.',
          consumes: ['multipart/form-data']
        }
      }, async (request: FastifyRequest, reply: FastifyReply) => {
        let upload
        try {
          upload = await readJobUpload(request, { tmpRoot: init.tmpDir, tree: init.inputTree, gate: init.uploads })
        } catch (err) {
          if (err instanceof UploadRefusedError) {
            init.metrics?.apiUploadsRefused.inc({ reason: err.reason })
            closeAfterReply(request, reply)
          }
          throw err
        }
        const jobSpec = placementOf(upload.spec)
        const job: JobInit = { ...jobSpec, module: upload.module }
        if (upload.input != null) job.input = upload.input
        if (upload.files != null) job.files = upload.files
        // On the disk before the 202 (a power cut after it must not lose the job).
        const handle = await node.submitJob(job, { spotCheck: upload.spec.spotCheck, sync: true })
        await labels().set(handle.id, { module: upload.moduleName })
        node.log.info({ job: handle.id, module: upload.moduleName, replicas: jobSpec.replicas ?? 1, inFiles: upload.files?.length ?? 0 }, 'job accepted from the API')
        return await reply.code(202).send({ id: handle.id })
      })
    })

    app.get('/v1/jobs', { schema: { tags: ['jobs'], summary: 'Jobs this node requested or ran, newest first', querystring: jobsQuery } }, async (request) => {
      const { status, role, limit } = request.query
      return await listJobs(node, labels, { status, role, limit: limit ?? DEFAULT_JOBS_LIMIT }, counter)
    })

    app.get('/v1/jobs/:id', { schema: { tags: ['jobs'], summary: 'One job: state, workers, verification, cost', params: jobIdParams } },
      async (request) => await detail(request.params.id))

    const noOutput = async (id: string): Promise<string> => {
      const view = await detail(id)
      const why = view.status === 'queued' || view.status === 'running' ? `is ${view.status}; it has no output yet` : `${view.status === 'cancelled' ? 'was cancelled' : view.status === 'timed-out' ? 'timed out' : 'failed'} before any output`
      return `job ${id} ${why}`
    }

    // Any job that ran has an output: a failed one (e.g. out of fuel) and an unverified one too.
    app.get('/v1/jobs/:id/output', { schema: { tags: ['jobs'], summary: 'The output bytes (stdout) of a job that ran', params: jobIdParams } }, async (request, reply) => {
      const { id } = request.params
      const record = await node.scheduler.record(id)
      if (record.outputCid == null) throw new ApiError(409, 'ERR_NO_OUTPUT', await noOutput(id))
      // (gone: deleted, or a file a crash or power cut damaged; never an empty body instead)
      const stdout = await node.scheduler.blobs.get(CID.parse(record.outputCid))
      if (stdout == null) throw new ApiError(410, 'ERR_OUTPUT_GONE', 'the output is no longer kept')
      return await reply.type('application/octet-stream').header('x-output-cid', record.outputCid).send(Buffer.from(stdout))
    })

    app.get('/v1/jobs/:id/files', { schema: { tags: ['jobs'], summary: 'The files a job left in /out: {files: [{path, size, cid}], filesCid}', params: jobIdParams } }, async (request) => {
      const { id } = request.params
      const record = await node.scheduler.record(id)
      return await fileList(node.scheduler.blobs, record, async () => await noOutput(id))
    })

    app.get('/v1/jobs/:id/files/*', { schema: { tags: ['jobs'], summary: 'One file a job left in /out, by its path there (bytes; X-Depin-Cid: its CID)' } }, async (request, reply) => {
      const { id } = parseParams(jobIdParams, { id: (request.params as { id?: string }).id })
      const path = filePathParam(request.params)
      return await sendFile(reply, await node.jobFile(id, path))
    })

    app.post('/v1/jobs/:id/cancel', { schema: { tags: ['jobs'], summary: 'Cancel a job that has not ended', params: jobIdParams } }, async (request) => {
      const { id } = request.params
      await node.cancelJob(id)
      node.log.info({ job: id }, 'job cancelled by the user')
      return await detail(id)
    })

    // No HEAD route: Fastify's automatic one would run this handler and open a stream that never ends.
    app.get('/v1/jobs/:id/events', { exposeHeadRoute: false, schema: { tags: ['jobs'], summary: 'Server-sent progress events of a job until it ends', params: jobIdParams } }, async (request, reply) => {
      const { id } = request.params
      const record = await node.scheduler.record(id)
      const release = app.eventStreams.take() // 429 ERR_TOO_MANY_STREAMS past the server's limit
      reply.hijack()
      const raw = reply.raw
      raw.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' })
      const send = (progress: JobProgress): void => { sseWrite(raw, `event: progress\ndata: ${JSON.stringify(progress)}\n\n`) }
      const end = (): void => {
        release()
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
      const keepAlive = setInterval(() => { sseWrite(raw, ': keep-alive\n\n') }, KEEP_ALIVE_MS)
      raw.on('close', end)
      // (a client that left while the record was read: nothing to stream to)
      if (raw.destroyed) { end(); return }
      const past = node.activity.events(id)
      for (const progress of past) send(progress)
      if (past.some((p) => isFinalStage(p.stage))) { end(); return }
      if (FINAL_STATUSES.has(record.status)) {
        send({ jobId: id, stage: record.status, at: record.updatedAt, detail: record.error?.message })
        end()
        return
      }
      node.addEventListener('job:progress', onProgress)
    })
  }
}
