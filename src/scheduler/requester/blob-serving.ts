/**
 * How a requester answers its lease worker's `want`s: a blob goes only when the allowance says a
 * task on the lease (outstanding, or withdrawn and not answered yet) still entitles the worker to
 * it (blob-allowance.ts); then its bytes in `chunk` frames of CHUNK_BYTES and an `end`, one blob
 * after another, the time spent counting as transfer time (not against any task's deadline).
 * Kept apart from lease-client.ts, which reads the frames and keeps the tasks.
 */
import type { CID } from 'multiformats/cid'
import { cidText } from '../../proofs/encoding.ts'
import type { MarketMetrics } from '../../shared/metrics.ts'
import { DepinError } from '../../errors.ts'
import type { Channel } from '../../transport.ts'
import { CHUNK_BYTES } from '../constants.ts'
import { ProtocolViolationError } from '../errors.ts'
import type { BlobAllowance } from './blob-allowance.ts'
import type { OutstandingTasks, WithdrawnTasks } from './outstanding-tasks.ts'

export interface BlobServingComponents {
  channel: Channel
  /** The bytes of a blob a task on this lease names (module, input, input manifest or file). */
  blob: (cid: CID) => Promise<Uint8Array | undefined>
  allowance: BlobAllowance
  outstanding: OutstandingTasks
  withdrawn: WithdrawnTasks
  metrics?: Pick<MarketMetrics, 'bytesTransferred'>
  /** A blob went out whole. */
  onSent: () => void
  /** Serving failed (the stream, or a blob of this node's own task is gone). */
  onFailed: (err: Error) => void
}

export class BlobServing {
  private readonly c: BlobServingComponents
  private queue: Promise<void> = Promise.resolve()

  constructor (components: BlobServingComponents) {
    this.c = components
  }

  /** Queues the blob a `want` names; throws (the worker's fault) for one no task here entitles it to. */
  serve (cid: CID): void {
    const key = cidText(cid)
    // [blame] only blobs of this lease's outstanding tasks, each once per task that needs it
    if (!this.c.allowance.take(key, [...this.c.outstanding.tasks(), ...this.c.withdrawn.values()])) throw new ProtocolViolationError(`want of ${key}, which no task here needs`)
    this.queue = this.queue.then(async () => {
      const bytes = await this.c.blob(cid)
      if (bytes == null) throw new DepinError(`this node lost the blob ${key} of its own task`, 'ERR_BLOB_MISSING')
      for (let offset = 0; offset < bytes.byteLength; offset += CHUNK_BYTES) {
        await this.c.channel.send({ t: 'chunk', cid, data: bytes.subarray(offset, offset + CHUNK_BYTES) })
        this.c.outstanding.transferred(Date.now())
      }
      await this.c.channel.send({ t: 'end', cid })
      this.c.onSent()
      this.c.metrics?.bytesTransferred('sent', this.c.outstanding.tasks().some((t) => cidText(t.spec.module) === key) ? 'module' : 'input', bytes.byteLength)
    }).catch((err: Error) => { this.c.onFailed(err) })
  }
}
