/**
 * Dials the bootstrap peers again while the node has no connection at all. libp2p's bootstrap
 * module dials its list once, at start: a node that starts before its bootstrap peers (a site
 * coming back from a power cut in any order, a network that comes up late) or that loses every
 * connection later stayed alone for good. Here, while nothing is connected, every bootstrap
 * address is dialled again, waiting BOOTSTRAP_REDIAL_MIN_MS after a round, doubling up to
 * BOOTSTRAP_REDIAL_MAX_MS, and back to the minimum once connected. A connected node costs one
 * look at its connection count per round.
 */
import type { Libp2p } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { BOOTSTRAP_REDIAL_MAX_MS, BOOTSTRAP_REDIAL_MIN_MS, BOOTSTRAP_REDIAL_TIMEOUT_MS } from './constants.ts'

const log = logger('depin:bootstrap')

type RedialHost = Pick<Libp2p, 'getConnections' | 'dial'>

export class BootstrapRedial {
  private readonly host: RedialHost
  private readonly addresses: Multiaddr[]
  private timer?: ReturnType<typeof setTimeout>
  private controller?: AbortController
  private waitMs = BOOTSTRAP_REDIAL_MIN_MS

  constructor (host: RedialHost, bootstrap: string[]) {
    this.host = host
    this.addresses = bootstrap.map((a) => multiaddr(a))
  }

  start (): void {
    if (this.addresses.length === 0 || this.controller != null) return
    this.controller = new AbortController()
    this.schedule()
  }

  stop (): void {
    clearTimeout(this.timer)
    this.timer = undefined
    this.controller?.abort()
    this.controller = undefined
  }

  private schedule (): void {
    this.timer = setTimeout(() => { void this.round() }, this.waitMs)
    this.timer.unref?.()
  }

  private async round (): Promise<void> {
    const controller = this.controller
    if (controller == null) return
    if (this.host.getConnections().length > 0) {
      this.waitMs = BOOTSTRAP_REDIAL_MIN_MS
    } else {
      log('no connections: dialling the %d bootstrap peers again', this.addresses.length)
      const signal = AbortSignal.any([controller.signal, AbortSignal.timeout(BOOTSTRAP_REDIAL_TIMEOUT_MS)])
      await Promise.allSettled(this.addresses.map(async (address) => await this.host.dial(address, { signal })))
      this.waitMs = Math.min(BOOTSTRAP_REDIAL_MAX_MS, this.waitMs * 2)
    }
    if (this.controller === controller) this.schedule()
  }
}
