/**
 * The frames of a lease stream (`/depin/lease/1.0.0`). One stream carries every task of a lease,
 * many at once: frames name their task by id. Tasks and results travel in batches (one frame,
 * many tasks), so a stream of small tasks costs a few frames per batch, not per task.
 * See docs/protocol.md for the bytes and the order of frames.
 */
import { z } from 'zod'
import { signedAckSchema, signedCheckpointSchema, leaseSchema } from '../proofs/lease.ts'
import { blobCidSchema, bytes, contentCidSchema, objectCidSchema, parseWith, uint, uint64 } from '../proofs/schema.ts'
import { CHUNK_BYTES, INLINE_BYTES, MAX_STDERR_BYTES, MAX_OUTPUT_BYTES } from './constants.ts'
import { MAX_MANIFEST_BYTES } from './files/constants.ts'
import { checkResults, checkTasks } from './lease-frame-checks.ts'
import { errorFrameSchema } from './messages.ts'
import { taskSpecSchema } from './task.ts'

/** Most tasks in one `tasks` frame, results in one `results` frame, CIDs in one `want`. */
export const MAX_FRAME_ITEMS = 1024

export const taskFrameSchema = z.object({
  spec: taskSpecSchema,
  /** The requester gives up on the task after this (ms since the epoch); a worker that cannot start it by then refuses it. */
  deadline: uint,
  /** The task's stdin, when it is at most INLINE_BYTES (then the worker does not fetch it). */
  stdin: bytes(undefined, INLINE_BYTES).optional()
}).strict()
export type TaskFrame = z.infer<typeof taskFrameSchema>

export const resultFrameSchema = z.object({
  task: objectCidSchema,
  exit: z.number().int().min(-1).max(255),
  trap: z.string().max(512).optional(),
  /** CID (raw) and length of stdout. */
  out: blobCidSchema,
  outBytes: uint.max(MAX_OUTPUT_BYTES),
  errBytes: uint.max(MAX_STDERR_BYTES),
  /** Fuel the run used (at most the task's limit; what is billed). */
  fuel: uint64,
  /** CPU and wall time of the run, ms: information only. */
  cpuMs: uint,
  wallMs: uint,
  /**
   * CID (dag-cbor) of the manifest of the files the run left in /out, and the manifest's length;
   * absent when it left none. The manifest and the files follow in `data` frames.
   */
  files: objectCidSchema.optional(),
  filesBytes: uint.min(1).max(MAX_MANIFEST_BYTES).optional(),
  stdoutTruncated: z.boolean(),
  stderrTruncated: z.boolean(),
  /** stdout and stderr when they fit INLINE_BYTES; otherwise they follow in `data` frames. */
  stdout: bytes(undefined, INLINE_BYTES).optional(),
  stderr: bytes(undefined, INLINE_BYTES).optional()
}).strict()
export type ResultFrame = z.infer<typeof resultFrameSchema>

const chunk = bytes(undefined, CHUNK_BYTES)

/** Frames the requester sends. */
export const requesterFrameSchema = z.discriminatedUnion('t', [
  z.object({ t: z.literal('open'), lease: leaseSchema }).strict(),
  z.object({ t: z.literal('tasks'), tasks: z.array(taskFrameSchema).min(1).max(MAX_FRAME_ITEMS) }).strict(),
  z.object({ t: z.literal('chunk'), cid: contentCidSchema, data: chunk }).strict(),
  z.object({ t: z.literal('end'), cid: contentCidSchema }).strict(),
  z.object({ t: z.literal('ack'), ack: signedAckSchema, refused: z.array(objectCidSchema).max(MAX_FRAME_ITEMS) }).strict(),
  z.object({ t: z.literal('cancel'), task: objectCidSchema }).strict(),
  z.object({ t: z.literal('close') }).strict(),
  z.object({ t: z.literal('ping') }).strict()
])
export type RequesterFrame = z.infer<typeof requesterFrameSchema>

/** Frames the worker sends. */
export const workerFrameSchema = z.discriminatedUnion('t', [
  z.object({ t: z.literal('want'), cids: z.array(contentCidSchema).min(1).max(MAX_FRAME_ITEMS) }).strict(),
  z.object({ t: z.literal('running'), tasks: z.array(objectCidSchema).min(1).max(MAX_FRAME_ITEMS) }).strict(),
  z.object({ t: z.literal('results'), results: z.array(resultFrameSchema).min(1).max(MAX_FRAME_ITEMS) }).strict(),
  z.object({ t: z.literal('data'), task: objectCidSchema, which: z.enum(['stdout', 'stderr', 'manifest', 'file']), data: chunk }).strict(),
  z.object({ t: z.literal('task-error'), task: objectCidSchema, code: z.string().max(64), message: z.string().max(500) }).strict(),
  z.object({ t: z.literal('checkpoint'), checkpoint: signedCheckpointSchema }).strict(),
  z.object({ t: z.literal('end'), code: z.string().max(64), message: z.string().max(500) }).strict(),
  z.object({ t: z.literal('ping') }).strict(),
  errorFrameSchema
])
export type WorkerFrame = z.infer<typeof workerFrameSchema>

/** A frame `{t, [key]: items}` and nothing else, with `t` as given. */
function isBatch (value: unknown, t: string, key: string): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || (value as { constructor?: unknown }).constructor !== Object) return false
  const o = value as Record<string, unknown>
  if (o.t !== t) return false
  let n = 0
  for (const k in o) if (Object.hasOwn(o, k)) n++
  return n === 2 && key in o
}

export function parseRequesterFrame (value: unknown): RequesterFrame {
  // The frame that carries many tasks takes the hand-written checks first (lease-frame-checks.ts).
  if (isBatch(value, 'tasks', 'tasks')) {
    const tasks = checkTasks(value.tasks, MAX_FRAME_ITEMS)
    if (tasks !== undefined) return { t: 'tasks', tasks }
  }
  return parseWith(requesterFrameSchema, value, 'lease frame')
}

export function parseWorkerFrame (value: unknown): WorkerFrame {
  if (isBatch(value, 'results', 'results')) {
    const results = checkResults(value.results, MAX_FRAME_ITEMS)
    if (results !== undefined) return { t: 'results', results }
  }
  return parseWith(workerFrameSchema, value, 'lease frame')
}
