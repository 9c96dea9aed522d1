/**
 * The worker's side of one lease stream: takes tasks (many at once, up to the lease's window),
 * fetches the blobs it lacks, runs each task in a shared slot, returns results in batches,
 * commits to them in a hash chain and signs a checkpoint (checkpoints.ts) every CHECKPOINT_EVERY_RESULTS results
 * or CHECKPOINT_EVERY_MS, and ends the lease on expiry, on request, when the requester stops
 * acknowledging, or when the node stops. See docs/protocol.md, "Leases". The tasks it holds are
 * kept in lease-tasks.ts, running notices, results and checkpoints go out through lease-reports.ts
 * (results framed and batched by result-frames.ts), and every frame leaves through an ordered
 * outbox (frame-outbox.ts).
 */
import { logger } from '@libp2p/logger'
import { bytesMatchCid, cidText } from '../../proofs/encoding.ts'
import { leaseId, type Lease, type SignedAck, type SignedCheckpoint } from '../../proofs/lease.ts'
import type { Signer } from '../../proofs/signing.ts'
import type { PeerActionName } from '../../shared/peer-actions.ts'
import type { MarketMetrics } from '../../shared/metrics.ts'
import { InvalidSignatureError } from '../../errors.ts'
import { ChannelClosedError, type Channel } from '../../transport.ts'
import type { BlobStore } from '../blob-store.ts'
import { ACK_TIMEOUT_MS, LEASE_IDLE_TIMEOUT_MS, LEASE_INLINE_BYTES, LEASE_OUTBOX_HOLD_BYTES, LEASE_WINDOW_PER_SLOT } from '../constants.ts'
import { AckRejectedError, BadInputTreeError, BlobMismatchError, ProtocolViolationError } from '../errors.ts'
import type { Executor } from '../executor/index.ts'
import { MAX_FRAME_ITEMS, parseRequesterFrame, type RequesterFrame, type TaskFrame } from '../lease-frames.ts'
import { runTask } from '../run-task.ts'
import { creditsFor, leaseFuelCap, taskId } from '../task.ts'
import { finishedResult } from './result-frames.ts'
import { BlobFetch, fetchInputTree } from './blob-fetch.ts'
import { WorkerCheckpoints } from './checkpoints.ts'
import { FrameOutbox } from './frame-outbox.ts'
import { LeaseReports } from './lease-reports.ts'
import { LeaseTasks, type Task } from './lease-tasks.ts'
import type { SlotScheduler } from './slots.ts'

const log = logger('depin:worker:lease')

/** How often a lease's timers (checkpoint cadence, pings, overdue acks, expiry) are checked. */
const HOUSEKEEPING_MS = 500

export interface LeaseServerComponents {
  signer: Signer
  executor: Executor
  blobs: BlobStore
  slots: SlotScheduler
  reportPeer: (peerId: string, action: PeerActionName) => void
  /** The requester acknowledged a checkpoint (the worker keeps the best one to settle with). */
  onAck: (lease: Lease, checkpoint: SignedCheckpoint, ack: SignedAck) => void
  /** A task started running, and finished (for events, logs and metrics). */
  onTaskStarted?: (taskId: string) => void
  onTaskFinished?: (taskId: string, exitCode: number, wallMs: number) => void
  /** Where payload bytes moved on the lease, and how its tasks ended, are counted. @default none */
  metrics?: Pick<MarketMetrics, 'bytesTransferred' | 'taskFinished'>
}

export interface LeaseServerInit {
  /**
   * How long a checkpoint may wait for its acknowledgement before the worker refuses new tasks
   * (ERR_ACK_OVERDUE); the lease ends after three times this (ERR_ACK_TIMEOUT), and a final
   * checkpoint is waited for this long after the `end` frame. @default ACK_TIMEOUT_MS
   */
  ackTimeoutMs?: number
  /** Output held queued on the lease before its next task waits to start. @default LEASE_OUTBOX_HOLD_BYTES */
  outboxHoldBytes?: number
}

/** How a lease went, for the worker's records and logs. */
export interface LeaseSummary {
  leaseId: string
  requester: string
  startedAt: number
  endedAt: number
  /** Results returned and committed to. */
  tasks: number
  /** Tasks refused or abandoned (not committed, not charged). */
  refused: number
  /** Fuel of those results. */
  fuel: bigint
  /** Credits claimed by the last checkpoint, and acknowledged by the requester. */
  amount: number
  paid: number
  /**
   * Results the requester's acknowledgements cover (the rest are unpaid unless a lease-tail
   * claim gets them acknowledged). Absent when not known (a lease this node was serving when it
   * went down, recorded at its next start).
   */
  acknowledged?: number
  /** Why it ended (an error code, or `closed` when the requester closed it). */
  reason: string
}

export class LeaseServer {
  private readonly c: LeaseServerComponents
  private readonly lease: Lease
  private readonly idText: string
  private readonly channel: Channel
  private readonly window: number
  /** The most fuel the lease's cap pays for (checked for every task admitted). */
  private readonly fuelCap: bigint
  private readonly ackTimeoutMs: number
  private readonly book: WorkerCheckpoints
  private readonly tasks = new LeaseTasks()
  private readonly reports: LeaseReports
  private refused = 0
  private ackOverdue = false
  private closing = false
  private ended = false
  private endedAt = 0
  /** When the `end` frame left (0: not yet): the final acknowledgement is due from then. */
  private endSentAt = 0
  private reason = 'closed'
  private readonly startedAt = Date.now()
  private readonly fetch: BlobFetch
  private housekeeping?: ReturnType<typeof setInterval>
  private readonly endedNow = Promise.withResolvers<void>()
  private readonly outbox: FrameOutbox

  constructor (components: LeaseServerComponents, lease: Lease, channel: Channel, init: LeaseServerInit = {}) {
    this.c = components
    this.ackTimeoutMs = init.ackTimeoutMs ?? ACK_TIMEOUT_MS
    this.lease = lease
    this.idText = leaseId(lease.body).toString()
    this.channel = channel
    this.window = lease.body.slots * LEASE_WINDOW_PER_SLOT
    this.fuelCap = leaseFuelCap(lease.body)
    this.book = new WorkerCheckpoints(lease, this.idText, components.signer)
    this.outbox = new FrameOutbox(channel, (err) => {
      log('sending on lease %s failed: %s', this.idText, err.message)
      this.tasks.abortAll(err)
      this.channel.abort(err)
    }, init.outboxHoldBytes ?? LEASE_OUTBOX_HOLD_BYTES)
    this.reports = new LeaseReports(this.tasks, this.book, this.outbox, components.metrics, () => { this.maybeEnd() })
    this.fetch = new BlobFetch(components.blobs, (cids) => {
      for (let i = 0; i < cids.length; i += MAX_FRAME_ITEMS) this.outbox.send({ t: 'want', cids: cids.slice(i, i + MAX_FRAME_ITEMS) })
    }, components.metrics != null ? (kind, bytes) => { components.metrics?.bytesTransferred('received', kind === 'module' ? 'module' : 'input', bytes) } : undefined)
  }

  /** Serves the stream until the lease ends; resolves with how it went. */
  async serve (): Promise<LeaseSummary> {
    this.housekeeping = setInterval(() => { this.tick() }, HOUSEKEEPING_MS)
    this.housekeeping.unref?.()
    try {
      while (!this.finishedReading()) {
        let frame: RequesterFrame
        try {
          frame = parseRequesterFrame(await this.channel.receive())
        } catch (err) {
          if (err instanceof ChannelClosedError) {
            // The requester closed its side: no more tasks or acks. Finish what is running. (Its
            // `close` frame came first, unless it went away: killed, crashed, disconnected.)
            this.beginEnd('ERR_CHANNEL_CLOSED', false)
            await this.endedNow.promise
            break
          }
          throw err
        }
        await this.handle(frame)
      }
      await this.outbox.drained
      await this.channel.close()
    } catch (err) {
      // Past the `end` frame, a stream that dies (no final acknowledgement) is just the end.
      if (this.ended) return this.summary()
      this.reason = (err as { code?: string }).code ?? 'ERR_LEASE_FAILED'
      this.tasks.abortAll(err as Error)
      if (err instanceof ProtocolViolationError || err instanceof InvalidSignatureError) {
        await this.channel.send({ t: 'error', code: (err as ProtocolViolationError).code, message: (err as Error).message.slice(0, 500) }).catch(() => {})
      }
      throw err
    } finally {
      clearInterval(this.housekeeping)
      this.reports.stop()
      this.fetch.abort(new ProtocolViolationError('the lease ended', 'ERR_LEASE_ENDED'))
    }
    return this.summary()
  }

  /** Ends the lease because the node is stopping. */
  stop (): void {
    this.tasks.abortAll(new ProtocolViolationError('the node is stopping', 'ERR_STOPPING'))
    this.beginEnd('ERR_STOPPING', true)
  }

  /**
   * The most this lease can still cost its requester: its cap while it takes tasks; once it is
   * ending (no task is admitted any more), what its results and the tasks still running can add
   * up to. Admission counts this against the requester's funds, so a lease being closed does not
   * hold its whole cap while its last acknowledgement travels.
   */
  maxCost (): number {
    const cap = this.lease.body.maxCredits
    return this.closing ? Math.min(cap, creditsFor(this.lease.body.price, this.book.fuel + this.tasks.reservedFuel)) : cap
  }

  /** The lease's book once it has ended with results after its last acknowledged checkpoint (a tail to claim: tail-claims.ts). */
  tail (): WorkerCheckpoints | undefined {
    return this.book.hasTail ? this.book : undefined
  }

  summary (): LeaseSummary {
    return {
      leaseId: this.idText,
      requester: this.lease.body.requester,
      startedAt: this.startedAt,
      endedAt: this.endedAt === 0 ? Date.now() : this.endedAt,
      tasks: this.book.count,
      refused: this.refused,
      fuel: this.book.fuel,
      amount: this.book.amount,
      paid: this.book.paid,
      acknowledged: this.book.acknowledged,
      reason: this.reason
    }
  }

  private async handle (frame: RequesterFrame): Promise<void> {
    switch (frame.t) {
      case 'tasks': for (const task of frame.tasks) this.admit(task); break
      case 'chunk': this.fetch.chunk(frame.cid, frame.data); break
      case 'end': await this.fetch.end(frame.cid); break
      case 'ack': this.onAck(frame.ack); break
      case 'cancel': this.tasks.get(frame.task.toString())?.controller.abort(new ProtocolViolationError('cancelled by the requester', 'ERR_CANCELLED')); break
      case 'close': this.beginEnd('closed', false); break
      case 'ping': break
      case 'open': throw new ProtocolViolationError('a second open on a lease stream')
    }
  }

  /** Takes a task, or refuses it with a `task-error` (not committed, not charged). */
  private admit (frame: TaskFrame): void {
    if (frame.stdin != null) this.c.metrics?.bytesTransferred('received', 'input', frame.stdin.byteLength)
    const id = taskId(frame.spec)
    const idText = cidText(id)
    const terms = this.lease.body
    const spec = frame.spec
    const now = Date.now()
    const refuse = (code: string, message: string): void => {
      this.refused++
      this.outbox.send({ t: 'task-error', task: id, code, message })
    }
    if (this.closing) return refuse('ERR_LEASE_ENDING', 'the lease is ending')
    if (this.tasks.has(idText)) return refuse('ERR_DUPLICATE_TASK', 'this task is already running on the lease')
    if (this.tasks.size >= this.window) return refuse('ERR_LEASE_FULL', `the lease's window of ${this.window} tasks is full`)
    if (this.tasks.inlineBytes + (frame.stdin?.byteLength ?? 0) > 2 * LEASE_INLINE_BYTES) return refuse('ERR_LEASE_FULL', `the lease's tasks hold over ${2 * LEASE_INLINE_BYTES} bytes of inline input`)
    if (spec.memoryMiB > terms.memoryMiB || spec.timeoutMs > terms.maxTaskMs || spec.fuel > terms.maxTaskFuel) return refuse('ERR_TASK_LIMITS', 'the task asks for more memory, time or fuel than the lease allows')
    if (now >= terms.expiresAt) return refuse('ERR_LEASE_EXPIRED', 'the lease has expired')
    if (this.ackOverdue) return refuse('ERR_ACK_OVERDUE', 'a checkpoint waits for its acknowledgement')
    if (this.book.fuel + this.tasks.reservedFuel + spec.fuel > this.fuelCap) return refuse('ERR_LEASE_CAP', 'the task could take the lease past its credit cap')
    if (frame.deadline <= now || this.c.slots.estimateStart(now) >= frame.deadline) return refuse('ERR_CANNOT_START', 'the task cannot start here before its deadline')
    if (frame.stdin != null && (frame.stdin.byteLength !== spec.inputBytes || !bytesMatchCid(frame.stdin, spec.input))) {
      this.c.reportPeer(this.channel.remotePeer, 'MalformedMessage')
      return refuse('ERR_BLOB_MISMATCH', 'the inline stdin does not match the task\'s input CID')
    }
    const task: Task = { id, idText, frame, controller: new AbortController(), running: false, startedAt: 0, noticed: false }
    this.tasks.add(task)
    void this.run(task)
  }

  private async run (task: Task): Promise<void> {
    const spec = task.frame.spec
    const signal = task.controller.signal
    try {
      const module = await this.fetch.get(spec.module, spec.moduleBytes, 'module', signal)
      const stdin = task.frame.stdin ?? await this.fetch.get(spec.input, spec.inputBytes, 'input', signal)
      // A task starts only while the lease's queued output is under its bound: checked again
      // with the slot in hand (outputs finished while it waited), giving the slot back if not.
      let release: () => void
      for (;;) {
        await this.outbox.room(signal)
        release = await this.c.slots.acquire(this.idText, this.lease.body.slots, signal)
        if (this.outbox.hasRoom) break
        release()
      }
      let outcome
      try {
        // Files are fetched once the task has its slot: only running tasks hold their trees.
        const files = spec.files != null ? await fetchInputTree(this.fetch, spec.files, signal) : undefined
        signal.throwIfAborted()
        this.tasks.started(task)
        this.c.onTaskStarted?.(task.idText)
        // Announced running once the executor runs it, not when it got its slot: the requester
        // allows its time limit plus grace from the notice, and the executor counts the limit
        // from the start on a thread (which may first have to be started, after a kill). An
        // executor that does not report starts: announced now, as it has its slot.
        const announce = (): void => { this.reports.started(task) }
        const reportsStart = this.c.executor.reportsStart === true
        if (!reportsStart) announce()
        outcome = await runTask(this.c.executor, spec, task.id, module, stdin, files, signal, reportsStart ? announce : undefined)
        this.c.slots.observe(outcome.wallMs)
        this.c.onTaskFinished?.(task.idText, outcome.exitCode, outcome.wallMs)
        this.c.metrics?.taskFinished('worker', outcome.exitCode === 0 ? 'completed' : 'failed', outcome.wallMs / 1000)
      } finally {
        release()
      }
      this.tasks.finish(task)
      this.reports.add(finishedResult(task.id, outcome))
    } catch (err) {
      this.tasks.finish(task)
      // Aborted on purpose (cancelled, lease ending, node stopping): the reason says why, not the executor's error.
      const e = (signal.aborted && signal.reason instanceof Error ? signal.reason : err) as Error & { code?: string }
      // Withdrawn (cancelled, or its lease ended while it waited or ran), or it could not run here.
      this.c.metrics?.taskFinished('worker', signal.aborted || e.code === 'ERR_LEASE_ENDED' ? 'cancelled' : 'failed')
      // Whatever else of this task is under way stops here: a sibling file lookup must not send a
      // `want` after the task-error (the requester no longer serves this task's blobs then).
      if (!signal.aborted) task.controller.abort(e)
      if (err instanceof BlobMismatchError || err instanceof BadInputTreeError) this.c.reportPeer(this.channel.remotePeer, 'MalformedMessage')
      this.refused++
      this.outbox.send({ t: 'task-error', task: task.id, code: e.code ?? 'ERR_TASK_FAILED', message: e.message.slice(0, 500) })
      this.reports.taskGone()
      this.maybeEnd()
    }
  }

  private onAck (ack: SignedAck): void {
    let best
    try {
      best = this.book.acknowledge(ack)
    } catch (err) {
      // A signed acknowledgement that does not check out (a bad signature is scored where the
      // stream's handler fails, as every stream's is). The lease ends with the error either way.
      if (err instanceof AckRejectedError) this.c.reportPeer(this.channel.remotePeer, 'WrongResult')
      throw err
    }
    this.ackOverdue = false
    if (best != null) this.c.onAck(this.lease, best.checkpoint, best.ack)
  }

  /** Periodic: checkpoint cadence, pings, overdue acknowledgements, expiry. */
  private tick (): void {
    const now = Date.now()
    this.reports.checkpoint(false)
    // The requester's delay: a checkpoint sent and not acknowledged, or frames it does not read.
    const waited = Math.max(this.book.oldestUnackedMs(now), this.outbox.stalledMs(now))
    if (waited > this.ackTimeoutMs) {
      this.ackOverdue = true
      if (waited > 3 * this.ackTimeoutMs) {
        log('requester %s stopped acknowledging lease %s', this.lease.body.requester, this.idText)
        this.tasks.abortAll(new ProtocolViolationError('the requester stopped acknowledging checkpoints', 'ERR_ACK_TIMEOUT'))
        this.beginEnd('ERR_ACK_TIMEOUT', true)
      }
    }
    if (now >= this.lease.body.expiresAt) this.beginEnd('ERR_LEASE_EXPIRED', true, 'ERR_LEASE_EXPIRED')
    if (this.ended && ((this.endSentAt > 0 && now - this.endSentAt > this.ackTimeoutMs) || this.outbox.stalledMs(now) > this.ackTimeoutMs)) {
      this.channel.abort(new ProtocolViolationError('no final acknowledgement', 'ERR_ACK_TIMEOUT'))
    }
    if (now - this.outbox.lastSentAt >= LEASE_IDLE_TIMEOUT_MS / 2) this.outbox.send({ t: 'ping' })
  }

  /** Stops taking tasks; `abortWaiting` also gives up tasks that have not started (with `waitingCode`). */
  private beginEnd (reason: string, abortWaiting: boolean, waitingCode = 'ERR_LEASE_ENDING'): void {
    if (!this.closing) {
      this.closing = true
      this.reason = reason
    }
    if (abortWaiting) {
      this.tasks.abortWaiting(() => new ProtocolViolationError(waitingCode === 'ERR_LEASE_EXPIRED' ? 'the lease expired' : 'the lease is ending', waitingCode))
    }
    this.maybeEnd()
  }

  /** Once ending and idle: the final checkpoint and the `end` frame. */
  private maybeEnd (): void {
    if (!this.closing || this.ended || this.tasks.size > 0 || this.reports.pending) return
    this.reports.checkpoint(true)
    this.ended = true
    this.endedAt = Date.now()
    this.outbox.send({ t: 'end', code: this.reason, message: `lease ${this.idText} ended: ${this.reason}` }, (at) => { this.endSentAt = at })
    this.endedNow.resolve()
  }

  /** Reading stops once ended and every checkpoint is acknowledged. */
  private finishedReading (): boolean {
    return this.ended && this.book.allAcked
  }
}
