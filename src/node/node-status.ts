/**
 * What a node reports about its connections and the DHT data it holds for others: pure reads of
 * the host and the bounded datastore, for ComputeNode's `peers()` and `status()`.
 */
import type { BoundedDatastore } from './bounded-datastore.ts'
import type { NodeStatus, PeerSummary } from './compute-node-types.ts'
import { DATASTORE_LIMITS } from './constants.ts'
import type { DepinLibp2p } from './libp2p.ts'
import type { PeerScore } from './peer-score.ts'

/** Connected peers with their addresses, app-level score and, when measured, latency. */
export function peerSummaries (host: DepinLibp2p, peerScore: PeerScore): PeerSummary[] {
  const byPeer = new Map<string, PeerSummary>()
  for (const connection of host.getConnections()) {
    const id = connection.remotePeer.toString()
    const entry = byPeer.get(id) ?? { peerId: id, addresses: [], score: peerScore.score(id) }
    entry.addresses.push(connection.remoteAddr.toString())
    const rtt = (connection as { rtt?: number }).rtt
    if (typeof rtt === 'number') entry.latencyMs = rtt
    byPeer.set(id, entry)
  }
  return [...byPeer.values()]
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
