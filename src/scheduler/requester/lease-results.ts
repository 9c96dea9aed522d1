/**
 * A result on a lease, from its `results` entry to the `ReplicaResult` the requester judges: the
 * claims an entry must keep to be committed to (its fuel within the task's limit, its fields in
 * pairs, inline output only without files), and the replica result it becomes once its output
 * has arrived (incoming-result.ts for a large one) and matches the committed CID.
 */
import type { Lease } from '../../proofs/lease.ts'
import { FUEL_TIME_GRACE_MS, PLAUSIBLE_FUEL_PER_MS } from '../constants.ts'
import { BadResultError } from '../errors.ts'
import type { ResultFrame } from '../lease-frames.ts'
import type { OutputTreeReceiver } from './output-tree.ts'
import type { ReplicaResult, TaskWork } from './types.ts'

/** The lease a result came on, as a replica result names it. */
export interface ResultSource {
  readonly lease: Lease
  readonly idText: string
  readonly worker: string
  readonly host?: string
}

/** The most fuel `slots` slots can plausibly run in `elapsedMs` observed (see PLAUSIBLE_FUEL_PER_MS). */
export function plausibleFuel (elapsedMs: number, slots = 1): bigint {
  return BigInt(Math.ceil(Math.max(0, elapsedMs) + FUEL_TIME_GRACE_MS)) * PLAUSIBLE_FUEL_PER_MS * BigInt(slots)
}

/**
 * Throws BadResultError (the worker's fault) for an entry that breaks the protocol's rules for
 * `task`; returns whether its output came inline (else `data` frames follow). `elapsedMs`: the
 * time since its task frame was sent (undefined for a task withdrawn meanwhile: not charged).
 */
export function checkResultEntry (r: ResultFrame, task: TaskWork, elapsedMs?: number): boolean {
  if (r.fuel > task.spec.fuel) throw new BadResultError(`a result claiming ${r.fuel} fuel for a task limited to ${task.spec.fuel}`)
  if (elapsedMs != null && r.fuel > plausibleFuel(elapsedMs)) {
    throw new BadResultError(`a result claiming ${r.fuel} fuel ${Math.round(elapsedMs)} ms after its task was sent: more than any machine runs (at most ${PLAUSIBLE_FUEL_PER_MS} per ms, after ${FUEL_TIME_GRACE_MS} ms of grace)`)
  }
  if ((r.files == null) !== (r.filesBytes == null)) throw new BadResultError('a result with only one of files and filesBytes')
  const inline = r.stdout != null && r.stderr != null
  if (inline && r.files != null) throw new BadResultError('a result with files cannot be inline')
  if ((r.stdout == null) !== (r.stderr == null)) throw new BadResultError('a result with only one of stdout and stderr inline')
  return inline
}

/** The replica result of an entry whose output (`stdout`, and the tree when it has files) is checked. */
export function replicaResult (
  source: ResultSource, r: ResultFrame, stdout: Uint8Array, stderr: Uint8Array, observedMs: number, tree?: OutputTreeReceiver
): ReplicaResult {
  return {
    worker: source.worker,
    host: source.host,
    leaseId: source.idText,
    exitCode: r.exit,
    trap: r.trap,
    outputCid: r.out,
    stdout,
    stderr,
    fuel: r.fuel,
    ...(tree != null ? { files: tree.result() } : {}),
    cpuMs: r.cpuMs,
    wallMs: r.wallMs,
    observedMs,
    cost: source.lease.body.price * Number(r.fuel) / 1e9
  }
}
