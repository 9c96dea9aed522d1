/**
 * The scheduler component: the job market of one node. It registers the negotiation and task
 * protocols and the offers topic, runs the worker side (bids, agreements, sandboxed tasks) and the
 * requester side (placement, verification), and keeps job records and blobs.
 */
import { logger } from '@libp2p/logger'
import { TypedEventEmitter } from 'main-event'
import { CID } from 'multiformats/cid'
import { decode, encode } from '../proofs/encoding.ts'
import { DepinError, InvalidMessageError, InvalidSignatureError, MessageTooLargeError } from '../errors.ts'
import { GossipValidationError, type Channel, type ChannelOpener, type ProtocolRegistrar, type TopicHandler } from '../transport.ts'
import type { Store } from '../shared/store.ts'
import type { Capacity } from '../shared/capacity.ts'
import type { CapacityAdvert, FindCapacityQuery } from '../shared/capacity.ts'
import type { PeerActionName } from '../shared/peer-actions.ts'
import type { Signer } from '../proofs/signing.ts'
import { BlobStore } from './blob-store.ts'
import { JobStore, type RanTask, type RequestedJob } from './job-store.ts'
import { createJob, jobId, jobSeed, parseSignedJob, type JobInit, type SignedJob } from './job.ts'
import { parseNegotiateRequest, type Accept, type NegotiateResponse } from './messages.ts'
import { Reputation } from './reputation.ts'
import { RequesterService, type JobProgress, type JobResult, type SettlementItem } from './requester-service.ts'
import { closeServed, nextFrameOrEnd, WorkerService } from './worker-service.ts'
import type { Executor } from './executor/index.ts'
import {
  BID_TTL_MS, MAX_NEGOTIATE_FRAME_BYTES, MAX_TASK_FRAME_BYTES, NEGOTIATE_IDLE_TIMEOUT_MS, NEGOTIATE_MAX_INBOUND_STREAMS,
  NEGOTIATE_PROTOCOL, SEEN_OFFERS_MAX, TASK_IDLE_TIMEOUT_MS, TASK_MAX_INBOUND_STREAMS, TASK_PROTOCOL
} from './constants.ts'
import { InvalidJobError, JobCancelledError, JobFinishedError, JobNotCancellableError, JobNotFoundError, ProtocolViolationError } from './errors.ts'
import type { MarketMetrics } from '../shared/metrics.ts'
import type { OperatorLog } from '../shared/log.ts'

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
  publishOffer: (data: Uint8Array) => Promise<void>
  reportPeer: (peerId: string, action: PeerActionName) => void
  /** Ledger seams: can a requester pay, and pay the workers of a verified job. */
  canPay?: (requester: string, amount: number) => Promise<boolean>
  settle?: (jobId: string, items: SettlementItem[]) => Promise<void>
  /** A worker's network host (IP), for distinct-host replicas and quorums; undefined: do not compare. */
  hostOf?: (peerId: string) => string | undefined
  /** Job market metrics (jobs and tasks by outcome, leases, queues); see src/shared/metrics.ts. */
  metrics?: MarketMetrics
  /** The operator's log (leases opened and closed, …); see src/shared/log.ts. */
  log?: OperatorLog
}

export interface SchedulerInit {
  /** Jobs placed at once by this node as requester. @default 256 */
  maxActiveJobs?: number
  /** Accepted tasks that may wait for a slot, per slot. @default 2 */
  queuePerSlot?: number
  /** Worker-side blob cache budget. @default 512 MiB */
  blobCacheBytes?: number
  /**
   * Probability (0..1) that a job this node requested is spot-checked: run here as well, and its
   * workers paid only if they agree with the local run. @default 0
   */
  spotCheckRate?: number
}

export interface SubmitOptions {
  signal?: AbortSignal
  onProgress?: (progress: JobProgress) => void
  /** Spot-check this job (true) or not (false) regardless of the node's spot-check rate. */
  spotCheck?: boolean
}

export interface JobHandleEvents {
  progress: CustomEvent<JobProgress>
}

/** A submitted job: its id, progress events and, eventually, its result. */
export class JobHandle extends TypedEventEmitter<JobHandleEvents> {
  readonly id: string
  private readonly done: Promise<JobResult>
  private readonly controller: AbortController

  constructor (id: string, done: Promise<JobResult>, controller: AbortController) {
    super()
    this.id = id
    this.done = done
    this.controller = controller
  }

  /** Resolves when the job completed or failed (never rejects: see `status` and `error`). */
  async result (): Promise<JobResult> {
    return await this.done
  }

  /** Stops placing the job; its result becomes a failure with ERR_JOB_CANCELLED. */
  cancel (): void {
    this.controller.abort(new JobCancelledError())
  }
}

/** One line of `node.jobs()`. */
export interface JobSummary {
  id: string
  /** requester: this node submitted it; worker: this node ran it for a peer. */
  role: 'requester' | 'worker'
  status: string
  createdAt: number
  updatedAt?: number
  requester: string
  workers: string[]
  exitCode?: number
  verified?: boolean
  cost?: number
  error?: string
  /** Worker role: the agreement this node ran. */
  agreementId?: string
}

export interface SchedulerEvents {
  'job:progress': CustomEvent<JobProgress>
  /** This node (as a worker) started running a task for a peer. */
  'task:started': CustomEvent<{ agreementId: string, jobId: string }>
  /** This node (as a worker) finished a task and sent its result. */
  'task:finished': CustomEvent<{ agreementId: string, jobId: string, exitCode: number }>
}

export class Scheduler extends TypedEventEmitter<SchedulerEvents> {
  private readonly c: SchedulerComponents
  readonly blobs: BlobStore
  readonly records: JobStore
  readonly reputation = new Reputation()
  readonly worker: WorkerService
  readonly requester: RequesterService
  private readonly seenOffers = new Map<string, number>()
  private readonly handles = new Map<string, JobHandle>()
  private started = false

  constructor (components: SchedulerComponents, init: SchedulerInit = {}) {
    super()
    this.c = components
    this.blobs = new BlobStore(components.store, { cacheBytes: init.blobCacheBytes })
    this.records = new JobStore(components.store)
    const reportPeer = components.reportPeer
    this.worker = new WorkerService({
      signer: components.signer,
      executor: components.executor,
      blobs: this.blobs,
      records: this.records,
      channels: components.channels,
      capacity: components.capacity,
      canPay: components.canPay ?? (async () => true),
      reportPeer
    }, { queuePerSlot: init.queuePerSlot }, {
      onTaskStarted: (agreementId, jobId) => { this.safeDispatchEvent('task:started', { detail: { agreementId, jobId } }) },
      onTaskFinished: (agreementId, jobId, exitCode) => { this.safeDispatchEvent('task:finished', { detail: { agreementId, jobId, exitCode } }) }
    })
    this.requester = new RequesterService({
      signer: components.signer,
      channels: components.channels,
      blobs: this.blobs,
      records: this.records,
      reputation: this.reputation,
      publishOffer: async (job) => { await components.publishOffer(encode(job)) },
      knownPeers: components.knownPeers,
      findPeers: components.findPeers,
      reportPeer,
      settle: components.settle,
      hostOf: components.hostOf,
      spotCheckRate: init.spotCheckRate,
      runLocally: async (job) => await this.runLocally(job)
    }, { maxActiveJobs: init.maxActiveJobs })
    this.requester.addEventListener('progress', (evt) => {
      this.handles.get(evt.detail.jobId)?.safeDispatchEvent('progress', { detail: evt.detail })
      this.safeDispatchEvent('job:progress', { detail: evt.detail })
    })
  }

  async start (): Promise<void> {
    if (this.started) return
    this.started = true
    await this.blobs.start()
    await this.c.executor.start()
    this.worker.start()
    await this.c.protocols.handle(NEGOTIATE_PROTOCOL, async (channel) => { await this.serveNegotiation(channel) }, {
      maxFrameBytes: MAX_NEGOTIATE_FRAME_BYTES,
      idleTimeoutMs: NEGOTIATE_IDLE_TIMEOUT_MS,
      maxInboundStreams: NEGOTIATE_MAX_INBOUND_STREAMS,
      maxOutboundStreams: NEGOTIATE_MAX_INBOUND_STREAMS * 2
    })
    await this.c.protocols.handle(TASK_PROTOCOL, async (channel) => { await this.worker.serveTask(channel) }, {
      maxFrameBytes: MAX_TASK_FRAME_BYTES,
      idleTimeoutMs: TASK_IDLE_TIMEOUT_MS,
      maxInboundStreams: TASK_MAX_INBOUND_STREAMS,
      maxOutboundStreams: TASK_MAX_INBOUND_STREAMS * 2
    })
    await this.requester.start()
  }

  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    this.requester.stop()
    this.worker.stop()
    await this.c.protocols.unhandle(NEGOTIATE_PROTOCOL).catch(() => {})
    await this.c.protocols.unhandle(TASK_PROTOCOL).catch(() => {})
    await this.c.executor.stop()
  }

  /** Runs one of this node's own jobs in its executor (a spot check), with the job's own limits and seed. */
  private async runLocally (job: SignedJob): Promise<{ stdout: Uint8Array, stderr: Uint8Array, exitCode: number, trap?: string }> {
    const b = job.body
    const module = await this.blobs.get(b.module)
    const input = await this.blobs.get(b.input)
    if (module == null || input == null) throw new DepinError('the job\'s module or input is no longer here', 'ERR_BLOB_MISSING')
    const result = await this.c.executor.run({
      moduleCid: b.module, module, stdin: input, args: b.args, env: b.env, memoryMiB: b.memoryMiB, timeoutMs: b.timeoutMs, seed: jobSeed(jobId(b))
    }).catch((err: Error) => ({ exitCode: -1, trap: `${err.name}: ${err.message}`, stdout: new Uint8Array(0), stderr: new Uint8Array(0) }))
    return { stdout: result.stdout, stderr: result.stderr, exitCode: Math.max(-1, Math.min(255, result.exitCode)), trap: result.trap?.slice(0, 512) }
  }

  /** The offers topic: validator and delivery. */
  offersTopic (topic: string, maxBytes: number): TopicHandler<{ job: SignedJob, id: CID }> {
    return {
      topic,
      maxBytes,
      validate: (data) => this.validateOffer(data),
      deliver: ({ job, id }) => { void this.worker.answerGossipOffer(job, id) }
    }
  }

  /** Signs a job, pins its blobs and starts placing it. */
  async submit (init: JobInit, options: SubmitOptions = {}): Promise<JobHandle> {
    if (!this.started) throw new DepinError('the scheduler is not started', 'ERR_NOT_STARTED')
    if (!(init.module instanceof Uint8Array) || init.module.byteLength === 0) throw new InvalidJobError('module must be non-empty bytes')
    const { job, id } = createJob(this.c.signer, init)
    await this.blobs.pin(init.module, job.body.module)
    await this.blobs.pin(init.input ?? new Uint8Array(0), job.body.input)
    const controller = new AbortController()
    if (options.signal != null) {
      if (options.signal.aborted) controller.abort()
      options.signal.addEventListener('abort', () => { controller.abort() }, { once: true })
    }
    const deferred = Promise.withResolvers<JobResult>()
    const handle = new JobHandle(id.toString(), deferred.promise, controller)
    // Registered before placement starts, so the handle sees every progress event.
    this.handles.set(handle.id, handle)
    if (options.onProgress != null) {
      const onProgress = options.onProgress
      handle.addEventListener('progress', (evt) => { onProgress(evt.detail) })
    }
    try {
      const { done } = await this.requester.submit(job, id, controller.signal, { spotCheck: options.spotCheck })
      done.then(deferred.resolve, deferred.reject)
    } catch (err) {
      this.handles.delete(handle.id)
      throw err
    }
    void deferred.promise.finally(() => { this.handles.delete(handle.id) })
    return handle
  }

  /**
   * Cancels a job this node requested that is still queued or being placed, and resolves once it
   * has stopped (its record then reads failed with ERR_JOB_CANCELLED). Throws JobNotFoundError
   * for an unknown job and JobFinishedError for one that already ended.
   */
  async cancel (id: string): Promise<JobResult> {
    const handle = this.handles.get(id)
    if (handle != null) {
      handle.cancel()
      return await handle.result()
    }
    const record = await this.records.getRequested(id)
    if (record == null) throw new JobNotFoundError(id)
    if (record.status === 'completed' || record.status === 'failed') throw new JobFinishedError(id, record.status)
    // Jobs resumed after a restart run under the requester service's own signal, without a handle.
    throw new JobNotCancellableError(id, 'it was resumed after a restart of this node and has no handle here; it ends at its deadline')
  }

  /** Jobs this node requested or ran, newest first. */
  async jobs (): Promise<JobSummary[]> {
    const out: JobSummary[] = []
    for await (const r of this.records.allRequested()) out.push(requestedSummary(r))
    for await (const t of this.records.allRan()) out.push(ranSummary(t))
    return out.sort((a, b) => b.createdAt - a.createdAt)
  }

  /** One requested job's result as far as known (output loaded from the blob store). */
  async job (id: string): Promise<JobResult> {
    const record = await this.records.getRequested(id)
    if (record == null) throw new JobNotFoundError(id)
    const stdout = record.outputCid != null ? (await this.blobs.get(CID.parse(record.outputCid))) ?? new Uint8Array(0) : new Uint8Array(0)
    const stderr = record.stderrCid != null ? (await this.blobs.get(CID.parse(record.stderrCid))) ?? new Uint8Array(0) : new Uint8Array(0)
    return this.requester.toResult(record, stdout, stderr)
  }

  /** The raw record of a requested job (for the API's details). */
  async record (id: string): Promise<RequestedJob> {
    const record = await this.records.getRequested(id)
    if (record == null) throw new JobNotFoundError(id)
    return record
  }

  private validateOffer (data: Uint8Array): { job: SignedJob, id: CID } {
    // [REJECT] undecodable, schema-invalid or badly signed: only a faulty peer sends these.
    const job = parseSignedJob(decode(data, MAX_NEGOTIATE_FRAME_BYTES, 'offer'))
    const id = jobId(job.body)
    const now = Date.now()
    // [IGNORE] past its deadline, or claiming to come from the future: an honest clock may differ.
    if (job.body.deadline <= now) throw new GossipValidationError('ignore', 'offer past its deadline')
    if (job.body.createdAt > now + MAX_OFFER_SKEW_MS) throw new GossipValidationError('ignore', 'offer created in the future')
    // [IGNORE] a replay of an offer seen within a bid's lifetime.
    const key = id.toString()
    const seen = this.seenOffers.get(key)
    if (seen != null && seen > now) throw new GossipValidationError('ignore', 'offer already seen')
    this.seenOffers.set(key, now + BID_TTL_MS)
    if (this.seenOffers.size > SEEN_OFFERS_MAX) this.seenOffers.delete(this.seenOffers.keys().next().value as string)
    return { job, id }
  }

  /**
   * Serves one inbound negotiation stream: one request, one answer; after a bid on a direct
   * offer, the requester may send its accept on the same stream (then one more answer).
   */
  private async serveNegotiation (channel: Channel): Promise<void> {
    const from = channel.remotePeer
    let response: NegotiateResponse
    let offered = false
    try {
      const request = parseNegotiateRequest(await channel.receive())
      if (request.t === 'offer') {
        const job = parseSignedJob(request.job)
        if (job.body.requester !== from) throw new InvalidJobError('offers are sent by their requester')
        if (job.body.deadline <= Date.now()) throw new DepinError('the offer is past its deadline', 'ERR_OFFER_EXPIRED')
        const answer = await this.worker.answerOffer(job, jobId(job.body))
        response = answer?.response ?? { t: 'error', code: 'ERR_NOT_TARGETED', message: 'this node does not take this job' }
        offered = response.t === 'bid'
      } else if (request.t === 'bid' || request.t === 'decline') {
        response = this.requester.routeAnswer(request, from)
          ? { t: 'ack' }
          : { t: 'error', code: 'ERR_UNKNOWN_OFFER', message: 'no open offer for that job' }
      } else {
        response = await this.answerAccept(request.accept, from)
      }
    } catch (err) {
      response = this.errorFrame(err, from)
    }
    await channel.send(response)
    if (!offered) {
      await closeServed(channel)
      return
    }
    // After a bid the requester either sends its accept on this stream or closes it (another
    // bid won, or it accepts later on a fresh stream). Silence ends at the idle deadline.
    const next = await nextFrameOrEnd(channel)
    if (next === undefined) return
    let answer: NegotiateResponse
    try {
      const request = parseNegotiateRequest(next)
      if (request.t !== 'accept') throw new ProtocolViolationError(`only an accept may follow a bid, got ${request.t}`)
      answer = await this.answerAccept(request.accept, from)
    } catch (err) {
      answer = this.errorFrame(err, from)
    }
    await channel.send(answer)
    await closeServed(channel)
  }

  private async answerAccept (accept: Accept, from: string): Promise<NegotiateResponse> {
    return { t: 'agreement', agreement: await this.worker.accept(accept, from) }
  }

  private errorFrame (err: unknown, from: string): NegotiateResponse {
    if (err instanceof InvalidSignatureError) this.c.reportPeer(from, 'InvalidSignature')
    else if (err instanceof InvalidMessageError || err instanceof MessageTooLargeError) this.c.reportPeer(from, 'MalformedMessage')
    const e = err as DepinError
    if (typeof e.code !== 'string') log.error('negotiation with %s failed: %e', from, err)
    return { t: 'error', code: (e.code ?? 'ERR_INTERNAL').slice(0, 64), message: (e.message ?? 'error').slice(0, 500) }
  }
}

function requestedSummary (r: RequestedJob): JobSummary {
  return {
    id: r.id,
    role: 'requester',
    status: r.status,
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
    requester: r.job.body.requester,
    workers: r.replicas.filter((x) => x.status === 'done').map((x) => x.worker),
    exitCode: r.exitCode,
    verified: r.verified,
    cost: r.cost,
    error: r.error?.message
  }
}

function ranSummary (t: RanTask): JobSummary {
  return {
    id: t.jobId,
    role: 'worker',
    status: t.status,
    createdAt: t.startedAt,
    updatedAt: t.finishedAt,
    requester: t.requester,
    workers: [],
    exitCode: t.exitCode,
    error: t.error,
    agreementId: t.agreementId
  }
}
