/**
 * Storage routes (retention; see src/scheduler/retention/):
 *   POST   /v1/jobs/prune     body {olderThanMs?}: delete jobs, batches and served-lease records
 *                             that ended more than olderThanMs ago (default: the configured
 *                             retention), then every pinned blob no kept record references
 *                             → the report {jobs, batches, tasks, leases, blobs, bytes, olderThanMs, tookMs}
 *   DELETE /v1/jobs/:id       delete one ended job and the blobs only it referenced → the report
 *                             (404 unknown, 409 ERR_JOB_RUNNING not ended)
 *   DELETE /v1/batches/:id    the same for a batch and its tasks
 */
import type { FastifyInstance } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import type { ComputeNode } from '../compute-node.ts'
import type { PruneReport } from '../../scheduler/retention/index.ts'
import { jobIdParams } from './jobs-routes.ts'

export const pruneBody = z.object({
  olderThanMs: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional()
    .describe('delete what ended more than this many ms ago (default: the configured retention)')
}).strict()

const batchIdParams = z.object({ id: z.string().min(1).max(200).describe('batch id (a CID)') }).strict()

export function storageRoutes (node: ComputeNode) {
  return (root: FastifyInstance): void => {
    const app = root.withTypeProvider<ZodTypeProvider>()

    // Its body is optional: no body, an empty JSON body and `null` all mean {} (in a scope of its
    // own, whose JSON parser takes an empty body instead of refusing it).
    void app.register(async (scope) => {
      const json = scope.getDefaultJsonParser('error', 'error')
      scope.removeContentTypeParser('application/json')
      scope.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
        if ((body as string).trim() === '') { done(null, undefined); return }
        json(request, body as string, done)
      })
      scope.withTypeProvider<ZodTypeProvider>().post('/v1/jobs/prune', {
        schema: { tags: ['jobs'], summary: 'Delete ended jobs, batches and lease records older than the retention (or olderThanMs), then unreferenced blobs', body: pruneBody.nullish() }
      }, async (request): Promise<PruneReport> => {
        const report = await node.retention.prune({ olderThanMs: request.body?.olderThanMs })
        node.log.info({ ...report }, 'pruned jobs on request')
        return report
      })
    })

    app.delete('/v1/jobs/:id', {
      schema: { tags: ['jobs'], summary: 'Delete an ended job and the blobs only it referenced', params: jobIdParams }
    }, async (request): Promise<PruneReport> => {
      const report = await node.retention.deleteJob(request.params.id)
      node.log.info({ job: request.params.id, blobs: report.blobs, bytes: report.bytes }, 'job deleted by the user')
      return report
    })

    app.delete('/v1/batches/:id', {
      schema: { tags: ['batches'], summary: 'Delete an ended batch, its tasks and the blobs only they referenced', params: batchIdParams }
    }, async (request): Promise<PruneReport> => {
      const report = await node.retention.deleteBatch(request.params.id)
      node.log.info({ batch: request.params.id, tasks: report.tasks, blobs: report.blobs, bytes: report.bytes }, 'batch deleted by the user')
      return report
    })
  }
}
