/**
 * The requester's warm leases. Tasks go on leases already held whenever one fits (no
 * negotiation on the hot path); while tasks wait and capable workers exist, more leases are
 * opened, one offer round at a time per class of task requirements, with back-off when nobody
 * bids. The credit caps of open leases never add up to more than this node can spend. A worker
 * that broke a lease is not leased again for a while. Leases close themselves when idle.
 */
import { logger } from '@libp2p/logger'
import type { PeerActionName } from '../../shared/peer-actions.ts'
import { MAX_LEASES, MAX_LEASES_PER_WORKER, REOFFER_MAX_MS, REOFFER_MIN_MS, WORKER_BENCH_MS } from '../constants.ts'
import { TRANSIENT_DECLINES, type DeclineReason } from '../errors.ts'
import type { Requirements } from '../task.ts'
import { LeaseClient, type LeaseClientHooks } from './lease-client.ts'
import type { Negotiator, OpenedLease } from './negotiator.ts'
import type { TaskWork } from './types.ts'

const log = logger('depin:requester:leases')

/** Longest back-off between offer rounds for more leases of a class that already has some. */
const GROWTH_BACKOFF_MAX_MS = 30_000

/** Offer rounds without a bid after which a class whose refusals are all permanent fails its tasks. */
const FAIL_FAST_ROUNDS = 3
/**
 * After a `funds` decline the next offer caps its lease at this fraction of the last one: a
 * worker's view of this node's balance can lag its own (blocks, pending settles), and a cap near
 * the whole balance is then refused although a smaller one would do.
 */
const FUNDS_CAP_STEP = 4

const NO_DECLINES: ReadonlyMap<string, DeclineReason> = new Map()

export interface LeasePoolComponents {
  negotiator: Negotiator
  /** Credits this node can commit to new leases (its spendable balance); absent: unlimited. */
  spendable?: () => Promise<number>
  hostOf?: (peerId: string) => string | undefined
  reportPeer: (peerId: string, action: PeerActionName) => void
  /** Hooks every lease client gets (results, failures, settling), minus `onEnded`. */
  hooks: Omit<LeaseClientHooks, 'onEnded'>
  /** A class's offers met only permanent refusals: its waiting tasks cannot be placed. */
  onNoBids: (classKey: string, reasons: Record<string, number>) => void
  /** An offer round went out (for events and metrics). */
  onOfferRound?: (info: { requirements: Requirements, direct: number, gossip: boolean }) => void
  /** A lease was opened or ended (for events and metrics). */
  onLeaseOpened?: (client: LeaseClient) => void
  onLeaseEnded?: (client: LeaseClient, reason: string) => void
}

interface ClassState {
  requirements: Requirements
  opening: boolean
  emptyRounds: number
  backoff: number
  retryAt: number
  /** Whether the last round brought no bid (the next one gossips). */
  lastEmpty: boolean
  declines: Map<string, DeclineReason>
  /** After `funds` declines: the most the next offer's maxCredits may be (a quarter of the last offer's). */
  capLimit?: number
}

export class LeasePool {
  private readonly c: LeasePoolComponents
  readonly leases = new Map<string, LeaseClient>()
  private readonly classes = new Map<string, ClassState>()
  private readonly benched = new Map<string, number>()
  private controller = new AbortController()
  /** Bumped by closeAll: a round that began before it closes the leases it opens. */
  private closing = { epoch: 0, reason: 'closed' }

  constructor (components: LeasePoolComponents) {
    this.c = components
  }

  start (): void {
    this.controller = new AbortController()
  }

  /**
   * Stops: leases still open after `graceMs` are aborted. Before that, every lease is closed the
   * way `closeAll` closes it (the worker sends its final checkpoint, this node acknowledges it,
   * the lease ends), so a worker is acknowledged, and can be paid, for every result it returned,
   * not only for those of its last checkpoint before the stop. Tasks still outstanding are the
   * caller's to cancel first: a lease waits for its outstanding tasks before it ends.
   */
  async stop (err: Error, graceMs = 0): Promise<void> {
    this.controller.abort(err)
    if (graceMs > 0 && this.leases.size > 0) {
      const ended = [...this.leases.values()].map(async (lease) => { await lease.ended })
      this.closeAll('closed')
      let timer: ReturnType<typeof setTimeout> | undefined
      await Promise.race([Promise.all(ended), new Promise<void>((resolve) => { timer = setTimeout(resolve, graceMs) })])
      clearTimeout(timer)
    }
    for (const timer of this.retryTimers.values()) clearTimeout(timer)
    this.retryTimers.clear()
    for (const lease of this.leases.values()) lease.abort(err)
    this.leases.clear()
  }

  /**
   * Closes every lease (each ends once its outstanding tasks are answered, then settles),
   * including those that offer rounds under way now go on to open.
   */
  closeAll (reason = 'closed'): void {
    this.closing = { epoch: this.closing.epoch + 1, reason }
    for (const lease of this.leases.values()) lease.close(reason)
  }

  /** Open leases a task may go on now. */
  usableFor (task: TaskWork, now: number): LeaseClient[] {
    const out: LeaseClient[] = []
    for (const lease of this.leases.values()) if (lease.usable && lease.fits(task, now)) out.push(lease)
    return out
  }

  /** The permanent and transient refusals a class's offers met since a lease for it last opened, by worker. */
  declinesOf (classKey: string): ReadonlyMap<string, DeclineReason> {
    return this.classes.get(classKey)?.declines ?? NO_DECLINES
  }

  leasesWith (worker: string): number {
    let n = 0
    for (const lease of this.leases.values()) if (lease.worker === worker && lease.usable) n++
    return n
  }

  isBenched (worker: string): boolean {
    const until = this.benched.get(worker)
    if (until == null) return false
    if (until > Date.now()) return true
    this.benched.delete(worker)
    return false
  }

  /**
   * Asks for `count` more leases for a class (tasks are waiting). Starts an offer round unless
   * one is under way or the class is backing off; results arrive as leases (`onRoom` of the hooks).
   */
  want (classKey: string, requirements: Requirements, count: number, excludeWorkers: Set<string>): void {
    if (count <= 0 || this.controller.signal.aborted) return
    const state = this.classes.get(classKey) ?? { requirements, opening: false, emptyRounds: 0, backoff: REOFFER_MIN_MS, retryAt: 0, lastEmpty: false, declines: new Map() }
    this.classes.set(classKey, state)
    if (state.opening) return
    if (Date.now() < state.retryAt) {
      this.retryLater(classKey, state.retryAt - Date.now())
      return
    }
    const room = MAX_LEASES - this.openCount()
    if (room <= 0) return
    state.opening = true
    void this.openRound(classKey, state, Math.min(count, room), excludeWorkers).finally(() => { state.opening = false })
  }

  private readonly retryTimers = new Map<string, ReturnType<typeof setTimeout>>()

  /** Looks at the waiting tasks again once a class's back-off has passed. */
  private retryLater (classKey: string, delay: number): void {
    if (this.retryTimers.has(classKey)) return
    const timer = setTimeout(() => {
      this.retryTimers.delete(classKey)
      this.c.hooks.onRoom()
    }, Math.max(0, delay))
    timer.unref?.()
    this.retryTimers.set(classKey, timer)
  }

  private openCount (): number {
    let n = 0
    for (const lease of this.leases.values()) if (lease.usable) n++
    return n
  }

  /** What new leases may still cap at, within this node's spendable credits. */
  private async budget (): Promise<number> {
    if (this.c.spendable == null) return Number.MAX_SAFE_INTEGER
    let reserved = 0
    for (const lease of this.leases.values()) reserved += lease.lease.body.maxCredits
    return Math.max(0, (await this.c.spendable()) - reserved)
  }

  private async openRound (classKey: string, state: ClassState, need: number, excludeWorkers: Set<string>): Promise<void> {
    const signal = this.controller.signal
    const r = state.requirements
    const epoch = this.closing.epoch
    try {
      const budget = await this.budget()
      const exclude = (peer: string): boolean => excludeWorkers.has(peer) || this.isBenched(peer) || this.leasesWith(peer) >= MAX_LEASES_PER_WORKER || this.hasClassLease(peer, classKey)
      const leasesWith = (peer: string): number => this.leasesWith(peer)
      const targets = await this.c.negotiator.targets(r, need, exclude, leasesWith)
      const gossip = targets.length < need || state.lastEmpty
      if (targets.length === 0 && !gossip) return
      this.c.onOfferRound?.({ requirements: r, direct: targets.length, gossip })
      const result = await this.c.negotiator.round(r, need, targets, gossip, budget, leasesWith, signal, exclude, state.capLimit)
      for (const [peer, reason] of result.declines) state.declines.set(peer, reason)
      for (const opened of result.leases) {
        const client = this.add(classKey, opened)
        if (epoch !== this.closing.epoch) client.close(this.closing.reason)
      }
      if (result.leases.length === 0 && [...result.declines.values()].includes('funds')) {
        // A quarter of the last offer's cap (it may have come from the budget or from one task's cost).
        state.capLimit = Math.max(1, Math.floor((result.offered ?? budget) / FUNDS_CAP_STEP))
      }
      if (result.leases.length > 0) {
        state.capLimit = undefined
        state.emptyRounds = 0
        state.backoff = REOFFER_MIN_MS
        state.retryAt = 0
        state.lastEmpty = false
        state.declines.clear()
        return
      }
      state.emptyRounds++
      state.lastEmpty = true
      state.retryAt = Date.now() + state.backoff
      // Growing a class that already has leases is opportunistic: it backs off further than a
      // class whose tasks have nowhere to go.
      const hasLeases = [...this.leases.values()].some((l) => l.usable && this.classOf.get(l.idText) === classKey)
      state.backoff = Math.min(hasLeases ? GROWTH_BACKOFF_MAX_MS : REOFFER_MAX_MS, state.backoff * 2)
      const reasons = [...state.declines.values()]
      // Fail fast only on evidence: peers answered, and every answer was a permanent refusal.
      if (state.emptyRounds >= FAIL_FAST_ROUNDS && reasons.length > 0 && reasons.every((x) => !TRANSIENT_DECLINES.has(x))) {
        const counts: Record<string, number> = {}
        for (const reason of reasons) counts[reason] = (counts[reason] ?? 0) + 1
        this.c.onNoBids(classKey, counts)
        state.emptyRounds = 0
        state.capLimit = undefined
        state.declines.clear()
      }
    } catch (err) {
      if (!signal.aborted) log('offer round for %s failed: %e', classKey, err)
      state.retryAt = Date.now() + state.backoff
      state.backoff = Math.min(REOFFER_MAX_MS, state.backoff * 2)
    } finally {
      // Waiting tasks are looked at again: new leases to fill, or a later round to start.
      queueMicrotask(() => { this.c.hooks.onRoom() })
    }
  }

  private readonly classOf = new Map<string, string>()

  private hasClassLease (worker: string, classKey: string): boolean {
    for (const lease of this.leases.values()) if (lease.usable && lease.worker === worker && this.classOf.get(lease.idText) === classKey) return true
    return false
  }

  private add (classKey: string, { lease, channel }: OpenedLease): LeaseClient {
    const client = new LeaseClient(lease, channel, {
      ...this.c.hooks,
      onEnded: (c, reason, broken) => {
        this.leases.delete(c.idText)
        this.classOf.delete(c.idText)
        if (broken) this.benched.set(c.worker, Date.now() + WORKER_BENCH_MS)
        this.c.onLeaseEnded?.(c, reason)
        this.c.hooks.onRoom()
      }
    }, this.c.hostOf?.(lease.body.worker))
    this.leases.set(client.idText, client)
    this.classOf.set(client.idText, classKey)
    client.start()
    this.c.onLeaseOpened?.(client)
    return client
  }
}
