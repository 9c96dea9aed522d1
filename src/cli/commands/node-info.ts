/** Client commands about the node itself: status, peers, capacity. */
import type { NodeStatus, PeerSummary } from '../../node/compute-node.ts'
import type { CapacityAdvert } from '../../node/capacity.ts'
import { createClient } from '../client.ts'
import { line, printJson, printTable } from '../output.ts'
import type { CapacityOptions, CommonOptions, PeersOptions } from '../program.ts'

export async function statusCommand (opts: CommonOptions): Promise<void> {
  const client = await createClient(opts)
  const status = await client.get<NodeStatus>('/v1/status')
  if (opts.json === true) { printJson(status); return }
  line(`peer id:   ${status.peerId}`)
  line(`api:       ${client.api}`)
  line(`peers:     ${status.peers}`)
  line(`capacity:  ${status.capacity.cores} cores, ${status.capacity.memoryMiB} MiB, ${status.capacity.slots} slots, ${status.capacity.pricePerCpuSecond} credits/CPU-s, runtimes ${status.capacity.runtimes.join(', ')}`)
  line(`record:    seq ${status.capacityRecord.seq}, published ${status.capacityRecord.published} time(s)`)
  if (status.startedAt != null) line(`up since:  ${new Date(status.startedAt).toISOString()}`)
  for (const address of status.multiaddrs) line(`address:   ${address}`)
}

export async function peersCommand (opts: PeersOptions): Promise<void> {
  const client = await createClient(opts)
  if (opts.connect != null) {
    const { peerId } = await client.post<{ peerId: string }>('/v1/peers', { address: opts.connect })
    if (opts.json !== true) line(`connected to ${peerId}`)
  }
  const { peers } = await client.get<{ peers: PeerSummary[] }>('/v1/peers')
  if (opts.json === true) { printJson({ peers }); return }
  if (peers.length === 0) { line('no connected peers'); return }
  printTable(['PEER', 'SCORE', 'RTT', 'ADDRESS'], peers.map((p) => [p.peerId, p.score.toFixed(1), p.latencyMs != null ? `${p.latencyMs} ms` : undefined, p.addresses.join(' ')]))
}

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
    [self ? `${a.peerId} (this node)` : a.peerId, a.cores, a.memoryMiB, a.slots, a.pricePerCpuSecond, a.runtimes.join(',')]
  printTable(['PEER', 'CORES', 'MEMORY MiB', 'SLOTS', 'PRICE', 'RUNTIMES'], [row(result.self, true), ...result.peers.map((p) => row(p))])
  line(`${result.peers.length} peer(s) found through the DHT`)
}
