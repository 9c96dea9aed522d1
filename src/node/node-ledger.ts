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

  /** Syncs with the peers this host identifies from now on. */
  watch (libp2p: DepinLibp2p): void {
    libp2p.addEventListener('peer:identify', (evt) => {
      if (!evt.detail.protocols.includes(SYNC_PROTOCOL)) return
      // Once per connection: an identify push on the same connection buys no second sync.
      if (this.syncedConnections.has(evt.detail.connection)) return
      this.syncedConnections.add(evt.detail.connection)
      void this.syncFrom(evt.detail.peerId.toString())
    })
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
