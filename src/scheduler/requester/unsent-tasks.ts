/**
 * The tasks assigned to a lease and not sent yet: those of one turn of the event loop go out
 * together in one `tasks` frame (sooner once they reach BATCH_FRAME_BYTES or MAX_FRAME_ITEMS),
 * and a task cancelled before its frame left is taken back instead of being cancelled on the
 * wire. Kept apart from lease-client.ts, which decides what to assign and cancel.
 */
import type { MarketMetrics } from '../../shared/metrics.ts'
import { BATCH_FRAME_BYTES } from '../constants.ts'
import { MAX_FRAME_ITEMS, type TaskFrame } from '../lease-frames.ts'
import type { TaskWork } from './types.ts'

export class UnsentTasks {
  private readonly frames: TaskFrame[] = []
  private bytes = 0
  private flushScheduled = false
  private readonly send: (frame: unknown) => void
  private readonly metrics?: Pick<MarketMetrics, 'bytesTransferred'>

  /** `send` puts a frame on the lease stream; `metrics` counts the inline input sent. */
  constructor (send: (frame: unknown) => void, metrics?: Pick<MarketMetrics, 'bytesTransferred'>) {
    this.send = send
    this.metrics = metrics
  }

  get size (): number { return this.frames.length }

  /** Queues a task's frame, sent with the others of this turn (or now, once the batch is full). */
  add (task: TaskWork): void {
    const frame: TaskFrame = task.stdin != null ? { spec: task.spec, deadline: task.deadline, stdin: task.stdin } : { spec: task.spec, deadline: task.deadline }
    this.frames.push(frame)
    this.bytes += (task.stdin?.byteLength ?? 0) + 512
    if (this.bytes >= BATCH_FRAME_BYTES || this.frames.length >= MAX_FRAME_ITEMS) this.flush()
    else if (!this.flushScheduled) {
      this.flushScheduled = true
      setImmediate(() => { this.flush() })
    }
  }

  /** Takes a task back if its frame has not left; false when it has (or it was never queued). */
  remove (task: TaskWork): boolean {
    const unsent = this.frames.findIndex((frame) => frame.spec === task.spec)
    if (unsent < 0) return false
    const [frame] = this.frames.splice(unsent, 1)
    this.bytes -= (frame.stdin?.byteLength ?? 0) + 512
    return true
  }

  private flush (): void {
    this.flushScheduled = false
    if (this.frames.length === 0) return
    const tasks = this.frames.splice(0)
    this.bytes = 0
    this.send({ t: 'tasks', tasks })
    this.metrics?.bytesTransferred('sent', 'input', tasks.reduce((n, t) => n + (t.stdin?.byteLength ?? 0), 0))
  }
}
