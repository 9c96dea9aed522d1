/**
 * Messages published to nobody, kept until somebody subscribes. Gossipsub (with
 * `allowPublishToZeroTopicPeers`) resolves a publish that reached no peer as if it had gone out;
 * the router turns that into a `NoSubscribersError` for the caller and parks the message here.
 * Parked messages are published again, oldest first, whenever a peer subscribes to their topic
 * and every `intervalMs` while any wait (a subscription can be known before the stream to the
 * subscriber is open). Bounded per topic and in age: what cannot be sent within `maxAgeMs` is
 * given up and counted.
 */
import { logger } from '@libp2p/logger'
import { PUBLISH_RETRY_INTERVAL_MS, PUBLISH_RETRY_MAX_AGE_MS, PUBLISH_RETRY_MAX_MESSAGES } from './constants.ts'

const log = logger('depin:gossip:publish')

export interface PublishRetryInit {
  /** @default PUBLISH_RETRY_MAX_AGE_MS */
  maxAgeMs?: number
  /** @default PUBLISH_RETRY_INTERVAL_MS */
  intervalMs?: number
  /** Most waiting messages per topic. @default PUBLISH_RETRY_MAX_MESSAGES */
  maxPerTopic?: number
}

/** Sends once; resolves with the number of peers reached. */
export type SendOnce = (topic: string, data: Uint8Array) => Promise<number>

export interface PublishRetryStats {
  /** Messages waiting for a subscriber. */
  waiting: number
  /** Messages sent on a retry. */
  retried: number
  /** Messages given up (too old, or pushed out by newer ones). */
  unsent: number
}

interface Parked { data: Uint8Array, until: number }

export class PublishRetry {
  readonly maxAgeMs: number
  private readonly intervalMs: number
  private readonly maxPerTopic: number
  private readonly send: SendOnce
  private readonly parked = new Map<string, Parked[]>()
  private readonly counts = new Map<string, { retried: number, unsent: number }>()
  private readonly running = new Set<string>()
  private timer?: ReturnType<typeof setInterval>
  private started = false

  constructor (send: SendOnce, init: PublishRetryInit = {}) {
    this.send = send
    this.maxAgeMs = init.maxAgeMs ?? PUBLISH_RETRY_MAX_AGE_MS
    this.intervalMs = init.intervalMs ?? PUBLISH_RETRY_INTERVAL_MS
    this.maxPerTopic = init.maxPerTopic ?? PUBLISH_RETRY_MAX_MESSAGES
  }

  start (): void {
    this.started = true
  }

  /** Forgets every waiting message. */
  stop (): void {
    this.started = false
    clearInterval(this.timer)
    this.timer = undefined
    for (const [topic, list] of this.parked) this.count(topic).unsent += list.length
    this.parked.clear()
  }

  /** Keeps a message that reached nobody, for `forMs` (at most `maxAgeMs`). False when it is not kept. */
  park (topic: string, data: Uint8Array, forMs = this.maxAgeMs): boolean {
    if (!this.started || forMs <= 0) return false
    const list = this.parked.get(topic) ?? []
    list.push({ data, until: Date.now() + Math.min(forMs, this.maxAgeMs) })
    if (list.length > this.maxPerTopic) {
      list.shift()
      this.count(topic).unsent++
      log('%s: more than %d messages wait for a subscriber, gave up the oldest', topic, this.maxPerTopic)
    }
    this.parked.set(topic, list)
    this.timer ??= setInterval(() => { for (const t of [...this.parked.keys()]) void this.retry(t) }, this.intervalMs)
    this.timer.unref?.()
    return true
  }

  /** Publishes what waits on `topic`, oldest first, until one send reaches nobody. */
  async retry (topic: string): Promise<void> {
    if (this.running.has(topic)) return
    this.running.add(topic)
    try {
      const list = this.parked.get(topic) ?? []
      const now = Date.now()
      while (list.length > 0 && this.started) {
        const first = list[0]
        if (now > first.until) {
          list.shift()
          this.count(topic).unsent++
          log('%s: a message found no subscriber in time, given up', topic)
          continue
        }
        const reached = await this.send(topic, first.data).catch((err: Error) => { log('%s: retry failed: %s', topic, err.message); return 0 })
        if (reached === 0) break
        list.shift()
        this.count(topic).retried++
      }
      if (list.length === 0) this.parked.delete(topic)
      if (this.parked.size === 0) {
        clearInterval(this.timer)
        this.timer = undefined
      }
    } finally {
      this.running.delete(topic)
    }
  }

  stats (topic: string): PublishRetryStats {
    const c = this.counts.get(topic) ?? { retried: 0, unsent: 0 }
    return { waiting: this.parked.get(topic)?.length ?? 0, ...c }
  }

  private count (topic: string): { retried: number, unsent: number } {
    let c = this.counts.get(topic)
    if (c == null) {
      c = { retried: 0, unsent: 0 }
      this.counts.set(topic, c)
    }
    return c
  }
}
