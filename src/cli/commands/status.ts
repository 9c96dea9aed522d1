/** `depin status`: the running node's peer id, addresses, peers, capacity. */
import type { NodeStatus } from '../../node/compute-node.ts'
import { createClient } from '../client.ts'
import { count, line, printJson } from '../output.ts'
import type { CommonOptions } from '../program.ts'

export async function statusCommand (opts: CommonOptions): Promise<void> {
  const client = await createClient(opts)
  const status = await client.get<NodeStatus & { version?: string }>('/v1/status')
  if (opts.json === true) { printJson(status); return }
  line(`peer id:   ${status.peerId}`)
  line(`api:       ${client.api}`)
  if (status.version != null) line(`version:   ${status.version}`)
  line(`peers:     ${status.peers}`)
  line(`capacity:  ${count(status.capacity.cores, 'core')}, ${status.capacity.memoryMiB} MiB, ${count(status.capacity.slots, 'slot')}, ${status.capacity.pricePerGigafuel} credits/gigafuel, ${status.capacity.fuelPerSecond > 0 ? `${(status.capacity.fuelPerSecond / 1e9).toFixed(1)} Gfuel/s` : 'speed not measured'}, runtimes ${status.capacity.runtimes.join(', ')}`)
  line(`record:    seq ${status.capacityRecord.seq}, published ${status.capacityRecord.published} time(s)`)
  if (status.startedAt != null) line(`up since:  ${new Date(status.startedAt).toISOString()}`)
  for (const address of status.multiaddrs) line(`address:   ${address}`)
}
