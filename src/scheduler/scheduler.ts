/**
 * The scheduler component: the job market of one node. It registers the negotiation and lease
 * protocols and the offers topic, runs the worker side (bids, leases, sandboxed tasks) and the
 * requester side (leases, placement, verification, jobs and batches), and keeps records and blobs.
 */
import { logger } from '@libp2p/logger'
import { TypedEventEmitter } from 'main-event'
import { CID } from 'multiformats/cid'
import { decode, encode } from '../proofs/encoding.ts'
import { leaseId, type Lease, type SignedAck, type SignedCheckpoint } from '../proofs/lease.ts'
import { DepinError } from '../errors.ts'
import { GossipValidationError, type ChannelOpener, type ProtocolRegistrar, type TopicHandler } from '../transport.ts'
import type { Store } from '../shared/store.ts'
import type { Capacity, CapacityAdvert, FindCapacityQuery } from '../shared/capacity.ts'
import type { PeerActionName } from '../shared/peer-actions.ts'
import type { MarketMetrics } from '../shared/metrics.ts'
import type { Signer } from '../proofs/signing.ts'
import { BlobStore } from './blob-store.ts'
import { LeaseJournal } from './worker/lease-journal.ts'
import { FINAL_STATUSES, JobStore, type BatchTaskRecord, type LeaseRecord, type RequestedJob } from './job-store.ts'
import { createBatch, createJob, type BatchInit, type JobInit } from './job.ts'
import { offerId, parseSignedOffer, type SignedOffer } from './messages.ts'
import { Reputation } from './reputation.ts'
import { RequesterService, type LeaseInfo } from './requester/service.ts'
import { JobHandle, type JobProgress, type JobResult } from './requester/jobs.ts'
import { BatchHandle, type BatchResult } from './requester/batches.ts'
import { loadTreeFiles, pinInputTree, type OutputFileInfo } from './requester/trees.ts'
import { JobViews, type JobSummary, type ServedLeaseDigest } from './views.ts'
import { WorkerService } from './worker/service.ts'
import type { LeaseSummary } from './worker/lease-server.ts'
import { serveNegotiation } from './negotiation-server.ts'
import { serveTail } from './requester/tail-server.ts'
import { runTask } from './run-task.ts'
import type { Executor } from './executor/index.ts'
import {
  LEASE_IDLE_TIMEOUT_MS, LEASE_MAX_INBOUND_STREAMS, LEASE_PROTOCOL, LEASE_TAIL_PROTOCOL, MAX_LEASE_FRAME_BYTES, MAX_NEGOTIATE_FRAME_BYTES,
  MAX_TAIL_FRAME_BYTES, NEGOTIATE_IDLE_TIMEOUT_MS, NEGOTIATE_MAX_INBOUND_STREAMS, NEGOTIATE_PROTOCOL, OFFER_TTL_MS, SEEN_OFFERS_MAX,
  TAIL_IDLE_TIMEOUT_MS, TAIL_MAX_INBOUND_STREAMS
} from './constants.ts'
import { JobFinishedError, JobNotCancellableError, JobNotFoundError } from './errors.ts'
import type { BatchSubmitOptions, SchedulerEvents, SchedulerInit, SubmitOptions } from './scheduler-types.ts'

const log = logger('depin:scheduler')

/** Offers may claim a creation time at most this far ahead (clock skew). */
const MAX_OFFER_SKEW_MS = 5 * 60 * 1000

export interface SchedulerComponents {
  signer: Signer
  channels: ChannelOpener
  protocols: ProtocolRegistrar
  store: Store
  executor: Executor
  /** This node's capacity now. */
  capacity: () => Capacity
  knownPeers: () => CapacityAdvert[]
  findPeers: (query: FindCapacityQuery) => Promise<CapacityAdvert[]>
  /** Asks a peer for its capacity record again (it bid above what its record here says). */
  refreshAdvert?: (peerId: string) => void
  publishOffer: (data: Uint8Array) => Promise<void>
  reportPeer: (peerId: string, action: PeerActionName) => void
  /**
   * Whether a peer's node answers a ping now (false when it does not before the signal aborts):
   * asked when a worker holding this node's tasks goes silent. Absent: a silent worker's lease is
   * given up at its 30 s idle deadline.
   */
  probePeer?: (peerId: string, signal: AbortSignal) => Promise<boolean>
  /** Ledger seams: can a requester pay, this node's spendable credits, settle a lease, what a lease was paid. */
  canPay?: (requester: string, amount: number) => Promise<boolean>
  spendable?: () => Promise<number>
  settle?: (lease: Lease, checkpoint: SignedCheckpoint, ack: SignedAck) => Promise<void>
  settled?: (leaseId: string) => Promise<number>
  /** A worker's network host (IP), for distinct-host replicas and quorums; undefined: do not compare. */
  hostOf?: (peerId: string) => string | undefined
  /** Every job's progress, called directly (the node's own bookkeeping); `job:progress` events go to listeners. */
  onJobProgress?: (progress: JobProgress) => void
  /** Where tasks, leases served and payload bytes are counted (the node's Prometheus metrics). */
  metrics?: MarketMetrics
  /** The store outlives a stop (a data dir): unfinished jobs resume at the next start. @default true */
  resumes?: boolean
}

export type { BatchSubmitOptions, SchedulerEvents, SchedulerInit, SubmitOptions } from './scheduler-types.ts'
export type { JobSummary }

export class Scheduler extends TypedEventEmitter<SchedulerEvents> {
  private readonly c: SchedulerComponents
  readonly blobs: BlobStore
  readonly records: JobStore
  readonly reputation = new Reputation()
  readonly worker: WorkerService
  readonly requester: RequesterService
  private readonly views: JobViews
  private readonly seenOffers = new Map<string, number>()
  private started = false
  /** Leases an earlier run was serving when it went down, recorded by this start, until announced. */
  private interrupted: LeaseSummary[] = []

  constructor (components: SchedulerComponents, init: SchedulerInit = {}) {
    super()
    this.c = components
    this.blobs = new BlobStore(components.store, { cacheBytes: init.blobCacheBytes, blobDir: init.blobDir })
    this.records = new JobStore(components.store)
    this.worker = new WorkerService({
      signer: components.signer,
      executor: components.executor,
      blobs: this.blobs,
      records: this.records,
      channels: components.channels,
      capacity: components.capacity,
      canPay: components.canPay ?? (async () => true),
      reportPeer: components.reportPeer,
      settle: components.settle,
      settled: components.settled,
      // (without a data dir nothing outlives the process: no journal)
      ...(components.resumes !== false ? { journal: new LeaseJournal(components.store) } : {}),
      metrics: components.metrics
    }, {
      onLeaseOpened: (lease) => { this.safeDispatchEvent('lease:accepted', { detail: { leaseId: leaseId(lease.body).toString(), requester: lease.body.requester, price: lease.body.price, slots: lease.body.slots } }) },
      onLeaseEnded: (summary) => { this.safeDispatchEvent('lease:served', { detail: summary }) },
      // Per task, thousands a second on a busy worker: no event object when nobody listens.
      onTaskStarted: (leaseId, taskId) => { if (this.listenerCount('task:started') > 0) this.safeDispatchEvent('task:started', { detail: { leaseId, taskId } }) },
      onTaskFinished: (leaseId, taskId, exitCode, wallMs) => { if (this.listenerCount('task:finished') > 0) this.safeDispatchEvent('task:finished', { detail: { leaseId, taskId, exitCode, wallMs } }) },
      onTailClaimed: (claimed) => { this.safeDispatchEvent('lease:tail-claimed', { detail: claimed }) }
    })
    this.requester = new RequesterService({
      signer: components.signer,
      channels: components.channels,
      blobs: this.blobs,
      records: this.records,
      reputation: this.reputation,
      publishOffer: async (offer: SignedOffer) => { await components.publishOffer(encodeOffer(offer)) },
      knownPeers: components.knownPeers,
      findPeers: components.findPeers,
      ...(components.refreshAdvert != null ? { refreshAdvert: components.refreshAdvert } : {}),
      reportPeer: components.reportPeer,
      ...(components.probePeer != null ? { probePeer: components.probePeer } : {}),
      settle: components.settle,
      spendable: components.spendable,
      hostOf: components.hostOf,
      spotCheckRate: init.spotCheckRate,
      resumes: components.resumes,
      metrics: components.metrics,
      onProgress: (progress) => {
        components.onJobProgress?.(progress)
        if (this.listenerCount('job:progress') > 0) this.safeDispatchEvent('job:progress', { detail: progress })
      },
      runLocally: async (work) => {
        const module = await this.blobs.get(work.spec.module)
        const stdin = work.stdin ?? await this.blobs.get(work.spec.input)
        const files = work.spec.files != null ? await loadTreeFiles(this.blobs, work.spec.files.cid) : []
        if (module == null || stdin == null || files == null) throw new DepinError('the task\'s module, input or input files are no longer here', 'ERR_BLOB_MISSING')
        return await runTask(components.executor, work.spec, work.id, module, stdin, files)
      }
    })
    this.views = new JobViews({ records: this.records, blobs: this.blobs, jobs: this.requester.jobs, batches: this.requester.batches, openLeases: () => this.worker.openLeases() })
    this.requester.addEventListener('lease:offered', (evt) => { this.safeDispatchEvent('lease:offered', { detail: evt.detail }) })
    this.requester.addEventListener('lease:opened', (evt) => { this.safeDispatchEvent('lease:opened', { detail: evt.detail }) })
    this.requester.addEventListener('lease:closed', (evt) => { this.safeDispatchEvent('lease:closed', { detail: evt.detail }) })
  }

  /**
   * Says (a `lease:served` event each, reason ERR_INTERRUPTED) which leases this node was serving
   * when an earlier run went down: their records were written as it started, before anyone
   * listened (the node calls this once its observers, the operator log among them, are attached).
   */
  announceInterrupted (): void {
    for (const summary of this.interrupted.splice(0)) this.safeDispatchEvent('lease:served', { detail: summary })
  }

  async start (): Promise<void> {
    if (this.started) return
    this.started = true
    await this.blobs.start()
    await this.records.ensureIndex()
    await this.c.executor.start()
    this.worker.start()
    this.interrupted = await this.worker.recover()
    await this.c.protocols.handle(NEGOTIATE_PROTOCOL, async (channel) => { await serveNegotiation(channel, { worker: this.worker, requester: this.requester, self: this.c.signer.peerId, reportPeer: this.c.reportPeer }) }, {
      maxFrameBytes: MAX_NEGOTIATE_FRAME_BYTES,
      idleTimeoutMs: NEGOTIATE_IDLE_TIMEOUT_MS,
      maxInboundStreams: NEGOTIATE_MAX_INBOUND_STREAMS,
      maxOutboundStreams: NEGOTIATE_MAX_INBOUND_STREAMS * 2
    })
    await this.c.protocols.handle(LEASE_PROTOCOL, async (channel) => { await this.worker.serveLease(channel) }, {
      maxFrameBytes: MAX_LEASE_FRAME_BYTES,
      idleTimeoutMs: LEASE_IDLE_TIMEOUT_MS,
      maxInboundStreams: LEASE_MAX_INBOUND_STREAMS,
      maxOutboundStreams: LEASE_MAX_INBOUND_STREAMS * 2
    })
    // A worker whose lease stream died settles the results this node received after the last checkpoint it acknowledged.
    await this.c.protocols.handle(LEASE_TAIL_PROTOCOL, async (channel) => { await serveTail(channel, { accounts: this.requester.tails, reportPeer: this.c.reportPeer, onServed: (served) => { this.safeDispatchEvent('lease:tail-served', { detail: served }) } }) }, {
      maxFrameBytes: MAX_TAIL_FRAME_BYTES,
      idleTimeoutMs: TAIL_IDLE_TIMEOUT_MS,
      maxInboundStreams: TAIL_MAX_INBOUND_STREAMS,
      maxOutboundStreams: TAIL_MAX_INBOUND_STREAMS * 2
    })
    await this.requester.start()
  }

  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    await this.requester.stop()
    this.worker.stop()
    await this.c.protocols.unhandle(NEGOTIATE_PROTOCOL).catch(() => {})
    await this.c.protocols.unhandle(LEASE_PROTOCOL).catch(() => {})
    await this.c.protocols.unhandle(LEASE_TAIL_PROTOCOL).catch(() => {})
    await this.c.executor.stop()
  }

  /** The offers topic: validator and delivery. */
  offersTopic (topic: string, maxBytes: number): TopicHandler<{ offer: SignedOffer, id: CID }> {
    return {
      topic,
      maxBytes,
      validate: (data) => this.validateOffer(data, maxBytes),
      deliver: ({ offer, id }) => { void this.worker.answerGossipOffer(offer, id) }
    }
  }

  /** Builds a job, pins its blobs and starts placing it. */
  async submit (init: JobInit, options: SubmitOptions = {}): Promise<JobHandle> {
    this.assertStarted()
    options.signal?.throwIfAborted()
    const { body, id, tree } = createJob(this.c.signer.peerId, init)
    const input = init.input ?? new Uint8Array(0)
    await this.blobs.pinMany([{ bytes: init.module, cid: body.module }, { bytes: input, cid: body.input }])
    const treeRef = tree != null ? await pinInputTree(this.blobs, tree) : undefined
    const handle = await this.requester.jobs.submit(body, id, input, { spotCheck: options.spotCheck, onProgress: options.onProgress, sync: options.sync === true, ...(treeRef != null ? { tree: treeRef } : {}) })
    if (options.signal != null) cancelOnAbort(handle, options.signal)
    return handle
  }

  /** Builds a batch, pins its module and inputs, records its tasks and starts placing them. */
  async submitBatch (init: BatchInit, options: BatchSubmitOptions = {}): Promise<BatchHandle> {
    this.assertStarted()
    options.signal?.throwIfAborted()
    const { body, id, tree } = createBatch(this.c.signer.peerId, init)
    await this.blobs.pin(init.module, body.module)
    const treeRef = tree != null ? await pinInputTree(this.blobs, tree) : undefined
    const tasks = init.args == null && init.env == null ? init.tasks : init.tasks.map((t) => ({ ...t, args: t.args ?? init.args, env: t.env ?? init.env }))
    const handle = await this.requester.batches.submit(body, id, tasks, { spotCheck: options.spotCheck, sync: options.sync !== false, ...(treeRef != null ? { tree: treeRef } : {}) })
    if (options.onProgress != null) {
      const onProgress = options.onProgress
      handle.addEventListener('progress', (evt) => { onProgress(evt.detail) })
    }
    if (options.onTask != null) {
      const onTask = options.onTask
      handle.addEventListener('task', (evt) => { onTask(evt.detail) })
    }
    if (options.signal != null) cancelOnAbort(handle, options.signal)
    return handle
  }

  /**
   * Cancels a job or batch this node is placing: resolves with true once the cancel is recorded
   * on the disk (a restart does not place it again), false when there is no such unfinished one here.
   */
  async cancel (id: string): Promise<boolean> {
    return await this.requester.jobs.cancel(id) || await this.requester.batches.cancel(id)
  }

  /**
   * Cancels a job this node requested that has not ended, and resolves with its (cancelled)
   * result. Throws JobNotFoundError for an unknown job, JobFinishedError for one that already
   * ended, JobNotCancellableError for one this node is not placing (left unfinished by a run that
   * could not resume it).
   */
  async cancelJob (id: string): Promise<JobResult> {
    const handle = this.requester.jobs.handle(id)
    if (handle != null) {
      handle.cancel()
      return await handle.result()
    }
    const record = await this.records.getRequested(id)
    if (record == null) throw new JobNotFoundError(id)
    if (FINAL_STATUSES.has(record.status)) throw new JobFinishedError(id, record.status)
    throw new JobNotCancellableError(id, 'this node is not placing it now')
  }

  /** Jobs and batches this node requested and leases it served, newest first. */
  async jobs (): Promise<JobSummary[]> { return await this.views.jobs() }

  /** One requested job's result as far as known (output and file list loaded from the blob store). */
  async job (id: string): Promise<JobResult> { return await this.views.job(id) }

  /** The raw record of a requested job (for the API's details). */
  async record (id: string): Promise<RequestedJob> { return await this.views.record(id) }

  /** A batch's summary. */
  async batch (id: string): Promise<BatchResult> { return await this.views.batch(id) }

  /** The handle of a batch running here (for its events), if it runs here. */
  batchHandle (id: string): BatchHandle | undefined { return this.requester.batches.handle(id) }

  /** A batch's task records in index order (see `JobViews.batchTasks`). */
  async batchTasks (id: string, from = 0, limit = 1000): Promise<BatchTaskRecord[]> { return await this.views.batchTasks(id, from, limit) }

  /** Settles once the tasks a running batch has finished so far are written (records and outputs). */
  async batchWritten (id: string): Promise<void> { await this.requester.batches.flushed(id) }

  /** Task `index` of a batch once its outputs are in `blobs` (see `JobViews.batchTaskStored`). */
  async batchTaskStored (id: string, index: number): Promise<BatchTaskRecord | undefined> { return await this.views.batchTaskStored(id, index) }

  /** Leases served now (`reason` `open`) and before (see `JobViews.servedLeases`). */
  async servedLeases (): Promise<LeaseRecord[]> { return await this.views.servedLeases() }

  /** The same newest first, without reading stored records (see `JobViews.servedLeasesNewestFirst`). */
  servedLeasesNewestFirst (): AsyncGenerator<ServedLeaseDigest> { return this.views.servedLeasesNewestFirst() }

  /** One lease served now or before (see `JobViews.servedLease`). */
  async servedLease (id: string): Promise<LeaseRecord | undefined> { return await this.views.servedLease(id) }

  /** Whether a job or batch has ended (false while it runs here, or was left unfinished). */
  async isFinal (id: string): Promise<boolean> { return await this.views.isFinal(id) }

  /** One output file of a job by its path under /out (see `JobViews.jobFile`). */
  async jobFile (id: string, path: string): Promise<{ info: OutputFileInfo, bytes: Uint8Array }> { return await this.views.jobFile(id, path) }

  /** One output file of a batch's task (see `JobViews.batchTaskFile`). */
  async batchTaskFile (id: string, index: number, path: string): Promise<{ info: OutputFileInfo, bytes: Uint8Array }> { return await this.views.batchTaskFile(id, index, path) }

  /** The leases this node holds as requester. */
  leases (): LeaseInfo[] {
    return this.requester.leases()
  }

  /**
   * Closes every lease this node holds as requester, and those that offer rounds under way go on
   * to open: each ends and is settled (new work opens new ones).
   */
  closeLeases (): void {
    this.requester.closeLeases()
  }

  private assertStarted (): void {
    if (!this.started) throw new DepinError('the scheduler is not started', 'ERR_NOT_STARTED')
  }

  private validateOffer (data: Uint8Array, maxBytes: number): { offer: SignedOffer, id: CID } {
    // [REJECT] undecodable, schema-invalid or badly signed: only a faulty peer sends these.
    const offer = parseSignedOffer(decode(data, maxBytes, 'offer'))
    const id = offerId(offer.body)
    const now = Date.now()
    // [IGNORE] expired, or claiming to come from the future: an honest clock may differ.
    if (offer.body.expiresAt <= now) throw new GossipValidationError('ignore', 'offer past its expiry')
    if (offer.body.createdAt > now + MAX_OFFER_SKEW_MS) throw new GossipValidationError('ignore', 'offer created in the future')
    // [IGNORE] a replay of an offer seen within its lifetime.
    const key = id.toString()
    const seen = this.seenOffers.get(key)
    if (seen != null && seen > now) throw new GossipValidationError('ignore', 'offer already seen')
    this.seenOffers.set(key, Math.min(offer.body.expiresAt, now + OFFER_TTL_MS))
    if (this.seenOffers.size > SEEN_OFFERS_MAX) this.seenOffers.delete(this.seenOffers.keys().next().value as string)
    return { offer, id }
  }
}

function encodeOffer (offer: SignedOffer): Uint8Array {
  return encode(offer)
}

/**
 * Cancels a submitted job or batch when `signal` aborts (it may have aborted while the job was
 * being recorded), with the signal's reason in the error's message. The listener goes when the
 * job or batch ends, so a long-lived signal does not keep every result alive.
 */
function cancelOnAbort (handle: JobHandle | BatchHandle, signal: AbortSignal): void {
  if (signal.aborted) {
    handle.cancel(signal.reason)
    return
  }
  const onAbort = (): void => { handle.cancel(signal.reason) }
  signal.addEventListener('abort', onAbort, { once: true })
  void handle.result().finally(() => { signal.removeEventListener('abort', onAbort) })
}
