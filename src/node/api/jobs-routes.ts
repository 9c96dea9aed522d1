/**
 * Job routes:
 *   POST /v1/jobs                 multipart/form-data: `module` (file, required), `input` (file,
 *                                 optional), `spec` (JSON field, optional: args, env, memoryMiB,
 *                                 timeoutMs, replicas, quorum, maxPrice, deadline, peers) → 202 {id}
 *   GET  /v1/jobs                 {jobs: JobSummary[]}
 *   GET  /v1/jobs/:id             the job's result without the output bytes (stderr as text)
 *   GET  /v1/jobs/:id/output      the output bytes (application/octet-stream)
 *   GET  /v1/jobs/:id/events      server-sent events: one `progress` event per stage; the stream
 *                                 ends with the final one (completed, unverified, failed, timed-out, cancelled)
 *   POST /v1/jobs/:id/cancel      cancels a job this node is running → {cancelled: true}
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import multipart from '@fastify/multipart'
import { z } from 'zod'
import type { ComputeNode } from '../compute-node.ts'
import type { JobProgress, JobResult } from '../../scheduler/requester/jobs.ts'
import { FINAL_STATUSES } from '../../scheduler/job-store.ts'
import { MAX_INPUT_BYTES, MAX_MODULE_BYTES } from '../../scheduler/constants.ts'
import { MAX_JOB_MEMORY_MIB, MAX_JOB_TIMEOUT_MS, MAX_REPLICAS, type JobInit } from '../../scheduler/job.ts'
import { peerIdSchema } from '../../proofs/schema.ts'
import { ApiError } from './errors.ts'
import { parseBody } from './validate.ts'

/** The JSON `spec` field of a job upload. */
export const jobSpecFieldSchema = z.object({
  args: z.array(z.string().max(4096)).max(256).optional(),
  env: z.record(z.string().min(1).max(256), z.string().max(4096)).optional(),
  memoryMiB: z.number().int().min(1).max(MAX_JOB_MEMORY_MIB).optional(),
  timeoutMs: z.number().int().min(1).max(MAX_JOB_TIMEOUT_MS).optional(),
  replicas: z.number().int().min(1).max(MAX_REPLICAS).optional(),
  quorum: z.number().int().min(1).max(MAX_REPLICAS).optional(),
  maxPrice: z.number().int().min(0).optional(),
  deadline: z.number().int().positive().optional(),
  peers: z.array(peerIdSchema).max(32).optional(),
  /** Spot-check this job: run it on this node too (not part of the signed job). */
  spotCheck: z.boolean().optional()
}).strict()
export type JobSpecField = z.infer<typeof jobSpecFieldSchema>

const idParams = z.object({ id: z.string().min(1).max(200) }).strict()

/** JSON view of a result: output bytes are fetched separately, stderr is text. */
export function resultJson (result: JobResult): Record<string, unknown> {
  const { stdout, stderr, ...rest } = result
  return { ...rest, outputBytes: stdout.byteLength, stderr: new TextDecoder().decode(stderr.subarray(0, 64 * 1024)) }
}

const FINAL_STAGES: ReadonlySet<string> = FINAL_STATUSES

/** Progress events of recent jobs, so a client that subscribes late still sees every stage. */
class ProgressHistory {
  private readonly byJob = new Map<string, JobProgress[]>()
  private static readonly MAX_JOBS = 1024
  private static readonly MAX_EVENTS = 64

  add (progress: JobProgress): void {
    let events = this.byJob.get(progress.jobId)
    if (events == null) {
      events = []
      this.byJob.set(progress.jobId, events)
      if (this.byJob.size > ProgressHistory.MAX_JOBS) this.byJob.delete(this.byJob.keys().next().value as string)
    }
    if (events.length < ProgressHistory.MAX_EVENTS) events.push(progress)
  }

  get (jobId: string): JobProgress[] {
    return this.byJob.get(jobId) ?? []
  }
}

export function jobsRoutes (node: ComputeNode) {
  const history = new ProgressHistory()
  node.addEventListener('job:progress', (evt) => { history.add(evt.detail) })
  return (app: FastifyInstance): void => {
    void app.register(async (scope) => {
      await scope.register(multipart, {
        limits: { files: 2, fields: 4, fieldSize: 256 * 1024, fileSize: Math.max(MAX_MODULE_BYTES, MAX_INPUT_BYTES), parts: 6 }
      })

      scope.post('/v1/jobs', async (request: FastifyRequest, reply: FastifyReply) => {
        if (!request.isMultipart()) throw new ApiError(415, 'ERR_UNSUPPORTED_MEDIA_TYPE', 'POST /v1/jobs takes multipart/form-data with a `module` file')
        let module: Buffer | undefined
        let input: Buffer | undefined
        let spec: JobSpecField = {}
        for await (const part of request.parts()) {
          if (part.type === 'file') {
            const bytes = await part.toBuffer()
            if (part.fieldname === 'module') {
              if (bytes.byteLength > MAX_MODULE_BYTES) throw new ApiError(413, 'ERR_MODULE_TOO_LARGE', `module is over ${MAX_MODULE_BYTES} bytes`)
              module = bytes
            } else if (part.fieldname === 'input') {
              if (bytes.byteLength > MAX_INPUT_BYTES) throw new ApiError(413, 'ERR_INPUT_TOO_LARGE', `input is over ${MAX_INPUT_BYTES} bytes`)
              input = bytes
            } else {
              throw new ApiError(400, 'ERR_BAD_REQUEST', `unexpected file field ${JSON.stringify(part.fieldname)}`)
            }
          } else if (part.fieldname === 'spec') {
            let json: unknown
            try {
              json = JSON.parse(String(part.value))
            } catch (err) {
              throw new ApiError(400, 'ERR_MALFORMED_JSON', `spec is not valid JSON: ${(err as Error).message}`)
            }
            spec = parseBody(jobSpecFieldSchema, json)
          } else {
            throw new ApiError(400, 'ERR_BAD_REQUEST', `unexpected field ${JSON.stringify(part.fieldname)}`)
          }
        }
        if (module == null || module.byteLength === 0) throw new ApiError(400, 'ERR_MISSING_MODULE', 'the upload has no `module` file')
        const { spotCheck, ...jobSpec } = spec
        const init: JobInit = { ...jobSpec, module: new Uint8Array(module.buffer, module.byteOffset, module.byteLength) }
        if (input != null) init.input = new Uint8Array(input.buffer, input.byteOffset, input.byteLength)
        const handle = await node.submitJob(init, { spotCheck })
        return await reply.code(202).send({ id: handle.id })
      })
    })

    app.get('/v1/jobs', async () => ({ jobs: await node.jobs() }))

    app.get('/v1/jobs/:id', async (request) => {
      const { id } = parseBody(idParams, request.params)
      return resultJson(await node.job(id))
    })

    app.get('/v1/jobs/:id/output', async (request, reply) => {
      const { id } = parseBody(idParams, request.params)
      const result = await node.job(id)
      if (result.outputCid == null) {
        const why = FINAL_STATUSES.has(result.status) ? `ended ${result.status}` : 'is still running'
        throw new ApiError(409, 'ERR_NO_OUTPUT', `job ${id} ${why}; it has no output`)
      }
      return await reply.type('application/octet-stream').header('x-output-cid', result.outputCid ?? '').send(Buffer.from(result.stdout))
    })

    app.post('/v1/jobs/:id/cancel', async (request) => {
      const { id } = parseBody(idParams, request.params)
      if (node.cancel(id)) return { cancelled: true }
      const final = await node.scheduler.isFinal(id)
      throw new ApiError(409, 'ERR_NOT_RUNNING', final ? `job ${id} has already ended` : `job ${id} is not running on this node`)
    })

    app.get('/v1/jobs/:id/events', async (request, reply) => {
      const { id } = parseBody(idParams, request.params)
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
        if (FINAL_STAGES.has(evt.detail.stage)) end()
      }
      // Comments keep proxies and idle timers from closing a quiet stream.
      const keepAlive = setInterval(() => { raw.write(': keep-alive\n\n') }, 15_000)
      raw.on('close', end)
      const past = history.get(id)
      for (const progress of past) send(progress)
      if (past.some((p) => FINAL_STAGES.has(p.stage))) { end(); return }
      if (FINAL_STATUSES.has(record.status)) {
        send({ jobId: id, stage: record.status, at: record.updatedAt, detail: record.error?.message })
        end()
        return
      }
      node.addEventListener('job:progress', onProgress)
    })
  }
}

