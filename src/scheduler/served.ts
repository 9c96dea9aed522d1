/**
 * Ending streams this node serves, the same way for every protocol: close our side, then wait (at
 * most the idle deadline) for the peer to close its side, tearing the stream down if it does not.
 * A graceful close alone is a half-close: a peer that never closes its side would keep the
 * stream, and one of its per-connection stream slots, until the muxer's inactivity timeout.
 */
import { ChannelClosedError, type Channel } from '../transport.ts'
import { ProtocolViolationError } from './errors.ts'

export async function closeServed (channel: Channel): Promise<void> {
  await channel.close()
  try {
    await channel.receive()
    channel.abort(new ProtocolViolationError('frame after the final answer'))
  } catch (err) {
    if (!(err instanceof ChannelClosedError)) channel.abort(err as Error)
  }
}

/**
 * On a served stream that may carry one more request: the next frame, or undefined once the
 * stream has ended (the peer closed it: we close ours; silence past the deadline or a reset:
 * torn down).
 */
export async function nextFrameOrEnd (channel: Channel): Promise<unknown> {
  try {
    return await channel.receive()
  } catch (err) {
    if (err instanceof ChannelClosedError) await channel.close()
    else channel.abort(err as Error)
    return undefined
  }
}
