/**
 * Gossip topics: one validator per topic, and the single place where validation outcomes become
 * gossipsub results (Accept / Ignore / Reject) and app-level score reports.
 *
 * A message goes through, in order (cheap first, so garbage costs little to refuse):
 *   1. [IGNORE] the sender is banned: not looked at;
 *   2. [REJECT] over the topic's size bound;
 *   3. the topic's `precheck` (decode, schema, author rule): a failure costs the sender score at
 *      once, however long the validation queue is; [IGNORE] a sender at or below the disconnect
 *      threshold stops here (steps 2 and 3 still score it, so what it sends while being cut off
 *      counts toward a ban: these checks cost little, and skipping them would freeze its score
 *      just above the ban threshold);
 *   4. [IGNORE] over the sender's allowance (a token bucket that starts small and grows with the
 *      sender's valid messages), or its queue full: dropped unvalidated;
 *   5. the fair queue: each peer waits in its own bounded queue, peers take turns; then the
 *      topic's `validate` (signatures, state).
 * Every [REJECT] costs the sender app-level score (see peer-score.ts: a handful of invalid
 * messages disconnect and ban it) and, through gossipsub's topic score parameters, gossipsub
 * score. A peer that is disconnected or banned has its waiting messages dropped at once.
 *
 * Publishing: a publish that reaches no peer throws `NoSubscribersError` and the message waits
 * (bounded) to be published again when a peer subscribes (see gossip-publish.ts).
 */
import type { PeerId } from '@libp2p/interface'
import { TopicValidatorResult, type GossipSub, type Message, type SubscriptionChangeData } from '@libp2p/gossipsub'
import { logger } from '@libp2p/logger'
import { InvalidMessageError, InvalidSignatureError, MessageTooLargeError } from '../errors.ts'
import {
  GossipValidationError, NoSubscribersError, type GossipAction, type Publisher, type PublishOptions, type PublishResult, type TopicHandler
} from '../transport.ts'
import { Allowance, type AllowanceInit } from './gossip-allowance.ts'
import { PublishRetry, type PublishRetryInit } from './gossip-publish.ts'
import { FairQueue, type FairQueueInit, type FairQueueStats } from './gossip-queue.ts'
import type { PeerActionName, PeerScore } from './peer-score.ts'

const log = logger('depin:gossip')

/** Maps what a validator threw to the gossip decision and, for a reject, the peer action. */
export function classifyValidationError (err: unknown): { action: GossipAction, peerAction?: PeerActionName } {
  if (err instanceof GossipValidationError) {
    return err.action === 'reject' ? { action: 'reject', peerAction: 'MalformedMessage' } : { action: 'ignore' }
  }
  if (err instanceof InvalidSignatureError) return { action: 'reject', peerAction: 'InvalidSignature' }
  if (err instanceof InvalidMessageError || err instanceof MessageTooLargeError) return { action: 'reject', peerAction: 'MalformedMessage' }
  // Errors that carry their own decision (e.g. ledger validation errors) are honoured.
  const action = (err as { action?: unknown })?.action
  if (action === 'reject') return { action: 'reject', peerAction: 'InvalidBlock' }
  if (action === 'ignore') return { action: 'ignore' }
  // Anything else is our own failure, not the sender's: do not penalise.
  return { action: 'ignore' }
}

const RESULT: Record<GossipAction, TopicValidatorResult> = {
  accept: TopicValidatorResult.Accept,
  ignore: TopicValidatorResult.Ignore,
  reject: TopicValidatorResult.Reject
}

export interface GossipStats {
  /** Received and valid. */
  accepted: number
  /** Received and dropped without penalty (duplicate, stale, not for us). */
  ignored: number
  /** Received and invalid: the sender was penalised. */
  rejected: number
  /** Received and dropped unvalidated: sender penalised, over its allowance, or its queue full. */
  dropped: number
  /** Published by this node and sent to at least one peer on the first try. */
  published: number
  /** Published to nobody and waiting for a subscriber. */
  waiting: number
  /** Published to nobody first, sent later when a peer subscribed. */
  retried: number
  /** Published to nobody and given up (see PUBLISH_RETRY_MAX_AGE_MS). */
  unsent: number
}

interface Counts { accepted: number, ignored: number, rejected: number, dropped: number, published: number }

export interface GossipRouterInit {
  queue?: FairQueueInit
  allowance?: AllowanceInit
  publishRetry?: PublishRetryInit
}

/** Owns topic subscriptions and validators; hands accepted messages to their handlers. */
export class GossipRouter implements Publisher {
  private readonly pubsub: GossipSub
  private readonly peerScore: PeerScore
  private readonly handlers = new Map<string, TopicHandler<any, any>>()
  // The validator decodes once; delivery reuses the decoded value (keyed by the message object).
  private readonly validated = new WeakMap<Message, unknown>()
  private readonly counts = new Map<string, Counts>()
  private readonly queue: FairQueue
  private readonly allowance: Allowance
  private readonly retry: PublishRetry
  private readonly onMessage = (evt: CustomEvent<Message>): void => { this.deliver(evt.detail) }
  private readonly onSubscription = (evt: CustomEvent<SubscriptionChangeData>): void => {
    for (const s of evt.detail.subscriptions) if (s.subscribe && this.handlers.has(s.topic)) void this.retry.retry(s.topic)
  }

  private readonly onPenalised = (evt: CustomEvent<{ peerId: string }>): void => {
    const dropped = this.queue.drop(evt.detail.peerId, 'the sender was disconnected')
    if (dropped > 0) log('dropped %d waiting messages of penalised peer %s', dropped, evt.detail.peerId)
  }

  private started = false

  constructor (pubsub: GossipSub, peerScore: PeerScore, init: GossipRouterInit = {}) {
    this.pubsub = pubsub
    this.peerScore = peerScore
    this.queue = new FairQueue(init.queue)
    this.allowance = new Allowance(init.allowance)
    this.retry = new PublishRetry(async (topic, data) => await this.sendOnce(topic, data), init.publishRetry)
  }

  /** Adds a topic. Call before or after `start()`. */
  register<T, P> (handler: TopicHandler<T, P>): void {
    this.handlers.set(handler.topic, handler)
    if (!this.counts.has(handler.topic)) this.counts.set(handler.topic, { accepted: 0, ignored: 0, rejected: 0, dropped: 0, published: 0 })
    this.pubsub.topicValidators.set(handler.topic, async (peer: PeerId, msg: Message) => await this.validate(handler, peer, msg))
    if (this.started) this.pubsub.subscribe(handler.topic)
  }

  start (): void {
    if (this.started) return
    this.started = true
    this.retry.start()
    this.pubsub.addEventListener('message', this.onMessage)
    this.pubsub.addEventListener('subscription-change', this.onSubscription)
    this.peerScore.addEventListener('disconnect', this.onPenalised)
    this.peerScore.addEventListener('ban', this.onPenalised)
    for (const topic of this.handlers.keys()) this.pubsub.subscribe(topic)
  }

  stop (): void {
    if (!this.started) return
    this.started = false
    this.pubsub.removeEventListener('message', this.onMessage)
    this.pubsub.removeEventListener('subscription-change', this.onSubscription)
    this.peerScore.removeEventListener('disconnect', this.onPenalised)
    this.peerScore.removeEventListener('ban', this.onPenalised)
    this.queue.clear('the node is stopping')
    this.retry.stop()
    for (const topic of this.handlers.keys()) {
      this.pubsub.topicValidators.delete(topic)
      try { this.pubsub.unsubscribe(topic) } catch {}
    }
  }

  /**
   * Publishes to the topic's subscribers. Throws `NoSubscribersError` when the message reached
   * nobody; it is then kept and published again when a peer subscribes, for `retryForMs` (at
   * most and by default PUBLISH_RETRY_MAX_AGE_MS; 0: not kept, e.g. for an offer the caller
   * sends directly instead).
   */
  async publish (topic: string, data: Uint8Array, options: PublishOptions = {}): Promise<PublishResult> {
    const recipients = await this.sendOnce(topic, data)
    if (recipients > 0) {
      const counts = this.counts.get(topic)
      if (counts != null) counts.published++
      return { recipients }
    }
    const forMs = Math.min(options.retryForMs ?? this.retry.maxAgeMs, this.retry.maxAgeMs)
    const kept = this.retry.park(topic, data, forMs)
    throw new NoSubscribersError(topic, kept, kept ? forMs : 0)
  }

  /** Counts per topic (received: accepted/ignored/rejected/dropped; published/waiting/retried/unsent). */
  topicStats (): Record<string, GossipStats> {
    return Object.fromEntries([...this.counts].map(([t, c]) => [t, { ...c, ...this.retry.stats(t) }]))
  }

  /** The validation queue's current load. */
  queueStats (): FairQueueStats {
    return this.queue.stats()
  }

  private async sendOnce (topic: string, data: Uint8Array): Promise<number> {
    try {
      return (await this.pubsub.publish(topic, data)).recipients.length
    } catch (err) {
      // With `allowPublishToZeroTopicPeers: false` gossipsub throws instead of reporting nobody.
      if (/NoPeersSubscribedToTopic/.test((err as Error).message)) return 0
      throw err
    }
  }

  private async validate (handler: TopicHandler<unknown, unknown>, peer: PeerId, msg: Message): Promise<TopicValidatorResult> {
    const from = peer.toString()
    const counts = this.counts.get(handler.topic) as Counts
    // [IGNORE] a banned sender: not worth a single decode.
    if (this.peerScore.isBanned(from)) {
      counts.dropped++
      return TopicValidatorResult.Ignore
    }
    const penalised = this.peerScore.isPenalised(from)
    try {
      // [REJECT] over the topic's size bound, before any decoding.
      if (msg.data.byteLength > handler.maxBytes) {
        throw new MessageTooLargeError(`${handler.topic} message of ${msg.data.byteLength} bytes is over ${handler.maxBytes}`, handler.maxBytes)
      }
      // [REJECT] cheap checks, on arrival: decode, schema, author.
      const author = msg.type === 'signed' ? msg.from.toString() : undefined
      const prechecked = handler.precheck?.(msg.data, author, from)
      // [IGNORE] a disconnected sender: scored by the checks above, never queued for validation.
      if (penalised) {
        counts.dropped++
        return TopicValidatorResult.Ignore
      }
      // [IGNORE] over the sender's allowance, or its queue is full: dropped unvalidated.
      const pending = this.allowance.take(from)
        ? this.queue.push(from, msg.data.byteLength, async () => await handler.validate(msg.data, from, prechecked))
        : undefined
      if (pending == null) {
        counts.dropped++
        log.trace('dropped a %s message from %s: over its allowance or queue', handler.topic, from)
        return TopicValidatorResult.Ignore
      }
      const value = await pending
      this.validated.set(msg, value)
      counts.accepted++
      this.allowance.accepted(from)
      return TopicValidatorResult.Accept
    } catch (err) {
      const { action, peerAction } = classifyValidationError(err)
      if (action === 'reject') {
        counts.rejected++
        log('reject %s message from %s: %s', handler.topic, from, (err as Error).message)
        this.allowance.rejected(from)
        if (peerAction != null) this.peerScore.report(from, peerAction)
      } else {
        counts.ignored++
        log.trace('ignore %s message from %s: %s', handler.topic, from, (err as Error).message)
      }
      return RESULT[action]
    }
  }

  private deliver (msg: Message): void {
    const handler = this.handlers.get(msg.topic)
    if (handler == null || !this.validated.has(msg)) return
    const value = this.validated.get(msg)
    this.validated.delete(msg)
    const from = msg.type === 'signed' ? msg.from.toString() : ''
    try {
      handler.deliver(value, from)
    } catch (err) {
      log.error('delivering a %s message failed: %e', msg.topic, err)
    }
  }
}
