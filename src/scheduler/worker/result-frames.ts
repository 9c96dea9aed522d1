/**
 * What a worker sends for a finished task on a lease: the `results` entry (what the chain entry
 * and the requester's checks use) and, for an output too large to go inline or one with files,
 * the `data` frames that follow it: stdout, stderr, the output manifest, then each file in the
 * manifest's order, in chunks of CHUNK_BYTES; and how the results a worker holds go out
 * together (`sendResults`). See docs/protocol.md, "Leases".
 */
import type { CID } from 'multiformats/cid'
import { rawCid } from '../../proofs/encoding.ts'
import { BATCH_FRAME_BYTES, CHUNK_BYTES, INLINE_BYTES, MAX_STDERR_BYTES } from '../constants.ts'
import type { ExecOutputs } from '../executor/index.ts'
import { MAX_FRAME_ITEMS, type ResultFrame } from '../lease-frames.ts'
import type { TaskOutcome } from '../run-task.ts'

/** A finished task's result, ready to send. */
export interface Done { frame: ResultFrame, stdout: Uint8Array, stderr: Uint8Array, outputs?: ExecOutputs }

/** The result of a run: stderr cut at MAX_STDERR_BYTES, files only when the run left any. */
export function finishedResult (task: CID, outcome: TaskOutcome): Done {
  const stderr = outcome.stderr.subarray(0, MAX_STDERR_BYTES)
  const outputs = outcome.outputs != null && outcome.outputs.files.length > 0 ? outcome.outputs : undefined
  return {
    frame: {
      task,
      exit: outcome.exitCode,
      ...(outcome.trap != null ? { trap: outcome.trap } : {}),
      out: rawCid(outcome.stdout),
      outBytes: outcome.stdout.byteLength,
      errBytes: stderr.byteLength,
      // What is billed (runTask caps it at the task's limit).
      fuel: outcome.fuel ?? 0n,
      cpuMs: Math.round(outcome.cpuMs),
      wallMs: Math.round(outcome.wallMs),
      ...(outputs != null ? { files: outputs.manifestCid, filesBytes: outputs.manifestBytes.byteLength } : {}),
      stdoutTruncated: outcome.stdoutTruncated,
      stderrTruncated: outcome.stderrTruncated || outcome.stderr.byteLength > MAX_STDERR_BYTES
    },
    stdout: outcome.stdout,
    stderr,
    ...(outputs != null ? { outputs } : {})
  }
}

/** The output bytes a finished result will put on the stream: stdout, stderr, and its files with their manifest. */
export function doneBytes (done: Done): number {
  let bytes = done.stdout.byteLength + done.stderr.byteLength
  if (done.outputs != null) {
    bytes += done.outputs.manifestBytes.byteLength
    for (const file of done.outputs.files) bytes += file.bytes.byteLength
  }
  return bytes
}

export type DataFrame = { t: 'data', task: CID, which: 'stdout' | 'stderr' | 'manifest' | 'file', data: Uint8Array }

/** The `data` frames that follow a result sent alone, in order (views into the result's bytes). */
export function * dataFrames (task: CID, done: Done): Generator<DataFrame> {
  const parts: Array<[DataFrame['which'], Uint8Array]> = [['stdout', done.stdout], ['stderr', done.stderr]]
  if (done.outputs != null) {
    parts.push(['manifest', done.outputs.manifestBytes])
    for (const file of done.outputs.files) parts.push(['file', file.bytes])
  }
  for (const [which, data] of parts) {
    for (let offset = 0; offset < data.byteLength; offset += CHUNK_BYTES) {
      yield { t: 'data', task, which, data: data.subarray(offset, offset + CHUNK_BYTES) }
    }
  }
}

/** Where the frames of finished results go: each result is committed to as its frame is sent. */
export interface ResultSink {
  commit: (frame: ResultFrame) => void
  send: (frame: unknown) => void
}

/**
 * Sends finished results in the order given: small ones inline, batched into `results` frames of
 * up to BATCH_FRAME_BYTES or MAX_FRAME_ITEMS; a large output, or one with files, alone, followed
 * by its data frames.
 */
export function sendResults (results: readonly Done[], sink: ResultSink): void {
  let batch: ResultFrame[] = []
  let bytes = 0
  for (const done of results) {
    const { frame, stdout, stderr } = done
    sink.commit(frame)
    if (done.outputs == null && stdout.byteLength <= INLINE_BYTES && stderr.byteLength <= INLINE_BYTES) {
      batch.push({ ...frame, stdout, stderr })
      bytes += stdout.byteLength + stderr.byteLength + 200
      if (bytes >= BATCH_FRAME_BYTES || batch.length >= MAX_FRAME_ITEMS) {
        sink.send({ t: 'results', results: batch })
        batch = []
        bytes = 0
      }
      continue
    }
    if (batch.length > 0) sink.send({ t: 'results', results: batch })
    batch = []
    bytes = 0
    sink.send({ t: 'results', results: [frame] })
    for (const data of dataFrames(frame.task, done)) sink.send(data)
  }
  if (batch.length > 0) sink.send({ t: 'results', results: batch })
}
