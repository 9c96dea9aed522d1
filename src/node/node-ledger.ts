/**
 * The node's ledger wired to the network: its store in a sublevel of the node's, its blocks and
 * transactions on gossip, `/depin/sync/2.0.0` served, and a sync with each peer that speaks it.
 */
import { logger } from '@libp2p/logger'
import type { Connection } from '@libp2p/interface'
import type { Signer } from '../proofs/signing.ts'
import type { ChannelOpener, ProtocolRegistrar } from '../transport.ts'
import { createLedger, createSyncHandler, createSyncTransport, SYNC_HANDLE_OPTIONS, SYNC_PROTOCOL, type Ledger } from '../ledger/index.ts'
import type { ComputeNodeInit } from './compute-node-types.ts'
import type { GossipRouter } from './gossip.ts'
import type { DepinLibp2p } from './libp2p.ts'
import type { PeerScore } from './peer-score.ts'
import type { Store } from './storage.ts'

const log = logger('depin:node')

export interface NodeLedgerComponents {
  store: Store
  signer: Signer
  gossip: GossipRouter
  channels: ChannelOpener
  protocols: ProtocolRegistrar
  peerScore: PeerScore
  topics: { blocks: string, transactions: string }
}

/** Opens the ledger, registers its gossip topics and serves the sync protocol. */
export async function startNodeLedger (init: Pick<ComputeNodeInit, 'ledger' | 'network' | 'mine'>, components: NodeLedgerComponents): Promise<Ledger> {
  const { gossip, topics, peerScore } = components
  const store = components.store.sublevel('ledger', { keyEncoding: 'view', valueEncoding: 'view' })
  const ledger = createLedger({
    ...init.ledger,
    store,
    signer: components.signer,
    genesis: init.network,
    mine: init.mine,
    publishBlock: async (bytes) => { await gossip.publish(topics.blocks, bytes) },
    publishTransaction: async (bytes) => { await gossip.publish(topics.transactions, bytes) },
    reportPeer: (peer, action) => { peerScore.report(peer, action) },
    syncTransport: createSyncTransport(components.channels)
  })
  await ledger.start()
  const { blocks, transactions } = ledger.topicHandlers()
  gossip.register(blocks)
  gossip.register(transactions)
  await components.protocols.handle(SYNC_PROTOCOL, createSyncHandler(ledger), SYNC_HANDLE_OPTIONS)
  return ledger
}

/**
 * Catches up with each newly connected peer's chain if its headers show it is heavier (the
 * ledger fetches no block before that): once per connection, one sync per peer at a time.
 * Orphan blocks trigger syncs inside the ledger, at most once per peer per SYNC_TRIGGER_INTERVAL_MS.
 */
export class PeerSync {
  private readonly ledger: () => Ledger | undefined
  private readonly syncing = new Set<string>()
  private readonly syncedConnections = new WeakSet<Connection>()

  /** `ledger` is the node's running ledger, if any: a stopped node syncs nothing. */
  constructor (ledger: () => Ledger | undefined) {
    this.ledger = ledger
  }

  /**
   * Syncs with the peers this host identifies from now on, and with those it has already
   * identified: the host starts (and dials its bootstrap peers) before the ledger opens, so a
   * bootstrap peer is usually identified before this is called. Without the second part a node
   * restarted behind its network stayed behind until someone mined a block.
   */
  watch (libp2p: DepinLibp2p): void {
    libp2p.addEventListener('peer:identify', (evt) => {
      if (!evt.detail.protocols.includes(SYNC_PROTOCOL)) return
      this.syncOnce(evt.detail.connection)
    })
    for (const connection of libp2p.getConnections()) {
      void libp2p.peerStore.get(connection.remotePeer).then((peer) => {
        if (peer.protocols.includes(SYNC_PROTOCOL)) this.syncOnce(connection)
      }, () => {}) // not identified yet: its identify event comes
    }
  }

  /** Once per connection: an identify push on the same connection buys no second sync. */
  private syncOnce (connection: Connection): void {
    if (this.syncedConnections.has(connection)) return
    this.syncedConnections.add(connection)
    void this.syncFrom(connection.remotePeer.toString())
  }

  private async syncFrom (peer: string): Promise<void> {
    const ledger = this.ledger()
    if (this.syncing.has(peer) || ledger == null) return
    this.syncing.add(peer)
    try {
      await ledger.syncWith(peer)
    } catch (err) {
      log('sync with %s failed: %s', peer, (err as Error).message)
    } finally {
      this.syncing.delete(peer)
    }
  }
}
