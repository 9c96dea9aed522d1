/**
 * The ComputeNode facade: one object an operator's daemon or an embedding program holds. It owns
 * the store, the libp2p host, gossip topics, capacity advertisement, the ledger and the scheduler,
 * starting them in dependency order and stopping them in reverse. This file is the public face;
 * the wiring is in node-runtime.ts (and node-host.ts, node-ledger.ts, node-scheduler.ts), what
 * the node reports about peers and the DHT store in node-status.ts.
 */
import { TypedEventEmitter } from 'main-event'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { logger } from '@libp2p/logger'
import type { Signer } from '../proofs/signing.ts'
import { NotStartedError } from '../errors.ts'
import type { CapacityAdvert, CapacityService, FindCapacityQuery } from './capacity.ts'
import type { GossipRouter } from './gossip.ts'
import type { DepinLibp2p } from './libp2p.ts'
import { NodeRuntime } from './node-runtime.ts'
import { validateCapacityQuery, validateComputeNodeInit } from './config.ts'
import { dhtStoreStats, peerSummaries } from './node-status.ts'
import { PeerScore } from './peer-score.ts'
import type { Store } from './storage.ts'
import type { TopicHandler } from '../transport.ts'
import type { BatchSubmitOptions, JobSummary, Scheduler, SubmitOptions } from '../scheduler/scheduler.ts'
import type { OutputFileInfo } from '../scheduler/requester/trees.ts'
import type { Retention } from '../scheduler/retention/index.ts'
import type { BatchInit, JobInit } from '../scheduler/job.ts'
import type { JobHandle, JobResult } from '../scheduler/requester/jobs.ts'
import type { BatchHandle, BatchResult } from '../scheduler/requester/batches.ts'
import { offersTopic } from './constants.ts'
import { JobActivity } from './job-activity.ts'
import { attachNodeMetrics } from './metrics/attach.ts'
import { attachOperatorLog } from './operator-events.ts'
import { silentLog, type OperatorLog } from '../shared/log.ts'
import { blockTopic, transactionTopic, DEFAULT_GENESIS_CONFIG, type Ledger } from '../ledger/index.ts'
import type { ComputeNodeEvents, ComputeNodeInit, NodeServices, NodeStatus, PeerSummary } from './compute-node-types.ts'

const log = logger('depin:node')

export type { ComputeNodeEvents, ComputeNodeInit, NodeServices, NodeStatus, PeerSummary } from './compute-node-types.ts'

export class ComputeNode extends TypedEventEmitter<ComputeNodeEvents> {
  readonly init: ComputeNodeInit
  readonly peerScore = new PeerScore()
  /** What this node's requested jobs are doing now (workers running them, recent progress). */
  readonly activity = new JobActivity()
  private detachObservers: Array<() => void> = []
  /** The running services; this class is their public face. */
  private readonly runtime: NodeRuntime
  private startedAt?: number
  private starting?: Promise<void>
  private stopping?: Promise<void>

  /** Throws ConfigError for an option that is wrong (see `computeNodeInitSchema`). */
  constructor (init: ComputeNodeInit = {}) {
    validateComputeNodeInit(init)
    super()
    this.init = init
    this.runtime = new NodeRuntime(init, {
      peerScore: this.peerScore,
      activity: this.activity,
      topics: () => this.topics,
      host: () => this.host,
      multiaddrs: () => this.multiaddrs,
      log: () => this.log,
      // (no event object nobody listens to: job progress alone is several per job)
      emit: (type, detail) => { if (this.listenerCount(type) > 0) this.safeDispatchEvent(type, { detail }) }
    })
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
    if (this.runtime.signer == null) throw new NotStartedError()
    return this.runtime.signer
  }

  /** The libp2p host, for embedders who need it; depin's own layers use `services()`. */
  get host (): DepinLibp2p {
    if (this.runtime.libp2p == null) throw new NotStartedError()
    return this.runtime.libp2p
  }

  /**
   * Starts the node. Calls are serialised with `stop()`: a `start()` while one is in flight shares
   * it, one while the node stops starts it again once it stopped, and a `stop()` during a start
   * waits for the start to settle and then stops everything it opened. A start that fails stops
   * what it had opened before it rejects.
   */
  async start (): Promise<void> {
    if (this.starting != null) return await this.starting
    if (this.stopping != null) await this.stopping.catch(() => {})
    // (a start that came in while this one waited for the stop)
    if (this.starting != null) return await this.starting
    if (this.isStarted) return
    const starting = this.open()
    this.starting = starting
    try {
      await starting
    } finally {
      this.starting = undefined
    }
  }

  /** Stops everything in reverse order; safe to call twice, and during `start()` (see there). */
  async stop (): Promise<void> {
    if (this.starting != null) await this.starting.catch(() => {})
    if (this.stopping != null) return await this.stopping
    if (!this.isStarted && this.runtime.libp2p == null && this.runtime.store == null) return
    const stopping = this.halt()
    this.stopping = stopping
    try {
      await stopping
    } finally {
      this.stopping = undefined
    }
  }

  private async open (): Promise<void> {
    try {
      await this.runtime.open()
      await this.runtime.startServices()
    } catch (err) {
      // A half-started node (e.g. a ledger store of another network) must not keep its host running.
      await this.runtime.stop().catch((stopErr) => { log.error('stopping a failed start failed: %e', stopErr) })
      throw err
    }
    this.startedAt = Date.now()
    if (this.init.metrics != null) this.detachObservers.push(attachNodeMetrics(this, this.init.metrics))
    if (this.init.log != null) this.detachObservers.push(attachOperatorLog(this, this.init.log))
    // Leases recovered at the start (this node went down serving them), now that the log listens.
    this.scheduler.announceInterrupted()
    log('started %s on %s', this.peerId, this.multiaddrs.join(', '))
    this.safeDispatchEvent('started')
  }

  private async halt (): Promise<void> {
    for (const detach of this.detachObservers.splice(0)) detach()
    await this.runtime.stop()
    this.startedAt = undefined
    this.safeDispatchEvent('stopped')
  }

  /** Registers a gossip topic's validator and delivery. */
  registerTopic<T> (handler: TopicHandler<T>): void {
    this.requireGossip().register(handler)
  }

  /** The pieces later layers are built from. */
  services (): NodeServices {
    const { channels, protocols, store } = this.runtime
    if (channels == null || protocols == null) throw new NotStartedError()
    return {
      signer: this.signer,
      store: store as Store,
      channels,
      protocols,
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
    validateCapacityQuery(query)
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

  /**
   * Cancels a job or batch this node is running: resolves with true once the cancel is recorded
   * on the disk (with a data dir, a restart does not place it again; a job's once it has ended
   * cancelled), false when there is no such unfinished one here.
   */
  async cancel (id: string): Promise<boolean> {
    return await this.scheduler.cancel(id)
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

  /**
   * The job market's internals: worker and requester sides, records, blobs, reputation. The
   * node's API routes, benchmarks and tests reach in here; it is not part of depin's stable API
   * and changes between versions. Embedders use the node's own methods (`submitJob`, `job`,
   * `jobs`, `batch`, `cancelJob`, `retention`, `ledger`, ...).
   */
  get scheduler (): Scheduler {
    if (this.runtime.scheduler == null) throw new NotStartedError()
    return this.runtime.scheduler
  }

  /** Retention of ended jobs and their blobs: `prune()`, `deleteJob(id)`, `deleteBatch(id)`. */
  get retention (): Retention {
    if (this.runtime.retention == null) throw new NotStartedError()
    return this.runtime.retention
  }

  /** The replicated ledger: balances, blocks, receipts, transfers. */
  get ledger (): Ledger {
    if (this.runtime.ledger == null) throw new NotStartedError()
    return this.runtime.ledger
  }

  /** Connected peers with the addresses they listen on, their connections and app-level score. */
  async peers (): Promise<PeerSummary[]> {
    return await peerSummaries(this.host, this.peerScore)
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
      peers: this.host.getPeers().length,
      capacity: capacity.current(),
      capacityRecord: { seq: stats.seq, published: stats.published, lastPublishedAt: stats.lastPublishedAt },
      dhtStore: dhtStoreStats(this.runtime.datastore),
      gossip: this.requireGossip().topicStats(),
      dataDir: this.init.dataDir
    }
  }

  private requireGossip (): GossipRouter {
    if (this.runtime.gossip == null) throw new NotStartedError()
    return this.runtime.gossip
  }

  private requireCapacity (): CapacityService {
    if (this.runtime.capacity == null) throw new NotStartedError()
    return this.runtime.capacity
  }

  private async penalise (peerId: string, score: number, banned: boolean): Promise<void> {
    log('%s peer %s (score %d)', banned ? 'banning' : 'disconnecting', peerId, score)
    this.safeDispatchEvent('peer:penalised', { detail: { peerId, score, banned } })
    try {
      await this.runtime.libp2p?.hangUp(peerIdFromString(peerId))
    } catch (err) {
      log('hang up %s failed: %e', peerId, err)
    }
  }
}

/** Creates (but does not start) a compute node; throws ConfigError for an option that is wrong. */
export function createComputeNode (init: ComputeNodeInit = {}): ComputeNode {
  return new ComputeNode(init)
}
