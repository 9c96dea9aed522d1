import { DepinError } from '../errors.ts'

/** Why a worker declined an offer. Stable codes, shared with peers on the wire. */
export const DECLINE_REASONS = [
  'busy', // no free slot now (transient)
  'memory', // the job needs more memory than offered
  'runtime', // runtime not supported
  'price', // our price is above the job's maximum
  'deadline', // the job cannot finish before its deadline
  'too-large', // module or input over our limits
  'funds', // the requester's spendable balance does not cover the job's maximum cost
  'not-targeted', // the job names other peers
  'invalid' // the offer did not validate
] as const
export type DeclineReason = typeof DECLINE_REASONS[number]

/**
 * Decline reasons that clear up by themselves within a job's lifetime (a slot frees up); the
 * requester keeps re-offering. The others (including `funds`: credits rarely arrive within a
 * job's deadline) make a job with no bids fail fast.
 */
export const TRANSIENT_DECLINES: ReadonlySet<DeclineReason> = new Set(['busy'])

/** Nobody bid on a job. `reasons` counts the decline reasons workers gave. */
export class NoBidsError extends DepinError {
  readonly reasons: Partial<Record<DeclineReason, number>>
  constructor (message: string, reasons: Partial<Record<DeclineReason, number>>) {
    super(message, 'ERR_NO_BIDS')
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

/** A bid or accept referred to an offer this node does not have (or no longer has). */
export class UnknownOfferError extends DepinError {
  constructor (jobId: string) {
    super(`no open offer for job ${jobId}`, 'ERR_UNKNOWN_OFFER')
  }
}

/** An accept arrived for an agreement that was already made. */
export class AcceptReplayedError extends DepinError {
  constructor (agreementId: string) {
    super(`agreement ${agreementId} was already accepted`, 'ERR_ACCEPT_REPLAYED')
  }
}

/** A peer broke the protocol (wrong message, wrong signer, bytes not matching their CID). */
export class ProtocolViolationError extends DepinError {
  constructor (message: string, code = 'ERR_PROTOCOL_VIOLATION') {
    super(message, code)
  }
}

/** A worker returned a result that does not check out (wrong signer, output not matching its CID). */
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
