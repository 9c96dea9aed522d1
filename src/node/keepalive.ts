/**
 * Liveness pings on a fixed budget per node, in place of libp2p's connection monitor.
 *
 * libp2p's monitor pings every connection every interval from both ends, so a node's idle
 * traffic grew with its connection count. Here a node pings at most one connection per
 * `KEEPALIVE_TICK_MS`, the one pinged longest ago, and none more often than every
 * `KEEPALIVE_MIN_INTERVAL_MS`: a node with few connections pings each every 30 s, one with many
 * pings each less often, and its idle pings per second stay the same. A connection whose ping
 * fails is aborted (as libp2p's monitor does); the round trip is kept in `connection.rtt`.
 *
 * A new connection is also pinged once, 2 s after identify has run on it, so that its round trip
 * is known within seconds (`depin peers`, the dashboard), not after its first liveness ping: a few
 * at a time from a bounded queue (FIRST_PING_*), so a node that connects to many peers at once does
 * not ping them all at once. A first ping that fails only leaves the round trip unknown: liveness
 * stays the periodic pings' business.
 */
import type { Connection, Libp2p } from '@libp2p/interface'
import type { Ping } from '@libp2p/ping'
import { logger } from '@libp2p/logger'
import type { IdentifyResult } from '@libp2p/interface'
import { FIRST_PING_CONCURRENCY, FIRST_PING_DELAY_MS, FIRST_PING_QUEUE, FIRST_PING_TIMEOUT_MS, KEEPALIVE_MIN_INTERVAL_MS, KEEPALIVE_TICK_MS, KEEPALIVE_TIMEOUT_MS } from './constants.ts'

const log = logger('depin:keepalive')

type KeepAliveHost = Pick<Libp2p<{ ping: Ping }>, 'getConnections' | 'services' | 'addEventListener' | 'removeEventListener'>

export class KeepAlive {
  private readonly host: KeepAliveHost
  private readonly lastPing = new WeakMap<Connection, number>()
  private timer?: ReturnType<typeof setInterval>
  private controller?: AbortController
  private busy = false
  /** Connections waiting for their first ping, and how many of those pings are in flight. */
  private firstPings: Connection[] = []
  private firstPinging = 0
  /** Connections identified, waiting FIRST_PING_DELAY_MS before they join the queue. */
  private readonly firstPingTimers = new Map<Connection, ReturnType<typeof setTimeout>>()
  private readonly onIdentify = (evt: CustomEvent<IdentifyResult>): void => { this.queueFirstPing(evt.detail.connection) }

  constructor (host: KeepAliveHost) {
    this.host = host
  }

  start (): void {
    this.controller = new AbortController()
    this.timer = setInterval(() => { void this.tick() }, KEEPALIVE_TICK_MS)
    this.timer.unref?.()
    this.host.addEventListener('peer:identify', this.onIdentify)
  }

  stop (): void {
    this.host.removeEventListener('peer:identify', this.onIdentify)
    clearInterval(this.timer)
    this.timer = undefined
    this.controller?.abort()
    this.controller = undefined
    this.firstPings = []
    for (const timer of this.firstPingTimers.values()) clearTimeout(timer)
    this.firstPingTimers.clear()
  }

  /**
   * Queues a connection's first ping (identify ran on it) a moment later: a connection's first
   * second is its busiest (identify, kad-dht, gossipsub, capacity), and a ping then measured the
   * two event loops more than the network (20-50 ms on loopback, 1 ms a moment later).
   */
  private queueFirstPing (connection: Connection): void {
    if (this.controller == null || this.firstPingTimers.has(connection) || this.firstPingTimers.size >= FIRST_PING_QUEUE) return
    const timer = setTimeout(() => {
      this.firstPingTimers.delete(connection)
      this.enqueueFirstPing(connection)
    }, FIRST_PING_DELAY_MS)
    timer.unref?.()
    this.firstPingTimers.set(connection, timer)
  }

  /** One not pinged yet, and while there is room. */
  private enqueueFirstPing (connection: Connection): void {
    if (this.controller == null || this.lastPing.has(connection) || this.firstPings.includes(connection)) return
    if (this.firstPings.length >= FIRST_PING_QUEUE) return // (its liveness ping will measure it)
    this.firstPings.push(connection)
    this.nextFirstPing()
  }

  private nextFirstPing (): void {
    const controller = this.controller
    while (controller != null && this.firstPinging < FIRST_PING_CONCURRENCY && this.firstPings.length > 0) {
      const connection = this.firstPings.shift() as Connection
      if (connection.status !== 'open' || this.lastPing.has(connection)) continue
      this.lastPing.set(connection, Date.now())
      this.firstPinging++
      const signal = AbortSignal.any([controller.signal, AbortSignal.timeout(FIRST_PING_TIMEOUT_MS)])
      void this.host.services.ping.ping(connection.remotePeer, { signal })
        .then((rtt) => { connection.rtt = rtt })
        .catch((err) => { log('first ping of %p failed: %e', connection.remotePeer, err) })
        .finally(() => {
          this.firstPinging--
          this.nextFirstPing()
        })
    }
  }

  /** Pings the connection pinged longest ago, if it is due. */
  async tick (): Promise<void> {
    const controller = this.controller
    if (controller == null || this.busy) return
    const now = Date.now()
    let due: Connection | undefined
    let oldest = Number.POSITIVE_INFINITY
    for (const connection of this.host.getConnections()) {
      if (connection.status !== 'open') continue
      // A new connection counts as checked when it opened.
      const last = this.lastPing.get(connection) ?? connection.timeline.open
      if (now - last >= KEEPALIVE_MIN_INTERVAL_MS && last < oldest) {
        oldest = last
        due = connection
      }
    }
    if (due == null) return
    this.lastPing.set(due, now)
    this.busy = true
    try {
      const signal = AbortSignal.any([controller.signal, AbortSignal.timeout(KEEPALIVE_TIMEOUT_MS)])
      due.rtt = await this.host.services.ping.ping(due.remotePeer, { signal })
    } catch (err) {
      if (!controller.signal.aborted) {
        log('ping of %p failed, closing the connection: %e', due.remotePeer, err)
        due.abort(err as Error)
      }
    } finally {
      this.busy = false
    }
  }
}
