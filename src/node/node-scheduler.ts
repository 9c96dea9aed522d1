/**
 * The node's job market (src/scheduler/) wired to the node's services: capacity to bid with and
 * to find workers by, offers on gossip, credits and settles on the ledger, hosts of connected
 * peers for replica placement, and a lazily started executor pool.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import type { Signer } from '../proofs/signing.ts'
import type { ChannelOpener, ProtocolRegistrar } from '../transport.ts'
import type { Ledger } from '../ledger/index.ts'
import { Scheduler } from '../scheduler/scheduler.ts'
import type { JobProgress } from '../scheduler/requester/jobs.ts'
import { createExecutor } from '../scheduler/executor/index.ts'
import type { CapacityService } from './capacity.ts'
import type { ComputeNodeInit } from './compute-node-types.ts'
import { dataDirPaths } from './data-dir.ts'
import type { GossipRouter } from './gossip.ts'
import { LazyExecutor } from './lazy-executor.ts'
import { remoteHost, type DepinLibp2p } from './libp2p.ts'
import type { PeerScore } from './peer-score.ts'
import { SpendableCache } from './spendable-cache.ts'
import type { Store } from './storage.ts'

export interface NodeSchedulerComponents {
  signer: Signer
  channels: ChannelOpener
  protocols: ProtocolRegistrar
  store: Store
  capacity: CapacityService
  gossip: GossipRouter
  ledger: Ledger
  peerScore: PeerScore
  /** The node's host (throws once the node stopped). */
  host: () => DepinLibp2p
  offersTopic: string
  /** Every job's progress (the node's activity feed and its `job:progress` event). */
  onJobProgress?: (progress: JobProgress) => void
}

export function createNodeScheduler (init: Pick<ComputeNodeInit, 'executor' | 'testnet' | 'dataDir' | 'scheduler' | 'metrics'>, components: NodeSchedulerComponents): Scheduler {
  const { capacity, gossip, ledger, peerScore, signer } = components
  const current = capacity.current()
  const spendable = new SpendableCache(ledger)
  // The default pool starts its threads on the first task: an idle node holds none.
  const executor = init.executor ?? new LazyExecutor(createExecutor({ workers: Math.max(1, Math.min(current.slots, current.cores)) }))
  return new Scheduler({
    signer,
    channels: components.channels,
    protocols: components.protocols,
    store: components.store,
    executor,
    capacity: () => capacity.current(),
    knownPeers: () => capacity.cached(),
    findPeers: async (query) => await capacity.find(query),
    refreshAdvert: (peer) => { capacity.refresh(peer) },
    // A round's offer is answered within its bid window: an offer nobody heard is not worth
    // re-sending later (the next round offers again, and offers directly to known peers).
    publishOffer: async (data) => { await gossip.publish(components.offersTopic, data, { retryForMs: 0 }) },
    reportPeer: (peer, action) => { peerScore.report(peer, action) },
    // A silent worker holding tasks: does its node answer a ping on the connection it has? (No
    // connection: its lease's stream is dead too, and says so itself.)
    probePeer: async (peer, signal) => await probePeer(components.host, peer, signal),
    // Bid only for requesters whose credits on the chain, less what they owe in pending
    // transactions and (added by the worker) in unfinished agreements here, cover the job.
    canPay: async (requester, amount) => amount === 0 || (await spendable.get(requester)) >= amount,
    // Replicas on distinct hosts, quorums counted per host. A loopback testnet puts every peer
    // on 127.0.0.1, so there hosts are not compared (as with its gossipsub IP allow-list).
    hostOf: init.testnet === true ? undefined : (peer) => hostOf(components.host, peer),
    spendable: async () => await ledger.spendable(signer.peerId),
    // One settle per lease (or long lease's period): what the requester acknowledged, paid by difference.
    settle: async (lease, checkpoint, ack) => { await ledger.submitSettle(lease, checkpoint, ack) },
    settled: async (leaseId) => await ledger.settledAmount(leaseId),
    // Without a data dir the store is memory: what a stop leaves unfinished is lost.
    resumes: init.dataDir != null,
    ...(components.onJobProgress != null ? { onJobProgress: components.onJobProgress } : {}),
    ...(init.metrics != null ? { metrics: init.metrics } : {})
  }, { ...(init.dataDir != null ? { blobDir: dataDirPaths(init.dataDir).blobs } : {}), ...init.scheduler })
}

/**
 * Whether a connected peer answers a ping before `signal` aborts (true when not connected, or the
 * ping failed otherwise: no evidence either way). A peer that does not answer in time loses its
 * connections here: its host is frozen (or gone without a word), and its TCP connections would
 * otherwise stay open until libp2p's own liveness pings give up, minutes later, holding a
 * connection slot and keeping it among the connected peers capacity is looked up from. When it
 * wakes, it connects again as any peer does.
 */
async function probePeer (host: () => DepinLibp2p, peer: string, signal: AbortSignal): Promise<boolean> {
  let libp2p: DepinLibp2p | undefined
  let peerId: ReturnType<typeof peerIdFromString> | undefined
  try {
    libp2p = host()
    peerId = peerIdFromString(peer)
    if (libp2p.getConnections(peerId).length === 0) return true
    await libp2p.services.ping.ping(peerId, { signal })
    return true
  } catch {
    // Unanswered in time: the host is not there. Any other failure (the connection closed, the
    // node stopping) is not evidence against the worker: its lease's stream says what happened.
    if (!signal.aborted) return true
    // (dropped, not timed out: its lease ended meanwhile, which says nothing of the peer)
    if ((signal.reason as Error | undefined)?.name !== 'TimeoutError') return true
    if (libp2p != null && peerId != null) {
      for (const connection of libp2p.getConnections(peerId)) connection.abort(new Error(`${peer} did not answer a ping`))
    }
    return false
  }
}

/** The IP address a peer is connected from, if it is connected. */
function hostOf (host: () => DepinLibp2p, peer: string): string | undefined {
  try {
    const connection = host().getConnections(peerIdFromString(peer))[0]
    return connection != null ? remoteHost(connection.remoteAddr) : undefined
  } catch {
    return undefined
  }
}
