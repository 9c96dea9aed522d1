/**
 * The mining loop, run in a worker thread so hashing never blocks the node's event loop.
 *
 * Protocol: the main thread posts a `MinerJob`; the worker hashes nonces in batches and, between
 * batches, reads the shared control word. When the word no longer equals the job's id (a new
 * template, or stop) it abandons the job. It posts `{ id, nonce }` when it finds a nonce and
 * `{ id, hashes }` progress reports.
 */
import { parentPort } from 'node:worker_threads'
import { mineRange } from '../proofs/pow.ts'

export interface MinerJob {
  id: number
  /** The header encoded with its nonce bytes at `nonceOffset`. */
  bytes: Uint8Array
  nonceOffset: number
  target: Uint8Array
  /** Int32 control word shared with the main thread: the id of the job to work on. */
  control: SharedArrayBuffer
  /** High 32 bits of the first nonce. */
  startHi: number
  batch: number
}

export type MinerMessage = { id: number, nonce: Uint8Array, hashes: number } | { id: number, hashes: number }

const REPORT_EVERY_MS = 1000

function run (job: MinerJob): void {
  const control = new Int32Array(job.control)
  const template = { bytes: new Uint8Array(job.bytes), nonceOffset: job.nonceOffset }
  let hi = job.startHi >>> 0
  let lo = 0
  let hashes = 0
  let lastReport = Date.now()
  while (Atomics.load(control, 0) === job.id) {
    const found = mineRange(template, job.target, hi, lo, job.batch)
    if (found != null) {
      parentPort?.postMessage({ id: job.id, nonce: found.nonce, hashes: hashes + job.batch } satisfies MinerMessage)
      return
    }
    hashes += job.batch
    lo += job.batch
    if (lo > 0xffffffff) { lo -= 0x100000000; hi = (hi + 1) >>> 0 }
    const now = Date.now()
    if (now - lastReport >= REPORT_EVERY_MS) {
      parentPort?.postMessage({ id: job.id, hashes } satisfies MinerMessage)
      hashes = 0
      lastReport = now
    }
  }
}

parentPort?.on('message', (job: MinerJob) => { run(job) })
