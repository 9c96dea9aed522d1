/**
 * One page of the jobs list (`GET /v1/jobs`, `depin jobs`, the dashboard): jobs this node
 * requested and leases it served for peers, newest first, filtered by role and state, and how
 * many match.
 *
 * Both come newest first from time indexes (the requested jobs' by creation, the served leases'
 * by start, merged), filtered on the digests the indexes keep: only the records of the page shown
 * are read (and those of unfinished jobs this run does not place, whose state needs their
 * replicas), however many the node keeps. `total` counts the matches from the digests alone.
 */
import type { ComputeNode } from '../compute-node.ts'
import type { JobState } from '../../job-status.ts'
import { stateWord } from '../../job-status.ts'
import { FINAL_STATUSES } from '../../scheduler/job-store.ts'
import type { RequestedDigest } from '../../scheduler/requested-index.ts'
import type { ServedLeaseDigest } from '../../scheduler/views.ts'
import { mergeNewestFirst } from '../../shared/newest-first.ts'
import type { JobLabels } from '../job-labels.ts'
import { digestState, leaseState, leaseSummaryView, requestedState, requestedSummary, type JobSummaryView } from './job-view.ts'

/** `active`: queued or running; `unverified`: completed but not verified. */
export type JobsStatusFilter = JobState | 'unverified' | 'active'

export interface JobsListQuery {
  status?: JobsStatusFilter
  role?: 'requester' | 'worker'
  limit: number
}

type Listed = { role: 'requester' | 'worker', status: JobState, verified: boolean }

/** Whether a listed job matches the `status` filter (`active`: queued or running). */
export function matchesStatus (j: Listed, status: JobsStatusFilter | undefined): boolean {
  if (status == null) return true
  if (status === 'active') return j.status === 'queued' || j.status === 'running'
  // Verification is the requester's verdict: a task run here for a peer is just completed.
  if ((status === 'unverified' || status === 'completed') && j.role === 'requester') return stateWord(j.status, j.verified) === status
  if (status === 'unverified') return false
  return j.status === status
}

type Entry = RequestedDigest | ServedLeaseDigest

/** When a job was submitted, or a lease started: what the list orders by. */
const timeOf = (e: Entry): number => 'startedAt' in e ? e.startedAt : e.createdAt

export async function listJobs (node: ComputeNode, labels: () => JobLabels, query: JobsListQuery): Promise<{ jobs: JobSummaryView[], total: number }> {
  const { role, limit } = query
  const scheduler = node.scheduler
  const records = scheduler.records
  const sources: Array<AsyncIterable<Entry>> = []
  // At equal times a requested job comes before a lease (the order the list always had).
  if (role !== 'worker') sources.push(records.requestedNewestFirst())
  if (role !== 'requester') sources.push(scheduler.servedLeasesNewestFirst())
  const page: JobSummaryView[] = []
  let total = 0
  for await (const entry of mergeNewestFirst(sources, timeOf)) {
    if ('startedAt' in entry) {
      const lease = entry
      if (!matchesStatus({ role: 'worker', ...leaseState(lease.reason) }, query.status)) continue
      if (page.length < limit) {
        // An open lease comes with its record (from memory); a stored one is read.
        const record = lease.record ?? await records.getLease(lease.id)
        if (record == null) continue // deleted since (a prune)
        page.push(leaseSummaryView(record))
      }
      total++
      continue
    }
    const digest = entry
    let record = scheduler.requester.jobs.liveRecord(digest.id)
    let state: { status: JobState, verified: boolean }
    if (record == null && FINAL_STATUSES.has(digest.status)) state = digestState(digest)
    else {
      record ??= await records.getRequested(digest.id)
      if (record == null) continue
      state = { status: requestedState(record, node.activity.get(digest.id)).status, verified: record.verified === true }
    }
    if (!matchesStatus({ role: 'requester', ...state }, query.status)) continue
    if (page.length < limit) {
      record ??= await records.getRequested(digest.id)
      if (record == null) continue
      page.push(requestedSummary(record, node.activity.get(record.id), await labels().get(record.id)))
    }
    total++
  }
  return { jobs: page, total }
}
