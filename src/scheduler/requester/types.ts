/**
 * What the requester's parts pass between them: a task being placed (`TaskWork`), one worker's
 * answer for it (`ReplicaResult`), and what a task came to (`TaskVerdict`).
 */
import type { CID } from 'multiformats/cid'
import type { FileManifest, TreeFile } from '../files/index.ts'
import type { JobError, JobStatus, ReplicaRecord } from '../job-store.ts'
import type { Requirements, TaskSpec } from '../task.ts'
import type { PlacementWait } from './placement.ts'

/** The files a run left in /out, received and checked against their manifest. */
export interface OutputTree {
  /** CID (dag-cbor) of the manifest: what replicas are compared by. */
  cid: CID
  manifest: FileManifest
  /** The manifest's encoding. */
  manifestBytes: Uint8Array
  /** In the manifest's order. */
  files: TreeFile[]
}

/** The input tree of a task, as the lease serves it: the blobs a worker may ask for. */
export interface InputTreeRef {
  /** CID of the manifest, as text. */
  cid: string
  /** CIDs (as text) of the manifest and of every file it lists. */
  blobs: ReadonlySet<string>
}

/** One worker's answer for a task. */
export interface ReplicaResult {
  worker: string
  host?: string
  leaseId: string
  exitCode: number
  trap?: string
  outputCid: CID
  stdout: Uint8Array
  stderr: Uint8Array
  /** Fuel the run used: billed, and compared between replicas. */
  fuel: bigint
  /** The files it left in /out (absent: none). */
  files?: OutputTree
  /** Information only (the worker's own figures). */
  cpuMs: number
  wallMs: number
  /** The run's time as the requester observed it, ms (see LeaseClient): what speed checks use. */
  observedMs: number
  /** Credits this run is worth at the lease's price (before rounding per lease). */
  cost: number
}

/**
 * Why a replica came back without a result. `refused`: the lease could not take it (full, at its
 * cap, expiring, ending): not the worker's fault and not about the task; `declined`: the worker
 * will not run this task (its limits, its deadline, its bytes); `lost`: the lease ended or its
 * stream died; `blamed`: the worker misbehaved (`blame` says how).
 */
export interface TaskFailure {
  kind: 'refused' | 'declined' | 'lost' | 'blamed'
  reason: string
  /** What the worker did (`blamed`; on `lost`, the fault that broke the lease, already reported). */
  blame?: import('../../shared/peer-actions.ts').PeerActionName
}

/** Progress of a task, as its owner (a job or a batch) sees it. */
export type TaskEvent =
  | { stage: 'assigned', worker: string, leaseId: string, warm: boolean }
  | { stage: 'running', worker: string }
  | { stage: 'result', worker: string, exitCode: number }
  | { stage: 'retry', worker: string, reason: string }
  | { stage: 'spot-check' }
  /** Why it cannot get all its replicas from the workers known now; undefined: that cleared up. */
  | { stage: 'waiting', wait?: PlacementWait }

/** What a task came to. */
export interface TaskVerdict {
  status: JobStatus
  verified: boolean
  /** The accepted output (absent when the replicas did not agree, or the task failed). */
  output?: { stdout: Uint8Array, stderr: Uint8Array, exitCode: number, trap?: string, outputCid: CID, fuel: bigint, files?: OutputTree }
  replicas: ReplicaRecord[]
  /** Workers whose output was accepted. */
  agreeing: string[]
  /** Credits owed for the task (agreeing replicas of a verified task). */
  cost: number
  spotCheck?: 'passed' | 'failed' | 'not-checked'
  error?: JobError
}

/** A task being placed on leases until it has a verdict. */
export interface TaskWork {
  id: CID
  idText: string
  spec: TaskSpec
  /** The task's stdin when it is small enough to travel inside the task frame. */
  stdin?: Uint8Array
  /** The task's input files (`spec.files`), shared by the tasks of a batch. */
  inputTree?: InputTreeRef
  requirements: Requirements
  /** `requirementsKey(requirements)`: tasks with the same key share leases. */
  classKey: string
  replicas: number
  quorum: number
  /** Given up after this (ms since the epoch). */
  deadline: number
  /** Re-run it locally and compare. */
  spotCheck: boolean
  onEvent: (event: TaskEvent) => void
  /**
   * The task's verdict. May return the promise of its record: true once the record that holds
   * the verdict is written (a restart will not run the task again), false when it will not be
   * (the node stops first). The leases of its results acknowledge them as paid only then
   * (nothing returned: at once).
   */
  onVerdict: (verdict: TaskVerdict) => Promise<boolean> | void
}
