/**
 * Batch routes:
 *   POST /v1/batches                      multipart/form-data: `module` (file, required), `spec` (JSON
 *                                         field, optional: args, env, memoryMiB, timeoutMs, replicas,
 *                                         quorum, maxPrice, deadline, peers, spotCheck), then one `input`
 *                                         file per task, in order (its filename names the task)
 *                                         → 202 {id, tasks}
 *   GET  /v1/batches/:id                  the summary: tasks, completed, failed, verified, cost, seconds, status
 *   GET  /v1/batches/:id/tasks            ?from=N&limit=M: task records in index order
 *   GET  /v1/batches/:id/tasks/:index/output   a task's output bytes
 *   GET  /v1/batches/:id/events           server-sent events: `task` (one per finished task, with its
 *                                         output inline as base64 when at most 64 KiB), `progress`,
 *                                         and a final `done` with the summary
 *   POST /v1/batches/:id/cancel           cancels the unfinished tasks of a batch running here
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import multipart from '@fastify/multipart'
import { z } from 'zod'
import { CID } from 'multiformats/cid'
import type { ComputeNode } from '../compute-node.ts'
import { INLINE_BYTES, MAX_BATCH_TASKS, MAX_INPUT_BYTES, MAX_MODULE_BYTES } from '../../scheduler/constants.ts'
import type { BatchTaskInit } from '../../scheduler/job.ts'
import type { BatchTaskRecord } from '../../scheduler/job-store.ts'
import { FINAL_STATUSES } from '../../scheduler/job-store.ts'
import type { BatchProgress, BatchTaskResult } from '../../scheduler/requester/batches.ts'
import { ApiError } from './errors.ts'
import { jobSpecFieldSchema, type JobSpecField } from './jobs-routes.ts'
import { parseBody, parseQuery } from './validate.ts'

/** Most bytes of inputs one batch upload may carry in all. */
export const MAX_BATCH_UPLOAD_BYTES = 1024 * 1024 * 1024

const idParams = z.object({ id: z.string().min(1).max(200) }).strict()
const taskParams = z.object({ id: z.string().min(1).max(200), index: z.coerce.number().int().min(0).max(MAX_BATCH_TASKS) }).strict()
const tasksQuery = z.object({ from: z.coerce.number().int().min(0).default(0), limit: z.coerce.number().int().min(1).max(1000).default(1000) }).strict()

/** A task record as the API shows it. */
export function taskView (t: BatchTaskRecord | BatchTaskResult): Record<string, unknown> {
  return {
    index: t.index,
    name: t.name,
    status: t.status,
    exitCode: t.exitCode,
    trap: t.trap,
    outputCid: t.outputCid,
    verified: t.verified ?? false,
    workers: t.workers ?? [],
    cost: t.cost ?? 0,
    error: t.error
  }
}

export function batchesRoutes (node: ComputeNode) {
  return (app: FastifyInstance): void => {
    void app.register(async (scope) => {
      await scope.register(multipart, {
        limits: { files: MAX_BATCH_TASKS + 1, fields: 2, fieldSize: 256 * 1024, fileSize: Math.max(MAX_MODULE_BYTES, MAX_INPUT_BYTES), parts: MAX_BATCH_TASKS + 3 }
      })

      scope.post('/v1/batches', async (request: FastifyRequest, reply: FastifyReply) => {
        if (!request.isMultipart()) throw new ApiError(415, 'ERR_UNSUPPORTED_MEDIA_TYPE', 'POST /v1/batches takes multipart/form-data with a `module` file and `input` files')
        let module: Buffer | undefined
        let spec: JobSpecField = {}
        const tasks: BatchTaskInit[] = []
        let total = 0
        for await (const part of request.parts()) {
          if (part.type === 'file') {
            const bytes = await part.toBuffer()
            if (part.fieldname === 'module') {
              if (bytes.byteLength > MAX_MODULE_BYTES) throw new ApiError(413, 'ERR_MODULE_TOO_LARGE', `module is over ${MAX_MODULE_BYTES} bytes`)
              module = bytes
            } else if (part.fieldname === 'input') {
              if (bytes.byteLength > MAX_INPUT_BYTES) throw new ApiError(413, 'ERR_INPUT_TOO_LARGE', `input ${JSON.stringify(part.filename)} is over ${MAX_INPUT_BYTES} bytes`)
              total += bytes.byteLength
              if (total > MAX_BATCH_UPLOAD_BYTES) throw new ApiError(413, 'ERR_BATCH_TOO_LARGE', `the batch's inputs are over ${MAX_BATCH_UPLOAD_BYTES} bytes in all`)
              if (tasks.length >= MAX_BATCH_TASKS) throw new ApiError(413, 'ERR_BATCH_TOO_LARGE', `a batch holds at most ${MAX_BATCH_TASKS} tasks`)
              tasks.push({ input: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), ...(part.filename != null && part.filename !== '' ? { name: part.filename.slice(0, 255) } : {}) })
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
        if (tasks.length === 0) throw new ApiError(400, 'ERR_NO_TASKS', 'the upload has no `input` files: a batch needs at least one task')
        const { spotCheck, args, env, ...placement } = spec
        const handle = await node.submitBatch({
          ...placement,
          module: new Uint8Array(module.buffer, module.byteOffset, module.byteLength),
          tasks,
          ...(args != null ? { args } : {}),
          ...(env != null ? { env } : {})
        }, { spotCheck })
        return await reply.code(202).send({ id: handle.id, tasks: handle.total })
      })
    })

    app.get('/v1/batches/:id', async (request) => {
      const { id } = parseBody(idParams, request.params)
      return await node.batch(id)
    })

    app.get('/v1/batches/:id/tasks', async (request) => {
      const { id } = parseBody(idParams, request.params)
      const { from, limit } = parseQuery(tasksQuery, request.query)
      return { tasks: (await node.scheduler.batchTasks(id, from, limit)).map(taskView) }
    })

    app.get('/v1/batches/:id/tasks/:index/output', async (request, reply) => {
      const { id, index } = parseBody(taskParams, request.params)
      const [task] = await node.scheduler.batchTasks(id, index, 1)
      if (task == null || task.index !== index) throw new ApiError(404, 'ERR_TASK_NOT_FOUND', `batch ${id} has no task ${index}`)
      if (task.outputCid == null) throw new ApiError(409, 'ERR_NO_OUTPUT', `task ${index} ${FINAL_STATUSES.has(task.status) ? `ended ${task.status}` : 'is still running'}; it has no output`)
      const bytes = await node.scheduler.blobs.get(CID.parse(task.outputCid))
      if (bytes == null) throw new ApiError(410, 'ERR_OUTPUT_GONE', `the output of task ${index} is no longer kept`)
      return await reply.type('application/octet-stream').header('x-output-cid', task.outputCid).send(Buffer.from(bytes))
    })

    app.post('/v1/batches/:id/cancel', async (request) => {
      const { id } = parseBody(idParams, request.params)
      if (node.cancel(id)) return { cancelled: true }
      const final = await node.scheduler.isFinal(id)
      throw new ApiError(409, 'ERR_NOT_RUNNING', final ? `batch ${id} has already ended` : `batch ${id} is not running on this node`)
    })

    app.get('/v1/batches/:id/events', async (request, reply) => {
      const { id } = parseBody(idParams, request.params)
      await node.batch(id) // 404 before the stream starts
      reply.hijack()
      const raw = reply.raw
      raw.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' })
      const write = (event: string, data: unknown): void => { raw.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`) }
      const sent = new Set<number>()
      const sendTask = (view: Record<string, unknown>, stdout?: Uint8Array): void => {
        const index = view.index as number
        if (sent.has(index)) return
        sent.add(index)
        write('task', { ...view, ...(stdout != null && stdout.byteLength <= INLINE_BYTES ? { stdout: Buffer.from(stdout).toString('base64') } : {}) })
      }
      // Live events are held back until the finished tasks so far have been sent.
      let replaying = true
      const held: Array<() => void> = []
      const handle = node.scheduler.batchHandle(id)
      const onTask = (evt: CustomEvent<BatchTaskResult>): void => {
        const send = (): void => { sendTask(taskView(evt.detail), evt.detail.stdout) }
        if (replaying) held.push(send)
        else send()
      }
      const onProgress = (evt: CustomEvent<BatchProgress>): void => { if (!replaying) write('progress', evt.detail) }
      let closed = false
      const keepAlive = setInterval(() => { raw.write(': keep-alive\n\n') }, 15_000)
      const end = (): void => {
        if (closed) return
        closed = true
        handle?.removeEventListener('task', onTask)
        handle?.removeEventListener('progress', onProgress)
        clearInterval(keepAlive)
        raw.end()
      }
      raw.on('close', end)
      handle?.addEventListener('task', onTask)
      handle?.addEventListener('progress', onProgress)
      try {
        for (let from = 0; !closed;) {
          const page = await node.scheduler.batchTasks(id, from, 1000)
          for (const task of page) {
            if (!FINAL_STATUSES.has(task.status)) continue
            const stdout = task.outputCid != null ? await node.scheduler.blobs.get(CID.parse(task.outputCid)) : undefined
            sendTask(taskView(task), stdout)
          }
          if (page.length < 1000) break
          from = page[page.length - 1].index + 1
        }
      } finally {
        replaying = false
        for (const send of held.splice(0)) send()
      }
      const finish = async (): Promise<void> => { if (!closed) { write('done', await node.batch(id)); end() } }
      if (handle == null) await finish()
      else void handle.result().then(finish, end)
    })
  }
}
