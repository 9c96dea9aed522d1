/**
 * One page of the jobs list (`GET /v1/jobs`, `depin jobs`, the dashboard): jobs this node
 * requested and leases it served for peers, newest first, filtered by role and state, and how
 * many match.
 *
 * Both come newest first from time indexes (the requested jobs' by creation, the served leases'
 * by start, merged), filtered on the digests the indexes keep: only the records of the page shown
 * are read (and those of unfinished jobs this run does not place, whose state needs their
 * replicas), however many the node keeps. `total` counts the matches from the digests alone, the
 * older ones from counts kept between pages (jobs-count.ts).
 */
import type { ComputeNode } from '../compute-node.ts'
import type { JobState } from '../../job-status.ts'
import { stateWord } from '../../job-status.ts'
import { FINAL_STATUSES } from '../../scheduler/job-store.ts'
import { listEntries, timeOf, type JobsCounter, type ListedState } from './jobs-count.ts'
import type { JobLabels } from '../job-labels.ts'
import { digestState, leaseState, leaseSummaryView, requestedState, requestedSummary, type JobSummaryView } from './job-view.ts'

/** `active`: queued or running; `unverified`: completed but not verified. */
export type JobsStatusFilter = JobState | 'unverified' | 'active'

export interface JobsListQuery {
  status?: JobsStatusFilter
  role?: 'requester' | 'worker'
  limit: number
}

/** Whether a listed job matches the `status` filter (`active`: queued or running). */
export function matchesStatus (j: ListedState, status: JobsStatusFilter | undefined): boolean {
  if (status == null) return true
  if (status === 'active') return j.status === 'queued' || j.status === 'running'
  // Verification is the requester's verdict: a task run here for a peer is just completed.
  if ((status === 'unverified' || status === 'completed') && j.role === 'requester') return stateWord(j.status, j.verified) === status
  if (status === 'unverified') return false
  return j.status === status
}

/**
 * One page and `total`. The page is read newest first until it is full; `total` counts the
 * matches among entries newer than what `counter` counted (read here) and adds the counter's
 * matches among the older ones (jobs-count.ts). Without a counter, every entry is read.
 */
export async function listJobs (node: ComputeNode, labels: () => JobLabels, query: JobsListQuery, counter?: JobsCounter): Promise<{ jobs: JobSummaryView[], total: number }> {
  const { role, limit } = query
  const scheduler = node.scheduler
  const records = scheduler.records
  const older = await counter?.older(Date.now())
  const below = older?.below ?? Number.NEGATIVE_INFINITY
  const page: JobSummaryView[] = []
  let total = 0
  for await (const entry of listEntries(node, role)) {
    const counted = timeOf(entry) < below
    if (counted && page.length >= limit) break
    if ('startedAt' in entry) {
      const lease = entry
      if (!matchesStatus({ role: 'worker', ...leaseState(lease.reason, lease.unacknowledged) }, query.status)) continue
      if (page.length < limit) {
        // An open lease comes with its record (from memory); a stored one is read.
        const record = lease.record ?? await records.getLease(lease.id)
        if (record == null) continue // deleted since (a prune)
        page.push(leaseSummaryView(record))
      }
      if (!counted) total++
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
    if (!counted) total++
  }
  if (older != null && counter != null) total += await counter.matching(older, (state) => matchesStatus(state, query.status), role)
  return { jobs: page, total }
}
