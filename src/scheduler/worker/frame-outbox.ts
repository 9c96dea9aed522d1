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

  constructor (channel: Channel, onFailed: (err: Error) => void) {
    this.channel = channel
    this.onFailed = onFailed
  }

  /** Queues a frame; `onSent` runs once the stream took it. */
  send (frame: unknown, onSent?: (at: number) => void): void {
    const now = Date.now()
    this.lastSentAt = now
    if (this.pending === 0) this.progressAt = now
    this.pending++
    this.tail = this.tail.then(async () => {
      if (this.failed) return
      await this.channel.send(frame)
      this.progressAt = Date.now()
      onSent?.(this.progressAt)
    }).catch((err: Error) => {
      if (this.failed) return
      this.failed = true
      this.onFailed(err)
    }).finally(() => { this.pending-- })
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
