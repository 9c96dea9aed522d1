/**
 * `Channel` over a libp2p stream: unsigned-varint length-prefixed frames (lpStream, whose
 * `maxDataLength` refuses an oversized frame before buffering its body), each frame one
 * DAG-CBOR value. Every read has a deadline that restarts per message.
 */
import type { Libp2p, Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { lpStream, type LengthPrefixedStream } from '@libp2p/utils'
import { logger } from '@libp2p/logger'
import { decode, encode } from '../proofs/encoding.ts'
import { DeadlineExceededError, InvalidMessageError, InvalidSignatureError, MessageTooLargeError } from '../errors.ts'
import { ChannelClosedError, type Channel, type ChannelOpener, type HandleOptions, type OpenChannelOptions, type ProtocolRegistrar } from '../transport.ts'

const log = logger('depin:channel')

/** Default largest frame of an outbound channel. */
export const DEFAULT_MAX_FRAME_BYTES = 1024 * 1024
/** Default deadline of a read on an outbound channel. */
export const DEFAULT_IDLE_TIMEOUT_MS = 10_000
/** Default deadline of opening a stream (dial + protocol negotiation). */
export const DEFAULT_OPEN_TIMEOUT_MS = 10_000

class StreamChannel implements Channel {
  readonly remotePeer: string
  private readonly stream: Stream
  private readonly lp: LengthPrefixedStream<Stream>
  private readonly maxFrameBytes: number
  private readonly idleTimeoutMs: number

  constructor (stream: Stream, remotePeer: string, maxFrameBytes: number, idleTimeoutMs: number) {
    this.stream = stream
    this.remotePeer = remotePeer
    this.maxFrameBytes = maxFrameBytes
    this.idleTimeoutMs = idleTimeoutMs
    this.lp = lpStream(stream, { maxDataLength: maxFrameBytes })
  }

  async send (message: unknown, options: { signal?: AbortSignal } = {}): Promise<void> {
    await this.lp.write(encode(message), options)
  }

  async receive (options: { signal?: AbortSignal } = {}): Promise<unknown> {
    // One controller and one timer per frame: cheaper than composing AbortSignal.any with
    // AbortSignal.timeout on every read, which showed up in profiles of busy nodes.
    const controller = new AbortController()
    let expired = false
    const timer = setTimeout(() => { expired = true; controller.abort() }, this.idleTimeoutMs)
    const outer = options.signal
    const onAbort = (): void => { controller.abort(outer?.reason) }
    if (outer != null) {
      if (outer.aborted) onAbort()
      else outer.addEventListener('abort', onAbort, { once: true })
    }
    let frame
    try {
      frame = await this.lp.read({ signal: controller.signal })
    } catch (err) {
      const e = err as Error
      if (expired) throw new DeadlineExceededError(`${this.remotePeer} sent nothing for ${this.idleTimeoutMs} ms`, { cause: err })
      if (e.name === 'InvalidDataLengthError') {
        throw new MessageTooLargeError(`frame from ${this.remotePeer} is over the limit of ${this.maxFrameBytes} bytes`, this.maxFrameBytes)
      }
      if (e.name === 'InvalidDataLengthLengthError' || e.name === 'InvalidMessageLengthError') {
        throw new InvalidMessageError(`malformed frame length from ${this.remotePeer}`, { cause: err })
      }
      if (e.name === 'UnexpectedEOFError') throw new ChannelClosedError(this.remotePeer)
      throw err
    } finally {
      clearTimeout(timer)
      outer?.removeEventListener('abort', onAbort)
    }
    return decode(frame.subarray(), this.maxFrameBytes, 'frame')
  }

  async close (): Promise<void> {
    try {
      await this.stream.close({ signal: AbortSignal.timeout(this.idleTimeoutMs) })
    } catch (err) {
      this.stream.abort(err as Error)
    }
  }

  abort (err: Error): void {
    this.stream.abort(err)
  }
}

/** Wraps a libp2p stream. */
export function streamChannel (stream: Stream, remotePeer: string, maxFrameBytes = DEFAULT_MAX_FRAME_BYTES, idleTimeoutMs = DEFAULT_IDLE_TIMEOUT_MS): Channel {
  return new StreamChannel(stream, remotePeer, maxFrameBytes, idleTimeoutMs)
}

/**
 * Opens channels with `libp2p.dialProtocol`. `onUnreachable(peer)` is told when an open failed
 * (not by the caller's own abort) and the node holds no connection to the peer: it could not be
 * dialled (it left, or its address is stale), as opposed to a protocol or stream failure on a
 * live connection.
 */
export function createChannelOpener (libp2p: Pick<Libp2p, 'dialProtocol' | 'getConnections'>, onUnreachable?: (peer: string) => void): ChannelOpener {
  return {
    async open (peerId: string, protocol: string, options: OpenChannelOptions = {}): Promise<Channel> {
      const deadline = AbortSignal.timeout(DEFAULT_OPEN_TIMEOUT_MS)
      const signal = options.signal != null ? AbortSignal.any([options.signal, deadline]) : deadline
      let stream: Stream
      try {
        stream = await libp2p.dialProtocol(peerIdFromString(peerId), protocol, { signal })
      } catch (err) {
        if (onUnreachable != null && options.signal?.aborted !== true) {
          const id = peerIdFromString(peerId)
          if (libp2p.getConnections(id).length === 0) onUnreachable(peerId)
        }
        if (deadline.aborted) throw new DeadlineExceededError(`opening ${protocol} to ${peerId} took over ${DEFAULT_OPEN_TIMEOUT_MS} ms`, { cause: err })
        throw err
      }
      return streamChannel(stream, peerId, options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES, options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS)
    }
  }
}

/** What the registrar needs of the peer score: refuse banned peers, penalise malformed streams. */
export interface StreamJudge {
  isBanned(peerId: string): boolean
  report(peerId: string, action: 'MalformedMessage' | 'InvalidSignature' | 'Timeout'): unknown
}

/**
 * Registers channel handlers with `libp2p.handle`. A handler's error aborts just that stream, and
 * is the one place where stream-level misbehaviour (oversized or undecodable frames, bad
 * signatures, silence past the deadline) costs the sender score.
 */
export function createProtocolRegistrar (libp2p: Pick<Libp2p, 'handle' | 'unhandle'>, judge: StreamJudge): ProtocolRegistrar {
  return {
    async handle (protocol, handler, options: HandleOptions) {
      await libp2p.handle(protocol, async (stream, connection) => {
        const remotePeer = connection.remotePeer.toString()
        if (judge.isBanned(remotePeer)) {
          stream.abort(new Error('banned'))
          return
        }
        const channel = streamChannel(stream, remotePeer, options.maxFrameBytes, options.idleTimeoutMs)
        try {
          await handler(channel)
        } catch (err) {
          log('%s handler for %s failed: %e', protocol, remotePeer, err)
          if (err instanceof InvalidSignatureError) judge.report(remotePeer, 'InvalidSignature')
          else if (err instanceof InvalidMessageError || err instanceof MessageTooLargeError) judge.report(remotePeer, 'MalformedMessage')
          else if (err instanceof DeadlineExceededError) judge.report(remotePeer, 'Timeout')
          channel.abort(err as Error)
        }
      }, {
        maxInboundStreams: options.maxInboundStreams,
        maxOutboundStreams: options.maxOutboundStreams
      })
    },
    async unhandle (protocol) {
      await libp2p.unhandle(protocol)
    }
  }
}
