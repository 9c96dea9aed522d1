/**
 * Gossip topics: one validator per topic, and the single place where validation outcomes become
 * gossipsub results (Accept / Ignore / Reject) and app-level score reports.
 *
 * Order inside a validator: size bound first, then decode and schema, then signature, then the
 * topic's own rules. Cheap checks first, so garbage costs little to refuse.
 */
import type { PeerId } from '@libp2p/interface'
import { TopicValidatorResult, type GossipSub, type Message } from '@libp2p/gossipsub'
import { logger } from '@libp2p/logger'
import { InvalidMessageError, InvalidSignatureError, MessageTooLargeError } from '../errors.ts'
import { GossipValidationError, type GossipAction, type Publisher, type TopicHandler } from '../transport.ts'
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
  accepted: number
  ignored: number
  rejected: number
}

/** Owns topic subscriptions and validators; hands accepted messages to their handlers. */
export class GossipRouter implements Publisher {
  private readonly pubsub: GossipSub
  private readonly peerScore: PeerScore
  private readonly handlers = new Map<string, TopicHandler<any>>()
  // The validator decodes once; delivery reuses the decoded value (keyed by the message object).
  private readonly validated = new WeakMap<Message, unknown>()
  private readonly stats = new Map<string, GossipStats>()
  private readonly onMessage = (evt: CustomEvent<Message>): void => { this.deliver(evt.detail) }
  private started = false

  constructor (pubsub: GossipSub, peerScore: PeerScore) {
    this.pubsub = pubsub
    this.peerScore = peerScore
  }

  /** Adds a topic. Call before or after `start()`. */
  register<T> (handler: TopicHandler<T>): void {
    this.handlers.set(handler.topic, handler)
    this.stats.set(handler.topic, { accepted: 0, ignored: 0, rejected: 0 })
    this.pubsub.topicValidators.set(handler.topic, async (peer: PeerId, msg: Message) => await this.validate(handler, peer, msg))
    if (this.started) this.pubsub.subscribe(handler.topic)
  }

  start (): void {
    if (this.started) return
    this.started = true
    this.pubsub.addEventListener('message', this.onMessage)
    for (const topic of this.handlers.keys()) this.pubsub.subscribe(topic)
  }

  stop (): void {
    if (!this.started) return
    this.started = false
    this.pubsub.removeEventListener('message', this.onMessage)
    for (const topic of this.handlers.keys()) {
      this.pubsub.topicValidators.delete(topic)
      try { this.pubsub.unsubscribe(topic) } catch {}
    }
  }

  async publish (topic: string, data: Uint8Array): Promise<void> {
    await this.pubsub.publish(topic, data)
  }

  /** Accepted/ignored/rejected counts per topic. */
  topicStats (): Record<string, GossipStats> {
    return Object.fromEntries([...this.stats].map(([t, s]) => [t, { ...s }]))
  }

  private async validate (handler: TopicHandler<unknown>, peer: PeerId, msg: Message): Promise<TopicValidatorResult> {
    const from = peer.toString()
    const stats = this.stats.get(handler.topic) as GossipStats
    try {
      // [REJECT] over the topic's size bound, before any decoding.
      if (msg.data.byteLength > handler.maxBytes) {
        throw new MessageTooLargeError(`${handler.topic} message of ${msg.data.byteLength} bytes is over ${handler.maxBytes}`, handler.maxBytes)
      }
      const value = await handler.validate(msg.data, from)
      this.validated.set(msg, value)
      stats.accepted++
      return TopicValidatorResult.Accept
    } catch (err) {
      const { action, peerAction } = classifyValidationError(err)
      if (action === 'reject') {
        stats.rejected++
        log('reject %s message from %s: %s', handler.topic, from, (err as Error).message)
        if (peerAction != null) this.peerScore.report(from, peerAction)
      } else {
        stats.ignored++
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
