/**
 * The requester side: places a job on k distinct workers and brings back verified output.
 *
 * One placement per job:
 *   1. offer: publish the signed job on the offers topic and send it directly to known capable
 *      peers (or only to the peers the job names); bids and declines come back on
 *      `/depin/negotiate/1.0.0`;
 *   2. choose: after a short window, or as soon as every direct offeree answered and there are
 *      enough bids, rank bids (can start now, price, observed reliability, answer latency);
 *   3. accept: send the accept, get the co-signed agreement;
 *   4. task: ship module and input (only what the worker lacks), receive the signed result and
 *      the output, check both;
 *   5. a worker that refuses, disconnects, times out or returns garbage is dropped and the replica
 *      goes to the next bidder (or a new offer round) until the job's deadline;
 *   6. verify: outputs are compared by CID; `verified` when at least `quorum` agree. The
 *      settlement hook then pays the agreeing workers.
 */
import { logger } from '@libp2p/logger'
import { TypedEventEmitter } from 'main-event'
import type { CID } from 'multiformats/cid'
import {
  agreementId, parseAgreement, signAgreementAsRequester, verifyResult, verifyWorkerSignature,
  type Agreement, type AgreementBody, type SignedResult
} from '../proofs/agreement.ts'
import { bytesMatchCid, rawCid } from '../proofs/encoding.ts'
import type { Signer } from '../proofs/signing.ts'
import { DeadlineExceededError, DepinError, InvalidMessageError, InvalidSignatureError } from '../errors.ts'
import { ChannelClosedError, type Channel, type ChannelOpener } from '../transport.ts'
import type { CapacityAdvert, FindCapacityQuery } from '../shared/capacity.ts'
import type { PeerActionName } from '../shared/peer-actions.ts'
import type { BlobStore } from './blob-store.ts'
import type { JobStore, RequestedJob, ReplicaRecord } from './job-store.ts'
import { chargeFor, maxCostAt, type SignedJob } from './job.ts'
import {
  parseNegotiateResponse, parseTaskResponse, verifyBid, verifyDecline,
  type NegotiateResponse, type SignedBid, type SignedDecline
} from './messages.ts'
import type { Reputation } from './reputation.ts'
import {
  BID_WINDOW_MS, CHUNK_BYTES, DEFAULT_QUEUE_PER_SLOT, DIRECT_OFFER_MAX, DIRECT_OFFER_SPARE, MAX_NEGOTIATE_FRAME_BYTES, MAX_OUTPUT_BYTES, MAX_TASK_FRAME_BYTES,
  NEGOTIATE_IDLE_TIMEOUT_MS, NEGOTIATE_MAX_INBOUND_STREAMS, NEGOTIATE_PROTOCOL, REOFFER_MAX_MS, REOFFER_MIN_MS, TASK_IDLE_TIMEOUT_MS, TASK_PROTOCOL
} from './constants.ts'
import {
  BadResultError, JobCancelledError, JobTimeoutError, NoBidsError, ProtocolViolationError, TRANSIENT_DECLINES,
  type DeclineReason
} from './errors.ts'

const log = logger('depin:requester')

/** Jobs placed beyond what known workers can hold, so the next is ready when one finishes. */
const PLACEMENT_HEADROOM = 8

/** Offer rounds without a single bid after which a job whose refusals are all permanent fails. */
const FAIL_FAST_ROUNDS = 3

/**
 * Negotiation streams this node keeps open to one peer at once (offers and accepts of all its
 * jobs). Below the peer's inbound limit, so a burst of jobs waits here instead of having its
 * streams reset there.
 */
const MAX_NEGOTIATIONS_PER_PEER = NEGOTIATE_MAX_INBOUND_STREAMS / 2

/** Bounds concurrent work per peer; waiters queue in order and leave when their signal aborts. */
class PerPeerLimit {
  private readonly limit: number
  private readonly active = new Map<string, number>()
  private readonly waiters = new Map<string, Array<() => void>>()

  constructor (limit: number) {
    this.limit = limit
  }

  async run<T> (peer: string, signal: AbortSignal, fn: () => Promise<T>): Promise<T> {
    const release = await this.acquire(peer, signal)
    try {
      return await fn()
    } finally {
      release()
    }
  }

  /** Takes a place for `peer`; the returned function gives it back (once, however often called). */
  async acquire (peer: string, signal: AbortSignal): Promise<() => void> {
    while ((this.active.get(peer) ?? 0) >= this.limit) {
      signal.throwIfAborted()
      const queue = this.waiters.get(peer) ?? []
      this.waiters.set(peer, queue)
      await new Promise<void>((resolve) => {
        const done = (): void => {
          signal.removeEventListener('abort', done)
          const i = queue.indexOf(done)
          if (i >= 0) queue.splice(i, 1)
          if (queue.length === 0 && this.waiters.get(peer) === queue) this.waiters.delete(peer)
          resolve()
        }
        queue.push(done)
        signal.addEventListener('abort', done, { once: true })
      })
    }
    signal.throwIfAborted()
    this.active.set(peer, (this.active.get(peer) ?? 0) + 1)
    let released = false
    return () => {
      if (released) return
      released = true
      const left = (this.active.get(peer) ?? 1) - 1
      if (left === 0) this.active.delete(peer)
      else this.active.set(peer, left)
      this.waiters.get(peer)?.[0]?.()
    }
  }
}


/**
 * This requester's replicas in flight on each worker, against what the worker can hold (its
 * advertised slots, each with a queue). Placements wait here when every bidder is full, instead
 * of bouncing off workers with `busy` and backing off.
 */
class WorkerLoad {
  private readonly inFlight = new Map<string, number>()
  private readonly limits = new Map<string, number>()
  private readonly waiters = new Set<() => void>()
  private static readonly MAX_PEERS = 10_000

  /** Records a worker's advertised slots. */
  learn (peer: string, slots: number): void {
    if (this.limits.size >= WorkerLoad.MAX_PEERS && !this.limits.has(peer)) this.limits.delete(this.limits.keys().next().value as string)
    this.limits.set(peer, Math.max(1, slots) * (1 + DEFAULT_QUEUE_PER_SLOT))
  }

  of (peer: string): number {
    return this.inFlight.get(peer) ?? 0
  }

  saturated (peer: string): boolean {
    return this.of(peer) >= (this.limits.get(peer) ?? 1 + DEFAULT_QUEUE_PER_SLOT)
  }

  add (peer: string): void {
    this.inFlight.set(peer, this.of(peer) + 1)
  }

  remove (peer: string): void {
    const left = this.of(peer) - 1
    if (left <= 0) this.inFlight.delete(peer)
    else this.inFlight.set(peer, left)
    for (const wake of [...this.waiters]) wake()
  }

  /** Resolves when some replica finishes (or the signal aborts). */
  async changed (signal: AbortSignal): Promise<void> {
    if (signal.aborted) return
    await new Promise<void>((resolve) => {
      const done = (): void => { this.waiters.delete(done); signal.removeEventListener('abort', done); resolve() }
      this.waiters.add(done)
      signal.addEventListener('abort', done, { once: true })
    })
  }
}

/**
 * Idle task streams per worker, for the next task to the same worker (a task stream carries tasks
 * one after another). Saves opening a stream per job; idle streams close well before the
 * worker's idle deadline.
 */
class TaskStreams {
  private readonly idle = new Map<string, Array<{ channel: Channel, timer: ReturnType<typeof setTimeout> }>>()
  private readonly open: (peer: string, signal: AbortSignal) => Promise<Channel>
  private static readonly MAX_IDLE_PER_PEER = 8
  private static readonly IDLE_MS = TASK_IDLE_TIMEOUT_MS / 2

  constructor (open: (peer: string, signal: AbortSignal) => Promise<Channel>) {
    this.open = open
  }

  /** An idle stream to `peer` (reused: true), or a new one. */
  async acquire (peer: string, signal: AbortSignal): Promise<{ channel: Channel, reused: boolean }> {
    const entry = this.idle.get(peer)?.pop()
    if (entry != null) {
      clearTimeout(entry.timer)
      return { channel: entry.channel, reused: true }
    }
    return { channel: await this.open(peer, signal), reused: false }
  }

  /** Always a new stream (after a pooled one turned out stale). */
  async acquireNew (peer: string, signal: AbortSignal): Promise<Channel> {
    return await this.open(peer, signal)
  }

  /** Gives back a stream whose last task ended cleanly. */
  release (peer: string, channel: Channel): void {
    const list = this.idle.get(peer) ?? []
    if (list.length >= TaskStreams.MAX_IDLE_PER_PEER) {
      void channel.close()
      return
    }
    const entry = {
      channel,
      timer: setTimeout(() => {
        const i = list.indexOf(entry)
        if (i >= 0) list.splice(i, 1)
        if (list.length === 0 && this.idle.get(peer) === list) this.idle.delete(peer)
        void channel.close()
      }, TaskStreams.IDLE_MS)
    }
    entry.timer.unref?.()
    list.push(entry)
    this.idle.set(peer, list)
  }

  closeAll (): void {
    for (const list of this.idle.values()) {
      for (const { channel, timer } of list) {
        clearTimeout(timer)
        void channel.close()
      }
    }
    this.idle.clear()
  }
}

export type ProgressStage =
  'queued' | 'offered' | 'bid' | 'declined' | 'accepted' | 'running' | 'result' | 'retry' | 'spot-check' | 'verified' | 'completed' | 'failed'

export interface JobProgress {
  jobId: string
  stage: ProgressStage
  peerId?: string
  detail?: string
  at: number
}

export interface WorkerOutcome {
  peerId: string
  agreementId?: string
  status: ReplicaRecord['status']
  outputCid?: string
  exitCode?: number
  cpuMs?: number
  wallMs?: number
  /** Whether this worker's output matched the accepted one. */
  agreed?: boolean
  /** Credits owed to this worker. */
  cost?: number
  error?: string
}

export interface JobResult {
  id: string
  /** `pending`: still being placed or run (a result read from the job list before the end). */
  status: 'pending' | 'completed' | 'failed'
  exitCode?: number
  trap?: string
  stdout: Uint8Array
  stderr: Uint8Array
  outputCid?: string
  workers: WorkerOutcome[]
  /** At least `quorum` workers on distinct hosts returned the same output (and any spot check agreed). */
  verified: boolean
  /** The outcome of re-running the job locally, when it was spot-checked. */
  spotCheck?: 'passed' | 'failed'
  /** Credits paid (or owed) for this job. */
  cost: number
  error?: { code: string, message: string, reasons?: Record<string, number> }
}

/** One verified replica handed to settlement. */
export interface SettlementItem {
  agreement: Agreement
  result: SignedResult
  amount: number
}

export interface RequesterComponents {
  signer: Signer
  channels: ChannelOpener
  blobs: BlobStore
  records: JobStore
  reputation: Reputation
  /** Publishes a signed job on the offers topic. */
  publishOffer: (job: SignedJob) => Promise<void>
  /** Capable peers known from earlier lookups. */
  knownPeers: () => CapacityAdvert[]
  /** Looks capable peers up in the DHT. */
  findPeers: (query: FindCapacityQuery) => Promise<CapacityAdvert[]>
  reportPeer: (peerId: string, action: PeerActionName) => void
  /** Pays the agreeing workers of a verified job (the ledger); absent: nothing is paid. */
  settle?: (jobId: string, items: SettlementItem[]) => Promise<void>
  /** Peer ids this node may not place replicas of one job on together (e.g. same IP). */
  /**
   * The network host (IP address) a worker is connected from, or undefined when unknown or not
   * to be compared (loopback testnets). Replicas of a job go to distinct hosts, and a quorum
   * counts distinct hosts: several peer ids on one machine are one vote.
   */
  hostOf?: (peerId: string) => string | undefined
  /**
   * Runs a job here, as a spot check of what the workers returned (the requester's own
   * executor). Absent: no spot checks.
   */
  runLocally?: (job: SignedJob) => Promise<{ stdout: Uint8Array, stderr: Uint8Array, exitCode: number, trap?: string }>
  /** Probability of a spot check for a job submitted without an explicit choice. @default 0 */
  spotCheckRate?: number
}

export interface RequesterEvents {
  progress: CustomEvent<JobProgress>
}

interface BidEntry {
  bid: SignedBid
  latencyMs: number
  /** Signature checked; bids are checked when chosen, not on arrival (most are never used). */
  verified: boolean
}

interface ReplicaOutcome {
  worker: string
  /** The worker's host when it was accepted (see `hostOf`). */
  host?: string
  agreement: Agreement
  result: SignedResult
  stdout: Uint8Array
  stderr: Uint8Array
}

/** A pooled task stream turned out to be closed by the worker; the task goes on a fresh stream. */
class StaleTaskStreamError extends DepinError {
  constructor (worker: string) {
    super(`the idle task stream to ${worker} was closed`, 'ERR_STALE_STREAM')
  }
}

/** A worker answered an accept with an error frame (a refusal, with the worker's code). */
class AcceptRefusedError extends DepinError {}

/** Reads one frame of a task stream that must be one of the expected types. */
async function receiveTask (channel: Channel, signal: AbortSignal): Promise<ReturnType<typeof parseTaskResponse>> {
  const frame = parseTaskResponse(await channel.receive({ signal }))
  if (frame.t === 'error') throw new ProtocolViolationError(`${channel.remotePeer}: ${frame.message}`, frame.code)
  return frame
}

/** Waits for `ms` or the signal, whichever first. */
async function sleep (ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return
  await new Promise<void>((resolve) => {
    const timer = setTimeout(done, ms)
    function done (): void { clearTimeout(timer); signal.removeEventListener('abort', done); resolve() }
    signal.addEventListener('abort', done, { once: true })
  })
}

/** Places one job. */
class Placement {
  readonly id: string
  private readonly svc: RequesterService
  private readonly c: RequesterComponents
  private readonly job: SignedJob
  private readonly record: RequestedJob
  private readonly signal: AbortSignal
  private readonly bids = new Map<string, BidEntry>()
  /**
   * Direct-offer streams that brought a bid, kept open so the accept can follow on the same
   * stream (one stream and one round trip fewer than a fresh accept stream). Closed once the
   * job's replicas are placed, or when the placement ends.
   */
  private readonly offerChannels = new Map<string, { channel: Channel, release: () => void }>()
  private readonly declines = new Map<string, DeclineReason>()
  private readonly used = new Set<string>()
  private readonly outcomes: ReplicaOutcome[] = []
  private inFlight = 0
  private replicaCounter = 0
  private wake?: () => void
  private offerStartedAt = 0

  constructor (svc: RequesterService, record: RequestedJob, signal: AbortSignal) {
    this.svc = svc
    this.c = svc.components
    this.id = record.id
    this.job = record.job
    this.record = record
    this.signal = signal
  }

  /** A bid or decline that arrived on its own stream (answer to the gossiped offer). */
  receive (response: NegotiateResponse, from: string): void {
    if (response.t === 'bid') this.addBid(response.bid, from)
    else if (response.t === 'decline') this.addDecline(response.decline, from)
  }

  async run (): Promise<JobResult> {
    const body = this.job.body
    const deadline = AbortSignal.timeout(Math.max(0, body.deadline - Date.now()))
    const signal = AbortSignal.any([this.signal, deadline])
    let rounds = 0
    let emptyRounds = 0
    let backoff = REOFFER_MIN_MS
    // In memory only: on disk the job stays `queued` until it finishes, which resumes it the same way.
    this.record.status = 'placing'
    while (this.outcomes.length < body.replicas && !signal.aborted) {
      let need = body.replicas - this.outcomes.length - this.inFlight
      for (let bid = this.bestBid(); need > 0 && bid != null; bid = this.bestBid()) {
        if (!this.checkBid(bid)) continue
        this.startReplica(bid, signal)
        need--
      }
      // Every replica has a worker: the other bidders' kept offer streams are not needed.
      if (need === 0 && this.offerChannels.size > 0) this.closeOfferChannels()
      if (need > 0 && this.hasSaturatedBid()) {
        // Bids are in hand but their workers are full of our replicas: wait for a place.
        await this.svc.load.changed(signal)
        continue
      }
      if (need > 0) {
        const { targets, saturated } = await this.directTargets(need)
        if (targets.length === 0 && saturated > 0) {
          // Every known capable worker is full of this node's replicas: queue here, not there.
          await this.svc.load.changed(signal)
          continue
        }
        rounds++
        const got = await this.offerRound(need, rounds, targets, emptyRounds > 0, signal)
        if (got > 0) {
          emptyRounds = 0
          backoff = REOFFER_MIN_MS
          continue
        }
        emptyRounds++
        const reasons = [...this.declines.values()]
        // Fail fast only on evidence: peers answered, and every answer was a permanent refusal.
        // Silence (no peer yet, answers lost or still on their way under load) is retried until the deadline.
        const onlyPermanent = reasons.length > 0 && reasons.every((r) => !TRANSIENT_DECLINES.has(r))
        if (this.inFlight === 0 && this.outcomes.length === 0 && emptyRounds >= FAIL_FAST_ROUNDS && onlyPermanent) {
          throw new NoBidsError(this.noBidsMessage(), this.reasonCounts())
        }
        await sleep(backoff, signal)
        backoff = Math.min(REOFFER_MAX_MS, backoff * 2)
        continue
      }
      await this.nextEvent(signal)
    }
    this.closeOfferChannels()
    if (this.signal.aborted) throw new JobCancelledError()
    if (this.outcomes.length === 0) {
      if (this.inFlight === 0 && this.bids.size === 0 && this.declines.size > 0) throw new NoBidsError(this.noBidsMessage(), this.reasonCounts())
      throw new JobTimeoutError(`job ${this.id} reached its deadline with no result (${this.record.replicas.length} placement(s) tried)`)
    }
    return await this.finish()
  }

  private noBidsMessage (): string {
    const counts = Object.entries(this.reasonCounts()).map(([r, n]) => `${n} × ${r}`).join(', ')
    return counts.length > 0 ? `no peer bid on job ${this.id}; declines: ${counts}` : `no peer answered the offer of job ${this.id}`
  }

  private reasonCounts (): Record<string, number> {
    const counts: Record<string, number> = {}
    for (const reason of this.declines.values()) counts[reason] = (counts[reason] ?? 0) + 1
    return counts
  }

  private addBid (bid: SignedBid, from: string): void {
    const b = bid.body
    if (b.worker !== from || b.requester !== this.c.signer.peerId || b.jobId.toString() !== this.id) {
      this.c.reportPeer(from, 'MalformedMessage')
      return
    }
    if (b.price > this.job.body.maxPrice || b.expiresAt <= Date.now() || this.used.has(b.worker)) return
    // A fresh bid replaces one that expired (a later offer round after a long-running replica failed).
    if (!this.hasLiveBid(b.worker)) {
      this.bids.set(b.worker, { bid, latencyMs: Date.now() - this.offerStartedAt, verified: false })
      this.svc.emitProgress({ jobId: this.id, stage: 'bid', peerId: b.worker, detail: `${b.price} credits/CPU-s` })
    }
    this.wake?.()
  }

  /** Verifies a chosen bid's signature once; a forged one is dropped and costs its sender. */
  private checkBid (bid: SignedBid): boolean {
    const entry = this.bids.get(bid.body.worker)
    if (entry == null) return false
    if (entry.verified) return true
    try {
      verifyBid(bid)
      entry.verified = true
      return true
    } catch {
      this.bids.delete(bid.body.worker)
      this.c.reportPeer(bid.body.worker, 'InvalidSignature')
      return false
    }
  }

  private addDecline (decline: SignedDecline, from: string): void {
    try {
      if (decline.body.worker !== from || decline.body.jobId.toString() !== this.id) throw new ProtocolViolationError('decline for another job or from another peer')
      verifyDecline(decline)
    } catch {
      this.c.reportPeer(from, 'MalformedMessage')
      return
    }
    this.declines.set(from, decline.body.reason)
    this.svc.emitProgress({ jobId: this.id, stage: 'declined', peerId: from, detail: decline.body.reason })
    this.wake?.()
  }

  /** A live, unused bid whose worker is only full of our replicas (it can take this one later). */
  private hasSaturatedBid (): boolean {
    for (const worker of this.bids.keys()) {
      if (!this.used.has(worker) && this.hasLiveBid(worker) && this.svc.load.saturated(worker)) return true
    }
    return false
  }

  private hasLiveBid (worker: string): boolean {
    const entry = this.bids.get(worker)
    return entry != null && entry.bid.body.expiresAt > Date.now()
  }

  /** The best unused, unexpired bid, or undefined. */
  private bestBid (): SignedBid | undefined {
    const now = Date.now()
    let best: { entry: BidEntry, key: number[] } | undefined
    for (const [worker, entry] of this.bids) {
      if (this.used.has(worker) || entry.bid.body.expiresAt <= now) continue
      const host = this.c.hostOf?.(worker)
      if (host != null && [...this.used].some((u) => this.c.hostOf?.(u) === host)) continue
      // Never hand a worker more of our replicas than it can hold: the rest wait here for a
      // place rather than bounce off it as `busy` and back off.
      if (this.svc.load.saturated(worker)) continue
      const key = [
        entry.bid.body.freeSlots > this.svc.load.of(worker) ? 0 : 1,
        entry.bid.body.price,
        this.svc.load.of(worker),
        -this.c.reputation.reliability(worker),
        entry.latencyMs
      ]
      if (best == null || compareKeys(key, best.key) < 0) best = { entry, key }
    }
    return best?.entry.bid
  }

  /** Offers the job; resolves with the number of usable new bids once the round is decided. */
  private async offerRound (need: number, round: number, targets: string[], afterEmptyRound: boolean, signal: AbortSignal): Promise<number> {
    this.offerStartedAt = Date.now()
    const body = this.job.body
    const targeted = body.peers != null
    // Direct offers to known capable peers come first; gossip reaches everyone else. It goes out
    // when too few peers are known, and after a round that brought no bid.
    const gossip = !targeted && (targets.length < need || afterEmptyRound)
    this.svc.emitProgress({ jobId: this.id, stage: 'offered', detail: `round ${round}, ${targets.length} direct${gossip ? ', gossip' : ''}` })
    if (gossip) this.c.publishOffer(this.job).catch((err) => { log('publishing offer %s failed: %e', this.id, err) })
    let pending = targets.length
    for (const peer of targets) {
      void this.offerDirect(peer, signal).finally(() => { pending--; this.wake?.() })
    }
    const windowEnd = AbortSignal.any([signal, AbortSignal.timeout(BID_WINDOW_MS)])
    const usable = (): number => [...this.bids.keys()].filter((w) => !this.used.has(w) && this.hasLiveBid(w)).length
    // The round is decided when every direct offeree answered and there are enough bids, or
    // once the window has passed with at least one bid. Direct offers still on their way are
    // waited for (each has its own deadline): a slow answer under load is not an empty round.
    while (!signal.aborted) {
      if (targets.length > 0 && pending === 0 && (usable() >= need || targeted)) break
      // A targeted job hears every named peer out (each offer has its own deadline): the user
      // chose them, so a slow answer is not passed over.
      if (windowEnd.aborted && (pending === 0 || (usable() > 0 && !targeted))) break
      await this.nextEvent(windowEnd.aborted ? signal : windowEnd)
    }
    return usable()
  }

  /** Peers to offer directly: the named ones, else the least loaded known capable peers not yet tried. */
  private async directTargets (need: number): Promise<{ targets: string[], saturated: number }> {
    const body = this.job.body
    const self = this.c.signer.peerId
    if (body.peers != null) return { targets: body.peers.filter((p) => p !== self && !this.used.has(p) && !this.hasLiveBid(p)), saturated: 0 }
    let known = this.c.knownPeers()
    if (known.length === 0) known = await this.c.findPeers({ minMemoryMiB: body.memoryMiB, maxPrice: body.maxPrice, timeoutMs: 2_000 }).catch(() => [])
    const capable = known
      .filter((a) => a.peerId !== self && !this.used.has(a.peerId) && !this.hasLiveBid(a.peerId) && a.memoryMiB >= body.memoryMiB && a.pricePerCpuSecond <= body.maxPrice)
      .map((a) => { this.svc.load.learn(a.peerId, a.slots); return a })
    // A worker already full of our replicas is not asked now; when all of them are, the job waits.
    const open = capable.filter((a) => !this.svc.load.saturated(a.peerId))
    const targets = open
      .sort((a, b) => this.svc.load.of(a.peerId) / Math.max(1, a.slots) - this.svc.load.of(b.peerId) / Math.max(1, b.slots) ||
        this.c.reputation.reliability(b.peerId) - this.c.reputation.reliability(a.peerId) ||
        a.pricePerCpuSecond - b.pricePerCpuSecond)
      .slice(0, Math.min(DIRECT_OFFER_MAX, need + DIRECT_OFFER_SPARE))
      .map((a) => a.peerId)
    return { targets, saturated: capable.length - open.length }
  }

  private async offerDirect (peer: string, signal: AbortSignal): Promise<void> {
    let channel: Channel | undefined
    let release: (() => void) | undefined
    try {
      release = await this.svc.negotiations.acquire(peer, signal)
      channel = await this.c.channels.open(peer, NEGOTIATE_PROTOCOL, { signal, maxFrameBytes: MAX_NEGOTIATE_FRAME_BYTES, idleTimeoutMs: NEGOTIATE_IDLE_TIMEOUT_MS })
      await channel.send({ t: 'offer', job: this.job })
      const response = parseNegotiateResponse(await channel.receive({ signal }))
      if (response.t === 'bid' && !signal.aborted) {
        this.closeOfferChannel(peer)
        this.offerChannels.set(peer, { channel, release })
        channel = undefined
        release = undefined
      }
      if (response.t === 'bid' || response.t === 'decline') this.receive(response, peer)
    } catch (err) {
      channel?.abort(err as Error)
      channel = undefined
      if (err instanceof InvalidMessageError) this.c.reportPeer(peer, 'MalformedMessage')
      log('direct offer of %s to %s failed: %s', this.id, peer, (err as Error).message)
    } finally {
      if (channel != null) void channel.close()
      release?.()
    }
  }

  /** Closes a kept offer stream (its bid was not taken, or the job is placed). */
  private closeOfferChannel (peer: string): void {
    const kept = this.offerChannels.get(peer)
    if (kept == null) return
    this.offerChannels.delete(peer)
    void kept.channel.close()
    kept.release()
  }

  /** Closes every kept offer stream (also called when the placement ends, however it ends). */
  closeOfferChannels (): void {
    for (const peer of [...this.offerChannels.keys()]) this.closeOfferChannel(peer)
  }

  private startReplica (bid: SignedBid, signal: AbortSignal): void {
    const worker = bid.body.worker
    this.used.add(worker)
    this.inFlight++
    this.svc.load.add(worker)
    const replica = this.replicaCounter++
    this.placeReplica(bid, replica, signal)
      .then((outcome) => {
        this.outcomes.push(outcome)
        this.svc.emitProgress({ jobId: this.id, stage: 'result', peerId: worker, detail: `exit ${outcome.result.body.exitCode}` })
      }, (err: Error) => {
        if (signal.aborted) return
        if ((err as DepinError).code === 'ERR_BUSY') {
          // The worker filled up between bid and accept: not a fault, and not final. Forget its
          // stale bid and let a later offer round ask it again (its busy decline keeps the job
          // re-offering with back-off instead of failing fast).
          this.used.delete(worker)
          this.bids.delete(worker)
          this.declines.set(worker, 'busy')
        }
        log('replica %d of %s on %s failed: %s', replica, this.id, worker, err.message)
        this.svc.emitProgress({ jobId: this.id, stage: 'retry', peerId: worker, detail: err.message })
      })
      .finally(() => {
        this.inFlight--
        this.svc.load.remove(worker)
        this.wake?.()
      })
  }

  private async placeReplica (bid: SignedBid, replica: number, signal: AbortSignal): Promise<ReplicaOutcome> {
    const worker = bid.body.worker
    const entry: ReplicaRecord = { worker, status: 'accepted' }
    let stage: 'accept' | 'task' | 'running' = 'accept'
    // The task stream (an idle one to this worker, or a new one) is got while the accept is
    // under way: a new stream's protocol negotiation overlaps the accept's round trip.
    const stream = this.svc.taskStreams.acquire(worker, signal)
    stream.catch(() => {})
    try {
      const agreement = await this.accept(bid, replica, signal)
      entry.agreement = agreement
      this.record.replicas.push(entry)
      this.svc.emitProgress({ jobId: this.id, stage: 'accepted', peerId: worker })
      stage = 'task'
      const onRunning = (): void => {
        stage = 'running'
        entry.status = 'running'
        this.svc.emitProgress({ jobId: this.id, stage: 'running', peerId: worker })
      }
      const { channel, reused } = await stream
      let outcome: ReplicaOutcome
      try {
        outcome = await this.runTask(channel, reused, agreement, signal, onRunning)
      } catch (err) {
        if (!(err instanceof StaleTaskStreamError)) throw err
        // The idle stream had been closed by the worker meanwhile: no fault, use a fresh one.
        const fresh = await this.svc.taskStreams.acquireNew(worker, signal)
        outcome = await this.runTask(fresh, false, agreement, signal, onRunning)
      }
      entry.status = 'done'
      entry.result = outcome.result
      return outcome
    } catch (err) {
      if (stage === 'accept') stream.then(({ channel }) => { this.svc.taskStreams.release(worker, channel) }, () => {})
      entry.status = 'failed'
      entry.error = (err as Error).message
      if (!signal.aborted) this.judge(worker, err, stage)
      throw err
    }
  }

  /** Turns a replica failure into reputation and peer-score evidence. */
  private judge (worker: string, err: unknown, stage: 'accept' | 'task' | 'running'): void {
    const code = (err as { code?: string }).code
    if (stage === 'accept' && (code === 'ERR_BUSY' || code === 'ERR_FUNDS')) return
    if (err instanceof AcceptRefusedError) {
      // A well-formed refusal (its bid expired meanwhile, ...) is an answer, not misbehaviour.
      this.c.reputation.record(worker, 'failure')
      return
    }
    if (err instanceof DeadlineExceededError) {
      this.c.reputation.record(worker, 'timeout')
      this.c.reportPeer(worker, 'Timeout')
    } else if (err instanceof BadResultError || err instanceof InvalidSignatureError) {
      this.c.reputation.record(worker, 'failure')
      this.c.reportPeer(worker, err instanceof InvalidSignatureError ? 'InvalidSignature' : 'WrongResult')
    } else if (err instanceof InvalidMessageError || err instanceof ProtocolViolationError) {
      this.c.reputation.record(worker, 'failure')
      this.c.reportPeer(worker, 'MalformedMessage')
    } else if (stage === 'task') {
      // It agreed, then the task stream failed before the task started.
      this.c.reputation.record(worker, 'no-show')
      this.c.reportPeer(worker, 'NoShow')
    } else {
      // No agreement yet (the accept stream failed: reset, refused, connection lost), or the
      // task was running when the worker went away: evidence for ranking, not a penalty.
      this.c.reputation.record(worker, 'failure')
    }
  }

  private async accept (bid: SignedBid, replica: number, signal: AbortSignal): Promise<Agreement> {
    const job = this.job.body
    const body: AgreementBody = {
      v: 1,
      jobId: bid.body.jobId,
      requester: this.c.signer.peerId,
      worker: bid.body.worker,
      replica,
      price: bid.body.price,
      maxCost: maxCostAt(job, bid.body.price),
      acceptedAt: Date.now(),
      deadline: job.deadline
    }
    const requesterSig = signAgreementAsRequester(this.c.signer, body)
    const worker = bid.body.worker
    const exchange = async (channel: Channel): Promise<Agreement> => {
      await channel.send({ t: 'accept', accept: { body, requesterSig } })
      const response = parseNegotiateResponse(await channel.receive({ signal }))
      void channel.close()
      if (response.t === 'error') throw new AcceptRefusedError(`${worker} refused the accept: ${response.message}`, response.code)
      if (response.t !== 'agreement') throw new ProtocolViolationError(`expected an agreement, got ${response.t}`)
      const agreement = parseAgreement(response.agreement)
      if (!agreementId(agreement.body).equals(agreementId(body))) throw new ProtocolViolationError('the agreement differs from the accept')
      // The body is ours (same CID) and so is the requester's signature: check the worker's.
      verifyWorkerSignature(agreement)
      return { ...agreement, requesterSig }
    }
    const kept = this.offerChannels.get(worker)
    if (kept != null) {
      this.offerChannels.delete(worker)
      try {
        return await exchange(kept.channel)
      } catch (err) {
        kept.channel.abort(err as Error)
        // The kept stream died (the worker's idle deadline passed, say): a refusal is final,
        // anything else falls back to a fresh accept stream below.
        if (err instanceof AcceptRefusedError || err instanceof ProtocolViolationError || signal.aborted) throw err
      } finally {
        kept.release()
      }
    }
    return await this.svc.negotiations.run(worker, signal, async () => {
      const channel = await this.c.channels.open(worker, NEGOTIATE_PROTOCOL, { signal, maxFrameBytes: MAX_NEGOTIATE_FRAME_BYTES, idleTimeoutMs: NEGOTIATE_IDLE_TIMEOUT_MS })
      try {
        return await exchange(channel)
      } catch (err) {
        channel.abort(err as Error)
        throw err
      }
    })
  }

  private async runTask (channel: Channel, reused: boolean, agreement: Agreement, signal: AbortSignal, onRunning: () => void): Promise<ReplicaOutcome> {
    const worker = agreement.body.worker
    const job = this.job.body
    try {
      let need
      try {
        await channel.send({ t: 'task', agreement, job: this.job })
        need = await receiveTask(channel, signal)
      } catch (err) {
        // Nothing came back on a stream that sat idle: the worker closed it meanwhile.
        if (reused && (err instanceof ChannelClosedError || (err as Error).name === 'StreamStateError' || (err as Error).name === 'StreamResetError' || (err as Error).name === 'StreamAbortedError')) {
          throw new StaleTaskStreamError(worker)
        }
        throw err
      }
      if (need.t !== 'need') throw new ProtocolViolationError(`expected need, got ${need.t}`)
      if (need.module) await this.sendBlob(channel, 'module', job.module, signal)
      if (need.input) await this.sendBlob(channel, 'input', job.input, signal)
      let frame = await receiveTask(channel, signal)
      while (frame.t === 'running' || frame.t === 'heartbeat') {
        if (frame.t === 'running') onRunning()
        frame = await receiveTask(channel, signal)
      }
      if (frame.t !== 'result') throw new ProtocolViolationError(`expected a result, got ${frame.t}`)
      const result = frame.result
      const r = result.body
      // [checks before reading output] who signed, for what, how big.
      if (r.worker !== worker) throw new BadResultError(`result signed for ${r.worker}, the agreement is with ${worker}`)
      verifyResult(result)
      if (!r.agreementId.equals(agreementId(agreement.body)) || !r.jobId.equals(agreement.body.jobId)) throw new BadResultError('result for another agreement')
      if (r.outputBytes > MAX_OUTPUT_BYTES) throw new BadResultError(`output of ${r.outputBytes} bytes is over the limit`)
      const stdout = await receiveInto(channel, 'stdout', r.outputBytes, signal)
      const stderr = await receiveInto(channel, 'stderr', frame.stderrBytes, signal)
      if (!bytesMatchCid(stdout, r.outputCid)) throw new BadResultError(`output does not match the committed ${r.outputCid.toString()}`)
      // The stream may carry this worker's next task.
      this.svc.taskStreams.release(worker, channel)
      return { worker, host: this.c.hostOf?.(worker), agreement, result, stdout, stderr }
    } catch (err) {
      channel.abort(err as Error)
      throw err
    }
  }

  private async sendBlob (channel: Channel, which: 'module' | 'input', cid: CID, signal: AbortSignal): Promise<void> {
    const bytes = await this.c.blobs.get(cid)
    if (bytes == null) throw new DepinError(`this node lost the ${which} ${cid.toString()} of its own job`, 'ERR_BLOB_MISSING')
    for (let offset = 0; offset < bytes.byteLength; offset += CHUNK_BYTES) {
      await channel.send({ t: 'chunk', which, data: bytes.subarray(offset, offset + CHUNK_BYTES) }, { signal })
    }
    await channel.send({ t: 'end', which }, { signal })
  }

  private async nextEvent (signal: AbortSignal): Promise<void> {
    if (signal.aborted) return
    await new Promise<void>((resolve) => {
      const done = (): void => { signal.removeEventListener('abort', done); this.wake = undefined; resolve() }
      this.wake = done
      signal.addEventListener('abort', done, { once: true })
    })
  }

  private async settle (items: SettlementItem[]): Promise<void> {
    try {
      await this.c.settle?.(this.id, items)
      this.record.settled = true
      await this.svc.save(this.record)
    } catch (err) {
      log.error('settling job %s failed: %e', this.id, err)
    }
  }

  /** Compares outputs, pays the agreeing workers, stores the output. */
  private async finish (): Promise<JobResult> {
    const keyOf = (outputCid: string, exitCode: number): string => `${outputCid}/${exitCode}`
    const groups = new Map<string, ReplicaOutcome[]>()
    for (const outcome of this.outcomes) {
      const key = keyOf(outcome.result.body.outputCid.toString(), outcome.result.body.exitCode)
      groups.set(key, [...(groups.get(key) ?? []), outcome])
    }
    // Largest group wins; ties go to the group whose first result arrived first.
    const majority = [...groups.values()].sort((a, b) => b.length - a.length)[0]
    let reference = keyOf(majority[0].result.body.outputCid.toString(), majority[0].result.body.exitCode)
    let output: { stdout: Uint8Array, stderr: Uint8Array, exitCode: number, trap?: string } =
      { stdout: majority[0].stdout, stderr: majority[0].stderr, exitCode: majority[0].result.body.exitCode, trap: majority[0].result.body.trap }

    // Spot check: run the job here too. The local run is the truth; a majority that disagrees
    // with it colluded or shares a fault, and is paid nothing.
    let spotCheck: 'passed' | 'failed' | undefined
    const wanted = this.record.spotCheck ?? (Math.random() < (this.c.spotCheckRate ?? 0))
    if (wanted && this.c.runLocally != null) {
      this.svc.emitProgress({ jobId: this.id, stage: 'spot-check' })
      const local = await this.c.runLocally(this.job)
      const localKey = keyOf(rawCid(local.stdout).toString(), local.exitCode)
      spotCheck = localKey === reference ? 'passed' : 'failed'
      if (spotCheck === 'failed') {
        reference = localKey
        output = local
      }
    }

    const agreeing = groups.get(reference) ?? []
    // A quorum counts distinct hosts, not peer ids: peers sharing an address vote once.
    const hosts = new Set<string>()
    let votes = 0
    for (const outcome of agreeing) {
      if (outcome.host != null && hosts.has(outcome.host)) continue
      if (outcome.host != null) hosts.add(outcome.host)
      votes++
    }
    const verified = votes >= this.job.body.quorum
    const settlement: SettlementItem[] = []
    const replicaOf = new Map(this.record.replicas.filter((r) => r.agreement != null).map((r) => [agreementId((r.agreement as Agreement).body).toString(), r]))
    for (const outcome of this.outcomes) {
      const replica = replicaOf.get(outcome.result.body.agreementId.toString())
      if (agreeing.includes(outcome)) {
        this.c.reputation.record(outcome.worker, 'success')
        const amount = chargeFor(outcome.agreement.body.price, outcome.result.body.cpuMs, outcome.agreement.body.maxCost)
        if (replica != null) replica.cost = verified ? amount : 0
        if (verified) settlement.push({ agreement: outcome.agreement, result: outcome.result, amount })
      } else if (verified || spotCheck === 'failed') {
        // Outvoted, or caught by the spot check: not paid, and it costs the worker reputation.
        this.c.reputation.record(outcome.worker, 'mismatch')
        this.c.reportPeer(outcome.worker, 'WrongResult')
        if (replica != null) replica.cost = 0
      }
    }
    const outputCid = await this.c.blobs.pin(output.stdout)
    const stderrCid = await this.c.blobs.pin(output.stderr)
    const cost = settlement.reduce((sum, item) => sum + item.amount, 0)
    Object.assign(this.record, {
      status: 'completed',
      outputCid: outputCid.toString(),
      stderrCid: stderrCid.toString(),
      exitCode: output.exitCode,
      trap: output.trap,
      verified,
      spotCheckResult: spotCheck,
      cost
    })
    await this.svc.save(this.record)
    if (verified) this.svc.emitProgress({ jobId: this.id, stage: 'verified', detail: `${votes}/${this.job.body.replicas} agree${spotCheck != null ? `, spot check ${spotCheck}` : ''}` })
    // Settlement (signing receipts, handing them to the ledger) does not hold up the result.
    if (verified && this.c.settle != null && settlement.length > 0) void this.settle(settlement)
    return this.svc.toResult(this.record, output.stdout, output.stderr, agreeing.map((o) => o.worker))
  }
}

function compareKeys (a: number[], b: number[]): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] - b[i]
  return 0
}

/** Receives exactly `size` bytes of `t` chunks into one buffer. */
async function receiveInto (channel: Channel, t: 'stdout' | 'stderr', size: number, signal: AbortSignal): Promise<Uint8Array> {
  const buffer = new Uint8Array(size)
  let offset = 0
  while (offset < size) {
    const frame = await receiveTask(channel, signal)
    if (frame.t !== t) throw new ProtocolViolationError(`expected ${t} chunks, got ${frame.t}`)
    if (offset + frame.data.byteLength > size) throw new BadResultError(`${t} is longer than the ${size} bytes announced`)
    buffer.set(frame.data, offset)
    offset += frame.data.byteLength
  }
  return buffer
}

export interface RequesterInit {
  /** Jobs placed at once; more wait in a local queue. @default 256 */
  maxActiveJobs?: number
}

export class RequesterService extends TypedEventEmitter<RequesterEvents> {
  readonly components: RequesterComponents
  /** Open negotiation streams per peer, across all jobs. */
  readonly negotiations = new PerPeerLimit(MAX_NEGOTIATIONS_PER_PEER)
  readonly load = new WorkerLoad()
  readonly taskStreams: TaskStreams
  private readonly maxActiveJobs: number
  private readonly placements = new Map<string, Placement>()
  private readonly waiting: Array<() => void> = []
  private readonly finished = new Map<string, Promise<JobResult>>()
  private controller = new AbortController()
  private active = 0

  constructor (components: RequesterComponents, init: RequesterInit = {}) {
    super()
    this.components = components
    this.taskStreams = new TaskStreams(async (peer, signal) => await components.channels.open(peer, TASK_PROTOCOL, { signal, maxFrameBytes: MAX_TASK_FRAME_BYTES, idleTimeoutMs: TASK_IDLE_TIMEOUT_MS }))
    this.maxActiveJobs = init.maxActiveJobs ?? 256
  }

  /** Resumes jobs a previous run left unfinished (their deadline permitting). */
  async start (): Promise<void> {
    this.controller = new AbortController()
    for await (const record of this.components.records.allRequested()) {
      if (record.status === 'completed' || record.status === 'failed') continue
      if (record.job.body.deadline <= Date.now()) {
        record.status = 'failed'
        record.error = { code: 'ERR_JOB_TIMEOUT', message: 'the node was down until after the job\'s deadline' }
        await this.save(record)
        continue
      }
      record.replicas = []
      log('resuming job %s', record.id)
      void this.execute(record, this.controller.signal)
    }
  }

  stop (): void {
    this.taskStreams.closeAll()
    this.controller.abort(new JobCancelledError('the node is stopping'))
    this.waiting.splice(0).forEach((wake) => { wake() })
  }

  /** Routes a bid or decline that arrived on a negotiation stream; false when no open offer matches. */
  routeAnswer (response: NegotiateResponse, from: string): boolean {
    const jobId = response.t === 'bid' ? response.bid.body.jobId : response.t === 'decline' ? response.decline.body.jobId : undefined
    const placement = jobId != null ? this.placements.get(jobId.toString()) : undefined
    if (placement == null) return false
    placement.receive(response, from)
    return true
  }

  /** Starts placing a signed job whose blobs are pinned. Resolves when the record is saved. */
  async submit (job: SignedJob, id: CID, signal?: AbortSignal, options: { spotCheck?: boolean } = {}): Promise<{ done: Promise<JobResult> }> {
    const now = Date.now()
    const record: RequestedJob = { id: id.toString(), job, status: 'queued', createdAt: now, updatedAt: now, replicas: [], ...(options.spotCheck != null ? { spotCheck: options.spotCheck } : {}) }
    await this.save(record)
    this.emitProgress({ jobId: record.id, stage: 'queued' })
    const combined = signal != null ? AbortSignal.any([signal, this.controller.signal]) : this.controller.signal
    return { done: this.execute(record, combined, signal) }
  }

  /** The result of a job placed by this run, if it is still being placed or just finished. */
  pending (id: string): Promise<JobResult> | undefined {
    return this.finished.get(id)
  }

  async save (record: RequestedJob): Promise<void> {
    record.updatedAt = Date.now()
    await this.components.records.putRequested(record)
  }

  emitProgress (progress: Omit<JobProgress, 'at'>): void {
    this.safeDispatchEvent('progress', { detail: { ...progress, at: Date.now() } })
  }

  /** Builds the public result of a record. */
  toResult (record: RequestedJob, stdout: Uint8Array, stderr: Uint8Array, agreeing: string[] = []): JobResult {
    const workers: WorkerOutcome[] = record.replicas.map((r) => ({
      peerId: r.worker,
      agreementId: r.agreement != null ? agreementId(r.agreement.body).toString() : undefined,
      status: r.status,
      outputCid: r.result?.body.outputCid.toString(),
      exitCode: r.result?.body.exitCode,
      cpuMs: r.result?.body.cpuMs,
      wallMs: r.result?.body.wallMs,
      agreed: r.result != null ? agreeing.includes(r.worker) || (agreeing.length === 0 && r.result.body.outputCid.toString() === record.outputCid) : undefined,
      cost: r.cost,
      error: r.error
    }))
    return {
      id: record.id,
      status: record.status === 'completed' || record.status === 'failed' ? record.status : 'pending',
      exitCode: record.exitCode,
      trap: record.trap,
      stdout,
      stderr,
      outputCid: record.outputCid,
      workers,
      verified: record.verified ?? false,
      spotCheck: record.spotCheckResult,
      cost: record.cost ?? 0,
      error: record.error
    }
  }

  private execute (record: RequestedJob, signal: AbortSignal, userSignal?: AbortSignal): Promise<JobResult> {
    const stopping = this.controller.signal
    const run = (async (): Promise<JobResult> => {
      try {
        await this.acquire(signal)
      } catch (err) {
        return await this.fail(record, err, stopping, userSignal)
      }
      const placement = new Placement(this, record, signal)
      this.placements.set(record.id, placement)
      try {
        return await placement.run()
      } catch (err) {
        return await this.fail(record, err, stopping, userSignal)
      } finally {
        placement.closeOfferChannels()
        this.placements.delete(record.id)
        this.release()
      }
    })()
    this.finished.set(record.id, run)
    void run.then((result) => {
      if (result.status === 'completed') this.emitProgress({ jobId: record.id, stage: 'completed', detail: `exit ${result.exitCode ?? '?'}` })
      // Keep only recent results in memory; the record on disk is the lasting copy.
      setTimeout(() => { this.finished.delete(record.id) }, 60_000).unref?.()
    })
    return run
  }

  /**
   * Ends a job that failed or was cancelled. When this node is stopping (and the user did not
   * cancel), the record stays unfinished on disk so that `start()` resumes it; the in-process
   * handle still gets a result.
   */
  private async fail (record: RequestedJob, err: unknown, stopping: AbortSignal, userSignal?: AbortSignal): Promise<JobResult> {
    const e = err as DepinError
    const empty = new Uint8Array(0)
    if (stopping.aborted && userSignal?.aborted !== true) {
      return this.toResult({ ...record, status: 'failed', error: { code: 'ERR_JOB_CANCELLED', message: 'the node stopped; the job resumes when it starts again' } }, empty, empty)
    }
    record.status = 'failed'
    record.error = { code: e.code ?? 'ERR_JOB_FAILED', message: e.message, ...(err instanceof NoBidsError ? { reasons: err.reasons } : {}) }
    await this.save(record).catch(() => {})
    this.emitProgress({ jobId: record.id, stage: 'failed', detail: e.message })
    return this.toResult(record, empty, empty)
  }

  /** Waits for a placement slot; a job cancelled while it waits leaves the queue at once. */
  /**
   * How many jobs to place at once: `maxActiveJobs`, but no more than the known capable workers
   * can hold of ours (plus a few to keep the pipeline full). More would only offer, collect bids
   * and wait, crowding the negotiation streams that the accepts of the others need.
   */
  private placementLimit (): number {
    const known = this.components.knownPeers()
    if (known.length === 0) return this.maxActiveJobs
    const capacity = known.reduce((sum, a) => sum + Math.max(1, a.slots) * (1 + DEFAULT_QUEUE_PER_SLOT), 0)
    return Math.max(1, Math.min(this.maxActiveJobs, capacity + PLACEMENT_HEADROOM))
  }

  private async acquire (signal: AbortSignal): Promise<void> {
    while (this.active >= this.placementLimit() && !signal.aborted) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          signal.removeEventListener('abort', done)
          const i = this.waiting.indexOf(done)
          if (i >= 0) this.waiting.splice(i, 1)
          resolve()
        }
        this.waiting.push(done)
        signal.addEventListener('abort', done, { once: true })
      })
    }
    if (signal.aborted) throw signal.reason instanceof DepinError ? signal.reason : new JobCancelledError()
    this.active++
  }

  private release (): void {
    this.active--
    this.waiting.shift()?.()
  }
}

