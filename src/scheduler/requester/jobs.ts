/**
 * Jobs: one task on `replicas` workers, submitted with `node.submitJob`. A job is recorded when
 * submitted and when it ends (so a restarted requester resumes what it had not finished, and
 * lists what it did), placed through the dispatcher like any task, and reported through progress
 * events and its handle's result.
 */
import { logger } from '@libp2p/logger'
import { TypedEventEmitter } from 'main-event'
import { CID } from 'multiformats/cid'
import { cidText } from '../../proofs/encoding.ts'
import type { BlobStore } from '../blob-store.ts'
import { INLINE_BYTES } from '../constants.ts'
import { JobCancelledError, NodeStoppedError, cancelMessage } from '../errors.ts'
import { jobTaskSpec, requirementsOf, type JobBody } from '../job.ts'
import { FINAL_STATUSES, type JobError, type JobStore, type RequestedJob } from '../job-store.ts'
import { requirementsKey, taskId } from '../task.ts'
import type { Dispatcher } from './dispatcher.ts'
import { loadInputTreeRef, pinOutputTree, type OutputFileInfo } from './trees.ts'
import type { InputTreeRef, TaskEvent, TaskVerdict, TaskWork } from './types.ts'
import type { PlacementWait } from './placement.ts'

const log = logger('depin:jobs')

export type ProgressStage =
  'queued' | 'waiting' | 'accepted' | 'running' | 'result' | 'retry' | 'spot-check' | 'verified' |
  'completed' | 'unverified' | 'failed' | 'timed-out' | 'cancelled'

export interface JobProgress {
  jobId: string
  stage: ProgressStage
  peerId?: string
  detail?: string
  at: number
}

export interface WorkerOutcome {
  peerId: string
  leaseId?: string
  status: 'running' | 'done' | 'failed'
  outputCid?: string
  exitCode?: number
  /** Fuel the worker's run used (decimal). */
  fuel?: string
  /** CID of the manifest of the files its run left in /out. */
  filesCid?: string
  /** Information only: fuel is what is compared and billed. */
  cpuMs?: number
  wallMs?: number
  /** Whether this worker's output matched the accepted one. */
  agreed?: boolean
  /** Credits owed to this worker for the job. */
  cost?: number
  error?: string
}

export interface JobResult {
  id: string
  /**
   * `queued` or `running` while it is placed; then `completed` (a verified result, whatever its
   * exit code), `unverified` (replicas disagreed, or a spot check did), `timed-out`, `failed`
   * (the module could not run, or nobody would run it) or `cancelled`.
   */
  status: RequestedJob['status']
  exitCode?: number
  trap?: string
  stdout: Uint8Array
  stderr: Uint8Array
  outputCid?: string
  /** Fuel the accepted run used (decimal: it may pass 2^53). */
  fuel?: string
  /** CID of the manifest of the files the accepted run left in /out (absent: none). */
  filesCid?: string
  /**
   * The files the accepted run left in /out, in manifest order (fetch their bytes with
   * `node.jobFile(id, path)`). Empty when it left none; absent when the manifest is no longer here.
   */
  files?: OutputFileInfo[]
  workers: WorkerOutcome[]
  /** At least `quorum` workers on distinct hosts returned the same output (and any spot check agreed). */
  verified: boolean
  /** The outcome of re-running the job locally, when it was spot-checked. */
  spotCheck?: 'passed' | 'failed' | 'not-checked'
  /** Credits owed for this job (the ledger charges per lease, rounded up once). */
  cost: number
  error?: JobError
  /**
   * While it is placed: why it waits for workers (no capable worker known, or fewer than its
   * replicas), with the code its error will have if its deadline comes first. Absent otherwise.
   */
  waiting?: PlacementWait
}

export interface JobHandleEvents {
  progress: CustomEvent<JobProgress>
}

/** A submitted job: its id, progress events and, eventually, its result. */
export class JobHandle extends TypedEventEmitter<JobHandleEvents> {
  readonly id: string
  private readonly done: Promise<JobResult>
  private readonly onCancel: (reason?: unknown) => void

  constructor (id: string, done: Promise<JobResult>, onCancel: (reason?: unknown) => void) {
    super()
    this.id = id
    this.done = done
    this.onCancel = onCancel
  }

  /**
   * Resolves when the job ended (never rejects: see `status` and `error`), or when its node
   * stopped first: then `error.code` is ERR_NODE_STOPPED and `status` is still `queued` or
   * `running`; the job was not cancelled (with a data dir it resumes at the node's next start).
   */
  async result (): Promise<JobResult> {
    return await this.done
  }

  /**
   * Stops the job; its result becomes `cancelled` with ERR_JOB_CANCELLED. `reason` (an abort
   * signal's reason, say) is added to the error's message.
   */
  cancel (reason?: unknown): void {
    this.onCancel(reason)
  }
}

export interface JobsComponents {
  blobs: BlobStore
  records: JobStore
  dispatcher: Dispatcher
  emit: (progress: JobProgress) => void
  spotCheckRate: number
  /** The records outlive a stop (a data dir): unfinished jobs resume at the next start. @default true */
  resumes?: boolean
}

interface Live { record: RequestedJob, taskId: string, result: PromiseWithResolvers<JobResult>, handle: JobHandle }

export class Jobs {
  private readonly c: JobsComponents
  private readonly live = new Map<string, Live>()
  private stopping = false

  constructor (components: JobsComponents) {
    this.c = components
  }

  /**
   * Places a job whose module and input are pinned. `spotCheck`: override the node's rate;
   * `onProgress`: registered before placement starts, so it sees every stage; `sync`: its
   * record is synced to the disk before this resolves.
   */
  async submit (body: JobBody, id: CID, input: Uint8Array, options: { spotCheck?: boolean, onProgress?: (p: JobProgress) => void, tree?: InputTreeRef, sync?: boolean } = {}): Promise<JobHandle> {
    const now = Date.now()
    const record: RequestedJob = { id: id.toString(), body, status: 'queued', createdAt: now, updatedAt: now, replicas: [], ...(options.spotCheck != null ? { spotCheck: options.spotCheck } : {}) }
    // `sync`: on the disk before the caller hears (with the blobs pinned before it: LevelDB's log is one file)
    await this.c.records.putRequested(record, { sync: options.sync })
    return this.place(record, input, options.tree, options.onProgress)
  }

  /**
   * The node is stopping: jobs of this run resolve their handles with ERR_NODE_STOPPED (not a
   * cancel), and their records stay unfinished on disk, so the next start resumes them.
   */
  stop (): void {
    this.stopping = true
    for (const live of [...this.live.values()]) {
      this.live.delete(live.record.id)
      const error = new NodeStoppedError(`job ${live.record.id}`, this.c.resumes ?? true)
      live.result.resolve(toResult({ ...live.record, error: { code: error.code, message: error.message } }, new Uint8Array(0), new Uint8Array(0)))
    }
  }

  /** Resumes the jobs a previous run left unfinished (deadline permitting). */
  async resume (): Promise<void> {
    this.stopping = false
    for await (const record of this.c.records.allRequested()) {
      if (FINAL_STATUSES.has(record.status)) continue
      if (record.body.deadline <= Date.now()) {
        await this.end(record, { status: 'timed-out', error: { code: 'ERR_JOB_TIMEOUT', message: 'the node was down until after the job\'s deadline' } })
        continue
      }
      const input = await this.c.blobs.get(record.body.input)
      const tree = record.body.files != null ? await loadInputTreeRef(this.c.blobs, record.body.files).catch(() => undefined) : undefined
      if (input == null || (record.body.files != null && tree == null)) {
        await this.end(record, { status: 'failed', error: { code: 'ERR_BLOB_MISSING', message: `the job's ${input == null ? 'input' : 'input files'} are no longer here` } })
        continue
      }
      record.replicas = []
      this.place(record, input, tree)
    }
  }

  /** A job placed by this run that has not ended yet. */
  liveRecord (id: string): RequestedJob | undefined {
    return this.live.get(id)?.record
  }

  handle (id: string): JobHandle | undefined {
    return this.live.get(id)?.handle
  }

  /**
   * Cancels a job of this run (`reason` goes into the error's message); resolves with false when
   * it is not running here, else with true once the job has ended and its record is written (a
   * cancelled job's, synced to the disk: a restart does not place it again).
   */
  async cancel (id: string, reason?: unknown): Promise<boolean> {
    const live = this.live.get(id)
    if (live == null) return false
    this.c.dispatcher.cancel(live.taskId, { code: 'ERR_JOB_CANCELLED', message: cancelMessage(new JobCancelledError().message, reason) })
    await live.result.promise
    return true
  }

  private place (record: RequestedJob, input: Uint8Array, tree?: InputTreeRef, onProgress?: (p: JobProgress) => void): JobHandle {
    const id = CID.parse(record.id)
    const body = record.body
    const spec = jobTaskSpec(id, body)
    const tid = taskId(spec)
    const result = Promise.withResolvers<JobResult>()
    const handle = new JobHandle(record.id, result.promise, (reason) => { void this.cancel(record.id, reason) })
    const live: Live = { record, taskId: cidText(tid), result, handle }
    this.live.set(record.id, live)
    if (onProgress != null) handle.addEventListener('progress', (evt) => { onProgress(evt.detail) })
    const requirements = requirementsOf(body)
    const work: TaskWork = {
      id: tid,
      idText: cidText(tid),
      spec,
      ...(input.byteLength <= INLINE_BYTES ? { stdin: input } : {}),
      ...(tree != null ? { inputTree: tree } : {}),
      requirements,
      classKey: requirementsKey(requirements),
      replicas: body.replicas,
      quorum: body.quorum,
      deadline: body.deadline,
      spotCheck: record.spotCheck ?? (Math.random() < this.c.spotCheckRate),
      onEvent: (event) => { this.onEvent(live, event) },
      // (the promise of its record: its workers' leases acknowledge it as paid once it is written)
      onVerdict: async (verdict) => await this.onVerdict(live, verdict).catch(async (err) => await this.failRecording(live, err))
    }
    this.emit(record.id, 'queued')
    this.c.dispatcher.submit(work)
    return handle
  }

  private onEvent (live: Live, event: TaskEvent): void {
    const id = live.record.id
    switch (event.stage) {
      case 'assigned':
        live.record.status = 'running'
        live.record.replicas = [...live.record.replicas.filter((r) => r.worker !== event.worker), { worker: event.worker, leaseId: event.leaseId, status: 'running' }]
        this.emit(id, 'accepted', event.worker, `lease ${event.leaseId}${event.warm ? ' (warm)' : ' (new)'}`)
        break
      case 'running': this.emit(id, 'running', event.worker); break
      case 'result': this.emit(id, 'result', event.worker, `exit ${event.exitCode}`); break
      case 'retry': this.emit(id, 'retry', event.worker, event.reason); break
      case 'spot-check': this.emit(id, 'spot-check'); break
      case 'waiting':
        // Shown with the job while it lasts; said once as progress (a reason that clears up is followed by `accepted`).
        if (event.wait == null) delete live.record.waiting
        else {
          live.record.waiting = { ...event.wait, since: live.record.waiting?.since ?? Date.now() }
          this.emit(id, 'waiting', undefined, event.wait.message)
        }
        break
    }
  }

  /** Records a verdict; true once its record is written (the job will not run again). */
  private async onVerdict (live: Live, verdict: TaskVerdict): Promise<boolean> {
    if (this.stopping || this.live.get(live.record.id) !== live) return false
    const record = live.record
    const output = verdict.output
    const [outputCid, stderrCid] = output != null
      ? await this.c.blobs.pinMany([{ bytes: output.stdout, cid: output.outputCid }, { bytes: output.stderr }])
      : [undefined, undefined]
    if (output?.files != null) await pinOutputTree(this.c.blobs, output.files)
    record.replicas = verdict.replicas
    const { ended, written } = await this.end(record, {
      status: verdict.status,
      verified: verdict.verified,
      cost: verdict.cost,
      ...(output != null ? { exitCode: output.exitCode, fuel: output.fuel.toString() } : {}),
      ...(outputCid != null ? { outputCid: cidText(outputCid) } : {}),
      ...(stderrCid != null ? { stderrCid: cidText(stderrCid) } : {}),
      ...(output?.trap != null ? { trap: output.trap } : {}),
      ...(output?.files != null ? { filesCid: output.files.cid.toString() } : {}),
      ...(verdict.spotCheck != null ? { spotCheckResult: verdict.spotCheck } : {}),
      ...(verdict.error != null ? { error: verdict.error } : {})
    })
    if (verdict.verified) this.emit(record.id, 'verified', undefined, `${verdict.agreeing.length}/${record.body.replicas} agree${verdict.spotCheck != null ? `, spot check ${verdict.spotCheck}` : ''}`)
    this.emit(record.id, verdict.status as ProgressStage, undefined, verdict.error?.message ?? (output != null ? `exit ${output.exitCode}` : undefined))
    this.live.delete(record.id)
    const files = output?.files?.manifest.files.map((f) => ({ path: f.path, size: f.size, cid: f.cid.toString() })) ?? []
    live.result.resolve(toResult(ended, output?.stdout ?? new Uint8Array(0), output?.stderr ?? new Uint8Array(0), verdict.agreeing, files))
    return written
  }

  /** The verdict could not be recorded (its outputs not stored): the job ends `failed`, saying why. */
  private async failRecording (live: Live, err: unknown): Promise<boolean> {
    log.error('recording the result of job %s failed: %e', live.record.id, err)
    if (this.live.get(live.record.id) !== live) return false
    const message = `the job's result could not be stored here: ${(err as Error).message}`
    const { ended, written } = await this.end(live.record, { status: 'failed', error: { code: 'ERR_RESULT_NOT_STORED', message } })
    // The final stage, as for any job: streams and waiting clients end on it.
    this.emit(live.record.id, 'failed', undefined, message)
    this.live.delete(live.record.id)
    live.result.resolve(toResult(ended, new Uint8Array(0), new Uint8Array(0)))
    return written
  }

  /** Ends a job's record; `written`: whether its write went through. */
  private async end (record: RequestedJob, fields: Partial<RequestedJob>): Promise<{ ended: RequestedJob, written: boolean }> {
    delete record.waiting
    Object.assign(record, fields, { updatedAt: Date.now() })
    // A cancel is synced (it was asked for, and is answered once this is written); other ends are not.
    const written = await this.c.records.putRequested(record, { sync: record.status === 'cancelled' }).then(() => true, () => false)
    return { ended: record, written }
  }

  private emit (jobId: string, stage: ProgressStage, peerId?: string, detail?: string): void {
    const progress: JobProgress = { jobId, stage, ...(peerId != null ? { peerId } : {}), ...(detail != null ? { detail } : {}), at: Date.now() }
    // (no event object for a handle nobody listens to)
    const handle = this.live.get(jobId)?.handle
    if (handle != null && handle.listenerCount('progress') > 0) handle.safeDispatchEvent('progress', { detail: progress })
    this.c.emit(progress)
  }
}

/** The public result of a job record. */
export function toResult (record: RequestedJob, stdout: Uint8Array, stderr: Uint8Array, agreeing?: string[], files?: OutputFileInfo[]): JobResult {
  const workers: WorkerOutcome[] = record.replicas.map((r) => ({
    peerId: r.worker,
    leaseId: r.leaseId,
    status: r.status,
    outputCid: r.outputCid,
    exitCode: r.exitCode,
    fuel: r.fuel,
    filesCid: r.filesCid,
    cpuMs: r.cpuMs,
    wallMs: r.wallMs,
    agreed: r.agreed ?? (agreeing != null ? agreeing.includes(r.worker) : undefined),
    cost: r.cost,
    error: r.error
  }))
  return {
    id: record.id,
    status: record.status,
    exitCode: record.exitCode,
    trap: record.trap,
    stdout,
    stderr,
    outputCid: record.outputCid,
    fuel: record.fuel,
    filesCid: record.filesCid,
    ...(files != null ? { files } : record.filesCid == null && record.outputCid != null ? { files: [] } : {}),
    workers,
    verified: record.verified ?? false,
    spotCheck: record.spotCheckResult,
    cost: record.cost ?? 0,
    error: record.error,
    ...(record.waiting != null && !FINAL_STATUSES.has(record.status) ? { waiting: record.waiting } : {})
  }
}
