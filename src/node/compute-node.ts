/**
 * The ComputeNode facade: one object an operator's daemon or an embedding program holds. It owns
 * the store, the libp2p host, gossip topics, capacity advertisement, the ledger and the scheduler,
 * starting them in dependency order and stopping them in reverse.
 */
import { randomUUID } from 'node:crypto'
import { TypedEventEmitter } from 'main-event'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import type { Connection } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import { createSigner, type Signer } from '../proofs/signing.ts'
import { NotStartedError } from '../errors.ts'
import { measureCapacity, type Capacity } from './capacity-record.ts'
import { machineFuelRate } from './fuel-rate.ts'
import { CapacityService, type CapacityAdvert, type FindCapacityQuery } from './capacity.ts'
import { dataDirPaths, loadOrCreateIdentity } from './data-dir.ts'
import { AddressInUseError } from './errors.ts'
import { GossipRouter } from './gossip.ts'
import { createDatastore, createHost, remoteHost, type DepinLibp2p } from './libp2p.ts'
import { withOfferPrecheck } from './offer-gossip.ts'
import type { BoundedDatastore } from './bounded-datastore.ts'
import { ConnectionTrimmer } from './connection-trimmer.ts'
import { KeepAlive } from './keepalive.ts'
import { LazyExecutor } from './lazy-executor.ts'
import { PeerScore } from './peer-score.ts'
import { ReceiptTally } from './receipt-tally.ts'
import { openStore, type Store } from './storage.ts'
import { createChannelOpener, createProtocolRegistrar } from './channel.ts'
import type { ChannelOpener, ProtocolRegistrar, TopicHandler } from '../transport.ts'
import { Scheduler, type BatchSubmitOptions, type JobSummary, type SubmitOptions } from '../scheduler/scheduler.ts'
import type { OutputFileInfo } from '../scheduler/requester/trees.ts'
import { createExecutor } from '../scheduler/executor/index.ts'
import type { Retention } from '../scheduler/retention/index.ts'
import { createNodeRetention } from './retention.ts'
import type { BatchInit, JobInit } from '../scheduler/job.ts'
import type { JobHandle, JobResult } from '../scheduler/requester/jobs.ts'
import type { BatchHandle, BatchResult } from '../scheduler/requester/batches.ts'
import { DATASTORE_LIMITS, MAX_CONNECTIONS, MAX_OFFER_BYTES, offersTopic } from './constants.ts'
import { JobActivity } from './job-activity.ts'
import { SpendableCache } from './spendable-cache.ts'
import { attachNodeMetrics } from './metrics/attach.ts'
import { attachOperatorLog } from './operator-events.ts'
import { silentLog, type OperatorLog } from '../shared/log.ts'
import {
  blockTopic, createLedger, createSyncHandler, createSyncTransport, transactionTopic, DEFAULT_GENESIS_CONFIG, SYNC_HANDLE_OPTIONS, SYNC_PROTOCOL, type Ledger
} from '../ledger/index.ts'
import type { ComputeNodeEvents, ComputeNodeInit, NodeServices, NodeStatus, PeerSummary } from './compute-node-types.ts'

const log = logger('depin:node')

export type { ComputeNodeEvents, ComputeNodeInit, NodeServices, NodeStatus, PeerSummary } from './compute-node-types.ts'

export class ComputeNode extends TypedEventEmitter<ComputeNodeEvents> {
  readonly init: ComputeNodeInit
  readonly peerScore = new PeerScore()
  /** What this node's requested jobs are doing now (workers running them, recent progress). */
  readonly activity = new JobActivity()
  private detachObservers: Array<() => void> = []
  private libp2p?: DepinLibp2p
  private store?: Store
  private signerValue?: Signer
  private gossipRouter?: GossipRouter
  private capacityService?: CapacityService
  private trimmer?: ConnectionTrimmer
  private datastore?: BoundedDatastore
  private keepAlive?: KeepAlive
  private schedulerValue?: Scheduler
  private retentionValue?: Retention
  private ledgerValue?: Ledger
  private receiptTally?: ReceiptTally
  private channels?: ChannelOpener
  private protocols?: ProtocolRegistrar
  private readonly syncing = new Set<string>()
  private readonly syncedConnections = new WeakSet<Connection>()
  private startedAt?: number
  private stopping?: Promise<void>

  constructor (init: ComputeNodeInit = {}) {
    super()
    this.init = init
    this.peerScore.addEventListener('disconnect', (evt) => { void this.penalise(evt.detail.peerId, evt.detail.score, false) })
    this.peerScore.addEventListener('ban', (evt) => { void this.penalise(evt.detail.peerId, evt.detail.score, true) })
  }

  /** The ledger network's id (from `init.network`, else the built-in network). */
  get networkId (): string {
    return (this.init.network ?? DEFAULT_GENESIS_CONFIG).networkId
  }

  /** The gossip topics of this node's network. */
  get topics (): { offers: string, blocks: string, transactions: string } {
    return { offers: offersTopic(this.networkId), blocks: blockTopic(this.networkId), transactions: transactionTopic(this.networkId) }
  }

  /** This node's peer id (available after `start()`). */
  get peerId (): string {
    return this.signer.peerId
  }

  /** Addresses other peers can dial, each ending in /p2p/<peer id>. */
  get multiaddrs (): string[] {
    return this.host.getMultiaddrs().map((ma) => ma.toString())
  }

  get isStarted (): boolean {
    return this.startedAt != null
  }

  get signer (): Signer {
    if (this.signerValue == null) throw new NotStartedError()
    return this.signerValue
  }

  /** The libp2p host, for embedders who need it; depin's own layers use `services()`. */
  get host (): DepinLibp2p {
    if (this.libp2p == null) throw new NotStartedError()
    return this.libp2p
  }

  async start (): Promise<void> {
    if (this.libp2p != null) return
    const privateKey = this.init.privateKey ??
      (this.init.dataDir != null ? (await loadOrCreateIdentity(this.init.dataDir)).privateKey : await generateKeyPair('Ed25519'))
    this.signerValue = createSigner(privateKey)
    this.store = await openStore(this.init.dataDir != null ? dataDirPaths(this.init.dataDir).db : undefined)
    try {
      const memory = this.init.transport === 'memory'
      this.datastore = createDatastore()
      this.libp2p = await createHost({
        privateKey,
        datastore: this.datastore,
        transport: this.init.transport,
        listen: this.init.listen ?? [memory ? `/memory/${randomUUID()}` : '/ip4/0.0.0.0/tcp/0'],
        announce: this.init.announce,
        bootstrap: this.init.bootstrap,
        // mDNS finds LAN peers over UDP: meaningless between in-process memory nodes.
        mdns: !memory && (this.init.mdns ?? true),
        testnet: this.init.testnet,
        maxConnections: this.init.maxConnections,
        appScore: (peer) => this.peerScore.score(peer),
        // A disconnected peer stays out until its score decays back over the threshold; a
        // banned one for the ban's duration.
        isBanned: (peer) => this.peerScore.isPenalised(peer),
        topics: { [this.topics.offers]: 0.5, [this.topics.blocks]: 1, [this.topics.transactions]: 0.5 },
        metrics: this.init.libp2pMetrics ?? this.init.metrics?.libp2pMetrics()
      })
    } catch (err) {
      await this.store.close()
      this.store = undefined
      const e = err as NodeJS.ErrnoException
      if (e.code === 'EADDRINUSE' || /EADDRINUSE/.test(e.message ?? '')) {
        throw new AddressInUseError((this.init.listen ?? []).join(', '), { cause: err })
      }
      throw err
    }
    const libp2p = this.libp2p
    this.trimmer = new ConnectionTrimmer(libp2p, { maxConnections: this.init.maxConnections ?? MAX_CONNECTIONS })
    this.trimmer.start()
    this.keepAlive = new KeepAlive(libp2p)
    this.keepAlive.start()
    // One stream opener and one handler registrar for every layer (scheduler, ledger sync).
    this.channels = createChannelOpener(libp2p)
    this.protocols = createProtocolRegistrar(libp2p, this.peerScore)
    libp2p.addEventListener('peer:connect', (evt) => {
      this.capacityService?.peerConnected(evt.detail.toString())
      this.safeDispatchEvent('peer:connect', { detail: evt.detail.toString() })
    })
    libp2p.addEventListener('peer:disconnect', (evt) => {
      this.capacityService?.peerDisconnected(evt.detail.toString())
      this.safeDispatchEvent('peer:disconnect', { detail: evt.detail.toString() })
    })
    // Capacity of a connected peer is asked for directly once identify says it speaks the protocol.
    libp2p.addEventListener('peer:identify', (evt) => {
      this.capacityService?.peerIdentified(evt.detail.peerId.toString(), evt.detail.protocols)
    })

    this.gossipRouter = new GossipRouter(libp2p.services.pubsub, this.peerScore)
    this.capacityService = new CapacityService({
      dht: libp2p.services.dht,
      signer: this.signerValue,
      channels: this.channels,
      protocols: this.protocols,
      multiaddrs: () => this.multiaddrs,
      addPeerAddresses: async (peer, addrs) => { await addDialAddresses(libp2p, peer, addrs) },
      reportPeer: (peer, action) => { this.peerScore.report(peer, action) },
      connectedPeers: () => libp2p.getPeers().map((p) => p.toString())
    }, measureCapacity(this.init.capacity, this.init.fuelPerSecond ?? await machineFuelRate()), { advertise: this.init.advertise })

    this.gossipRouter.start()
    try {
      await this.capacityService.start()
      this.ledgerValue = await this.startLedger()
      this.receiptTally = new ReceiptTally(this.ledgerValue)
      await this.receiptTally.start()
      this.schedulerValue = this.createScheduler()
      // Reputation weighs settled receipts on the chain beside what this node observed itself.
      this.schedulerValue.reputation.useReceipts(this.receiptTally)
      this.gossipRouter.register(withOfferPrecheck(this.schedulerValue.offersTopic(this.topics.offers, MAX_OFFER_BYTES)))
      await this.schedulerValue.start()
      this.retentionValue = createNodeRetention(this.schedulerValue, this.store, this.log, this.init.retention)
      this.retentionValue.start()
    } catch (err) {
      // A half-started node (e.g. a ledger store of another network) must not keep its host running.
      await this.stop().catch(() => {})
      throw err
    }
    this.startedAt = Date.now()
    if (this.init.metrics != null) this.detachObservers.push(attachNodeMetrics(this, this.init.metrics))
    if (this.init.log != null) this.detachObservers.push(attachOperatorLog(this, this.init.log))
    log('started %s on %s', this.peerId, this.multiaddrs.join(', '))
    this.safeDispatchEvent('started')
  }

  /** Stops everything in reverse order; safe to call twice. */
  async stop (): Promise<void> {
    if (this.stopping != null) return await this.stopping
    if (this.libp2p == null) return
    this.stopping = (async () => {
      for (const detach of this.detachObservers.splice(0)) detach()
      await this.retentionValue?.stop()
      this.retentionValue = undefined
      await this.schedulerValue?.stop().catch((err) => { log.error('stopping the scheduler failed: %e', err) })
      this.schedulerValue = undefined
      this.receiptTally?.stop()
      await this.libp2p?.unhandle(SYNC_PROTOCOL).catch(() => {})
      await this.ledgerValue?.stop().catch((err) => { log.error('stopping the ledger failed: %e', err) })
      this.ledgerValue = undefined
      await this.capacityService?.stop()
      this.gossipRouter?.stop()
      this.trimmer?.stop()
      this.keepAlive?.stop()
      await this.libp2p?.stop()
      await this.store?.close()
      this.libp2p = undefined
      this.store = undefined
      this.startedAt = undefined
      this.safeDispatchEvent('stopped')
    })()
    try {
      await this.stopping
    } finally {
      this.stopping = undefined
    }
  }

  /** Registers a gossip topic's validator and delivery. */
  registerTopic<T> (handler: TopicHandler<T>): void {
    this.requireGossip().register(handler)
  }

  /** The pieces later layers are built from. */
  services (): NodeServices {
    if (this.channels == null || this.protocols == null) throw new NotStartedError()
    return {
      signer: this.signer,
      store: this.store as Store,
      channels: this.channels,
      protocols: this.protocols,
      gossip: this.requireGossip(),
      peerScore: this.peerScore,
      capacity: this.requireCapacity()
    }
  }

  /** Dials a peer by multiaddr (with /p2p/<id>) and returns its peer id. */
  async dial (address: string, options: { signal?: AbortSignal } = {}): Promise<string> {
    const connection = await this.host.dial(multiaddr(address), { signal: options.signal ?? AbortSignal.timeout(10_000) })
    return connection.remotePeer.toString()
  }

  /** Finds peers that can run a runtime through DHT provider records, verified and filtered. */
  async findCapacity (query: FindCapacityQuery = {}): Promise<CapacityAdvert[]> {
    return await this.requireCapacity().find(query)
  }

  /** Re-signs and re-publishes the capacity record now. */
  async publishCapacity (options: { signal?: AbortSignal } = {}): Promise<void> {
    await this.requireCapacity().publish(options.signal ?? AbortSignal.timeout(30_000))
  }

  /**
   * Submits a job: signs it, offers it to the network, places it on `replicas` workers and
   * resolves the handle's `result()` with the (verified) output.
   */
  async submitJob (spec: JobInit, options: SubmitOptions = {}): Promise<JobHandle> {
    return await this.scheduler.submit(spec, options)
  }

  /**
   * Submits a batch: one module over many inputs, each input a task placed like a job (on the
   * same warm leases). The handle reports progress, each task's result as it arrives, and a
   * summary at the end.
   */
  async submitBatch (spec: BatchInit, options: BatchSubmitOptions = {}): Promise<BatchHandle> {
    return await this.scheduler.submitBatch(spec, options)
  }

  /** A batch's summary (tasks, completed, failed, verified, cost). */
  async batch (id: string): Promise<BatchResult> {
    return await this.scheduler.batch(id)
  }

  /** Cancels a job or batch this node is running; false when there is no such unfinished one here. */
  cancel (id: string): boolean {
    return this.scheduler.cancel(id)
  }

  /**
   * Cancels a job this node requested that has not ended; resolves with its (cancelled) result.
   * Throws JobNotFoundError for an unknown job, JobFinishedError for one that already ended.
   */
  async cancelJob (id: string): Promise<JobResult> {
    return await this.scheduler.cancelJob(id)
  }

  /** The operator's log this node writes to (silent unless `init.log` was given). */
  get log (): OperatorLog {
    return this.init.log ?? silentLog
  }

  /** Jobs and batches this node requested and leases it served, newest first. */
  async jobs (): Promise<JobSummary[]> {
    return await this.scheduler.jobs()
  }

  /** A requested job's result (output included) as far as it is known. */
  async job (id: string): Promise<JobResult> {
    return await this.scheduler.job(id)
  }

  /**
   * One file a requested job left in /out, by its path there (e.g. `frames/0001.pgm`): its size,
   * CID and bytes (checked against the CID when they arrived). Throws `JobNotFoundError`, or
   * `OutputFileNotFoundError` (ERR_FILE_NOT_FOUND) when the job left no such file.
   */
  async jobFile (id: string, path: string): Promise<{ info: OutputFileInfo, bytes: Uint8Array }> {
    return await this.scheduler.jobFile(id, path)
  }

  /** One file task `index` of a batch left in /out (as `jobFile`). */
  async batchTaskFile (id: string, index: number, path: string): Promise<{ info: OutputFileInfo, bytes: Uint8Array }> {
    return await this.scheduler.batchTaskFile(id, index, path)
  }

  /** The job market: worker and requester sides, records, blobs, reputation. */
  get scheduler (): Scheduler {
    if (this.schedulerValue == null) throw new NotStartedError()
    return this.schedulerValue
  }

  /** Retention of ended jobs and their blobs: `prune()`, `deleteJob(id)`, `deleteBatch(id)`. */
  get retention (): Retention {
    if (this.retentionValue == null) throw new NotStartedError()
    return this.retentionValue
  }

  /** The replicated ledger: balances, blocks, receipts, transfers. */
  get ledger (): Ledger {
    if (this.ledgerValue == null) throw new NotStartedError()
    return this.ledgerValue
  }

  /** Opens the ledger, wires its gossip topics and the sync protocol, and syncs with each new peer. */
  private async startLedger (): Promise<Ledger> {
    const libp2p = this.host
    const gossip = this.requireGossip()
    const channels = this.channels as ChannelOpener
    const protocols = this.protocols as ProtocolRegistrar
    const store = (this.store as Store).sublevel('ledger', { keyEncoding: 'view', valueEncoding: 'view' })
    const ledger = createLedger({
      ...this.init.ledger,
      store,
      signer: this.signer,
      genesis: this.init.network,
      mine: this.init.mine,
      publishBlock: async (bytes) => { await gossip.publish(this.topics.blocks, bytes) },
      publishTransaction: async (bytes) => { await gossip.publish(this.topics.transactions, bytes) },
      reportPeer: (peer, action) => { this.peerScore.report(peer, action) },
      syncTransport: createSyncTransport(channels)
    })
    await ledger.start()
    const { blocks, transactions } = ledger.topicHandlers()
    gossip.register(blocks)
    gossip.register(transactions)
    await protocols.handle(SYNC_PROTOCOL, createSyncHandler(ledger), SYNC_HANDLE_OPTIONS)
    libp2p.addEventListener('peer:identify', (evt) => {
      if (!evt.detail.protocols.includes(SYNC_PROTOCOL)) return
      // Once per connection: an identify push on the same connection buys no second sync.
      if (this.syncedConnections.has(evt.detail.connection)) return
      this.syncedConnections.add(evt.detail.connection)
      void this.syncFrom(evt.detail.peerId.toString())
    })
    return ledger
  }

  /** The IP address a peer is connected from, if it is connected. */
  private hostOf (peer: string): string | undefined {
    try {
      const connection = this.host.getConnections(peerIdFromString(peer))[0]
      return connection != null ? remoteHost(connection.remoteAddr) : undefined
    } catch {
      return undefined
    }
  }

  /**
   * Catches up with a newly connected peer's chain if its headers show it is heavier (the
   * ledger fetches no block before that); one sync per peer at a time. Orphan blocks trigger
   * syncs inside the ledger, at most once per peer per SYNC_TRIGGER_INTERVAL_MS.
   */
  private async syncFrom (peer: string): Promise<void> {
    if (this.syncing.has(peer) || this.ledgerValue == null) return
    this.syncing.add(peer)
    try {
      await this.ledgerValue.syncWith(peer)
    } catch (err) {
      log('sync with %s failed: %s', peer, (err as Error).message)
    } finally {
      this.syncing.delete(peer)
    }
  }

  private createScheduler (): Scheduler {
    const capacity = this.requireCapacity()
    const gossip = this.requireGossip()
    const current = capacity.current()
    const ledger = this.ledger
    const spendable = new SpendableCache(ledger)
    // The default pool starts its threads on the first task: an idle node holds none.
    const executor = this.init.executor ?? new LazyExecutor(createExecutor({ workers: Math.max(1, Math.min(current.slots, current.cores)) }))
    const scheduler = new Scheduler({
      signer: this.signer,
      channels: this.channels as ChannelOpener,
      protocols: this.protocols as ProtocolRegistrar,
      store: this.store as Store,
      executor,
      capacity: () => capacity.current(),
      knownPeers: () => capacity.cached(),
      findPeers: async (query) => await capacity.find(query),
      // A round's offer is answered within its bid window: an offer nobody heard is not worth
      // re-sending later (the next round offers again, and offers directly to known peers).
      publishOffer: async (data) => { await gossip.publish(this.topics.offers, data, { retryForMs: 0 }) },
      reportPeer: (peer, action) => { this.peerScore.report(peer, action) },
      // Bid only for requesters whose credits on the chain, less what they owe in pending
      // transactions and (added by the worker) in unfinished agreements here, cover the job.
      canPay: async (requester, amount) => amount === 0 || (await spendable.get(requester)) >= amount,
      // Replicas on distinct hosts, quorums counted per host. A loopback testnet puts every peer
      // on 127.0.0.1, so there hosts are not compared (as with its gossipsub IP allow-list).
      hostOf: this.init.testnet === true ? undefined : (peer) => this.hostOf(peer),
      spendable: async () => await ledger.spendable(this.peerId),
      // One settle per lease (or long lease's period): what the requester acknowledged, paid by difference.
      settle: async (lease, checkpoint, ack) => { await ledger.submitSettle(lease, checkpoint, ack) },
      settled: async (leaseId) => await ledger.settledAmount(leaseId)
    }, { ...(this.init.dataDir != null ? { blobDir: dataDirPaths(this.init.dataDir).blobs } : {}), ...this.init.scheduler })
    scheduler.addEventListener('job:progress', (evt) => {
      this.activity.add(evt.detail)
      this.safeDispatchEvent('job:progress', { detail: evt.detail })
    })
    scheduler.addEventListener('lease:opened', (evt) => { this.safeDispatchEvent('lease:opened', { detail: evt.detail }) })
    scheduler.addEventListener('lease:closed', (evt) => { this.safeDispatchEvent('lease:closed', { detail: evt.detail }) })
    scheduler.addEventListener('lease:served', (evt) => { this.safeDispatchEvent('lease:served', { detail: evt.detail }) })
    return scheduler
  }

  /** Connected peers with their addresses and app-level score. */
  peers (): PeerSummary[] {
    const byPeer = new Map<string, PeerSummary>()
    for (const connection of this.host.getConnections()) {
      const id = connection.remotePeer.toString()
      const entry = byPeer.get(id) ?? { peerId: id, addresses: [], score: this.peerScore.score(id) }
      entry.addresses.push(connection.remoteAddr.toString())
      const rtt = (connection as { rtt?: number }).rtt
      if (typeof rtt === 'number') entry.latencyMs = rtt
      byPeer.set(id, entry)
    }
    return [...byPeer.values()]
  }

  /** Round-trip time to a peer with libp2p ping, in ms. */
  async ping (peerId: string, options: { signal?: AbortSignal } = {}): Promise<number> {
    return await this.host.services.ping.ping(peerIdFromString(peerId), { signal: options.signal ?? AbortSignal.timeout(10_000) })
  }

  status (): NodeStatus {
    const capacity = this.requireCapacity()
    const stats = capacity.getStats()
    return {
      peerId: this.peerId,
      multiaddrs: this.multiaddrs,
      started: this.isStarted,
      startedAt: this.startedAt,
      peers: this.peers().length,
      capacity: capacity.current(),
      capacityRecord: { seq: stats.seq, published: stats.published, lastPublishedAt: stats.lastPublishedAt },
      dhtStore: this.dhtStoreStats(),
      gossip: this.requireGossip().topicStats(),
      dataDir: this.init.dataDir
    }
  }

  private dhtStoreStats (): NodeStatus['dhtStore'] {
    const stats = this.datastore?.stats() ?? []
    const of = (prefix: string): number => stats.find((p) => p.prefix === prefix)?.entries ?? 0
    return {
      providerRecords: of(DATASTORE_LIMITS.providers.prefix),
      records: of(DATASTORE_LIMITS.records.prefix),
      peers: of(DATASTORE_LIMITS.peers.prefix),
      evicted: stats.reduce((sum, p) => sum + p.evicted, 0)
    }
  }

  private requireGossip (): GossipRouter {
    if (this.gossipRouter == null) throw new NotStartedError()
    return this.gossipRouter
  }

  private requireCapacity (): CapacityService {
    if (this.capacityService == null) throw new NotStartedError()
    return this.capacityService
  }

  private async penalise (peerId: string, score: number, banned: boolean): Promise<void> {
    log('%s peer %s (score %d)', banned ? 'banning' : 'disconnecting', peerId, score)
    this.safeDispatchEvent('peer:penalised', { detail: { peerId, score, banned } })
    try {
      await this.libp2p?.hangUp(peerIdFromString(peerId))
    } catch (err) {
      log('hang up %s failed: %e', peerId, err)
    }
  }
}

/**
 * Adds a peer's advertised addresses (from its signed capacity record or a provider record) to
 * the peer store so it can be dialled: at most 16, only parseable ones for that peer.
 */
async function addDialAddresses (libp2p: DepinLibp2p, peer: string, addrs: string[]): Promise<void> {
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

/** Creates (but does not start) a compute node. */
export function createComputeNode (init: ComputeNodeInit = {}): ComputeNode {
  return new ComputeNode(init)
}
