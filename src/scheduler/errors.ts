import { DepinError } from '../errors.ts'

/** Why a worker declined a lease offer. Stable codes, shared with peers on the wire. */
export const DECLINE_REASONS = [
  'busy', // no room for another lease now (transient)
  'memory', // the tasks need more memory than offered
  'runtime', // runtime not supported
  'price', // our price is above the offer's maximum
  'funds', // the requester's spendable balance does not cover the lease's credit cap
  'not-targeted', // the offer names other peers (answered only on a direct offer; gossip gets silence)
  'expired' // the offer arrived after its expiry
] as const
export type DeclineReason = typeof DECLINE_REASONS[number]

/**
 * Decline reasons that clear up by themselves within a job's lifetime (a slot frees up); the
 * requester keeps re-offering. The others (including `funds`: credits rarely arrive within a
 * job's deadline) make a job with no bids fail fast.
 */
export const TRANSIENT_DECLINES: ReadonlySet<DeclineReason> = new Set(['busy', 'expired'])

/** Nobody bid on the lease offers a job needed. `reasons` counts the decline reasons workers gave. */
export class NoBidsError extends DepinError {
  readonly reasons: Partial<Record<DeclineReason, number>>
  constructor (message: string, reasons: Partial<Record<DeclineReason, number>>) {
    super(message, 'ERR_NO_BIDS')
    this.reasons = reasons
  }
}

/**
 * A task waited for workers until its deadline and no worker known could run it: none was known
 * at all, or every known one lacked what it needs (memory, price, runtime, slots) or had failed
 * it. `reasons` counts the known workers by why (see `UnableReason` in requester/placement.ts).
 */
export class NoCapableWorkersError extends DepinError {
  readonly reasons: Record<string, number>
  constructor (message: string, reasons: Record<string, number> = {}) {
    super(message, 'ERR_NO_CAPABLE_WORKERS')
    this.reasons = reasons
  }
}

/**
 * A task reached its deadline with fewer replicas than it asked for: fewer distinct capable
 * workers (on distinct hosts) were known than its `replicas`. `reasons` as for `NoCapableWorkersError`.
 */
export class NotEnoughWorkersError extends DepinError {
  readonly reasons: Record<string, number>
  constructor (message: string, reasons: Record<string, number> = {}) {
    super(message, 'ERR_NOT_ENOUGH_WORKERS')
    this.reasons = reasons
  }
}

/** The job's deadline passed before enough replicas finished. */
export class JobTimeoutError extends DepinError {
  constructor (message: string) {
    super(message, 'ERR_JOB_TIMEOUT')
  }
}

/** The job was cancelled by its requester. */
export class JobCancelledError extends DepinError {
  constructor (message = 'the job was cancelled') {
    super(message, 'ERR_JOB_CANCELLED')
  }
}

/**
 * The node stopped while a job or batch it requested had not ended: it was not cancelled. With a
 * data dir its record stays unfinished and it resumes when the node starts again on that data dir
 * (`resumes`); without one it is lost with the node's in-memory store. A handle's `result()`
 * carries this as its `error` (ERR_NODE_STOPPED), with the status the job had at the stop.
 */
export class NodeStoppedError extends DepinError {
  readonly resumes: boolean
  constructor (what: string, resumes: boolean) {
    super(resumes
      ? `the node stopped while ${what} was running; it was not cancelled, and resumes when the node starts again with the same data dir`
      : `the node stopped while ${what} was running; it was not cancelled, but it is lost: the node has no data dir to resume it from`, 'ERR_NODE_STOPPED')
    this.resumes = resumes
  }
}

/** A cancel error's message, with the reason given (an abort signal's reason, say) when there is one. */
export function cancelMessage (message: string, reason?: unknown): string {
  if (reason === undefined) return message
  const text = reason instanceof Error ? reason.message : String(reason)
  return text === '' ? message : `${message}: ${text}`
}

/** The job spec is invalid (local submission or from a peer). */
export class InvalidJobError extends DepinError {
  constructor (message: string, options?: ErrorOptions) {
    super(message, 'ERR_INVALID_JOB', options)
  }
}

/** No job with that id. */
export class JobNotFoundError extends DepinError {
  constructor (id: string) {
    super(`no job ${id}`, 'ERR_JOB_NOT_FOUND')
  }
}

/** A job (or a batch's task) has no output file at that path, or its files are no longer here. */
export class OutputFileNotFoundError extends DepinError {
  readonly path: string
  constructor (id: string, path: string, what = `job ${id}`) {
    super(`${what} has no output file ${JSON.stringify(path)}`, 'ERR_FILE_NOT_FOUND')
    this.path = path
  }
}

/** A bid or accept referred to an offer this node does not have (or no longer has). */
export class UnknownOfferError extends DepinError {
  constructor (offerId: string) {
    super(`no open offer ${offerId}`, 'ERR_UNKNOWN_OFFER')
  }
}

/** An accept arrived for a lease that was already made. */
export class AcceptReplayedError extends DepinError {
  constructor (leaseId: string, why = `lease ${leaseId} was already accepted`) {
    super(why, 'ERR_ACCEPT_REPLAYED')
  }
}

/** A batch has no task of that index. */
export class BatchTaskNotFoundError extends DepinError {
  constructor (id: string, index: number) {
    super(`batch ${id} has no task ${index}`, 'ERR_TASK_NOT_FOUND')
  }
}

/** A batch was not found. */
export class BatchNotFoundError extends DepinError {
  constructor (id: string) {
    super(`no batch ${id}`, 'ERR_BATCH_NOT_FOUND')
  }
}

/**
 * A worker's checkpoint does not check out. `code` says how: ERR_CHECKPOINT_SIGNATURE (not the
 * lease's worker's signature), ERR_CHECKPOINT_LEASE (for another lease), ERR_CHECKPOINT_SEQ (not
 * the next one), ERR_CHECKPOINT_REGRESSED (fewer results or a lower amount than before),
 * ERR_CHECKPOINT_MISMATCH (commits to results the requester never received, or claims another amount).
 */
export class CheckpointError extends DepinError {}

/** A lease ended (by either side, expiry, its cap, or misbehaviour) while work was on it. */
export class LeaseEndedError extends DepinError {
  constructor (message: string, code = 'ERR_LEASE_ENDED') {
    super(message, code)
  }
}

/**
 * A worker holding tasks on a lease went silent and did not answer a ping either: its host is
 * frozen, hung or cut off (see requester/silence-probe.ts). Not a fault to penalise: nothing says
 * it cheated; its tasks go elsewhere.
 */
export class WorkerUnresponsiveError extends DepinError {
  constructor (message: string) {
    super(message, 'ERR_WORKER_UNRESPONSIVE')
  }
}

/** A peer broke the protocol (wrong message, wrong signer, bytes not matching their CID). */
export class ProtocolViolationError extends DepinError {
  constructor (message: string, code = 'ERR_PROTOCOL_VIOLATION') {
    super(message, code)
  }
}

/** A task's input manifest is not what it declared, or breaks the manifest rules (the requester's fault). */
export class BadInputTreeError extends ProtocolViolationError {
  constructor (message: string, code = 'ERR_BAD_INPUT_TREE') {
    super(message, code)
  }
}

/**
 * A requester's acknowledgement of a checkpoint that does not check out: another lease's, of a
 * checkpoint this worker never sent, paying more than the checkpoint claims or the lease's cap,
 * refusing more results than it covers. Signed by the requester, so its fault (the worker scores
 * it down: `WrongResult`). The code stays ERR_PROTOCOL_VIOLATION on the wire.
 */
export class AckRejectedError extends ProtocolViolationError {}

/** A worker returned a result that does not check out (for a task it was not given, output not matching its CID, a wrong charge). */
export class BadResultError extends DepinError {
  constructor (message: string) {
    super(message, 'ERR_BAD_RESULT')
  }
}

/** A blob's bytes do not hash to the CID they were sent under. */
export class BlobMismatchError extends DepinError {
  constructor (message: string) {
    super(message, 'ERR_BLOB_MISMATCH')
  }
}

/** A job that already ended cannot be cancelled (or changed). */
export class JobFinishedError extends DepinError {
  constructor (id: string, status: string) {
    super(`job ${id} has already ${status === 'completed' ? 'completed' : 'ended'}; there is nothing to cancel`, 'ERR_JOB_FINISHED')
  }
}

/** A job this node cannot stop from here (e.g. resumed after a restart, without a handle). */
export class JobNotCancellableError extends DepinError {
  constructor (id: string, why: string) {
    super(`job ${id} cannot be cancelled: ${why}`, 'ERR_JOB_NOT_CANCELLABLE')
  }
}

/**
 * A lease-tail exchange that cannot go on (docs/protocol.md, "Lease tails"). `code`:
 * ERR_UNKNOWN_LEASE (the requester keeps no tail of that lease: unknown, expired, still running,
 * or not a lease it requested), ERR_NOT_LEASE_WORKER (asked by another peer than the lease's
 * worker), ERR_TAIL_BUSY (an exchange of that lease is under way), ERR_TAIL_MISMATCH (the
 * worker's chain has another root at the count the requester received, or it no longer holds
 * that count). `final`: asking again cannot succeed.
 */
export class TailError extends DepinError {
  readonly final: boolean
  constructor (message: string, code: string, final = false) {
    super(message, code)
    this.final = final
  }
}
