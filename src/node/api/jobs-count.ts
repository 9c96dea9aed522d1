/**
 * The jobs list's `total` without reading every index entry for every page. Walking them all
 * (no record decoded) cost ~50 ms per page at 20,000 served leases, and the dashboard asks for a
 * page every few seconds.
 *
 * What changes is nearly always recent: jobs submitted and placed now, leases served now. So the
 * matches are counted in two parts: entries newer than `COUNT_RECENT_MS` are read on every page,
 * as before; older ones are counted once, by one walk, into counts per digest (a requested job's
 * stored status and flags, a served lease's end reason and whether it left results
 * unacknowledged), which answer every status and role filter. Those counts stand until a write
 * lands that changed an index entry older than the time they were taken for (the stores'
 * `indexChanges`: a prune, a lease that ran long ending, an old job finishing, a lease-tail claim
 * acknowledging an old lease's tail); the next page then walks again. Entries whose state is not
 * in their digest (a requested job not finished, a lease served now) are kept aside and looked at
 * on every page.
 *
 * Nothing is stored: a restart (or a crash) starts from one walk, so the counts cannot drift from
 * the indexes, which are written in one batch with their records.
 */
import type { ComputeNode } from '../compute-node.ts'
import type { JobState } from '../../job-status.ts'
import { FINAL_STATUSES, type JobStore } from '../../scheduler/job-store.ts'
import { unacknowledgedResults } from '../../scheduler/served-lease-state.ts'
import type { RequestedDigest } from '../../scheduler/requested-index.ts'
import type { ServedLeaseDigest } from '../../scheduler/views.ts'
import { mergeNewestFirst } from '../../shared/newest-first.ts'
import { digestState, leaseState, requestedState } from './job-view.ts'

/** Entries newer than this are counted on every page; older ones from the counts of one walk. */
export const COUNT_RECENT_MS = 10 * 60_000

export type ListEntry = RequestedDigest | ServedLeaseDigest

/** When a job was submitted, or a lease started: what the list orders by. */
export const timeOf = (e: ListEntry): number => 'startedAt' in e ? e.startedAt : e.createdAt

export type ListedState = { role: 'requester' | 'worker', status: JobState, verified: boolean }

/** Every stored entry of both roles, newest first; a requested job comes before a lease at equal times. */
export function listEntries (node: ComputeNode, role?: 'requester' | 'worker'): AsyncIterable<ListEntry> {
  const sources: Array<AsyncIterable<ListEntry>> = []
  if (role !== 'worker') sources.push(node.scheduler.records.requestedNewestFirst())
  if (role !== 'requester') sources.push(node.scheduler.servedLeasesNewestFirst())
  return mergeNewestFirst(sources, timeOf)
}

/** The counts of the entries older than `below`, and those among them to look at each time. */
export interface OlderCounts {
  below: number
  /**
   * Final requested jobs by `job <status> <verified><ok>`, stored leases by
   * `lease <results unacknowledged: 1, none: 0, not known: -> <reason>`.
   */
  counts: Map<string, number>
  /** Requested jobs not finished, leases served now: their state is not in their digest. */
  live: ListEntry[]
}

export class JobsCounter {
  private readonly node: ComputeNode
  private store?: JobStore
  private cache?: OlderCounts
  /** The oldest entry time a landed write changed since the last walk began. */
  private oldestChange = Number.POSITIVE_INFINITY
  private readonly onChange = (at: number): void => { if (at < this.oldestChange) this.oldestChange = at }

  constructor (node: ComputeNode) {
    this.node = node
  }

  /** The counts of entries older than `now - COUNT_RECENT_MS`, walking again only if one of them changed. */
  async older (now: number): Promise<OlderCounts> {
    const store = this.node.scheduler.records
    if (store !== this.store) {
      // (the node restarted: a new store)
      this.store?.indexChanges.off(this.onChange)
      store.indexChanges.on(this.onChange)
      this.store = store
      this.cache = undefined
    }
    // (and not so long ago that the entries read on every page are many more than COUNT_RECENT_MS's)
    if (this.cache != null && this.oldestChange >= this.cache.below && now - this.cache.below < 2 * COUNT_RECENT_MS) return this.cache
    const below = now - COUNT_RECENT_MS
    // Before the walk's scan begins: a write that lands after it is then always seen here.
    this.oldestChange = Number.POSITIVE_INFINITY
    const counts = new Map<string, number>()
    const live: ListEntry[] = []
    for await (const entry of listEntries(this.node)) {
      if (timeOf(entry) >= below) continue
      const key = 'startedAt' in entry
        ? entry.record == null ? `lease ${entry.unacknowledged == null ? '-' : entry.unacknowledged > 0 ? 1 : 0} ${entry.reason}` : undefined
        : FINAL_STATUSES.has(entry.status) ? `job ${entry.status} ${entry.verified ? 1 : 0}${entry.ok ? 1 : 0}` : undefined
      if (key == null) live.push(entry)
      else counts.set(key, (counts.get(key) ?? 0) + 1)
    }
    // Only if nothing older changed while it walked (else the next page walks again).
    const cache = { below, counts, live }
    if (this.oldestChange >= below) this.cache = cache
    return cache
  }

  /** How many of the counted older entries match (`matches` decides for a role and state). */
  async matching (older: OlderCounts, matches: (state: ListedState) => boolean, role?: 'requester' | 'worker'): Promise<number> {
    let total = 0
    for (const [key, count] of older.counts) {
      const [kind, ...rest] = key.split(' ')
      if (kind === 'job') {
        if (role === 'worker') continue
        const [status, flags] = rest
        if (matches({ role: 'requester', ...digestState({ id: '', createdAt: 0, status: status as RequestedDigest['status'], verified: flags[0] === '1', ok: flags[1] === '1' }) })) total += count
      } else {
        if (role === 'requester') continue
        // (whether results were left unacknowledged decides the state, not how many)
        const [unacknowledged, ...reason] = rest
        if (matches({ role: 'worker', ...leaseState(reason.join(' '), unacknowledged === '-' ? undefined : Number(unacknowledged)) })) total += count
      }
    }
    for (const entry of older.live) {
      const state = await this.liveState(entry)
      if (state != null && (role == null || state.role === role) && matches(state)) total++
    }
    return total
  }

  /** A not-finished job's or open lease's state now (undefined: gone since). */
  private async liveState (entry: ListEntry): Promise<ListedState | undefined> {
    const scheduler = this.node.scheduler
    if ('startedAt' in entry) {
      const record = await scheduler.servedLease(entry.id)
      return record == null ? undefined : { role: 'worker', ...leaseState(record.reason, unacknowledgedResults(record)) }
    }
    const record = scheduler.requester.jobs.liveRecord(entry.id) ?? await scheduler.records.getRequested(entry.id)
    if (record == null) return undefined
    return { role: 'requester', status: requestedState(record, this.node.activity.get(entry.id)).status, verified: record.verified === true }
  }
}
