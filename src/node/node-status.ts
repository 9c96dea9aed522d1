/**
 * What a node reports about its connections and the DHT data it holds for others: pure reads of
 * the host and the bounded datastore, for ComputeNode's `peers()` and `status()`.
 */
import type { Address, PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { BoundedDatastore } from './bounded-datastore.ts'
import type { NodeStatus, PeerSummary } from './compute-node-types.ts'
import { DATASTORE_LIMITS } from './constants.ts'
import type { DepinLibp2p } from './libp2p.ts'
import type { PeerScore } from './peer-score.ts'

/**
 * Connected peers with the addresses they can be dialled at, app-level score and, when measured,
 * latency. An inbound connection's remote address is the dialler's ephemeral source port, which
 * nobody can dial; the peer's listen addresses are what identify reported (kept in the peer store,
 * signed ones first, with the addresses we dialled it at). Until identify has run, an outbound
 * connection's remote address stands in (it was dialled, so it is dialable). Each connection is
 * listed apart with its direction, for who dialled whom.
 */
export async function peerSummaries (host: DepinLibp2p, peerScore: PeerScore): Promise<PeerSummary[]> {
  const byPeer = new Map<string, { peerId: PeerId, summary: PeerSummary }>()
  for (const connection of host.getConnections()) {
    const id = connection.remotePeer.toString()
    const entry = byPeer.get(id) ?? { peerId: connection.remotePeer, summary: { peerId: id, addresses: [], connections: [], score: peerScore.score(id) } }
    entry.summary.connections.push({ address: withPeerId(connection.remoteAddr, id), direction: connection.direction })
    if (typeof connection.rtt === 'number') entry.summary.latencyMs = connection.rtt
    byPeer.set(id, entry)
  }
  return await Promise.all([...byPeer.values()].map(async ({ peerId, summary }) => {
    const known = await listenAddresses(host, peerId)
    const dialled = summary.connections.filter((c) => c.direction === 'outbound').map((c) => c.address)
    summary.addresses = [...new Set(known.length > 0 ? known : dialled)]
    return summary
  }))
}

/** Most addresses listed for one peer: what it reports about itself is its choice, the list ours. */
const MAX_PEER_ADDRESSES = 16

/** The peer store's addresses of a peer, certified (from its signed peer record) first. */
async function listenAddresses (host: DepinLibp2p, peerId: PeerId): Promise<string[]> {
  let addresses: Address[]
  try {
    addresses = (await host.peerStore.get(peerId)).addresses
  } catch {
    return [] // not in the peer store (yet)
  }
  const id = peerId.toString()
  return [...addresses]
    .sort((a, b) => Number(b.isCertified) - Number(a.isCertified))
    .slice(0, MAX_PEER_ADDRESSES)
    .map((a) => withPeerId(a.multiaddr, id))
}

/** The address as `peers --connect` takes it: ending in /p2p/<peer id>. */
function withPeerId (address: Multiaddr, peerId: string): string {
  const text = address.toString()
  return text.endsWith(`/p2p/${peerId}`) ? text : `${text}/p2p/${peerId}`
}

/** Entries other peers stored here, by kind, and how many the bounds evicted. */
export function dhtStoreStats (datastore: BoundedDatastore | undefined): NodeStatus['dhtStore'] {
  const stats = datastore?.stats() ?? []
  const of = (prefix: string): number => stats.find((p) => p.prefix === prefix)?.entries ?? 0
  return {
    providerRecords: of(DATASTORE_LIMITS.providers.prefix),
    records: of(DATASTORE_LIMITS.records.prefix),
    peers: of(DATASTORE_LIMITS.peers.prefix),
    evicted: stats.reduce((sum, p) => sum + p.evicted, 0)
  }
}
