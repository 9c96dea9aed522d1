/**
 * The fair validation queue: the costly stage of gossip validation runs here, a few messages at
 * a time, taking peers in turn (round robin). Each peer waits in its own bounded queue, so one
 * peer's flood fills only its own queue and delays another peer's message by at most one turn
 * of each other waiting peer, never by the flood's length. A full queue refuses at once.
 */
import { GossipValidationError } from '../transport.ts'
import {
  GOSSIP_PEER_QUEUE_MAX, GOSSIP_PEER_QUEUE_MAX_BYTES, GOSSIP_QUEUE_MAX_BYTES, GOSSIP_VALIDATION_CONCURRENCY
} from './constants.ts'

export interface FairQueueInit {
  /** Tasks running at once, all peers together. @default GOSSIP_VALIDATION_CONCURRENCY */
  concurrency?: number
  /** Most tasks waiting per peer. @default GOSSIP_PEER_QUEUE_MAX */
  maxPerPeer?: number
  /** Most bytes waiting per peer. @default GOSSIP_PEER_QUEUE_MAX_BYTES */
  maxBytesPerPeer?: number
  /** Most bytes waiting, all peers together. @default GOSSIP_QUEUE_MAX_BYTES */
  maxBytes?: number
}

interface Task {
  bytes: number
  run: () => unknown
  resolve: (value: any) => void
  reject: (err: unknown) => void
}

interface PeerQueue {
  tasks: Task[]
  bytes: number
}

export interface FairQueueStats {
  /** Tasks waiting. */
  waiting: number
  /** Bytes waiting. */
  bytes: number
  /** Tasks running. */
  running: number
  /** Peers with tasks waiting. */
  peers: number
}

export class FairQueue {
  // Insertion order is the turn order: the peer at the head goes next, then moves to the tail.
  private readonly queues = new Map<string, PeerQueue>()
  private readonly concurrency: number
  private readonly maxPerPeer: number
  private readonly maxBytesPerPeer: number
  private readonly maxBytes: number
  private running = 0
  private bytes = 0
  private waiting = 0

  constructor (init: FairQueueInit = {}) {
    this.concurrency = init.concurrency ?? GOSSIP_VALIDATION_CONCURRENCY
    this.maxPerPeer = init.maxPerPeer ?? GOSSIP_PEER_QUEUE_MAX
    this.maxBytesPerPeer = init.maxBytesPerPeer ?? GOSSIP_PEER_QUEUE_MAX_BYTES
    this.maxBytes = init.maxBytes ?? GOSSIP_QUEUE_MAX_BYTES
  }

  /**
   * Queues `run` for `peer`; resolves or rejects with its outcome. Returns undefined, without
   * queueing, when the peer's queue (or the whole queue) is full.
   */
  push<T> (peer: string, bytes: number, run: () => T | Promise<T>): Promise<Awaited<T>> | undefined {
    const queue = this.queues.get(peer) ?? { tasks: [], bytes: 0 }
    if (queue.tasks.length >= this.maxPerPeer || queue.bytes + bytes > this.maxBytesPerPeer || this.bytes + bytes > this.maxBytes) return undefined
    const { promise, resolve, reject } = Promise.withResolvers<Awaited<T>>()
    queue.tasks.push({ bytes, run, resolve, reject })
    queue.bytes += bytes
    this.bytes += bytes
    this.waiting++
    if (!this.queues.has(peer)) this.queues.set(peer, queue)
    this.pump()
    return promise
  }

  /** Drops everything `peer` has waiting (e.g. it was banned); each drop rejects as [IGNORE]. */
  drop (peer: string, reason: string): number {
    const queue = this.queues.get(peer)
    if (queue == null) return 0
    this.queues.delete(peer)
    for (const task of queue.tasks) this.forget(task).reject(new GossipValidationError('ignore', reason))
    return queue.tasks.length
  }

  /** Drops everything waiting. */
  clear (reason: string): void {
    for (const peer of [...this.queues.keys()]) this.drop(peer, reason)
  }

  stats (): FairQueueStats {
    return { waiting: this.waiting, bytes: this.bytes, running: this.running, peers: this.queues.size }
  }

  private forget (task: Task): Task {
    this.bytes -= task.bytes
    this.waiting--
    return task
  }

  private pump (): void {
    while (this.running < this.concurrency && this.queues.size > 0) {
      const [peer, queue] = this.queues.entries().next().value as [string, PeerQueue]
      const task = this.forget(queue.tasks.shift() as Task)
      queue.bytes -= task.bytes
      this.queues.delete(peer)
      if (queue.tasks.length > 0) this.queues.set(peer, queue)
      this.running++
      let result: Promise<unknown>
      try {
        result = Promise.resolve(task.run())
      } catch (err) {
        result = Promise.reject(err)
      }
      result.then(task.resolve, task.reject).finally(() => {
        this.running--
        this.pump()
      })
    }
  }
}
