/**
 * yamux's muxer threw out of `abort` when the connection under it was already closing (its
 * GoAway could not be sent), and `abort`'s callers are event listeners and promise handlers: an
 * uncaught exception, which ends a daemon (seen once under load as an uncaught StreamStateError).
 * The host's muxers are wrapped so that `abort` never throws (src/node/muxer-guard.ts). Real yamux
 * muxers over libp2p's in-memory connection pair.
 */
import { describe, it, expect } from 'vitest'
import { multiaddrConnectionPair } from '@libp2p/utils'
import { yamux } from '@chainsafe/libp2p-yamux'
import { defaultLogger } from '@libp2p/logger'
import type { ComponentLogger, StreamMuxerFactory } from '@libp2p/interface'
import { abortNeverThrows } from '../src/node/muxer-guard.ts'

type Factory = (components: { logger: ComponentLogger }) => StreamMuxerFactory
const components = { logger: defaultLogger() }

/** A muxer on one end of a connection whose close has begun (not finished) under it, and its open stream. */
async function muxerOnClosingConnection (factory: Factory): Promise<{ muxer: ReturnType<StreamMuxerFactory['createStreamMuxer']>, stream: Awaited<ReturnType<ReturnType<StreamMuxerFactory['createStreamMuxer']>['createStream']>> }> {
  const [local, remote] = multiaddrConnectionPair()
  const muxer = factory(components).createStreamMuxer(local)
  factory(components).createStreamMuxer(remote)
  const stream = await muxer.createStream()
  void local.close().catch(() => {})
  expect(local.status).toBe('closing')
  expect(muxer.status).toBe('open')
  return { muxer, stream }
}

describe('a muxer aborted while its connection is closing', () => {
  it('yamux itself throws StreamStateError out of abort (when this fails, yamux no longer does and the guard can go)', async () => {
    const { muxer } = await muxerOnClosingConnection(yamux() as Factory)
    expect(() => { muxer.abort(new Error('ping failed')) }).toThrow(/Cannot write to a stream that is closing/)
  })

  it('the host\'s guarded muxer does not throw, and still aborts: its streams end and it takes no new ones', async () => {
    const { muxer, stream } = await muxerOnClosingConnection(abortNeverThrows(yamux() as Factory))
    expect(() => { muxer.abort(new Error('ping failed')) }).not.toThrow()
    expect(muxer.status).not.toBe('open')
    expect(stream.status).toBe('aborted')
    await expect(muxer.createStream()).rejects.toThrow()
  })

  it('a guarded muxer on a healthy connection carries streams as yamux does', async () => {
    const factory = abortNeverThrows(yamux() as Factory)
    const [local, remote] = multiaddrConnectionPair()
    const dialer = factory(components).createStreamMuxer(local)
    const listener = factory(components).createStreamMuxer(remote)
    const received = new Promise<Uint8Array>((resolve) => {
      listener.addEventListener('stream', (evt) => {
        evt.detail.addEventListener('message', (msg) => { resolve(msg.data.subarray()) }, { once: true })
      })
    })
    const stream = await dialer.createStream()
    stream.send(new TextEncoder().encode('hello'))
    expect(new TextDecoder().decode(await received)).toBe('hello')
    expect(dialer.protocol).toBe('/yamux/1.0.0')
  })
})
