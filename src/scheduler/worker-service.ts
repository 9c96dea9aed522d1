/**
 * The worker side: decides whether to bid on offers (admission), turns accepts into co-signed
 * agreements, receives tasks, runs them in the sandbox and returns signed results.
 *
 * Admission happens twice: at bid time (can this node run the job now?) and again at accept time
 * (bids are quotes; a node that filled up meanwhile refuses the accept with `busy`, and the
 * requester moves on to the next bidder).
 */
import { logger } from '@libp2p/logger'
import type { CID } from 'multiformats/cid'
import { agreementId, signAgreementAsWorker, signResult, type Agreement, type ResultBody } from '../proofs/agreement.ts'
import { rawCid } from '../proofs/encoding.ts'
import { assertSigned } from '../proofs/signing.ts'
import type { Signer } from '../proofs/signing.ts'
import { AGREEMENT_DOMAIN } from '../proofs/agreement.ts'
import { ChannelClosedError, type Channel, type ChannelOpener } from '../transport.ts'
import type { Capacity } from '../shared/capacity.ts'
import type { PeerActionName } from '../shared/peer-actions.ts'
import type { Executor, ExecResult } from './executor/index.ts'
import { InvalidModuleError, MemoryLimitError, ModuleCidMismatchError } from './executor/index.ts'
import type { BlobStore } from './blob-store.ts'
import type { JobStore } from './job-store.ts'
import { jobId as computeJobId, jobSeed, maxCostAt, type SignedJob } from './job.ts'
import {
  parseTaskRequest, signBid, signDecline, type TaskRequest,
  type Accept, type NegotiateResponse, type SignedBid, type SignedDecline
} from './messages.ts'
import {
  BID_TTL_MS, CHUNK_BYTES, DEFAULT_QUEUE_PER_SLOT, MAX_INPUT_BYTES, MAX_MODULE_BYTES, MAX_STDERR_BYTES,
  NEGOTIATE_PROTOCOL, SEEN_OFFERS_MAX, TASK_HEARTBEAT_MS
} from './constants.ts'
import {
  AcceptReplayedError, BlobMismatchError, ProtocolViolationError, TRANSIENT_DECLINES, UnknownOfferError, type DeclineReason
} from './errors.ts'

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
}

export interface WorkerInit {
  /** Accepted tasks that may wait for a slot, per slot. @default 2 */
  queuePerSlot?: number
}

interface Answer {
  response: NegotiateResponse
  bid?: SignedBid
  job: SignedJob
  expiresAt: number
}

interface ActiveTask {
  agreement: Agreement
  job: SignedJob
  controller: AbortController
  /** Released if the requester never sends the task. */
  noShowTimer?: ReturnType<typeof setTimeout>
}

/** How long an agreed task may wait for the requester to open the task stream. */
const TASK_START_TIMEOUT_MS = 30_000

export interface WorkerEvents {
  onTaskStarted?: (agreementId: string, jobId: string) => void
  onTaskFinished?: (agreementId: string, jobId: string, exitCode: number) => void
}

export class WorkerService {
  private readonly c: WorkerComponents
  private readonly queuePerSlot: number
  private readonly answers = new Map<string, Answer>()
  private readonly active = new Map<string, ActiveTask>()
  private readonly finished = new Set<string>()
  private running = 0
  private readonly slotWaiters: Array<() => void> = []
  private stopped = true
  private readonly events: WorkerEvents

  constructor (components: WorkerComponents, init: WorkerInit = {}, events: WorkerEvents = {}) {
    this.c = components
    this.queuePerSlot = init.queuePerSlot ?? DEFAULT_QUEUE_PER_SLOT
    this.events = events
  }

  start (): void {
    this.stopped = false
  }

  stop (): void {
    this.stopped = true
    for (const task of this.active.values()) {
      clearTimeout(task.noShowTimer)
      task.controller.abort(new Error('the node is stopping'))
    }
    this.active.clear()
    this.slotWaiters.splice(0).forEach((wake) => { wake() })
  }

  /**
   * What the requester already owes this worker at most: the max cost of its agreements here
   * that are not finished. Bids and accepts count it against the requester's spendable balance.
   */
  committedTo (requester: string): number {
    let total = 0
    for (const task of this.active.values()) if (task.agreement.body.requester === requester) total += task.agreement.body.maxCost
    return total
  }

  /** Tasks agreed or running here now. */
  load (): { running: number, agreed: number, slots: number } {
    return { running: this.running, agreed: this.active.size, slots: this.c.capacity().slots }
  }

  /**
   * Answers an offer (arrived by gossip or directly). Returns the bid or decline, or undefined
   * when this node stays silent (its own offer, or a job aimed at other peers).
   * A repeated offer within a bid's lifetime gets the same answer, so gossip and direct copies
   * of one offer never produce two bids.
   */
  async answerOffer (job: SignedJob, id: CID): Promise<{ response: NegotiateResponse, fresh: boolean } | undefined> {
    if (this.stopped || job.body.requester === this.c.signer.peerId) return undefined
    const key = id.toString()
    const now = Date.now()
    const cached = this.answers.get(key)
    if (cached != null && cached.expiresAt > now) return { response: cached.response, fresh: false }
    const reason = await this.admit(job, now)
    let response: NegotiateResponse
    let bid: SignedBid | undefined
    if (reason == null) {
      const capacity = this.c.capacity()
      bid = signBid(this.c.signer, {
        v: 1,
        jobId: id,
        worker: this.c.signer.peerId,
        requester: job.body.requester,
        price: capacity.pricePerCpuSecond,
        expiresAt: now + BID_TTL_MS,
        freeSlots: Math.max(0, capacity.slots - this.running)
      })
      response = { t: 'bid', bid }
    } else {
      if (reason === 'not-targeted') return undefined
      const decline: SignedDecline = signDecline(this.c.signer, { v: 1, jobId: id, worker: this.c.signer.peerId, reason })
      response = { t: 'decline', decline }
    }
    // Transient refusals are not remembered: the next offer round re-checks (a slot may be free).
    if (reason == null || !TRANSIENT_DECLINES.has(reason)) {
      this.answers.set(key, { response, bid, job, expiresAt: now + BID_TTL_MS })
      this.pruneAnswers(now)
    }
    return { response, fresh: true }
  }

  /** Sends the answer to a gossiped offer back to its requester on a negotiation stream. */
  async answerGossipOffer (job: SignedJob, id: CID): Promise<void> {
    const answer = await this.answerOffer(job, id)
    if (answer == null || !answer.fresh) return
    let channel: Channel | undefined
    try {
      channel = await this.c.channels.open(job.body.requester, NEGOTIATE_PROTOCOL, { signal: AbortSignal.timeout(5_000) })
      await channel.send(answer.response)
      await channel.receive() // ack or error: either way the requester has it
      await channel.close()
    } catch (err) {
      channel?.abort(err as Error)
      log('could not send %s for %s to %s: %s', answer.response.t, id, job.body.requester, (err as Error).message)
    }
  }

  /** Turns an accept into a co-signed agreement, or throws why not. */
  async accept (accept: Accept, from: string): Promise<Agreement> {
    const body = accept.body
    if (from !== body.requester) throw new ProtocolViolationError(`accept for ${body.requester} sent by ${from}`)
    if (body.worker !== this.c.signer.peerId) throw new ProtocolViolationError('accept names another worker')
    assertSigned(body.requester, AGREEMENT_DOMAIN, body, accept.requesterSig)
    const id = agreementId(body).toString()
    if (this.active.has(id) || this.finished.has(id)) throw new AcceptReplayedError(id)
    const answer = this.answers.get(body.jobId.toString())
    if (answer?.bid == null || answer.expiresAt < Date.now()) throw new UnknownOfferError(body.jobId.toString())
    const job = answer.job
    if (body.price !== answer.bid.body.price) throw new ProtocolViolationError(`accept at price ${body.price}, bid was ${answer.bid.body.price}`)
    if (body.maxCost !== maxCostAt(job.body, body.price)) throw new ProtocolViolationError('accept with a wrong maxCost')
    if (body.deadline !== job.body.deadline) throw new ProtocolViolationError('accept with a wrong deadline')
    if (body.replica >= job.body.replicas + 64) throw new ProtocolViolationError('replica index out of range')
    if (this.active.size >= this.maxActive()) {
      // The quote is void: a re-offer of this job gets a fresh admission (a busy decline, or a
      // new bid once a slot is free) instead of the cached bid.
      this.answers.delete(body.jobId.toString())
      throw new ProtocolViolationError('no free slot any more', 'ERR_BUSY')
    }
    if (!await this.c.canPay(body.requester, body.maxCost + this.committedTo(body.requester))) throw new ProtocolViolationError('the requester cannot pay', 'ERR_FUNDS')
    const agreement: Agreement = { body, requesterSig: accept.requesterSig, workerSig: signAgreementAsWorker(this.c.signer, body) }
    const task: ActiveTask = { agreement, job, controller: new AbortController() }
    task.noShowTimer = setTimeout(() => {
      if (this.active.get(id) === task) {
        this.active.delete(id)
        this.finished.add(id)
        log('requester %s never sent task %s', body.requester, id)
      }
    }, TASK_START_TIMEOUT_MS)
    task.noShowTimer.unref?.()
    this.active.set(id, task)
    return agreement
  }

  /** Serves one task stream: blobs in, run, output and signed result out. */
  /**
   * Serves a task stream: one task, then (the stream stays open) possibly another from the same
   * requester, until the requester closes the stream or leaves it idle past the deadline.
   */
  async serveTask (channel: Channel): Promise<void> {
    let frame = parseTaskRequest(await channel.receive())
    while (await this.serveOneTask(channel, frame)) {
      const next = await nextFrameOrEnd(channel)
      if (next === undefined) return
      frame = parseTaskRequest(next)
    }
  }

  /** Serves one task; true when the stream may carry another. */
  private async serveOneTask (channel: Channel, first: TaskRequest): Promise<boolean> {
    if (first.t !== 'task') throw new ProtocolViolationError(`expected a task frame, got ${first.t}`)
    const id = agreementId(first.agreement.body).toString()
    const task = this.active.get(id)
    if (task == null) {
      await channel.send({ t: 'error', code: 'ERR_UNKNOWN_AGREEMENT', message: `no open agreement ${id}` })
      await closeServed(channel)
      return false
    }
    if (channel.remotePeer !== task.agreement.body.requester) throw new ProtocolViolationError('task sent by someone other than the requester')
    // The job was verified when it was offered and is kept with the agreement; the copy in the
    // task frame only has to be that same job.
    const job = task.job
    if (!computeJobId(first.job.body).equals(task.agreement.body.jobId)) throw new ProtocolViolationError('task job does not match the agreement')
    clearTimeout(task.noShowTimer)
    const record = { agreementId: id, jobId: task.agreement.body.jobId.toString(), requester: job.body.requester, status: 'running' as const, startedAt: Date.now() }
    this.events.onTaskStarted?.(id, record.jobId)
    try {
      const module = await this.c.blobs.get(job.body.module)
      // Inputs are usually one-off: looked up and kept in memory only, never written to disk.
      const input = this.c.blobs.getHot(job.body.input)
      await channel.send({ t: 'need', module: module == null, input: input == null })
      const blobs = { module, input }
      for (const which of ['module', 'input'] as const) {
        if (blobs[which] != null) continue
        const cid = which === 'module' ? job.body.module : job.body.input
        const size = which === 'module' ? job.body.moduleBytes : job.body.inputBytes
        const limit = which === 'module' ? MAX_MODULE_BYTES : MAX_INPUT_BYTES
        if (size > limit) throw new ProtocolViolationError(`${which} of ${size} bytes is over the limit of ${limit}`)
        blobs[which] = await receiveBlob(channel, which, size)
        if (which === 'module') await this.c.blobs.cacheVerified(cid, blobs[which] as Uint8Array)
        else this.c.blobs.holdVerified(cid, blobs[which] as Uint8Array)
      }
      const result = await this.execute(channel, task, blobs.module as Uint8Array, blobs.input as Uint8Array)
      const outputCid = rawCid(result.stdout)
      const body: ResultBody = {
        v: 1,
        agreementId: agreementId(task.agreement.body),
        jobId: task.agreement.body.jobId,
        worker: this.c.signer.peerId,
        outputCid,
        outputBytes: result.stdout.byteLength,
        exitCode: Math.max(-1, Math.min(255, result.exitCode)),
        ...(result.trap != null ? { trap: result.trap.slice(0, 512) } : {}),
        cpuMs: Math.round(result.cpuMs),
        wallMs: Math.round(result.wallMs)
      }
      const stderr = result.stderr.subarray(0, MAX_STDERR_BYTES)
      await channel.send({ t: 'result', result: signResult(this.c.signer, body), stderrBytes: stderr.byteLength, stdoutTruncated: result.stdoutTruncated, stderrTruncated: result.stderrTruncated })
      await sendChunks(channel, 'stdout', result.stdout)
      await sendChunks(channel, 'stderr', stderr)
      await this.saveRecord({ ...record, status: 'done', finishedAt: Date.now(), exitCode: body.exitCode, outputCid: outputCid.toString(), cpuMs: body.cpuMs, wallMs: body.wallMs })
      this.events.onTaskFinished?.(id, record.jobId, body.exitCode)
      return true
    } catch (err) {
      await this.saveRecord({ ...record, status: 'failed', finishedAt: Date.now(), error: (err as Error).message })
      if (err instanceof BlobMismatchError || err instanceof ProtocolViolationError) this.c.reportPeer(channel.remotePeer, 'MalformedMessage')
      throw err
    } finally {
      this.active.delete(id)
      this.finished.add(id)
      if (this.finished.size > SEEN_OFFERS_MAX) this.finished.delete(this.finished.values().next().value as string)
    }
  }

  /** Waits for a slot (with heartbeats), runs the job, and maps module faults to results. */
  private async execute (channel: Channel, task: ActiveTask, module: Uint8Array, input: Uint8Array): Promise<ExecResult> {
    // A heartbeat that cannot be sent means the requester is gone (cancelled, crashed): stop the
    // run instead of computing a result nobody will read until the job's timeout.
    const heartbeat = setInterval(() => { channel.send({ t: 'heartbeat' }).catch((err) => { task.controller.abort(err) }) }, TASK_HEARTBEAT_MS)
    try {
      await this.acquireSlot(task.controller.signal)
      try {
        await channel.send({ t: 'running' })
        const body = task.job.body
        return await this.c.executor.run({
          moduleCid: body.module,
          module,
          stdin: input,
          args: body.args,
          env: body.env,
          memoryMiB: body.memoryMiB,
          timeoutMs: body.timeoutMs,
          seed: jobSeed(task.agreement.body.jobId)
        }, { signal: task.controller.signal })
      } catch (err) {
        // A module that cannot run is the job's own deterministic outcome, not a worker fault:
        // every replica reports the same, so it is returned as a result.
        if (err instanceof InvalidModuleError || err instanceof MemoryLimitError || err instanceof ModuleCidMismatchError) {
          return { exitCode: -1, trap: `${err.name}: ${err.message}`, stdout: new Uint8Array(0), stderr: new Uint8Array(0), stdoutTruncated: false, stderrTruncated: false, wallMs: 0, cpuMs: 0 }
        }
        throw err
      } finally {
        this.releaseSlot()
      }
    } finally {
      clearInterval(heartbeat)
    }
  }

  private async acquireSlot (signal: AbortSignal): Promise<void> {
    while (this.running >= Math.max(1, this.c.capacity().slots)) {
      if (this.stopped || signal.aborted) throw new Error('the node is stopping')
      await new Promise<void>((resolve) => { this.slotWaiters.push(resolve) })
    }
    this.running++
  }

  private releaseSlot (): void {
    this.running--
    this.slotWaiters.shift()?.()
  }

  private maxActive (): number {
    const slots = this.c.capacity().slots
    return slots === 0 ? 0 : slots * (1 + this.queuePerSlot)
  }

  /** Why this node cannot take the job now, or undefined when it can. */
  private async admit (job: SignedJob, now: number): Promise<DeclineReason | undefined> {
    const b = job.body
    const capacity = this.c.capacity()
    if (b.peers != null && !b.peers.includes(this.c.signer.peerId)) return 'not-targeted'
    if (!capacity.runtimes.includes(b.runtime)) return 'runtime'
    if (b.memoryMiB > capacity.memoryMiB) return 'memory'
    if (b.moduleBytes > MAX_MODULE_BYTES || b.inputBytes > MAX_INPUT_BYTES) return 'too-large'
    if (capacity.pricePerCpuSecond > b.maxPrice) return 'price'
    if (now + b.timeoutMs > b.deadline) return 'deadline'
    if (capacity.slots === 0 || this.active.size >= this.maxActive()) return 'busy'
    if (!await this.c.canPay(b.requester, maxCostAt(b, capacity.pricePerCpuSecond) + this.committedTo(b.requester))) return 'funds'
    return undefined
  }

  private pruneAnswers (now: number): void {
    if (this.answers.size <= SEEN_OFFERS_MAX) return
    for (const [key, answer] of this.answers) {
      if (answer.expiresAt <= now || this.answers.size > SEEN_OFFERS_MAX) this.answers.delete(key)
      if (this.answers.size <= SEEN_OFFERS_MAX / 2) break
    }
  }

  private async saveRecord (record: Parameters<JobStore['putRan']>[0]): Promise<void> {
    await this.c.records.putRan(record).catch((err) => { log.error('saving task record failed: %e', err) })
  }
}

/**
 * Receives a blob's chunks into one buffer of the declared size (never a second copy); the blob
 * store then checks the bytes against their CID before anything runs them.
 */
async function receiveBlob (channel: Channel, which: 'module' | 'input', size: number): Promise<Uint8Array> {
  const buffer = new Uint8Array(size)
  let offset = 0
  while (true) {
    const frame = parseTaskRequest(await channel.receive())
    if (frame.t === 'end' && frame.which === which) break
    if (frame.t !== 'chunk' || frame.which !== which) throw new ProtocolViolationError(`expected ${which} chunks, got ${frame.t}`)
    if (offset + frame.data.byteLength > size) throw new BlobMismatchError(`${which} is longer than the ${size} bytes the job declares`)
    buffer.set(frame.data, offset)
    offset += frame.data.byteLength
  }
  if (offset !== size) throw new BlobMismatchError(`${which} is ${offset} bytes, the job declares ${size}`)
  return buffer
}

/**
 * Ends a stream this node served: closes our side, then waits (at most the idle deadline) for the
 * peer to close its side and tears the stream down if it does not. A graceful close alone is a
 * half-close: a peer that never closes its side would keep the stream, and one of its
 * per-connection stream slots, until the muxer's 2-minute inactivity timeout.
 */
export async function closeServed (channel: Channel): Promise<void> {
  await channel.close()
  try {
    await channel.receive()
    channel.abort(new ProtocolViolationError('frame after the final answer'))
  } catch (err) {
    if (!(err instanceof ChannelClosedError)) channel.abort(err as Error)
  }
}

/**
 * On a served stream that may carry one more request: the next frame, or undefined once the
 * stream has ended (the peer closed it: we close ours; silence past the deadline or a reset:
 * torn down).
 */
export async function nextFrameOrEnd (channel: Channel): Promise<unknown> {
  try {
    return await channel.receive()
  } catch (err) {
    if (err instanceof ChannelClosedError) await channel.close()
    else channel.abort(err as Error)
    return undefined
  }
}

/** Sends bytes as chunk frames (nothing for empty bytes). */
export async function sendChunks (channel: Channel, t: 'stdout' | 'stderr', bytes: Uint8Array): Promise<void> {
  for (let offset = 0; offset < bytes.byteLength; offset += CHUNK_BYTES) {
    await channel.send({ t, data: bytes.subarray(offset, offset + CHUNK_BYTES) })
  }
}
