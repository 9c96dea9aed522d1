/**
 * The frames a worker sends on one lease stream, in order: each leaves once the stream took the
 * one before, so a large output streams at the pace the requester reads it, not all into memory
 * at once. The first failed send stops the frames after it and is reported once.
 */
import type { Channel } from '../../transport.ts'

export class FrameOutbox {
  private readonly channel: Channel
  private readonly onFailed: (err: Error) => void
  private tail: Promise<void> = Promise.resolve()
  private failed = false
  /** Frames queued and not yet taken by the stream. */
  private pending = 0
  /** When the stream last took a frame, or when the queue last became non-empty. */
  private progressAt = Date.now()
  /** When a frame was last queued (a quiet lease is pinged). */
  lastSentAt = Date.now()
  /** Output bytes (stdout, stderr, data chunks) in the frames queued. */
  private heldBytes = 0
  private readonly holdBytes: number
  /** Tasks waiting for the held output to fall under `holdBytes` (see `room`). */
  private roomWaiters: Array<() => void> = []

  constructor (channel: Channel, onFailed: (err: Error) => void, holdBytes = Infinity) {
    this.channel = channel
    this.onFailed = onFailed
    this.holdBytes = holdBytes
  }

  /** Queues a frame; `onSent` runs once the stream took it. */
  send (frame: unknown, onSent?: (at: number) => void): void {
    const now = Date.now()
    this.lastSentAt = now
    if (this.pending === 0) this.progressAt = now
    this.pending++
    const bytes = outputBytes(frame)
    this.heldBytes += bytes
    this.tail = this.tail.then(async () => {
      if (this.failed) return
      await this.channel.send(frame)
      this.progressAt = Date.now()
      onSent?.(this.progressAt)
    }).catch((err: Error) => {
      if (this.failed) return
      this.failed = true
      this.onFailed(err)
    }).finally(() => {
      this.pending--
      this.heldBytes -= bytes
      if (this.hasRoom) for (const wake of this.roomWaiters.splice(0)) wake()
    })
  }

  /**
   * Counts output about to be queued (finished results waiting to be batched into frames):
   * `+bytes` when a result waits, `-bytes` just before its frames are sent (which count again).
   */
  holdPending (bytes: number): void {
    this.heldBytes += bytes
    if (bytes < 0 && this.hasRoom) for (const wake of this.roomWaiters.splice(0)) wake()
  }

  /** Whether the output held is under the bound (a task may start); also once sending failed (the lease is ending). */
  get hasRoom (): boolean {
    return this.failed || this.heldBytes < this.holdBytes
  }

  /** Settles once the output held is under the bound (or sending failed); rejects on `signal`. */
  async room (signal: AbortSignal): Promise<void> {
    signal.throwIfAborted()
    while (!this.hasRoom) {
      await new Promise<void>((resolve, reject) => {
        const onAbort = (): void => { reject(signal.reason) }
        signal.addEventListener('abort', onAbort, { once: true })
        this.roomWaiters.push(() => {
          signal.removeEventListener('abort', onAbort)
          resolve()
        })
      })
    }
  }

  /**
   * How long frames have waited without the stream taking any (0: none waits): a requester that
   * stopped reading. One that reads slowly keeps this low however much is queued.
   */
  stalledMs (now: number): number {
    return this.pending > 0 ? now - this.progressAt : 0
  }

  /** Settles once every frame queued so far has left, or sending failed. */
  get drained (): Promise<void> {
    return this.tail
  }
}

/** The output bytes a frame carries: inline stdout/stderr of `results`, or a `data` chunk. */
function outputBytes (frame: unknown): number {
  const f = frame as { t?: string, data?: Uint8Array, results?: Array<{ stdout?: Uint8Array, stderr?: Uint8Array }> }
  if (f.t === 'data') return f.data?.byteLength ?? 0
  if (f.t !== 'results' || f.results == null) return 0
  let bytes = 0
  for (const r of f.results) bytes += (r.stdout?.byteLength ?? 0) + (r.stderr?.byteLength ?? 0)
  return bytes
}
