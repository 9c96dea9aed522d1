/**
 * The seam between the network and everything else. `src/node` implements these over libp2p
 * streams and gossipsub; `scheduler` and `ledger` depend only on these types, so they are unit
 * testable with `channelPair()` and never import libp2p.
 */
import { decode, encode } from './proofs/encoding.ts'
import { DeadlineExceededError, DepinError, MessageTooLargeError } from './errors.ts'

export interface AbortOptions {
  signal?: AbortSignal
}

/**
 * One request/response conversation with a peer over a stream: length-prefixed DAG-CBOR frames
 * with a maximum size. `receive` waits at most the channel's idle deadline (restarted per message).
 */
export interface Channel {
  /** The remote peer's id. */
  readonly remotePeer: string
  /** Encodes `message` as DAG-CBOR and writes it as one frame. */
  send(message: unknown, options?: AbortOptions): Promise<void>
  /**
   * Reads and decodes the next frame. Throws `MessageTooLargeError` for a frame over the limit,
   * `InvalidMessageError` for bytes that are not DAG-CBOR, `DeadlineExceededError` when the peer
   * is silent past the idle deadline, `ChannelClosedError` when the peer closed the stream.
   */
  receive(options?: AbortOptions): Promise<unknown>
  /** Closes gracefully (the peer reads end of stream). */
  close(): Promise<void>
  /** Tears the stream down at once. */
  abort(err: Error): void
}

export interface OpenChannelOptions extends AbortOptions {
  /** Largest frame accepted from the peer. */
  maxFrameBytes?: number
  /** Deadline for each `receive`. */
  idleTimeoutMs?: number
}

/** Opens a channel to a peer on a protocol. */
export interface ChannelOpener {
  open(peerId: string, protocol: string, options?: OpenChannelOptions): Promise<Channel>
}

export interface HandleOptions {
  /** Largest frame accepted from the peer. */
  maxFrameBytes: number
  /** Deadline for each `receive`, restarted after every message. */
  idleTimeoutMs: number
  /** Most concurrent inbound streams of this protocol per connection. */
  maxInboundStreams?: number
  /** Most concurrent outbound streams of this protocol per connection. */
  maxOutboundStreams?: number
}

/** Registers handlers for inbound channels. */
export interface ProtocolRegistrar {
  handle(protocol: string, handler: (channel: Channel) => Promise<void>, options: HandleOptions): Promise<void>
  unhandle(protocol: string): Promise<void>
}

/** What a gossip validator decides: deliver and forward, drop silently, or drop and penalise the sender. */
export type GossipAction = 'accept' | 'ignore' | 'reject'

/**
 * Thrown by a topic validator to decide a message's fate. Errors that are not this class map to:
 * InvalidMessageError / MessageTooLargeError / InvalidSignatureError → reject, anything else → ignore.
 */
export class GossipValidationError extends DepinError {
  readonly action: 'ignore' | 'reject'
  constructor (action: 'ignore' | 'reject', message: string, code = action === 'reject' ? 'ERR_GOSSIP_REJECT' : 'ERR_GOSSIP_IGNORE') {
    super(message, code)
    this.action = action
  }
}

/**
 * One gossip topic's validation and delivery, in two stages:
 *
 * 1. `precheck` runs as the message arrives, before it waits for its turn: only cheap checks
 *    (decode, schema, who may author it), so that an invalid message costs its sender score at
 *    once, however busy the node is.
 * 2. `validate` runs when the sender's turn comes in the node's fair validation queue: the
 *    costly checks (signatures, state). It receives what `precheck` returned.
 *
 * Both throw to ignore or reject (see `GossipValidationError`).
 */
export interface TopicHandler<T = unknown, P = void> {
  readonly topic: string
  /** Messages larger than this are rejected before decoding. */
  readonly maxBytes: number
  /**
   * Cheap checks on arrival. `author` is the peer that signed the gossip message (its origin,
   * which relaying does not change), `from` the peer that sent it to us.
   */
  precheck?(data: Uint8Array, author: string | undefined, from: string): P
  /** Costly checks; throw to ignore or reject. */
  validate(data: Uint8Array, from: string, prechecked: P): T | Promise<T>
  /** Called once for each accepted message, after validation. */
  deliver(value: T, from: string): void
}

/** What a publish reached. */
export interface PublishResult {
  /** Peers the message was sent to (at least one: with none, `publish` throws NoSubscribersError). */
  recipients: number
}

export interface PublishOptions {
  /**
   * If nobody receives the message, keep it and publish it again when a peer subscribes, for
   * this long. 0: do not keep it. @default (and at most) PUBLISH_RETRY_MAX_AGE_MS (60 s)
   */
  retryForMs?: number
}

/** Publishes on gossip topics. */
export interface Publisher {
  /**
   * Sends `data` to the topic's subscribers. Throws `NoSubscribersError` when no peer received
   * it; the message is then kept (bounded) and published again when a peer subscribes.
   */
  publish(topic: string, data: Uint8Array, options?: PublishOptions): Promise<PublishResult>
}

/**
 * A gossip message reached no peer: nobody known subscribes to the topic (or no stream to them
 * is open yet). Not dropped: when `retrying`, the publisher sends it again as soon as a peer
 * subscribes, for up to `retryForMs`. Callers that cannot wait act on it (e.g. offer directly).
 */
export class NoSubscribersError extends DepinError {
  readonly topic: string
  readonly retrying: boolean
  readonly retryForMs: number
  constructor (topic: string, retrying: boolean, retryForMs: number) {
    super(`no peer subscribes to ${topic}${retrying ? `: kept and published again when one does (for up to ${retryForMs} ms)` : ''}`, 'ERR_NO_SUBSCRIBERS')
    this.topic = topic
    this.retrying = retrying
    this.retryForMs = retryForMs
  }
}

/** The peer ran out of frames: it closed its side of the stream. */
export class ChannelClosedError extends DepinError {
  constructor (peer: string) {
    super(`${peer} closed the stream`, 'ERR_CHANNEL_CLOSED')
  }
}

interface PairSide {
  queue: Uint8Array[]
  waiters: Array<() => void>
  closed: boolean
  error?: Error
}

/**
 * Two connected in-memory channels with the same framing rules (DAG-CBOR, size bound, idle
 * deadline) as the libp2p ones. For unit tests of protocol logic without a network.
 */
export function channelPair (aPeer: string, bPeer: string, options: { maxFrameBytes?: number, idleTimeoutMs?: number } = {}): [Channel, Channel] {
  const maxFrameBytes = options.maxFrameBytes ?? 1024 * 1024
  const idleTimeoutMs = options.idleTimeoutMs ?? 10_000
  const toA: PairSide = { queue: [], waiters: [], closed: false }
  const toB: PairSide = { queue: [], waiters: [], closed: false }
  const wake = (side: PairSide): void => { side.waiters.splice(0).forEach((w) => { w() }) }

  const make = (remotePeer: string, inbox: PairSide, outbox: PairSide): Channel => ({
    remotePeer,
    async send (message) {
      if (outbox.closed || outbox.error != null) throw new ChannelClosedError(remotePeer)
      outbox.queue.push(encode(message))
      wake(outbox)
    },
    async receive (opts = {}) {
      const deadline = AbortSignal.timeout(idleTimeoutMs)
      const signal = opts.signal != null ? AbortSignal.any([opts.signal, deadline]) : deadline
      while (inbox.queue.length === 0) {
        if (inbox.error != null) throw inbox.error
        if (inbox.closed) throw new ChannelClosedError(remotePeer)
        if (signal.aborted) {
          throw deadline.aborted ? new DeadlineExceededError(`${remotePeer} sent nothing for ${idleTimeoutMs} ms`) : signal.reason
        }
        await new Promise<void>((resolve) => {
          const done = (): void => { signal.removeEventListener('abort', done); resolve() }
          inbox.waiters.push(done)
          signal.addEventListener('abort', done, { once: true })
        })
      }
      const frame = inbox.queue.shift() as Uint8Array
      if (frame.byteLength > maxFrameBytes) {
        throw new MessageTooLargeError(`frame of ${frame.byteLength} bytes from ${remotePeer} is over the limit of ${maxFrameBytes}`, maxFrameBytes)
      }
      return decode(frame, maxFrameBytes, 'frame')
    },
    async close () {
      outbox.closed = true
      wake(outbox)
    },
    abort (err) {
      outbox.error = err
      inbox.error = err
      wake(outbox)
      wake(inbox)
    }
  })
  return [make(bPeer, toA, toB), make(aPeer, toB, toA)]
}

