/**
 * One bounded discovery round of `findCapacity` (see docs/protocol.md, "Finding capacity"):
 * direct capacity queries to candidates the view holds, samples from a few connected peers
 * (whose new candidates are queried in turn), and providers from the next shards of the
 * runtime's key. It spends at most `budget` direct queries, whatever the size of the network,
 * and ends when `enough()`, when the budget is spent, when every source is exhausted, or at
 * `signal`.
 */
import type { KadDHT } from '@libp2p/kad-dht'
import { logger } from '@libp2p/logger'
import { runtimeShardKey, shardOf } from './capacity-record.ts'
import type { CapacityAdvert, CapacityView } from './capacity-view.ts'
import { CAPACITY_SAMPLE_MAX, FIND_CAPACITY_CONCURRENCY, MAX_PROVIDERS_PER_SHARD } from './constants.ts'

const log = logger('depin:capacity:discovery')

export interface DiscoveryComponents {
  view: CapacityView
  /** This node's peer id. */
  self: string
  findProviders: KadDHT['findProviders']
  addPeerAddresses: (peer: string, multiaddrs: string[]) => Promise<void>
  /** Asks one peer for its record (and `sample` others); true when it answered with its own. */
  ask: (peer: string, runtime: string, sample: number, signal: AbortSignal) => Promise<boolean>
}

export interface DiscoveryRound {
  runtime: string
  /** Which adverts are worth a query (the caller's filter). */
  wanted: (advert: CapacityAdvert) => boolean
  /** Direct queries this round may make. */
  budget: number
  /** Stop early once this is true. */
  enough: () => boolean
  /** Connected peers to ask for samples. */
  samplers: string[]
  /** Shards of the runtime key to read providers from. */
  shards: number[]
  signal: AbortSignal
}

interface Target { peer: string, addrs: string[] }

export async function discoveryRound (c: DiscoveryComponents, r: DiscoveryRound): Promise<void> {
  const round = new AbortController()
  const signal = AbortSignal.any([r.signal, round.signal])
  let budget = r.budget
  const tried = new Set<string>()
  const queue: Target[] = []
  let sources = 0
  const waiters: Array<() => void> = []
  const wake = (): void => { waiters.splice(0).forEach((w) => { w() }) }
  const reachable = new Set(c.view.reachable().map((a) => a.peerId))
  const push = (target: Target): void => {
    if (tried.has(target.peer) || target.peer === c.self || reachable.has(target.peer) || c.view.isUnreachable(target.peer)) return
    queue.push(target)
    wake()
  }
  const source = async (work: () => Promise<void>): Promise<void> => {
    sources++
    try {
      await work()
    } catch (err) {
      if (!signal.aborted) log('discovery source failed: %e', err)
    } finally {
      sources--
      wake()
    }
  }

  for (const advert of c.view.candidates()) if (r.wanted(advert)) push({ peer: advert.peerId, addrs: advert.multiaddrs })
  const feeds: Array<Promise<void>> = []
  for (const peer of r.samplers) {
    feeds.push(source(async () => {
      if (budget <= 0) return
      budget--
      tried.add(peer)
      const before = new Set(c.view.candidates().map((a) => a.peerId))
      await c.ask(peer, r.runtime, CAPACITY_SAMPLE_MAX, signal)
      for (const advert of c.view.candidates()) {
        if (!before.has(advert.peerId) && r.wanted(advert)) push({ peer: advert.peerId, addrs: advert.multiaddrs })
      }
    }))
  }
  for (const shard of r.shards) feeds.push(source(async () => { await readShard(c, r.runtime, shard, signal, push) }))

  const worker = async (): Promise<void> => {
    while (!signal.aborted && !r.enough() && budget > 0) {
      const next = queue.shift()
      if (next == null) {
        if (sources === 0) return
        await new Promise<void>((resolve) => {
          waiters.push(resolve)
          signal.addEventListener('abort', () => { resolve() }, { once: true })
        })
        continue
      }
      if (tried.has(next.peer)) continue
      tried.add(next.peer)
      budget--
      if (next.addrs.length > 0) await c.addPeerAddresses(next.peer, next.addrs).catch(() => {})
      await c.ask(next.peer, r.runtime, 0, signal)
    }
  }
  await Promise.all(Array.from({ length: FIND_CAPACITY_CONCURRENCY }, worker))
  // Whatever is still looking (a shard lookup, a sample) is no longer wanted.
  round.abort()
  wake()
  await Promise.all(feeds)
}

/** Reads one shard's providers: at most `MAX_PROVIDERS_PER_SHARD`, only peers that hash to it. */
async function readShard (c: DiscoveryComponents, runtime: string, shard: number, signal: AbortSignal, push: (target: Target) => void): Promise<void> {
  let taken = 0
  for await (const event of c.findProviders(runtimeShardKey(runtime, shard), { signal })) {
    if (event.name !== 'PROVIDER') continue
    for (const provider of event.providers) {
      const peer = provider.id.toString()
      // [IGNORE] a provider whose peer id does not hash to this shard does not belong here.
      if (shardOf(peer) !== shard) continue
      push({ peer, addrs: provider.multiaddrs.slice(0, 16).map((m) => m.toString()) })
      if (++taken >= MAX_PROVIDERS_PER_SHARD) return
    }
  }
}
