/**
 * The requester side of the market, assembled: a negotiator that opens leases, the pool of warm
 * leases, the dispatcher that places and verifies tasks on them, and the two kinds of work users
 * submit (jobs and batches). `src/scheduler/scheduler.ts` wires it to the network.
 */
import { TypedEventEmitter } from 'main-event'
import type { Lease, SignedAck, SignedCheckpoint } from '../../proofs/lease.ts'
import type { Signer } from '../../proofs/signing.ts'
import type { CapacityAdvert, FindCapacityQuery } from '../../shared/capacity.ts'
import type { PeerActionName } from '../../shared/peer-actions.ts'
import type { MarketMetrics } from '../../shared/metrics.ts'
import type { ChannelOpener } from '../../transport.ts'
import type { BlobStore } from '../blob-store.ts'
import type { JobStore } from '../job-store.ts'
import type { NegotiateResponse, SignedOffer } from '../messages.ts'
import type { Reputation } from '../reputation.ts'
import type { TaskOutcome } from '../run-task.ts'
import { Batches } from './batches.ts'
import { Dispatcher } from './dispatcher.ts'
import { Jobs, type JobProgress } from './jobs.ts'
import type { LeaseClient } from './lease-client.ts'
import { LeasePool } from './lease-pool.ts'
import { Negotiator } from './negotiator.ts'
import type { TaskWork } from './types.ts'
import { STOP_LEASE_CLOSE_MS } from '../constants.ts'
import { SettleRetries } from './settle-retries.ts'
import type { ProbeHook } from './silence-probe.ts'
import { TailAccounts } from './tail-accounts.ts'

export interface RequesterComponents {
  signer: Signer
  channels: ChannelOpener
  blobs: BlobStore
  records: JobStore
  reputation: Reputation
  /** Publishes a signed lease offer on the offers topic. */
  publishOffer: (offer: SignedOffer) => Promise<void>
  /** Capable peers known from earlier lookups (cheap, synchronous). */
  knownPeers: () => CapacityAdvert[]
  /** Looks capable peers up in the DHT. */
  findPeers: (query: FindCapacityQuery) => Promise<CapacityAdvert[]>
  /** Asks a peer for its capacity record again (see `NegotiatorComponents.refreshAdvert`). */
  refreshAdvert?: (peerId: string) => void
  reportPeer: (peerId: string, action: PeerActionName) => void
  /** Whether a worker's node answers a ping now (see silence-probe.ts); absent: a silent worker is given up at its lease's idle deadline. */
  probePeer?: ProbeHook
  /** Pays a lease's acknowledged work (the ledger); absent: nothing is paid. */
  settle?: (lease: Lease, checkpoint: SignedCheckpoint, ack: SignedAck) => Promise<void>
  /** Credits this node can commit to leases; absent: no limit. */
  spendable?: () => Promise<number>
  /**
   * The network host (IP address) a worker is connected from, or undefined when unknown or not
   * to be compared (loopback testnets). Replicas of a task go to distinct hosts, and a quorum
   * counts distinct hosts: several peer ids on one machine are one vote.
   */
  hostOf?: (peerId: string) => string | undefined
  /** Runs a task here, as a spot check; throws for local failures. Absent: no spot checks. */
  runLocally?: (work: TaskWork) => Promise<TaskOutcome>
  /**
   * Every job's progress, called directly (a job makes about six: with an event object per hop
   * to the node they cost a requester of thousands of jobs ~10% of its CPU). The `progress`
   * event is still dispatched when someone listens.
   */
  onProgress?: (progress: JobProgress) => void
  /** Probability of a spot check for work submitted without an explicit choice. @default 0 */
  spotCheckRate?: number
  /** The records outlive a stop (a data dir): what a stop tells handles of unfinished work. @default true */
  resumes?: boolean
  /** Where tasks (of jobs and batches alike) and payload bytes are counted. @default none */
  metrics?: MarketMetrics
}

/** A lease as the API and the logs show it. */
export interface LeaseInfo {
  leaseId: string
  worker: string
  price: number
  slots: number
  maxCredits: number
  expiresAt: number
  /** Tasks sent and not answered. */
  load: number
}

export interface RequesterEvents {
  progress: CustomEvent<JobProgress>
  /** A lease offer round went out (direct offers, and whether it was gossiped too). */
  'lease:offered': CustomEvent<{ direct: number, gossip: boolean }>
  'lease:opened': CustomEvent<LeaseInfo>
  'lease:closed': CustomEvent<LeaseInfo & { reason: string }>
}

function leaseInfo (client: LeaseClient): LeaseInfo {
  const b = client.lease.body
  return { leaseId: client.idText, worker: b.worker, price: b.price, slots: b.slots, maxCredits: b.maxCredits, expiresAt: b.expiresAt, load: client.load }
}

export class RequesterService extends TypedEventEmitter<RequesterEvents> {
  readonly negotiator: Negotiator
  readonly pool: LeasePool
  readonly dispatcher: Dispatcher
  readonly jobs: Jobs
  readonly batches: Batches
  /** Accounts of leases whose stream died with an unacknowledged tail, for their workers to settle it (tail-server.ts). */
  readonly tails = new TailAccounts()
  /** Settles submitted again when the ledger refuses them for now. */
  private readonly settles?: SettleRetries
  private pumpScheduled = false

  constructor (c: RequesterComponents) {
    super()
    if (c.settle != null) this.settles = new SettleRetries(c.settle)
    this.negotiator = new Negotiator({
      signer: c.signer,
      channels: c.channels,
      publishOffer: c.publishOffer,
      knownPeers: c.knownPeers,
      findPeers: c.findPeers,
      reportPeer: c.reportPeer,
      reliability: (peer) => c.reputation.reliability(peer),
      speed: (peer, advertised) => c.reputation.speed(peer, advertised),
      ...(c.refreshAdvert != null ? { refreshAdvert: c.refreshAdvert } : {})
    })
    this.pool = new LeasePool({
      negotiator: this.negotiator,
      spendable: c.spendable,
      hostOf: c.hostOf,
      reportPeer: c.reportPeer,
      hooks: {
        signer: c.signer,
        blob: async (cid) => await c.blobs.get(cid),
        onResult: (work, result) => { this.dispatcher.onResult(work, result) },
        onRunning: (work, worker) => { this.dispatcher.onRunning(work, worker) },
        onTaskFailed: (work, worker, failure) => { this.dispatcher.onTaskFailed(work, worker, failure) },
        onRoom: () => { this.schedulePump() },
        reportPeer: c.reportPeer,
        ...(c.probePeer != null ? { probe: c.probePeer } : {}),
        settle: this.settles?.settle,
        onTailLeft: (client) => { this.tails.keep(client.idText, client) },
        ...(c.metrics != null ? { metrics: c.metrics } : {})
      },
      onNoBids: (classKey, reasons) => { this.dispatcher.noBids(classKey, reasons) },
      onOfferRound: ({ direct, gossip }) => { this.safeDispatchEvent('lease:offered', { detail: { direct, gossip } }) },
      onLeaseOpened: (client) => { this.safeDispatchEvent('lease:opened', { detail: leaseInfo(client) }) },
      onLeaseEnded: (client, reason) => { this.safeDispatchEvent('lease:closed', { detail: { ...leaseInfo(client), reason } }) }
    })
    this.dispatcher = new Dispatcher({
      pool: this.pool,
      reputation: c.reputation,
      reportPeer: c.reportPeer,
      runLocally: c.runLocally,
      knownWorkers: () => c.knownPeers().map((a) => ({ ...a, host: c.hostOf?.(a.peerId) })),
      self: c.signer.peerId,
      metrics: c.metrics
    })
    const spotCheckRate = c.spotCheckRate ?? 0
    this.jobs = new Jobs({ blobs: c.blobs, records: c.records, dispatcher: this.dispatcher, spotCheckRate, resumes: c.resumes, emit: (p) => {
      c.onProgress?.(p)
      if (this.listenerCount('progress') > 0) this.safeDispatchEvent('progress', { detail: p })
    } })
    this.batches = new Batches({ blobs: c.blobs, records: c.records, dispatcher: this.dispatcher, spotCheckRate, resumes: c.resumes })
  }

  /** Starts placing, and resumes jobs and batches a previous run left unfinished. */
  async start (): Promise<void> {
    this.settles?.start()
    this.pool.start()
    this.dispatcher.start()
    await this.jobs.resume()
    await this.batches.resume()
  }

  /**
   * Stops placing work: unfinished jobs and batches keep their records for the next start, their
   * tasks are cancelled on their leases, and the leases are closed (up to STOP_LEASE_CLOSE_MS for
   * their workers' final checkpoints to be acknowledged), then aborted.
   */
  async stop (): Promise<void> {
    this.jobs.stop()
    const batchesWritten = this.batches.stop()
    this.dispatcher.cancelAll({ code: 'ERR_JOB_CANCELLED', message: 'the node is stopping' })
    this.dispatcher.stop()
    await this.pool.stop(new Error('the node is stopping'), STOP_LEASE_CLOSE_MS)
    await batchesWritten
    this.settles?.stop()
    this.tails.stop()
  }

  /** Routes a bid or decline that arrived on a negotiation stream; false when no open offer matches. */
  routeAnswer (response: NegotiateResponse, from: string): boolean {
    return this.negotiator.routeAnswer(response, from)
  }

  /** Closes every lease this node holds (they end and settle; new work opens new ones). */
  closeLeases (): void {
    this.pool.closeAll()
  }

  /** The leases held now. */
  leases (): LeaseInfo[] {
    return [...this.pool.leases.values()].map(leaseInfo)
  }

  private schedulePump (): void {
    if (this.pumpScheduled) return
    this.pumpScheduled = true
    queueMicrotask(() => {
      this.pumpScheduled = false
      this.dispatcher.pump()
    })
  }
}
