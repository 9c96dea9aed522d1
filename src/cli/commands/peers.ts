/**
 * `depin peers`: connected peers with their score, who dialled whom (DIR: `out` this node dialled
 * the peer, `in` the peer dialled it) and the addresses the peer listens on, which can be dialled
 * (the source port of an inbound connection cannot; `--json` lists each connection's).
 */
import type { PeerSummary } from '../../node/compute-node.ts'
import { createClient } from '../client.ts'
import { line, printJson, printTable } from '../output.ts'
import type { PeersOptions } from '../program.ts'

export async function peersCommand (opts: PeersOptions): Promise<void> {
  const client = await createClient(opts)
  if (opts.connect != null) {
    const { peerId } = await client.post<{ peerId: string }>('/v1/peers', { address: opts.connect })
    if (opts.json !== true) line(`connected to ${peerId}`)
  }
  const { peers } = await client.get<{ peers: PeerSummary[] }>('/v1/peers')
  if (opts.json === true) { printJson({ peers }); return }
  if (peers.length === 0) { line('no connected peers'); return }
  printTable(['PEER', 'SCORE', 'RTT', 'DIR', 'ADDRESS'],
    peers.map((p) => [p.peerId, p.score.toFixed(1), p.latencyMs != null ? `${p.latencyMs} ms` : undefined,
      directions(p), p.addresses.length > 0 ? p.addresses.join(' ') : undefined]),
    { shrink: [4] })
}

function directions (peer: PeerSummary): string {
  const dirs = new Set(peer.connections.map((c) => c.direction === 'inbound' ? 'in' : 'out'))
  return [...dirs].sort().join('+')
}
