/**
 * A stream muxer whose `abort` never throws.
 *
 * Why: yamux's muxer tells the other side why it aborts with a GoAway frame, sent on the
 * connection under it. When that connection is already closing (its socket ended, or it is being
 * closed, while the muxer still counts itself open), the send throws `StreamStateError` ("Cannot
 * write to a stream that is closing") out of `abort`. `abort`'s callers are event listeners (the
 * muxer's own handler of incoming data) and promise handlers (libp2p's connection monitor aborts
 * a connection whose ping failed, from a `.catch`), so the throw became an uncaught exception or
 * an unhandled rejection, which ends a daemon: seen once in a test run under load, reproduced in
 * test/muxer-guard.test.ts. The muxer has aborted its streams and closed by then; only the
 * GoAway is lost, and the other side learns of the end from the closed connection instead.
 */
import { logger } from '@libp2p/logger'
import type { MessageStream, StreamMuxer, StreamMuxerFactory } from '@libp2p/interface'

const log = logger('depin:host:muxer')

/** `factory`'s muxers, each with an `abort` that logs what it threw instead of throwing it. */
export function abortNeverThrows<C> (factory: (components: C) => StreamMuxerFactory): (components: C) => StreamMuxerFactory {
  return (components) => {
    const inner = factory(components)
    return {
      protocol: inner.protocol,
      createStreamMuxer: (maConn: MessageStream): StreamMuxer => {
        const muxer = inner.createStreamMuxer(maConn)
        const abort = muxer.abort.bind(muxer)
        muxer.abort = (err: Error): void => {
          try {
            abort(err)
          } catch (thrown) {
            log('aborting a muxer (%s) threw, its connection already closing: %e', err?.message, thrown)
          }
        }
        return muxer
      }
    }
  }
}
