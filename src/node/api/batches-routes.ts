/**
 * Batch routes:
 *   POST /v1/batches                      multipart/form-data (batch-upload.ts): `module` (file,
 *                                         required), `spec` (JSON field, optional: args, env,
 *                                         memoryMiB, timeoutMs, replicas, quorum, maxPrice, fuel,
 *                                         deadline, peers, spotCheck, moduleBytes, inFiles, inBytes),
 *                                         one `input` file per task in order (its filename names the
 *                                         task), `in` files shared by every task (filename: the path
 *                                         under /in) → 202 {id, tasks}
 *   GET  /v1/batches?limit=N              the batches this node submitted, newest first
 *   GET  /v1/batches/:id                  the summary: tasks, completed, failed, verified, cost, seconds, status,
 *                                         and while tasks wait for workers `waiting` (how many, why)
 *   GET  /v1/batches/:id/tasks            ?from=N&limit=M: task records in index order
 *   GET  /v1/batches/:id/tasks/:index/output   a task's output bytes (stdout)
 *   GET  /v1/batches/:id/tasks/:index/files    the files a task left in /out: {files, filesCid}
 *   GET  /v1/batches/:id/tasks/:index/files/*  one of them by its path (bytes; X-Depin-Cid)
 *   GET  /v1/batches/:id/events           server-sent events: `task` (one per finished task, with its
 *                                         output inline as base64 when at most 64 KiB, and its
 *                                         files), `progress` (with `waiting` while tasks wait for
 *                                         workers), and a final `done` with the summary
 *   POST /v1/batches/:id/cancel           cancels the unfinished tasks of a batch running here
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import multipart from '@fastify/multipart'
import { z } from 'zod'
import { CID } from 'multiformats/cid'
import type { ComputeNode } from '../compute-node.ts'
import { INLINE_BYTES, MAX_BATCH_TASKS } from '../../scheduler/constants.ts'
import { MAX_MANIFEST_ENTRIES } from '../../scheduler/files/constants.ts'
import type { BatchTaskRecord } from '../../scheduler/job-store.ts'
import { FINAL_STATUSES } from '../../scheduler/job-store.ts'
import type { BatchProgress, BatchTaskResult } from '../../scheduler/requester/batches.ts'
import { outputFileList, type OutputFileInfo } from '../../scheduler/requester/trees.ts'
import type { NodeMetrics } from '../metrics/node-metrics.ts'
import { ApiError } from './errors.ts'
import { batchUploadLimits, readBatchUpload } from './batch-upload.ts'
import { fileList, filePathParam, sendFile } from './output-files.ts'
import { placementOf } from './upload-spec.ts'
import { closeAfterReply, UploadRefusedError } from './upload-stream.ts'
import type { InputTreeLimits } from './upload-tree.ts'
import type { UploadGate } from './upload-gate.ts'
import { parseParams } from './validate.ts'

export { MAX_BATCH_UPLOAD_BYTES } from './batch-upload.ts'

/** Live task events an event stream keeps with their payload while its client catches up (the rest by index). */
const LIVE_EVENTS_HELD = 128

const batchId = z.string().min(1).max(200).describe('batch id (a CID)')
const taskIndex = z.coerce.number().int().min(0).max(MAX_BATCH_TASKS).describe('task index (0-based, in upload order)')
export const batchIdParams = z.object({ id: batchId }).strict()
export const taskParams = z.object({ id: batchId, index: taskIndex }).strict()
export const tasksQuery = z.object({
  from: z.coerce.number().int().min(0).default(0).describe('first task index (default 0)'),
  limit: z.coerce.number().int().min(1).max(1000).default(1000).describe('at most this many tasks (default 1000)')
}).strict()
export const batchesQuery = z.object({ limit: z.coerce.number().int().min(1).max(1000).default(100).describe('at most this many batches, newest first (default 100)') }).strict()

/** A task record as the API shows it (`files` when known: events carry them; records only the manifest's CID). */
export function taskView (t: BatchTaskRecord | BatchTaskResult, files?: OutputFileInfo[]): Record<string, unknown> {
  const listed = files ?? ('files' in t ? t.files : undefined)
  return {
    index: t.index,
    name: t.name,
    status: t.status,
    exitCode: t.exitCode,
    trap: t.trap,
    outputCid: t.outputCid,
    fuel: t.fuel,
    filesCid: t.filesCid,
    ...(listed != null ? { files: listed } : {}),
    verified: t.verified ?? false,
    workers: t.workers ?? [],
    cost: t.cost ?? 0,
    error: t.error
  }
}

export interface BatchesRoutesInit {
  metrics?: NodeMetrics
  /** Where uploads are spooled while they are checked. @default the OS temp dir */
  tmpDir?: string
  /** Bounds of an upload's input tree (`in` parts). @default MAX_MANIFEST_ENTRIES files, MAX_INPUT_FILES_BYTES */
  inputTree?: InputTreeLimits
  /** How many uploads may stream at once and the memory they share. @default processUploads (one for the whole process) */
  uploads?: UploadGate
}

export function batchesRoutes (node: ComputeNode, init: BatchesRoutesInit = {}) {
  /** One task's record, its outputs stored (a client that saw the task's event fetches them next), or 404. */
  const taskRecord = async (id: string, index: number): Promise<BatchTaskRecord> => {
    const task = await node.scheduler.batchTaskStored(id, index)
    if (task == null) throw new ApiError(404, 'ERR_TASK_NOT_FOUND', `batch ${id} has no task ${index}`)
    return task
  }
  const notRun = (task: BatchTaskRecord): string => `task ${task.index} ${FINAL_STATUSES.has(task.status) ? `ended ${task.status}` : 'is still running'}; it has no output`

  return (root: FastifyInstance): void => {
    // Path and query parameters are declared as schemas (validated before the handler runs, and
    // in the OpenAPI description), as the job routes do.
    const app = root.withTypeProvider<ZodTypeProvider>()
    void app.register(async (scope) => {
      await scope.register(multipart, { limits: batchUploadLimits(init.inputTree?.maxFiles ?? MAX_MANIFEST_ENTRIES) })

      scope.post('/v1/batches', {
        schema: {
          tags: ['batches'],
          summary: 'Submit a batch: multipart/form-data with a `module` file, one `input` file per task, optional `in` files and an optional `spec` JSON field',
          consumes: ['multipart/form-data']
        }
      }, async (request: FastifyRequest, reply: FastifyReply) => {
        let upload
        try {
          upload = await readBatchUpload(request, { tmpRoot: init.tmpDir, tree: init.inputTree, gate: init.uploads })
        } catch (err) {
          if (err instanceof UploadRefusedError) {
            init.metrics?.apiUploadsRefused.inc({ reason: err.reason })
            closeAfterReply(request, reply)
          }
          throw err
        }
        const { args, env, ...placement } = placementOf(upload.spec)
        const handle = await node.submitBatch({
          ...placement,
          module: upload.module,
          tasks: upload.tasks,
          ...(upload.files != null ? { files: upload.files } : {}),
          ...(args != null ? { args } : {}),
          ...(env != null ? { env } : {})
        }, { spotCheck: upload.spec.spotCheck, sync: true }) // on the disk before the 202
        node.log.info({ batch: handle.id, tasks: handle.total, inFiles: upload.files?.length ?? 0 }, 'batch accepted from the API')
        return await reply.code(202).send({ id: handle.id, tasks: handle.total })
      })
    })

    app.get('/v1/batches', { schema: { tags: ['batches'], summary: 'The batches this node submitted, newest first', querystring: batchesQuery } }, async (request) => {
      const { limit } = request.query
      const records: Array<{ id: string, createdAt: number, updatedAt: number }> = []
      for await (const b of node.scheduler.records.allBatches()) records.push({ id: b.id, createdAt: b.createdAt, updatedAt: b.updatedAt })
      records.sort((a, b) => b.createdAt - a.createdAt)
      const batches = []
      for (const r of records.slice(0, limit)) {
        const summary = await node.batch(r.id) // the running state of a batch that runs here
        // `done` of `tasks`: what the dashboard's batch card shows.
        batches.push({ ...summary, done: summary.completed + summary.failed, createdAt: r.createdAt, updatedAt: r.updatedAt })
      }
      return { batches, total: records.length }
    })

    app.get('/v1/batches/:id', { schema: { tags: ['batches'], summary: 'A batch\'s summary: tasks, completed, failed, verified, cost, status', params: batchIdParams } }, async (request) => {
      const { id } = request.params
      return await node.batch(id)
    })

    app.get('/v1/batches/:id/tasks', { schema: { tags: ['batches'], summary: 'Task records in index order', params: batchIdParams, querystring: tasksQuery } }, async (request) => {
      const { id } = request.params
      const { from, limit } = request.query
      return { tasks: (await node.scheduler.batchTasks(id, from, limit)).map((t) => taskView(t)) }
    })

    app.get('/v1/batches/:id/tasks/:index/output', { schema: { tags: ['batches'], summary: 'A task\'s output bytes (stdout)', params: taskParams } }, async (request, reply) => {
      const { id, index } = request.params
      const task = await taskRecord(id, index)
      if (task.outputCid == null) throw new ApiError(409, 'ERR_NO_OUTPUT', notRun(task))
      const bytes = await node.scheduler.blobs.get(CID.parse(task.outputCid))
      if (bytes == null) throw new ApiError(410, 'ERR_OUTPUT_GONE', `the output of task ${index} is no longer kept`)
      return await reply.type('application/octet-stream').header('x-output-cid', task.outputCid).send(Buffer.from(bytes))
    })

    app.get('/v1/batches/:id/tasks/:index/files', { schema: { tags: ['batches'], summary: 'The files a task left in /out: {files, filesCid}', params: taskParams } }, async (request) => {
      const { id, index } = request.params
      const task = await taskRecord(id, index)
      return await fileList(node.scheduler.blobs, task, () => notRun(task))
    })

    app.get('/v1/batches/:id/tasks/:index/files/*', { schema: { tags: ['batches'], summary: 'One file a task left in /out, by its path there (bytes; X-Depin-Cid: its CID)' } }, async (request, reply) => {
      const { id, index } = parseParams(taskParams, { id: (request.params as { id?: string }).id, index: (request.params as { index?: string }).index })
      const path = filePathParam(request.params)
      return await sendFile(reply, await node.batchTaskFile(id, index, path))
    })

    app.post('/v1/batches/:id/cancel', { schema: { tags: ['batches'], summary: 'Cancel the unfinished tasks of a batch running here', params: batchIdParams } }, async (request) => {
      const { id } = request.params
      // Batches only: node.cancel would cancel a plain job of this id just as well.
      await node.batch(id) // 404 ERR_BATCH_NOT_FOUND for any id that is not a batch's
      if (await node.scheduler.requester.batches.cancel(id)) return { cancelled: true } // answered once on the disk
      const final = await node.scheduler.isFinal(id)
      throw new ApiError(409, 'ERR_NOT_RUNNING', final ? `batch ${id} has already ended` : `batch ${id} is not running on this node`)
    })

    // No HEAD route: Fastify's automatic one would run this handler and open a stream that never ends.
    app.get('/v1/batches/:id/events', { exposeHeadRoute: false, schema: { tags: ['batches'], summary: 'Server-sent events: a `task` per finished task, `progress`, and a final `done`', params: batchIdParams } }, async (request, reply) => {
      const { id } = request.params
      await node.batch(id) // 404 before the stream starts
      const release = app.eventStreams.take() // 429 ERR_TOO_MANY_STREAMS past the server's limit
      reply.hijack()
      const raw = reply.raw
      raw.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' })
      let closed = raw.destroyed
      // Each event waits for the client to take the one before (a slow reader holds nothing
      // more than the live events below in this node's memory).
      const write = async (event: string, data: unknown): Promise<void> => {
        if (closed) return
        if (raw.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`)) return
        await new Promise<void>((resolve) => {
          const go = (): void => { raw.off('drain', go); raw.off('close', go); resolve() }
          raw.on('drain', go)
          raw.on('close', go)
        })
      }
      const sent = new Set<number>()
      const sendTask = async (view: Record<string, unknown>, stdout?: Uint8Array): Promise<void> => {
        const index = view.index as number
        if (sent.has(index)) return
        sent.add(index)
        await write('task', { ...view, ...(stdout != null && stdout.byteLength <= INLINE_BYTES ? { stdout: Buffer.from(stdout).toString('base64') } : {}) })
      }
      /** A finished task as a record on disk shows it (its outputs written first). */
      const sendStored = async (task: BatchTaskRecord): Promise<void> => {
        if (sent.has(task.index)) return
        const stdout = task.outputCid != null ? await node.scheduler.blobs.get(CID.parse(task.outputCid)) : undefined
        // A replayed task lists its files as a live one does (the client downloads them from the list).
        const files = task.filesCid != null ? await outputFileList(node.scheduler.blobs, task.filesCid) : task.outputCid != null ? [] : undefined
        await sendTask(taskView(task, files), stdout)
      }
      // Live events wait here, after the tasks finished so far. Up to LIVE_EVENTS_HELD keep their
      // payload; past that only the task's index (it is read back from the store when sent).
      const live: Array<{ index: number, detail?: BatchTaskResult }> = []
      let progress: BatchProgress | undefined
      let wake: (() => void) | undefined
      const handle = node.scheduler.batchHandle(id)
      let finished = handle == null
      const onTask = (evt: CustomEvent<BatchTaskResult>): void => {
        live.push(live.length < LIVE_EVENTS_HELD ? { index: evt.detail.index, detail: evt.detail } : { index: evt.detail.index })
        wake?.()
      }
      const onProgress = (evt: CustomEvent<BatchProgress>): void => { progress = evt.detail; wake?.() }
      const keepAlive = setInterval(() => { if (!closed) raw.write(': keep-alive\n\n') }, 15_000)
      let ended = false
      const end = (): void => {
        if (ended) return
        ended = true
        closed = true
        release()
        handle?.removeEventListener('task', onTask)
        handle?.removeEventListener('progress', onProgress)
        clearInterval(keepAlive)
        wake?.()
        raw.end()
      }
      raw.on('close', () => { closed = true; end() })
      handle?.addEventListener('task', onTask)
      handle?.addEventListener('progress', onProgress)
      void handle?.result().then(() => { finished = true; wake?.() }, () => { finished = true; wake?.() })
      try {
        // The tasks finished so far, from the records (written first: a task that just finished
        // may still wait for its batch write).
        await node.scheduler.batchWritten(id)
        for (let from = 0; !closed;) {
          const page = await node.scheduler.batchTasks(id, from, 1000)
          for (const task of page) if (FINAL_STATUSES.has(task.status)) await sendStored(task)
          if (page.length < 1000) break
          from = page[page.length - 1].index + 1
        }
        while (!closed) {
          const next = live.shift()
          if (next != null) {
            if (next.detail != null) await sendTask(taskView(next.detail), next.detail.stdout)
            else if (!sent.has(next.index)) {
              const task = await node.scheduler.batchTaskStored(id, next.index)
              if (task != null) await sendStored(task)
            }
            continue
          }
          if (progress != null) {
            const p = progress
            progress = undefined
            await write('progress', p)
            continue
          }
          if (finished) break
          await new Promise<void>((resolve) => { wake = resolve })
          wake = undefined
        }
        if (!closed) await write('done', await node.batch(id))
      } catch (err) {
        await write('error', { code: (err as { code?: string }).code ?? 'ERR_INTERNAL', message: (err as Error).message })
      } finally {
        end()
      }
    })
  }
}
