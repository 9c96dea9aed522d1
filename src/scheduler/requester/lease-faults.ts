/**
 * What goes wrong on a lease, as the requester reads it: what a worker's `task-error` code means
 * for the task and for the lease, and what a failure says about the worker (the peer report it
 * earns, or none when the fault is not the worker's).
 */
import { InvalidMessageError, InvalidSignatureError } from '../../errors.ts'
import type { PeerActionName } from '../../shared/peer-actions.ts'
import { BadResultError, CheckpointError, LeaseEndedError, ProtocolViolationError } from '../errors.ts'
import type { TaskFailure } from './types.ts'

/** Task errors that say the lease cannot take the task now, not that the worker will not run it. */
const LEASE_REFUSALS = new Set(['ERR_LEASE_FULL', 'ERR_LEASE_CAP', 'ERR_LEASE_EXPIRED', 'ERR_LEASE_ENDING', 'ERR_ACK_OVERDUE', 'ERR_CANCELLED'])

/** Task errors after which the lease takes no more tasks (its cap, its expiry, its end). */
const LEASE_SPENT = new Set(['ERR_LEASE_CAP', 'ERR_LEASE_EXPIRED', 'ERR_LEASE_ENDING'])

/** Whether a task error means no more tasks go on the lease. */
export function leaseSpent (code: string): boolean {
  return LEASE_SPENT.has(code)
}

/**
 * What a task error makes of the task: a worker that stops abandons it (evidence for ranking); a
 * refusal is about the lease; anything else declines this task.
 */
export function taskErrorKind (code: string): TaskFailure['kind'] {
  return code === 'ERR_STOPPING' ? 'lost' : LEASE_REFUSALS.has(code) ? 'refused' : 'declined'
}

/** What a failure says about the worker (undefined: not its fault, e.g. the stream just died). */
export function blameFor (err: Error): PeerActionName | undefined {
  if (err instanceof InvalidSignatureError) return 'InvalidSignature'
  if (err instanceof CheckpointError || err instanceof BadResultError) return 'WrongResult'
  if (err instanceof InvalidMessageError || err instanceof ProtocolViolationError) return 'MalformedMessage'
  if (err instanceof LeaseEndedError) return 'BrokeLease'
  return undefined
}
