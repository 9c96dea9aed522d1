/**
 * The node's libp2p host as ComputeNode.start() configures it from the node's init: a memory
 * node listens on a fresh in-process address and runs no mDNS, the connection manager and
 * gossipsub read the node's peer scores, and a listen address already taken becomes an
 * AddressInUseError the daemon can explain. Also how a peer's advertised addresses reach the
 * peer store, so that it can be dialled.
 */
import { randomUUID } from 'node:crypto'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import type { BoundedDatastore } from './bounded-datastore.ts'
import type { ComputeNodeInit } from './compute-node-types.ts'
import { AddressInUseError } from './errors.ts'
import { createHost, type DepinLibp2p } from './libp2p.ts'
import type { PeerScore } from './peer-score.ts'

export interface NodeHostComponents {
  privateKey: PrivateKey
  datastore: BoundedDatastore
  peerScore: PeerScore
  topics: { offers: string, blocks: string, transactions: string }
}

/** Creates (and starts) the host; an address in use throws AddressInUseError. */
export async function createNodeHost (init: ComputeNodeInit, components: NodeHostComponents): Promise<DepinLibp2p> {
  const { peerScore, topics } = components
  try {
    const memory = init.transport === 'memory'
    return await createHost({
      privateKey: components.privateKey,
      datastore: components.datastore,
      transport: init.transport,
      listen: init.listen ?? [memory ? `/memory/${randomUUID()}` : '/ip4/0.0.0.0/tcp/0'],
      announce: init.announce,
      bootstrap: init.bootstrap,
      // mDNS finds LAN peers over UDP: meaningless between in-process memory nodes.
      mdns: !memory && (init.mdns ?? true),
      testnet: init.testnet,
      maxConnections: init.maxConnections,
      appScore: (peer) => peerScore.score(peer),
      // A disconnected peer stays out until its score decays back over the threshold; a
      // banned one for the ban's duration.
      isBanned: (peer) => peerScore.isPenalised(peer),
      topics: { [topics.offers]: 0.5, [topics.blocks]: 1, [topics.transactions]: 0.5 },
      metrics: init.libp2pMetrics ?? init.metrics?.libp2pMetrics()
    })
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    if (e.code === 'EADDRINUSE' || /EADDRINUSE/.test(e.message ?? '')) {
      throw new AddressInUseError((init.listen ?? []).join(', '), { cause: err })
    }
    throw err
  }
}

/**
 * Adds a peer's advertised addresses (from its signed capacity record or a provider record) to
 * the peer store so it can be dialled: at most 16, only parseable ones for that peer.
 */
export async function addDialAddresses (libp2p: DepinLibp2p, peer: string, addrs: string[]): Promise<void> {
  const id = peerIdFromString(peer)
  const valid: Multiaddr[] = []
  for (const text of addrs.slice(0, 16)) {
    try {
      const ma = multiaddr(text)
      const named = ma.getComponents().findLast((c) => c.name === 'p2p')?.value
      if (named == null || named === peer) valid.push(ma)
    } catch {}
  }
  if (valid.length > 0) await libp2p.peerStore.merge(id, { multiaddrs: valid })
}
