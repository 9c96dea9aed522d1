/**
 * A worker claiming the tail of its leases: when a lease's stream died (the connection was lost,
 * a NAT timeout) with results sent after the last checkpoint its requester acknowledged, the
 * worker asks the requester on `/depin/lease-tail/1.0.0` (dialling it if needed) to acknowledge
 * what it received of them: soon after the lease ended, then with back-off, a few times within
 * the time the requester keeps the lease's account (TAIL_RETAIN_MS). An acknowledgement goes
 * where every other one goes (the journal, the self-settle). A requester that never answers, or
 * refuses, leaves the worker with what it had: its self-settle pays that. See docs/protocol.md,
 * "Lease tails".
 */
import { logger } from '@libp2p/logger'
import type { CID } from 'multiformats/cid'
import type { Lease, SignedAck, SignedCheckpoint } from '../../proofs/lease.ts'
import type { Channel, ChannelOpener } from '../../transport.ts'
import { DeadlineExceededError, InvalidMessageError, InvalidSignatureError, MessageTooLargeError } from '../../errors.ts'
import type { PeerActionName } from '../../shared/peer-actions.ts'
import { LEASE_TAIL_PROTOCOL, MAX_TAIL_FRAME_BYTES, TAIL_CLAIM_DELAYS_MS, TAIL_CLAIM_TIMEOUT_MS, TAIL_IDLE_TIMEOUT_MS, TAIL_RETAIN_MAX } from '../constants.ts'
import { AckRejectedError, ProtocolViolationError, TailError } from '../errors.ts'
import { parseTailAck, parseTailReceived } from '../lease-tail-frames.ts'

const log = logger('depin:worker:tail')

/** Requester answers after which asking again cannot help. */
const FINAL_CODES = new Set(['ERR_NOT_LEASE_WORKER', 'ERR_INVALID_MESSAGE', 'ERR_MESSAGE_TOO_LARGE', 'ERR_TAIL_MISMATCH'])

export type Best = { checkpoint: SignedCheckpoint, ack: SignedAck }

/** A lease's book as the claim needs it (WorkerCheckpoints). */
export interface TailBook {
  readonly hasTail: boolean
  /** Credits the best acknowledgement held pays (cumulative). */
  readonly paid: number
  tailCheckpoint: (seq: number, count: number, root: Uint8Array) => SignedCheckpoint
  /** Checks an acknowledgement; the checkpoint and ack when it is the best so far. */
  acknowledge: (ack: SignedAck) => Best | undefined
}

export interface TailClaim {
  lease: Lease
  /** The lease id. */
  id: CID
  book: TailBook
  /** A better acknowledgement arrived. */
  onAck: (best: Best) => void
  /** The claim is over: acknowledged, refused for good, or given up after its last attempt. */
  onDone?: (outcome: TailOutcome, end: TailClaimEnd) => void
}

export type TailOutcome = 'acknowledged' | 'refused' | 'gave-up'

/** How a claim ended. */
export interface TailClaimEnd {
  /** Attempts made. */
  attempts: number
  /** Acknowledged: the results its acknowledgement covers, what it pays in all, and what it adds to the best one held before. */
  tasks?: number
  paid?: number
  credits?: number
  /** Refused or given up: the code of the last answer or failure. */
  code?: string
}

/** A claim's end, for the operator (the scheduler's `lease:tail-claimed`): `paid` is `acknowledged`. */
export interface TailClaimed extends TailClaimEnd {
  leaseId: string
  requester: string
  outcome: 'paid' | 'refused' | 'gave-up'
}

/** The operator's report of a claim's end. */
export function tailClaimed (claim: Pick<TailClaim, 'lease' | 'id'>, outcome: TailOutcome, end: TailClaimEnd): TailClaimed {
  return { leaseId: claim.id.toString(), requester: claim.lease.body.requester, outcome: outcome === 'acknowledged' ? 'paid' : outcome, ...end }
}

export interface TailClaimsComponents {
  channels: ChannelOpener
  /** When to ask, ms after the lease ended, one attempt each. @default TAIL_CLAIM_DELAYS_MS */
  delaysMs?: number[]
  /** One attempt's deadline, the dial included. @default TAIL_CLAIM_TIMEOUT_MS */
  timeoutMs?: number
  /** Scores the requester down for what `requesterFault` blames it for. */
  reportPeer?: (peerId: string, action: PeerActionName) => void
}

/**
 * What a failed exchange costs the requester's score, as the same fault on a stream it opened
 * would (the registrar scores those): a bad signature, a malformed or oversized frame, silence
 * past the idle deadline, and a signed acknowledgement that does not check out (as on the lease
 * stream). Nothing for a refusal (an error frame), a dial that failed, or the attempt's own
 * deadline (the network's, maybe).
 */
export function requesterFault (err: unknown): PeerActionName | undefined {
  if (err instanceof InvalidSignatureError) return 'InvalidSignature'
  if (err instanceof InvalidMessageError || err instanceof MessageTooLargeError) return 'MalformedMessage'
  if (err instanceof AckRejectedError) return 'WrongResult'
  if (err instanceof DeadlineExceededError) return 'Timeout'
  return undefined
}

/**
 * One exchange on an open channel: names the lease, signs a checkpoint at the count the
 * requester received, and takes its acknowledgement (the best so far, or undefined when it pays
 * no more than one already held). Throws TailError (`final` when asking again cannot help), or
 * what reading or checking the frames threw (ProtocolViolationError for a bad acknowledgement).
 */
export async function exchangeTail (channel: Channel, claim: Pick<TailClaim, 'id' | 'book'>, signal?: AbortSignal): Promise<Best | undefined> {
  return (await exchangeTailAck(channel, claim, signal)).best
}

/** `exchangeTail`, with the acknowledgement received (also when it pays no more than the best held). */
export async function exchangeTailAck (channel: Channel, claim: Pick<TailClaim, 'id' | 'book'>, signal?: AbortSignal): Promise<{ ack: SignedAck, best?: Best }> {
  await channel.send({ t: 'tail', lease: claim.id }, { signal })
  const received = parseTailReceived(await channel.receive({ signal }))
  if (received.t === 'error') throw refusal(received)
  let checkpoint: SignedCheckpoint
  try {
    checkpoint = claim.book.tailCheckpoint(received.seq, received.count, received.root)
  } catch (err) {
    const e = err as TailError
    await channel.send({ t: 'error', code: e.code ?? 'ERR_TAIL_MISMATCH', message: e.message.slice(0, 500) }, { signal }).catch(() => {})
    // Closed, not reset: the requester reads the error frame (and forgets the tail).
    await channel.close().catch(() => {})
    throw err
  }
  await channel.send({ t: 'checkpoint', checkpoint }, { signal })
  const answer = parseTailAck(await channel.receive({ signal }))
  if (answer.t === 'error') throw refusal(answer)
  const best = claim.book.acknowledge(answer.ack)
  await channel.close()
  return { ack: answer.ack, ...(best != null ? { best } : {}) }
}

/** A failure's code for the operator: the requester's answer, the error's own, or the kind of failure. */
function codeOf (err: unknown): string {
  const code = (err as { code?: unknown })?.code
  if (typeof code === 'string' && code !== '') return code.slice(0, 64)
  return err instanceof Error && err.name === 'AbortError' ? 'ERR_TIMEOUT' : 'ERR_TAIL_FAILED'
}

function refusal (frame: { code: string, message: string }): TailError {
  const final = FINAL_CODES.has(frame.code) || frame.code.startsWith('ERR_CHECKPOINT_')
  return new TailError(`the requester answered ${frame.code}: ${frame.message}`, frame.code, final)
}

export class TailClaims {
  private readonly c: TailClaimsComponents
  private controller = new AbortController()
  private readonly timers = new Set<ReturnType<typeof setTimeout>>()
  /** Claims under way, by lease id (bounded: the oldest is dropped). */
  private readonly claims = new Map<string, TailClaim>()
  /** The code of a claim's last failed attempt (what a claim that gives up reports). */
  private readonly lastCode = new WeakMap<TailClaim, string>()

  constructor (components: TailClaimsComponents) {
    this.c = components
  }

  /** Claims under way. */
  get pending (): number { return this.claims.size }

  start (): void {
    if (this.controller.signal.aborted) this.controller = new AbortController()
  }

  /** Aborts every attempt under way and drops the ones waiting. */
  stop (): void {
    this.controller.abort(new ProtocolViolationError('the node is stopping', 'ERR_STOPPING'))
    for (const timer of this.timers) clearTimeout(timer)
    this.timers.clear()
    this.claims.clear()
  }

  /** Claims the tail of a lease that just ended with its stream gone. */
  claim (claim: TailClaim): void {
    if (this.controller.signal.aborted || !claim.book.hasTail) return
    const key = claim.id.toString()
    this.claims.delete(key)
    this.claims.set(key, claim)
    if (this.claims.size > TAIL_RETAIN_MAX) this.claims.delete(this.claims.keys().next().value as string)
    this.schedule(claim, 0)
  }

  private schedule (claim: TailClaim, attempt: number): void {
    const delays = this.c.delaysMs ?? TAIL_CLAIM_DELAYS_MS
    const key = claim.id.toString()
    if (this.claims.get(key) !== claim) return
    if (attempt >= delays.length) return this.finish(claim, 'gave-up', { attempts: attempt, code: this.lastCode.get(claim) ?? 'ERR_TAIL_UNANSWERED' })
    const wait = delays[attempt] - (attempt > 0 ? delays[attempt - 1] : 0)
    const timer = setTimeout(() => {
      this.timers.delete(timer)
      void this.attempt(claim, attempt)
    }, Math.max(0, wait))
    timer.unref?.()
    this.timers.add(timer)
  }

  private async attempt (claim: TailClaim, attempt: number): Promise<void> {
    const key = claim.id.toString()
    if (this.claims.get(key) !== claim || this.controller.signal.aborted) return
    const signal = AbortSignal.any([this.controller.signal, AbortSignal.timeout(this.c.timeoutMs ?? TAIL_CLAIM_TIMEOUT_MS)])
    let channel: Channel | undefined
    try {
      channel = await this.c.channels.open(claim.lease.body.requester, LEASE_TAIL_PROTOCOL, { signal, maxFrameBytes: MAX_TAIL_FRAME_BYTES, idleTimeoutMs: TAIL_IDLE_TIMEOUT_MS })
      const before = claim.book.paid
      const { ack, best } = await exchangeTailAck(channel, claim, signal)
      if (best != null) claim.onAck(best)
      log('the tail of lease %s was acknowledged: %d results, %d credits', key, ack.body.count, ack.body.paid)
      this.finish(claim, 'acknowledged', { attempts: attempt + 1, tasks: ack.body.count, paid: ack.body.paid, credits: best != null ? Math.max(0, best.ack.body.paid - before) : 0 })
    } catch (err) {
      channel?.abort(err as Error)
      if (this.controller.signal.aborted) return
      // A requester that does not know the lease after the first attempt (it noticed the stream
      // die by then) keeps no tail of it: nothing was left unacknowledged on its side.
      const final = err instanceof TailError
        ? err.final || (err.code === 'ERR_UNKNOWN_LEASE' && attempt > 0)
        : err instanceof ProtocolViolationError || err instanceof InvalidSignatureError || err instanceof InvalidMessageError || err instanceof MessageTooLargeError
      log('claiming the tail of lease %s failed (attempt %d%s): %s', key, attempt + 1, final ? ', final' : '', (err as Error).message)
      const fault = requesterFault(err)
      if (fault != null) this.c.reportPeer?.(claim.lease.body.requester, fault)
      const code = codeOf(err)
      if (final) this.finish(claim, 'refused', { attempts: attempt + 1, code })
      else {
        this.lastCode.set(claim, code)
        this.schedule(claim, attempt + 1)
      }
    }
  }

  private finish (claim: TailClaim, outcome: TailOutcome, end: TailClaimEnd): void {
    const key = claim.id.toString()
    if (this.claims.get(key) === claim) this.claims.delete(key)
    this.lastCode.delete(claim)
    claim.onDone?.(outcome, end)
  }
}
