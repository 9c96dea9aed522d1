/**
 * Pings of one peer take turns. The ping protocol allows one outbound ping stream per peer
 * (libp2p's ping refuses a second with TooManyOutboundProtocolStreamsError, as the spec asks), and
 * several parts of a node ping: kad-dht before it adds a new contact to its routing table, the
 * keepalive (its first ping once identify has run, then liveness pings), the check of an old
 * connection when its peer dials again. Both the first ping and kad-dht's start on identify: kad's
 * failed, and the peer never entered the routing table (a 3-node testnet's nodes no longer found
 * each other). Here a ping of a peer waits until the one before it has settled.
 *
 * This replaces the service's `ping` method on the instance libp2p made (kad-dht reaches it as a
 * component): the service keeps its own start, stop and capabilities. A wrapper object would have
 * to copy each of those, and a second ping service would not be the one kad-dht uses.
 */
import { isPeerId } from '@libp2p/interface'
import type { Ping } from '@libp2p/ping'

export function pingsTakeTurns<T extends Ping> (service: T): T {
  const ping = service.ping.bind(service)
  /** Per peer, the turn of the last ping asked for: it settles once that ping and those before it have. */
  const turns = new Map<string, Promise<unknown>>()
  service.ping = async (peer, options) => {
    if (!isPeerId(peer)) return await ping(peer, options) // (a dial by address: no peer to wait for)
    const key = peer.toString()
    const before = turns.get(key) ?? Promise.resolve()
    const mine = before.then(async () => {
      options?.signal?.throwIfAborted()
      return await ping(peer, options)
    })
    // The next waits for this one and the one before it, even when this one was aborted while it waited.
    const turn = Promise.allSettled([before, mine])
    turns.set(key, turn)
    void turn.then(() => { if (turns.get(key) === turn) turns.delete(key) })
    return await untilAborted(mine, options?.signal)
  }
  return service
}

/** `promise`, or the signal's reason as soon as it aborts (a ping still waiting for its turn then never starts). */
async function untilAborted<T> (promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal == null) return await promise
  return await new Promise<T>((resolve, reject) => {
    const onAbort = (): void => { reject(signal.reason) }
    if (signal.aborted) onAbort()
    else signal.addEventListener('abort', onAbort, { once: true })
    promise.then(resolve, reject).finally(() => { signal.removeEventListener('abort', onAbort) })
  })
}
