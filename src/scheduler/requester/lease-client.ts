/**
 * The requester's side of one lease stream: sends tasks in batches (at most the lease's window
 * outstanding), answers the worker's `want`s with blobs, receives results and checks each
 * against its output CID, keeps the hash chain the worker commits to, checks and acknowledges
 * every checkpoint, watches each task's deadline, and settles what it acknowledged when the
 * lease is over. A worker that breaks the protocol, lies in a checkpoint, or lets tasks run
 * past their time is penalised and the lease ends; its unanswered tasks go elsewhere.
 * Next to it: the outstanding tasks and their deadlines (outstanding-tasks.ts), the task frames
 * not sent yet (unsent-tasks.ts), serving `want`s (blob-serving.ts), results as they arrive
 * (result-intake.ts) and the replica result each becomes (lease-results.ts), what task errors and
 * failures mean (lease-faults.ts), checkpoints and settling (lease-settlement.ts), acknowledging
 * once verdicts are recorded (lease-acks.ts). A lease whose stream dies with results after the
 * last accepted checkpoint is handed on (`onTailLeft`) for its worker to settle that tail later
 * (tail-accounts.ts, tail-server.ts). What it is given and calls: lease-client-hooks.ts.
 */
import { logger } from '@libp2p/logger'
import { bytesMatchCid, cidText } from '../../proofs/encoding.ts'
import { leaseId, type Lease, type SignedAck, type SignedCheckpoint } from '../../proofs/lease.ts'
import { DepinError } from '../../errors.ts'
import { ChannelClosedError, type Channel } from '../../transport.ts'
import { LEASE_IDLE_MS, LEASE_INLINE_BYTES, LEASE_IDLE_TIMEOUT_MS, LEASE_STRIKES, LEASE_WINDOW_PER_SLOT } from '../constants.ts'
import { BadResultError, LeaseEndedError, ProtocolViolationError } from '../errors.ts'
import { parseWorkerFrame, type ResultFrame, type WorkerFrame } from '../lease-frames.ts'
import { LeaseAccount } from './accounting.ts'
import { LeaseSettlement } from './lease-settlement.ts'
import { LeaseAcks } from './lease-acks.ts'
import { BlobAllowance } from './blob-allowance.ts'
import { BlobServing } from './blob-serving.ts'
import { blameFor, leaseSpent, taskErrorKind } from './lease-faults.ts'
import { replicaResult } from './lease-results.ts'
import type { OutputTreeReceiver } from './output-tree.ts'
import { isLate, observedMs, OutstandingTasks, WithdrawnTasks } from './outstanding-tasks.ts'
import { leaseExhausted, leaseWindow, taskFitsLease } from './ranking.ts'
import { ResultIntake } from './result-intake.ts'
import { SilenceProbe } from './silence-probe.ts'
import type { LeaseClientHooks } from './lease-client-hooks.ts'
import { UnsentTasks } from './unsent-tasks.ts'
import { leaseFuelCap } from '../task.ts'
import type { TailPayer, TailPoint } from './tail-accounts.ts'
import type { TaskWork } from './types.ts'

export type { LeaseClientHooks } from './lease-client-hooks.ts'

const log = logger('depin:requester:lease')

/** How often outstanding tasks' deadlines, pings and idleness are checked. */
const SWEEP_MS = 250

export class LeaseClient implements TailPayer {
  readonly lease: Lease
  readonly idText: string
  readonly worker: string
  readonly host?: string
  /** When the lease was opened (a task submitted after it finds it warm). */
  readonly openedAt = Date.now()
  private readonly h: LeaseClientHooks
  private readonly channel: Channel
  private readonly account: LeaseAccount
  /** The most fuel the lease's cap pays for (`fits` asks for every task placed). */
  private readonly fuelCap: bigint
  private readonly outstanding: OutstandingTasks
  /**
   * Tasks withdrawn that the worker has not answered yet: a result for one is committed (the
   * worker's chain has it) and not charged, not a fault; a blob it wants for one is served.
   * Up to four windows' worth (an honest worker answers each cancel within a round trip).
   */
  private readonly withdrawn: WithdrawnTasks
  private readonly unsent: UnsentTasks
  private readonly results: ResultIntake
  private readonly allowance = new BlobAllowance()
  private readonly blobs: BlobServing
  private readonly settlement: LeaseSettlement
  private readonly silence?: SilenceProbe
  /** Decisions waiting for their records, and acknowledgements waiting for them. */
  private readonly acks: LeaseAcks
  private lastSentAt = Date.now()
  private lastActiveAt = Date.now()
  private strikes = 0
  private closing = false
  private closed = false
  private broken = false
  /** Ended by this node's `abort` (it is stopping): no tail is kept. */
  private aborted = false
  private endReason = 'closed'
  private sweep?: ReturnType<typeof setInterval>
  private readonly endedSignal = Promise.withResolvers<void>()
  /** Settles once the lease has ended, however it ended. */
  readonly ended: Promise<void> = this.endedSignal.promise

  constructor (lease: Lease, channel: Channel, hooks: LeaseClientHooks, host?: string) {
    this.lease = lease
    this.idText = leaseId(lease.body).toString()
    this.worker = lease.body.worker
    this.host = host
    this.h = hooks
    this.channel = channel
    this.account = new LeaseAccount(lease.body.price)
    this.fuelCap = leaseFuelCap(lease.body)
    this.outstanding = new OutstandingTasks(lease.body.slots, lease.body.maxTaskMs)
    this.withdrawn = new WithdrawnTasks(4 * lease.body.slots * LEASE_WINDOW_PER_SLOT)
    this.settlement = new LeaseSettlement(lease, this.idText, this.account, hooks.signer, hooks.settle)
    if (hooks.probe != null) this.silence = new SilenceProbe(this.worker, hooks.probe, (err) => { this.fail(err) })
    this.acks = new LeaseAcks(lease, this.account, this.settlement, () => this.closed)
    this.unsent = new UnsentTasks((frame) => { this.send(frame) }, hooks.metrics)
    const { outstanding, withdrawn, account, allowance } = this
    this.results = new ResultIntake({ worker: this.worker, slots: lease.body.slots, outstanding, withdrawn, account, metrics: hooks.metrics, deliver: (task, r, stdout, stderr, tree) => { this.deliver(task, r, stdout, stderr, tree) } })
    this.blobs = new BlobServing({
      channel, blob: hooks.blob, allowance, outstanding, withdrawn, metrics: hooks.metrics,
      onSent: () => { this.lastSentAt = Date.now() },
      onFailed: (err) => { if (!this.closed) this.fail(err) }
    })
  }

  /** Sends `open` and starts reading. */
  start (): void {
    this.send({ t: 'open', lease: this.lease })
    this.sweep = setInterval(() => { this.tick() }, SWEEP_MS)
    this.sweep.unref?.()
    void this.read()
  }

  /** Tasks sent (or about to be: a task is outstanding from `assign` on) and not answered. */
  get load (): number { return this.outstanding.size }

  /** How many tasks to keep outstanding (more while the lease's tasks are short: `leaseWindow`). */
  get window (): number { return leaseWindow(this.lease.body.slots, this.results.runMs) }

  /** Whether new tasks may go on this lease. */
  get usable (): boolean { return !this.closing && !this.closed }

  /** Whether a task fits this lease's terms, time and remaining budget. */
  fits (task: TaskWork, now: number): boolean {
    const inline = task.stdin?.byteLength ?? 0
    if (this.outstanding.size > 0 && this.outstanding.inlineBytes + inline > LEASE_INLINE_BYTES) return false
    return taskFitsLease(this.lease.body, task.requirements, this.account.fuel + this.outstanding.reservedFuel, now, this.fuelCap)
  }

  /** Whether the remaining budget or time cannot fit a task of this lease's full size any more. */
  exhausted (now: number): boolean {
    return leaseExhausted(this.lease.body, this.account.fuel, now)
  }

  /** Sends a task (batched with others of the same moment). */
  assign (task: TaskWork): void {
    const now = Date.now()
    this.withdrawn.delete(task.idText)
    this.outstanding.add(task, now)
    this.results.sent()
    this.allowance.allow(task)
    this.lastActiveAt = now
    this.unsent.add(task)
  }

  /** Withdraws a task (its verdict is in, or its owner gave up). */
  cancel (task: TaskWork): void {
    if (!this.outstanding.forget(task.idText)) return
    // A task not sent yet (assigned in this turn of the event loop) is just not sent: a `cancel`
    // frame would reach the worker before the task, which it would then run, and its result,
    // for a task this side no longer has, would count against an honest worker.
    if (!this.unsent.remove(task)) {
      this.send({ t: 'cancel', task: task.id })
      this.withdrawn.add(task)
    }
    this.h.onRoom()
    this.maybeSendClose()
  }

  /** Stops sending tasks; the lease ends once the outstanding ones are answered. */
  close (reason = 'closed'): void {
    if (this.closing || this.closed) return
    this.closing = true
    this.endReason = reason
    this.maybeSendClose()
  }

  /** Ends the lease now (the node is stopping): unanswered tasks are given up. */
  abort (err: Error): void {
    if (this.closed) return
    this.aborted = true
    this.endReason = (err as DepinError).code ?? 'ERR_LEASE_ABORTED'
    this.channel.abort(err)
    this.end(false)
  }

  /**
   * Whether a task's result on this lease is paid for (called once the task has its verdict);
   * `recorded`: the promise of the verdict's record (see LeaseAcks.decide).
   */
  decide (task: string, charged: boolean, recorded?: Promise<boolean>): void {
    this.acks.decide(task, charged, recorded)
  }

  /**
   * Acknowledges a checkpoint (checked now: a bad one fails the lease), in order, once the paid
   * results it covers are recorded (lease-acks.ts).
   */
  private acknowledge (checkpoint: SignedCheckpoint): void {
    this.settlement.check(checkpoint)
    this.acks.afterRecords(() => {
      const frame = this.settlement.acknowledge(checkpoint)
      if (!this.closed) this.send(frame)
      else this.settlement.settleWhenDecided()
    })
  }

  /** What was received after the stream died: the tail checkpoint to ask for (tail-server.ts). */
  tailPoint (): TailPoint {
    return { seq: this.account.lastCheckpoint.seq + 1, count: this.account.count, root: this.account.root, paid: this.settlement.paid }
  }

  /** About how many bytes keeping this lease's account costs (see LeaseAccount.retainedBytes). */
  get retainedBytes (): number { return this.account.retainedBytes }

  /** A tail checkpoint's acknowledgement (see LeaseAcks.settleTail). Throws CheckpointError. */
  async settleTail (checkpoint: SignedCheckpoint, count: number): Promise<SignedAck> {
    return await this.acks.settleTail(checkpoint, count)
  }

  private async read (): Promise<void> {
    try {
      while (!this.closed) {
        let frame: WorkerFrame
        try {
          frame = parseWorkerFrame(await this.channel.receive())
          this.silence?.heard()
        } catch (err) {
          if (err instanceof ChannelClosedError && this.closing) break
          throw err
        }
        if (this.handle(frame)) break
      }
      // An acknowledgement waiting for records goes out before the stream closes (after `end`,
      // the worker waits for the acknowledgement of its final checkpoint).
      await this.acks.waiting
      await this.channel.close()
      this.end(false)
    } catch (err) {
      if (this.closed) return
      this.fail(err as Error)
    }
  }

  /** Handles one frame; true when the lease is over. */
  private handle (frame: WorkerFrame): boolean {
    if (this.results.awaitingData && frame.t !== 'data') throw new ProtocolViolationError(`expected output data, got ${frame.t}`)
    switch (frame.t) {
      case 'want': for (const cid of frame.cids) this.blobs.serve(cid); return false
      case 'running':
        for (const id of frame.tasks) {
          const o = this.outstanding.running(cidText(id), Date.now())
          if (o != null) this.h.onRunning(o.task, this.worker)
        }
        return false
      case 'results': for (const result of frame.results) this.results.result(result); return false
      case 'data': this.results.data(frame.task, frame.which, frame.data); return false
      case 'task-error': {
        const o = this.outstanding.get(cidText(frame.task))
        if (o == null) {
          this.withdrawn.delete(cidText(frame.task))
          return false
        }
        // A copy of a task the lease already runs was refused: the one running goes on, its result to come.
        if (frame.code === 'ERR_DUPLICATE_TASK') return false
        this.outstanding.forget(cidText(frame.task))
        // The lease cannot take more (cap, expiry, ending): no more tasks go on it.
        if (leaseSpent(frame.code)) this.close(frame.code)
        this.h.onTaskFailed(o.task, this.worker, { kind: taskErrorKind(frame.code), reason: `${frame.code}: ${frame.message}` })
        this.h.onRoom()
        this.maybeSendClose()
        return false
      }
      case 'checkpoint': this.acknowledge(frame.checkpoint); return false
      case 'ping': return false
      case 'end':
        this.endReason = frame.code
        this.closing = true
        // Whatever it still held is answered no more.
        for (const o of this.outstanding.all()) {
          this.outstanding.forget(o.task.idText)
          this.h.onTaskFailed(o.task, this.worker, { kind: 'lost', reason: `the worker ended the lease: ${frame.code}` })
        }
        return true
      case 'error': throw new ProtocolViolationError(`${this.worker} ended the lease with an error: ${frame.message}`, frame.code)
    }
  }

  private deliver (task: TaskWork, r: ResultFrame, stdout: Uint8Array, stderr: Uint8Array, tree?: OutputTreeReceiver): void {
    if (!bytesMatchCid(stdout, r.out)) throw new BadResultError(`output does not match the committed ${r.out.toString()}`)
    if (this.withdrawn.get(task.idText) === task) {
      // Withdrawn while this result was on its way: committed above, not paid, not delivered.
      this.withdrawn.delete(task.idText)
      this.account.decide(task.idText, false)
      return
    }
    const observed = observedMs(this.outstanding.get(task.idText), Date.now())
    this.outstanding.forget(task.idText)
    this.h.onResult(task, replicaResult(this, r, stdout, stderr, observed, tree))
    this.h.onRoom()
    this.maybeSendClose()
  }

  /** Periodic: task deadlines, idleness, pings. */
  private tick (): void {
    const now = Date.now()
    let oldestSentAt = Infinity
    for (const o of this.outstanding.all()) {
      if (o.sentAt < oldestSentAt) oldestSentAt = o.sentAt
      if (!isLate(o, now, this.outstanding.transferMs)) continue
      // [blame] silent past the task's own timeout plus grace: re-placed, and it costs the worker.
      this.outstanding.forget(o.task.idText)
      this.send({ t: 'cancel', task: o.task.id })
      this.withdrawn.add(o.task)
      // The strike that breaks the lease: nothing more goes on it (the task goes back below).
      if (this.strikes + 1 >= LEASE_STRIKES) this.closing = true
      this.h.onTaskFailed(o.task, this.worker, { kind: 'blamed', blame: 'Timeout', reason: `no result within the task's time limit (${o.task.requirements.timeoutMs} ms) and grace` })
      this.h.onRoom()
      if (++this.strikes >= LEASE_STRIKES) {
        this.fail(new LeaseEndedError(`${this.worker} let ${this.strikes} tasks run past their time`, 'ERR_LEASE_TIMEOUTS'))
        return
      }
    }
    if (!this.closing && this.outstanding.size === 0 && this.unsent.size === 0 && now - this.lastActiveAt > LEASE_IDLE_MS) this.close('idle')
    if (!this.closing && this.exhausted(now) && this.outstanding.size === 0) this.close('exhausted')
    if (now - this.lastSentAt >= LEASE_IDLE_TIMEOUT_MS / 2) this.send({ t: 'ping' })
    this.silence?.check(now, oldestSentAt)
  }

  private maybeSendClose (): void {
    if (this.closing && !this.closed && this.outstanding.size === 0 && this.unsent.size === 0) this.send({ t: 'close' })
  }

  /** The worker misbehaved or the stream failed: end, penalise when it is the worker's fault. */
  private fail (err: Error): void {
    if (this.closed) return
    // Not usable from here on: the tasks it hands back below must not be placed on it again.
    this.closing = true
    const blame = blameFor(err)
    log('lease %s with %s failed: %s', this.idText, this.worker, err.message)
    this.endReason = (err as DepinError).code ?? 'ERR_LEASE_FAILED'
    this.channel.abort(err)
    // One fault, one report: the tasks it held are just lost with the lease.
    if (blame != null) this.h.reportPeer(this.worker, blame)
    for (const o of this.outstanding.all()) {
      this.outstanding.forget(o.task.idText)
      this.h.onTaskFailed(o.task, this.worker, { kind: 'lost', reason: `the lease failed: ${err.message}`, ...(blame != null ? { blame } : {}) })
    }
    this.end(blame != null)
  }

  private end (broken: boolean): void {
    if (this.closed) return
    this.closed = true
    this.closing = true
    this.broken = broken
    clearInterval(this.sweep)
    this.silence?.stop()
    this.withdrawn.clear()
    for (const o of this.outstanding.all()) {
      this.outstanding.forget(o.task.idText)
      this.h.onTaskFailed(o.task, this.worker, { kind: 'lost', reason: `the lease ended: ${this.endReason}` })
    }
    // A result whose output never arrived whole is committed and never delivered: refused.
    const incoming = this.results.incomingTask
    if (incoming != null) this.account.decide(incoming, false)
    this.h.onEnded(this, this.endReason, broken)
    if (!broken && !this.aborted && this.account.count > this.account.lastCheckpoint.count) {
      // Kept for up to TAIL_RETAIN_MS: only what the tail's acknowledgement needs, not every result of the lease.
      this.account.compact(this.settlement.acknowledgedCount)
      this.h.onTailLeft?.(this)
    }
    this.settlement.settleWhenDecided()
    this.endedSignal.resolve()
  }

  private send (frame: unknown): void {
    this.lastSentAt = Date.now()
    this.channel.send(frame).catch((err: Error) => { if (!this.closed) this.fail(err) })
  }

  get wasBroken (): boolean { return this.broken }
}
