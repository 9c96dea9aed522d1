/**
 * The state a lease this node served as worker is listed with (the API's jobs list and
 * `GET /v1/jobs/:id`, `depin jobs`, `depin job ID`, the dashboard, `node.jobs()`), from how it
 * ended and how many of the results it returned its requester acknowledged.
 *
 * What matters to a worker is whether what it ran is paid for, not how the stream ended: a
 * requester that went away (`ERR_CHANNEL_CLOSED`: it closed its side, was killed, or the
 * connection went) once every result was acknowledged leaves nothing wrong here, so the lease
 * reads `completed`, with how it ended as a note. A lease that ended with results no
 * acknowledgement covers reads `failed`, saying how many: they are unpaid unless a lease-tail
 * claim (docs/protocol.md, "Lease tails") gets them acknowledged, and the record says so once
 * one does (the lease then reads `completed`).
 *
 * A record that does not say how many results were acknowledged (written by an earlier version,
 * or rebuilt at the start after this node went down while serving the lease: what it returned
 * after its last acknowledgement is not known) keeps the rule of the end reason alone: closed or
 * expired is `completed`, anything else `failed`.
 */
import type { JobState } from '../job-status.ts'
import { OPEN_LEASE } from './lease-store.ts'

export { unacknowledgedResults } from './lease-store.ts'

/** How leases end as they should: the requester closed it, or it expired. */
const ORDINARY_ENDS: ReadonlySet<string> = new Set(['closed', 'ERR_LEASE_EXPIRED'])

export interface ServedLeaseState {
  status: JobState
  /** `failed`: why; `completed`: how it ended when not closed or expired. */
  reason?: string
}

/**
 * `reason`: why it ended (`open` while it is served); `unacknowledged`: results it returned that
 * no acknowledgement covers (undefined: not known).
 */
export function servedLeaseState (reason: string, unacknowledged?: number): ServedLeaseState {
  if (reason === OPEN_LEASE) return { status: 'running' }
  if (unacknowledged == null) return ORDINARY_ENDS.has(reason) ? { status: 'completed' } : { status: 'failed', reason: `the lease ended: ${reason}` }
  if (unacknowledged > 0) {
    const results = unacknowledged === 1 ? '1 result' : `${unacknowledged} results`
    return { status: 'failed', reason: `the lease ended: ${reason}, with ${results} unacknowledged (unpaid unless a lease-tail claim gets ${unacknowledged === 1 ? 'it' : 'them'} acknowledged)` }
  }
  return ORDINARY_ENDS.has(reason) ? { status: 'completed' } : { status: 'completed', reason: `the lease ended early: ${reason}` }
}
