/**
 * The running services of a ComputeNode and how they are wired together: identity, store,
 * libp2p host, gossip and capacity first, then ledger, receipt tally, scheduler and retention,
 * each started once what it needs runs, and all stopped in reverse. ComputeNode is the public
 * face over it and reads these fields; only this class sets them. A failed start leaves some
 * unset, and `stop()` stops whatever is there. How each service is configured lives in
 * node-host.ts, node-ledger.ts and node-scheduler.ts.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { logger } from '@libp2p/logger'
import { createSigner, type Signer } from '../proofs/signing.ts'
import { NotStartedError } from '../errors.ts'
import type { ChannelOpener, ProtocolRegistrar } from '../transport.ts'
import { SYNC_PROTOCOL, type Ledger } from '../ledger/index.ts'
import type { Scheduler } from '../scheduler/scheduler.ts'
import type { Retention } from '../scheduler/retention/index.ts'
import { LEASE_PROTOCOL } from '../scheduler/constants.ts'
import type { OperatorLog } from '../shared/log.ts'
import type { BoundedDatastore } from './bounded-datastore.ts'
import { CapacityService } from './capacity.ts'
import { measureCapacity } from './capacity-record.ts'
import { createChannelOpener, createProtocolRegistrar } from './channel.ts'
import type { ComputeNodeEvents, ComputeNodeInit } from './compute-node-types.ts'
import { ConnectionTrimmer } from './connection-trimmer.ts'
import { MAX_CONNECTIONS, MAX_OFFER_BYTES } from './constants.ts'
import { dataDirPaths, loadOrCreateIdentity } from './data-dir.ts'
import { machineFuelRate } from './fuel-rate.ts'
import { GossipRouter } from './gossip.ts'
import type { JobActivity } from './job-activity.ts'
import { KeepAlive } from './keepalive.ts'
import { KadKeepAliveRemover } from './kad-keep-alive.ts'
import { BootstrapRedial } from './bootstrap-redial.ts'
import { createDatastore, type DepinLibp2p } from './libp2p.ts'
import { addDialAddresses, createNodeHost } from './node-host.ts'
import { PeerSync, startNodeLedger } from './node-ledger.ts'
import { createNodeScheduler } from './node-scheduler.ts'
import { withOfferPrecheck } from './offer-gossip.ts'
import type { PeerScore } from './peer-score.ts'
import { ReceiptTally } from './receipt-tally.ts'
import { createNodeRetention } from './retention.ts'
import { openStore, type Store } from './storage.ts'

const log = logger('depin:node')

type EventDetail<K extends keyof ComputeNodeEvents> = ComputeNodeEvents[K] extends CustomEvent<infer D> ? D : never

/** What the runtime takes from the node it runs for. */
export interface NodeRuntimeHooks {
  peerScore: PeerScore
  /** Fed with the progress of this node's jobs. */
  activity: JobActivity
  topics: () => { offers: string, blocks: string, transactions: string }
  /** The node's host and its dialable addresses (both throw once the node stopped). */
  host: () => DepinLibp2p
  multiaddrs: () => string[]
  log: () => OperatorLog
  /** Dispatches one of the node's events. */
  emit: <K extends keyof ComputeNodeEvents>(type: K, detail: EventDetail<K>) => void
}

export class NodeRuntime {
  libp2p?: DepinLibp2p
  store?: Store
  signer?: Signer
  gossip?: GossipRouter
  capacity?: CapacityService
  datastore?: BoundedDatastore
  ledger?: Ledger
  scheduler?: Scheduler
  retention?: Retention
  channels?: ChannelOpener
  protocols?: ProtocolRegistrar
  private trimmer?: ConnectionTrimmer
  private kadKeepAlive?: KadKeepAliveRemover
  private keepAlive?: KeepAlive
  private bootstrapRedial?: BootstrapRedial
  private receiptTally?: ReceiptTally
  private readonly peerSync = new PeerSync(() => this.ledger)
  private readonly init: ComputeNodeInit
  private readonly hooks: NodeRuntimeHooks

  constructor (init: ComputeNodeInit, hooks: NodeRuntimeHooks) {
    this.init = init
    this.hooks = hooks
  }

  /**
   * Identity, store, host (its connection upkeep and peer events), gossip (started) and the
   * capacity service: what the services are built on. A host that fails to start closes the store.
   */
  async open (): Promise<void> {
    const { peerScore, emit } = this.hooks
    const privateKey = this.init.privateKey ??
      (this.init.dataDir != null ? (await loadOrCreateIdentity(this.init.dataDir)).privateKey : await generateKeyPair('Ed25519'))
    this.signer = createSigner(privateKey)
    this.store = await openStore(this.init.dataDir != null ? dataDirPaths(this.init.dataDir).db : undefined)
    try {
      this.datastore = createDatastore()
      this.libp2p = await createNodeHost(this.init, { privateKey, datastore: this.datastore, peerScore, topics: this.hooks.topics() })
    } catch (err) {
      await this.store.close()
      this.store = undefined
      throw err
    }
    const libp2p = this.libp2p
    // No redials of kad-dht's closest peers when their connections close (see kad-keep-alive.ts).
    this.kadKeepAlive = new KadKeepAliveRemover(libp2p)
    await this.kadKeepAlive.start()
    // A lease stream (opened by the requester, inbound at the worker) lives as long as the lease.
    this.trimmer = new ConnectionTrimmer(libp2p, { maxConnections: this.init.maxConnections ?? MAX_CONNECTIONS, longLivedInbound: [LEASE_PROTOCOL] })
    this.trimmer.start()
    this.keepAlive = new KeepAlive(libp2p)
    this.keepAlive.start()
    this.bootstrapRedial = new BootstrapRedial(libp2p, this.init.bootstrap ?? [])
    this.bootstrapRedial.start()
    // One stream opener and one handler registrar for every layer (scheduler, ledger sync).
    // A peer that cannot be dialled leaves the capacity view at once: it was listed as reachable
    // for 5 minutes after its connection closed (a trimmed peer is alive), and every placement
    // offered to it, a peer that had left, in that time.
    this.channels = createChannelOpener(libp2p, (peer) => { this.capacity?.peerUnreachable(peer) })
    this.protocols = createProtocolRegistrar(libp2p, peerScore)
    libp2p.addEventListener('peer:connect', (evt) => {
      this.capacity?.peerConnected(evt.detail.toString())
      emit('peer:connect', evt.detail.toString())
    })
    libp2p.addEventListener('peer:disconnect', (evt) => {
      this.capacity?.peerDisconnected(evt.detail.toString())
      emit('peer:disconnect', evt.detail.toString())
    })
    // Capacity of a connected peer is asked for directly once identify says it speaks the protocol.
    libp2p.addEventListener('peer:identify', (evt) => {
      this.capacity?.peerIdentified(evt.detail.peerId.toString(), evt.detail.protocols)
    })

    this.gossip = new GossipRouter(libp2p.services.pubsub, peerScore)
    this.capacity = new CapacityService({
      dht: libp2p.services.dht,
      signer: this.signer,
      channels: this.channels,
      protocols: this.protocols,
      multiaddrs: () => this.hooks.multiaddrs(),
      addPeerAddresses: async (peer, addrs) => { await addDialAddresses(libp2p, peer, addrs) },
      reportPeer: (peer, action) => { peerScore.report(peer, action) },
      connectedPeers: () => libp2p.getPeers().map((p) => p.toString())
    }, measureCapacity(this.init.capacity, this.init.fuelPerSecond ?? await machineFuelRate()), { advertise: this.init.advertise })

    this.gossip.start()
  }

  /** Capacity advertisement, ledger, receipt tally, scheduler, retention. On failure, call `stop()`. */
  async startServices (): Promise<void> {
    const gossip = this.gossip as GossipRouter
    await (this.capacity as CapacityService).start()
    this.ledger = await this.startLedger()
    this.receiptTally = new ReceiptTally(this.ledger)
    await this.receiptTally.start()
    this.scheduler = this.createScheduler()
    // Reputation weighs settled receipts on the chain beside what this node observed itself.
    this.scheduler.reputation.useReceipts(this.receiptTally)
    gossip.register(withOfferPrecheck(this.scheduler.offersTopic(this.hooks.topics().offers, MAX_OFFER_BYTES)))
    await this.scheduler.start()
    this.retention = createNodeRetention(this.scheduler, this.store as Store, this.hooks.log(), this.init.retention)
    this.retention.start()
  }

  /** Stops everything in reverse order, whatever a (failed) start left running. */
  async stop (): Promise<void> {
    await this.retention?.stop()
    this.retention = undefined
    await this.scheduler?.stop().catch((err) => { log.error('stopping the scheduler failed: %e', err) })
    this.scheduler = undefined
    this.receiptTally?.stop()
    await this.libp2p?.unhandle(SYNC_PROTOCOL).catch(() => {})
    await this.ledger?.stop().catch((err) => { log.error('stopping the ledger failed: %e', err) })
    this.ledger = undefined
    this.receiptTally = undefined
    await this.capacity?.stop()
    // (cleared, so what needs a running node throws NotStartedError as before the first start)
    this.capacity = undefined
    this.gossip?.stop()
    this.gossip = undefined
    this.trimmer?.stop()
    this.trimmer = undefined
    this.keepAlive?.stop()
    this.keepAlive = undefined
    this.bootstrapRedial?.stop()
    this.bootstrapRedial = undefined
    this.kadKeepAlive?.stop()
    this.kadKeepAlive = undefined
    this.channels = undefined
    this.protocols = undefined
    await this.libp2p?.stop()
    await this.store?.close()
    this.libp2p = undefined
    this.store = undefined
  }

  /** Opens the ledger, wires its gossip topics and the sync protocol, and syncs with each new peer. */
  private async startLedger (): Promise<Ledger> {
    const libp2p = this.hooks.host()
    const ledger = await startNodeLedger(this.init, {
      store: this.store as Store,
      signer: this.signer as Signer,
      gossip: this.gossip as GossipRouter,
      channels: this.channels as ChannelOpener,
      protocols: this.protocols as ProtocolRegistrar,
      peerScore: this.hooks.peerScore,
      topics: this.hooks.topics()
    })
    this.peerSync.watch(libp2p)
    return ledger
  }

  /** The scheduler, its job progress and lease events re-emitted as the node's. */
  private createScheduler (): Scheduler {
    const { activity, emit } = this.hooks
    const ledger = this.ledger
    if (ledger == null) throw new NotStartedError()
    const scheduler = createNodeScheduler(this.init, {
      signer: this.signer as Signer,
      channels: this.channels as ChannelOpener,
      protocols: this.protocols as ProtocolRegistrar,
      store: this.store as Store,
      capacity: this.capacity as CapacityService,
      gossip: this.gossip as GossipRouter,
      ledger,
      peerScore: this.hooks.peerScore,
      host: () => this.hooks.host(),
      offersTopic: this.hooks.topics().offers,
      onJobProgress: (progress) => {
        activity.add(progress)
        emit('job:progress', progress)
      }
    })
    scheduler.addEventListener('lease:opened', (evt) => { emit('lease:opened', evt.detail) })
    scheduler.addEventListener('lease:closed', (evt) => { emit('lease:closed', evt.detail) })
    scheduler.addEventListener('lease:accepted', (evt) => { emit('lease:accepted', evt.detail) })
    scheduler.addEventListener('lease:served', (evt) => { emit('lease:served', evt.detail) })
    scheduler.addEventListener('lease:tail-claimed', (evt) => { emit('lease:tail-claimed', evt.detail) })
    scheduler.addEventListener('lease:tail-served', (evt) => { emit('lease:tail-served', evt.detail) })
    return scheduler
  }
}
