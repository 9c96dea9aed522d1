/**
 * The worker side of the market: answers lease offers (bid or decline), turns accepts into
 * co-signed leases, serves each lease's stream, keeps its best acknowledgement per lease,
 * claims the tail of a lease whose stream died (tail-claims.ts), and settles a finished lease
 * itself when its requester has not (the acknowledgement it signed is enough for the ledger).
 */
import { logger } from '@libp2p/logger'
import type { CID } from 'multiformats/cid'
import { leaseId, signLeaseAsWorker, LEASE_DOMAIN, type Lease, type SignedAck, type SignedCheckpoint } from '../../proofs/lease.ts'
import { assertSigned, type Signer } from '../../proofs/signing.ts'
import type { Capacity } from '../../shared/capacity.ts'
import type { PeerActionName } from '../../shared/peer-actions.ts'
import { leaseEndWord, type MarketMetrics } from '../../shared/metrics.ts'
import type { Channel, ChannelOpener } from '../../transport.ts'
import type { BlobStore } from '../blob-store.ts'
import { LEASE_OPEN_TIMEOUT_MS, MAX_LEASES_PER_REQUESTER, MAX_WORKER_LEASES, NEGOTIATE_PROTOCOL, SEEN_OFFERS_MAX } from '../constants.ts'
import { AcceptReplayedError, ProtocolViolationError, TRANSIENT_DECLINES, UnknownOfferError } from '../errors.ts'
import type { Executor } from '../executor/index.ts'
import { OPEN_LEASE, type JobStore, type LeaseRecord } from '../job-store.ts'
import { parseRequesterFrame } from '../lease-frames.ts'
import { signBid, signDecline, type Accept, type NegotiateResponse, type SignedBid, type SignedOffer } from '../messages.ts'
import { bidTerms, expectedLeaseCap, checkAccept, judgeOffer } from './admission.ts'
import { LeaseServer, type LeaseSummary } from './lease-server.ts'
import { SlotScheduler } from './slots.ts'
import type { LeaseJournal } from './lease-journal.ts'
import { SelfSettle } from './self-settle.ts'
import { TailClaims, tailClaimed, type TailClaimed } from './tail-claims.ts'

const log = logger('depin:worker')

export interface WorkerComponents {
  signer: Signer
  executor: Executor
  blobs: BlobStore
  records: JobStore
  channels: ChannelOpener
  /** What this node offers right now. */
  capacity: () => Capacity
  /** Whether the requester can still pay `amount` credits (the ledger's answer; true without one). */
  canPay: (requester: string, amount: number) => Promise<boolean>
  reportPeer: (peerId: string, action: PeerActionName) => void
  /** Submits a settle of a lease through an acknowledged checkpoint; absent: this worker never settles itself. */
  settle?: (lease: Lease, checkpoint: SignedCheckpoint, ack: SignedAck) => Promise<void>
  /** Credits the chain (and pending settles) already pay under a lease. */
  settled?: (leaseId: string) => Promise<number>
  /** When to settle a lease itself, ms after it ended, and again after each failure (tests shorten them). */
  settleDelaysMs?: number[]
  /** When to claim a lease's tail after its stream died, ms after it ended (tests shorten them). @default TAIL_CLAIM_DELAYS_MS */
  tailDelaysMs?: number[]
  /** Where served leases are journaled until paid (a data dir): see self-settle.ts. Absent: memory only. */
  journal?: LeaseJournal
  /** Where leases served and payload bytes moved are counted. @default none */
  metrics?: MarketMetrics
}

export interface WorkerEvents {
  /** A lease was made with a requester. */
  onLeaseOpened?: (lease: Lease) => void
  /** A lease ended (summary of what ran and what it earned). */
  onLeaseEnded?: (summary: LeaseSummary) => void
  /** A task of a lease started running here, and finished (its exit code and wall time). */
  onTaskStarted?: (leaseId: string, taskId: string) => void
  onTaskFinished?: (leaseId: string, taskId: string, exitCode: number, wallMs: number) => void
  /** The claim of a lease's tail ended: paid, refused, or given up (tail-claims.ts). */
  onTailClaimed?: (claimed: TailClaimed) => void
}

interface Answer {
  response: NegotiateResponse
  bid?: SignedBid
  offer: SignedOffer
  expiresAt: number
  /** The bid was accepted (a bid makes one lease). */
  accepted?: boolean
}

interface Held {
  lease: Lease
  openTimer?: ReturnType<typeof setTimeout>
  server?: LeaseServer
  best?: { checkpoint: SignedCheckpoint, ack: SignedAck }
}

export class WorkerService {
  private readonly c: WorkerComponents
  private readonly events: WorkerEvents
  readonly slots: SlotScheduler
  private readonly answers = new Map<string, Answer>()
  /** Offers being judged now (a direct copy and a gossip copy of one offer get one answer). */
  private readonly answering = new Map<string, Promise<{ response: NegotiateResponse, fresh: boolean } | undefined>>()
  /** Accepts being checked now (their funds check awaits): their caps, by requester. */
  private readonly accepting = new Map<string, number[]>()
  private readonly held = new Map<string, Held>()
  private readonly finished = new Set<string>()
  private readonly selfSettle: SelfSettle
  private readonly tails: TailClaims
  private stopped = true

  constructor (components: WorkerComponents, events: WorkerEvents = {}) {
    this.c = components
    this.events = events
    this.slots = new SlotScheduler(() => components.capacity().slots)
    this.selfSettle = new SelfSettle({ records: components.records, settle: components.settle, settled: components.settled, journal: components.journal, delaysMs: components.settleDelaysMs })
    this.tails = new TailClaims({ channels: components.channels, reportPeer: components.reportPeer, ...(components.tailDelaysMs != null ? { delaysMs: components.tailDelaysMs } : {}) })
  }

  /** Lease tails being claimed now (see tail-claims.ts). */
  get tailClaims (): number { return this.tails.pending }

  start (): void {
    this.stopped = false
    this.selfSettle.start()
    this.tails.start()
  }

  /**
   * Records and settles the leases an earlier run left journaled (it went down while serving or
   * before they were paid); returns the summaries of those it was serving (reason ERR_INTERRUPTED).
   */
  async recover (): Promise<LeaseSummary[]> {
    const records = await this.selfSettle.recover()
    return records.map((r) => ({ leaseId: r.leaseId, requester: r.requester, startedAt: r.startedAt, endedAt: r.endedAt, tasks: r.tasks, refused: r.refused, fuel: BigInt(r.fuel ?? 0), amount: r.amount, paid: r.paid, ...(r.acknowledged != null ? { acknowledged: r.acknowledged } : {}), reason: r.reason }))
  }

  stop (): void {
    this.stopped = true
    for (const held of this.held.values()) {
      clearTimeout(held.openTimer)
      held.server?.stop()
    }
    this.slots.clear(new Error('the node is stopping'))
    this.tails.stop()
    this.selfSettle.stop()
  }

  /** Records of the leases served now (`reason` is `open`), for the operator's job list. */
  openLeases (): LeaseRecord[] {
    const out: LeaseRecord[] = []
    for (const held of this.held.values()) {
      if (held.server == null) continue
      const summary = held.server.summary()
      out.push({ ...summary, fuel: summary.fuel.toString(), reason: OPEN_LEASE })
    }
    return out
  }

  /** Leases served now, and the tasks running and waiting. */
  load (): { leases: number, running: number, queued: number, slots: number } {
    return { leases: this.held.size, running: this.slots.active, queued: this.slots.queued, slots: this.c.capacity().slots }
  }

  /** Leases held of one requester (open, or accepted and waiting to be opened). */
  private heldBy (requester: string): number {
    let n = 0
    for (const held of this.held.values()) if (held.lease.body.requester === requester) n++
    return n
  }

  /**
   * What this requester may still owe this worker for its leases here, less what it has
   * acknowledged: each lease's cap, or for a lease that is ending what it can still cost (`maxCost`).
   */
  committedTo (requester: string): number {
    let total = 0
    for (const held of this.held.values()) {
      if (held.lease.body.requester !== requester) continue
      total += Math.max(0, (held.server?.maxCost() ?? held.lease.body.maxCredits) - (held.best?.ack.body.paid ?? 0))
    }
    return total
  }

  /**
   * Answers a lease offer (arrived by gossip or directly): a bid, a decline, or undefined for
   * silence. A repeated offer within a bid's lifetime gets the same answer, so gossip and direct
   * copies of one offer never produce two bids. `direct`: a `not-targeted` decline is sent only
   * to a direct offer.
   */
  async answerOffer (offer: SignedOffer, id: CID, direct: boolean): Promise<{ response: NegotiateResponse, fresh: boolean } | undefined> {
    if (this.stopped) return undefined
    const key = id.toString()
    const pending = this.answering.get(key)
    if (pending != null) {
      const answer = await pending
      if (answer != null) return { response: answer.response, fresh: false }
    }
    const answering = this.judgeOffer(offer, id, direct)
    this.answering.set(key, answering)
    try {
      return await answering
    } finally {
      if (this.answering.get(key) === answering) this.answering.delete(key)
    }
  }

  private async judgeOffer (offer: SignedOffer, id: CID, direct: boolean): Promise<{ response: NegotiateResponse, fresh: boolean } | undefined> {
    const key = id.toString()
    const now = Date.now()
    const cached = this.answers.get(key)
    if (cached != null && cached.expiresAt > now) return { response: cached.response, fresh: false }
    const capacity = this.c.capacity()
    const queued = this.slots.queued
    const runMs = this.slots.typicalRunMs
    let reason = judgeOffer(offer.body, {
      self: this.c.signer.peerId, capacity, now, leases: this.held.size, queued,
      ...(runMs > 0 ? { queuedMs: queued / Math.max(1, capacity.slots) * runMs } : {})
    })
    if (reason === 'silent' || (reason === 'not-targeted' && !direct)) return undefined
    const terms = bidTerms(offer.body, capacity, this.slots.active, now)
    if (reason == null && !await this.c.canPay(offer.body.requester, expectedLeaseCap(offer.body, terms) + this.committedTo(offer.body.requester))) reason = 'funds'
    let response: NegotiateResponse
    let bid: SignedBid | undefined
    if (reason == null) {
      bid = signBid(this.c.signer, { v: 1, offerId: id, worker: this.c.signer.peerId, requester: offer.body.requester, ...terms })
      response = { t: 'bid', bid }
    } else {
      response = { t: 'decline', decline: signDecline(this.c.signer, { v: 1, offerId: id, worker: this.c.signer.peerId, reason }) }
    }
    // Transient refusals are not remembered: the next offer is judged afresh.
    if (reason == null || !TRANSIENT_DECLINES.has(reason)) {
      this.answers.set(key, { response, bid, offer, expiresAt: bid?.body.expiresAt ?? offer.body.expiresAt })
      this.pruneAnswers(now)
    }
    return { response, fresh: true }
  }

  /** Sends the answer to a gossiped offer back to its requester on a negotiation stream. */
  async answerGossipOffer (offer: SignedOffer, id: CID): Promise<void> {
    const answer = await this.answerOffer(offer, id, false)
    if (answer == null || !answer.fresh) return
    let channel: Channel | undefined
    try {
      channel = await this.c.channels.open(offer.body.requester, NEGOTIATE_PROTOCOL, { signal: AbortSignal.timeout(5_000) })
      await channel.send(answer.response)
      await channel.receive() // ack or error: either way the requester has it
      await channel.close()
    } catch (err) {
      channel?.abort(err as Error)
      log('could not send %s for offer %s to %s: %s', answer.response.t, id, offer.body.requester, (err as Error).message)
    }
  }

  /** Turns an accept into a co-signed lease, or throws why not. */
  async accept (accept: Accept, from: string): Promise<Lease> {
    const body = accept.body
    if (from !== body.requester) throw new ProtocolViolationError(`accept for ${body.requester} sent by ${from}`)
    if (body.worker !== this.c.signer.peerId) throw new ProtocolViolationError('accept names another worker')
    assertSigned(body.requester, LEASE_DOMAIN, body, accept.requesterSig)
    const id = leaseId(body).toString()
    if (this.held.has(id) || this.finished.has(id)) throw new AcceptReplayedError(id)
    const answer = this.answers.get(body.offerId.toString())
    const now = Date.now()
    if (answer?.bid == null || answer.expiresAt < now) throw new UnknownOfferError(body.offerId.toString())
    if (answer.accepted === true) throw new AcceptReplayedError(id, 'that bid was accepted already: a bid makes one lease')
    checkAccept(body, answer.offer.body, answer.bid.body, now)
    // Counted with what is held: accepts whose funds check is under way (it awaits the ledger).
    const pending = this.accepting.get(body.requester) ?? []
    let accepting = 0
    for (const caps of this.accepting.values()) accepting += caps.length
    if (this.stopped || this.held.size + accepting >= MAX_WORKER_LEASES) throw new ProtocolViolationError('no room for another lease', 'ERR_BUSY')
    if (this.heldBy(body.requester) + pending.length >= MAX_LEASES_PER_REQUESTER) throw new ProtocolViolationError(`this node holds ${MAX_LEASES_PER_REQUESTER} leases of this requester already`, 'ERR_BUSY')
    answer.accepted = true
    const reserved = pending.reduce((sum, cap) => sum + cap, 0)
    pending.push(body.maxCredits)
    this.accepting.set(body.requester, pending)
    let payable: boolean
    try {
      payable = await this.c.canPay(body.requester, body.maxCredits + reserved + this.committedTo(body.requester))
    } finally {
      pending.splice(pending.indexOf(body.maxCredits), 1)
      if (pending.length === 0 && this.accepting.get(body.requester) === pending) this.accepting.delete(body.requester)
    }
    if (!payable) throw new ProtocolViolationError('the requester cannot pay the lease\'s cap', 'ERR_FUNDS')
    if (this.stopped) throw new ProtocolViolationError('no room for another lease', 'ERR_BUSY')
    const lease: Lease = { body, requesterSig: accept.requesterSig, workerSig: signLeaseAsWorker(this.c.signer, body) }
    const held: Held = { lease }
    held.openTimer = setTimeout(() => {
      if (this.held.get(id) === held && held.server == null) {
        this.held.delete(id)
        this.remember(id)
        log('requester %s never opened lease %s', body.requester, id)
      }
    }, LEASE_OPEN_TIMEOUT_MS)
    held.openTimer.unref?.()
    this.held.set(id, held)
    this.events.onLeaseOpened?.(lease)
    return lease
  }

  /** Serves an inbound lease stream (its first frame names the lease). */
  async serveLease (channel: Channel): Promise<void> {
    const first = parseRequesterFrame(await channel.receive())
    if (first.t !== 'open') throw new ProtocolViolationError(`a lease stream starts with open, not ${first.t}`)
    const id = leaseId(first.lease.body).toString()
    const held = this.held.get(id)
    if (held == null || held.server != null) {
      await channel.send({ t: 'error', code: 'ERR_UNKNOWN_LEASE', message: `no lease ${id} waiting to be opened here` })
      await channel.close()
      return
    }
    if (channel.remotePeer !== held.lease.body.requester) throw new ProtocolViolationError('lease opened by someone other than its requester')
    clearTimeout(held.openTimer)
    const server = new LeaseServer({
      signer: this.c.signer,
      executor: this.c.executor,
      blobs: this.c.blobs,
      slots: this.slots,
      reportPeer: this.c.reportPeer,
      onAck: (lease, checkpoint, ack) => {
        held.best = { checkpoint, ack }
        this.selfSettle.acknowledged(id, lease, startedAt, held.best)
      },
      onTaskStarted: (taskId) => { this.events.onTaskStarted?.(id, taskId) },
      onTaskFinished: (taskId, exitCode, wallMs) => { this.events.onTaskFinished?.(id, taskId, exitCode, wallMs) },
      ...(this.c.metrics != null ? { metrics: this.c.metrics } : {})
    }, held.lease, channel)
    held.server = server
    const startedAt = server.summary().startedAt
    this.selfSettle.opened(id, held.lease, startedAt)
    // Open from its stream's first frame to its end (an accepted lease never opened is not counted).
    this.c.metrics?.leaseOpened('worker')
    try {
      await server.serve()
    } finally {
      this.held.delete(id)
      this.remember(id)
      const summary = server.summary()
      this.c.metrics?.leaseClosed('worker', leaseEndWord(summary.reason))
      const record = this.ended(held, summary)
      // Results sent after the last acknowledged checkpoint, and the stream gone: the requester
      // may still acknowledge what it received of them (not when this node is stopping).
      const book = server.tail()
      if (book != null && !this.stopped) {
        this.tails.claim({
          lease: held.lease,
          id: leaseId(held.lease.body),
          book,
          onAck: (best) => {
            held.best = best
            this.selfSettle.tailAcknowledged(id, held.lease, best, record)
          },
          onDone: (outcome, end) => { this.events.onTailClaimed?.(tailClaimed({ lease: held.lease, id: leaseId(held.lease.body) }, outcome, end)) }
        })
      }
    }
  }

  private ended (held: Held, summary: LeaseSummary): LeaseRecord {
    log('lease %s with %s ended (%s): %d tasks, %d credits claimed, %d acknowledged', summary.leaseId, summary.requester, summary.reason, summary.tasks, summary.amount, summary.paid)
    const record: LeaseRecord = { ...summary, fuel: summary.fuel.toString() }
    this.c.records.putLease(record).catch((err) => { log.error('saving lease record failed: %e', err) })
    this.events.onLeaseEnded?.(summary)
    // The requester settles at the end of a lease; if the chain has not seen it paid a while
    // later, this worker settles with the acknowledgement it holds.
    this.selfSettle.ended(summary.leaseId, held.lease, held.best, record)
    return record
  }

  private remember (id: string): void {
    this.finished.add(id)
    if (this.finished.size > SEEN_OFFERS_MAX) this.finished.delete(this.finished.values().next().value as string)
  }

  private pruneAnswers (now: number): void {
    if (this.answers.size <= SEEN_OFFERS_MAX) return
    for (const [key, answer] of this.answers) {
      if (answer.expiresAt <= now || this.answers.size > SEEN_OFFERS_MAX) this.answers.delete(key)
      if (this.answers.size <= SEEN_OFFERS_MAX / 2) break
    }
  }
}
