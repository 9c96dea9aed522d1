/** `depin capacity`: this node's capacity and the capable peers it found (through the DHT and from its neighbours). */
import type { CapacityAdvert } from '../../node/capacity.ts'
import { createClient } from '../client.ts'
import { line, printJson, printTable } from '../output.ts'
import type { CapacityOptions } from '../program.ts'

export async function capacityCommand (opts: CapacityOptions): Promise<void> {
  const client = await createClient(opts)
  const query = new URLSearchParams()
  if (opts.runtime != null) query.set('runtime', opts.runtime)
  if (opts.minCores != null) query.set('minCores', String(opts.minCores))
  if (opts.minMemory != null) query.set('minMemoryMiB', String(opts.minMemory))
  if (opts.maxPrice != null) query.set('maxPrice', String(opts.maxPrice))
  if (opts.limit != null) query.set('limit', String(opts.limit))
  const result = await client.get<{ self: CapacityAdvert, peers: CapacityAdvert[] }>(`/v1/capacity?${query.toString()}`)
  if (opts.json === true) { printJson(result); return }
  const row = (a: CapacityAdvert, self = false): Array<string | number> =>
    [self ? `${a.peerId} (this node)` : a.peerId, a.cores, a.memoryMiB, a.slots, a.pricePerGigafuel, fuelRate(a.fuelPerSecond), a.runtimes.join(',')]
  printTable(['PEER', 'CORES', 'MEMORY MiB', 'SLOTS', 'PRICE/GFUEL', 'SPEED', 'RUNTIMES'], [row(result.self, true), ...result.peers.map((p) => row(p))], { shrink: [6] })
  line(`${result.peers.length} other peer(s) found (through the DHT and from connected peers)`)
}

/** `21.4 Gfuel/s` (fuel per second of CPU time the peer measured at start-up), or `-` when it has none. */
export function fuelRate (fuelPerSecond: number | undefined): string {
  if (fuelPerSecond == null || fuelPerSecond <= 0) return '-'
  return `${(fuelPerSecond / 1e9).toFixed(1)} Gfuel/s`
}
