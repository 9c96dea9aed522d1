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
  /** When a frame was last queued (a quiet lease is pinged). */
  lastSentAt = Date.now()

  constructor (channel: Channel, onFailed: (err: Error) => void) {
    this.channel = channel
    this.onFailed = onFailed
  }

  /** Queues a frame. */
  send (frame: unknown): void {
    this.lastSentAt = Date.now()
    this.tail = this.tail.then(async () => {
      if (this.failed) return
      await this.channel.send(frame)
    }).catch((err: Error) => {
      if (this.failed) return
      this.failed = true
      this.onFailed(err)
    })
  }

  /** Settles once every frame queued so far has left, or sending failed. */
  get drained (): Promise<void> {
    return this.tail
  }
}
