/**
 * The requester's pure decisions with made-up inputs: the quorum and its tie handling, bid
 * ranking and lease choice, what fits a lease, which blobs a worker may ask for, a result arriving
 * in pieces, offer caps after a funds decline, a lease's checkpoint accounting (what is paid, what a checkpoint must
 * match), and what a task's verdict says.
 */
import { describe, it, expect } from 'vitest'
import type { CID } from 'multiformats/cid'
import { rawCid, valueCid } from '../src/proofs/encoding.ts'
import { chainRoot, ZERO_ROOT, type ResultEntry } from '../src/proofs/commitment.ts'
import type { CheckpointBody } from '../src/proofs/lease.ts'
import { decide, tally, type QuorumInput, type Vote } from '../src/scheduler/requester/quorum.ts'
import { leaseExhausted, leasesWanted, leaseWindow, pickLease, rankBids, taskFitsLease, type BidCandidate, type LeaseCandidate } from '../src/scheduler/requester/ranking.ts'
import { BlobAllowance } from '../src/scheduler/requester/blob-allowance.ts'
import { LeasePool, type LeasePoolComponents } from '../src/scheduler/requester/lease-pool.ts'
import { Negotiator } from '../src/scheduler/requester/negotiator.ts'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createSigner } from '../src/proofs/signing.ts'
import type { SignedOffer } from '../src/scheduler/messages.ts'
import { waitFor } from './helpers.ts'
import { IncomingResult } from '../src/scheduler/requester/incoming-result.ts'
import type { LeaseBody } from '../src/proofs/lease.ts'
import type { ResultFrame } from '../src/scheduler/lease-frames.ts'
import { creditsFor, leaseFuelCap, type Requirements, type TaskSpec } from '../src/scheduler/task.ts'
import { BadResultError, ProtocolViolationError } from '../src/scheduler/errors.ts'
import { resultsDue } from '../src/scheduler/worker/batching.ts'
import { LeaseAccount } from '../src/scheduler/requester/accounting.ts'
import { keyOfOutcome, keyOfResult, verdictOf, type VerdictInput } from '../src/scheduler/requester/verdict.ts'
import type { OutputTree, ReplicaResult, TaskWork } from '../src/scheduler/requester/types.ts'
import { EMPTY_MANIFEST, encodeManifest, manifestCid, manifestOf } from '../src/scheduler/files/index.ts'
import type { ReplicaRecord } from '../src/scheduler/job-store.ts'
import type { TaskOutcome } from '../src/scheduler/run-task.ts'
import { CheckpointError } from '../src/scheduler/errors.ts'
import { LEASE_MIN_WINDOW_PER_SLOT, LEASE_PIPELINE_MS, LEASE_WINDOW_PER_SLOT, TASK_RUN_GRACE_MS, TIE_BREAK_REPLICAS } from '../src/scheduler/constants.ts'

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)
const v = (worker: string, key: string, host?: string): Vote => ({ worker, key, ...(host != null ? { host } : {}) })

describe('quorum (decide, tally)', () => {
  const input = (votes: Vote[], extra: Partial<QuorumInput> = {}): QuorumInput =>
    ({ replicas: votes.length, quorum: Math.floor(votes.length / 2) + 1, votes, outstanding: 0, extra: 0, maxExtra: TIE_BREAK_REPLICAS, ...extra })

  it('one replica with quorum 1 is verified by itself', () => {
    expect(decide(input([v('a', 'K1')]))).toEqual({ kind: 'verified', key: 'K1', agreeing: ['a'], outvoted: [] })
  })

  it('a majority verifies; the minority is outvoted', () => {
    expect(decide(input([v('a', 'K1'), v('b', 'K2'), v('c', 'K1')], { quorum: 2 }))).toEqual({ kind: 'verified', key: 'K1', agreeing: ['a', 'c'], outvoted: ['b'] })
    const five = [v('a', 'K1'), v('b', 'K2'), v('c', 'K1'), v('d', 'K3'), v('e', 'K1')]
    expect(decide(input(five, { quorum: 3 }))).toEqual({ kind: 'verified', key: 'K1', agreeing: ['a', 'c', 'e'], outvoted: ['b', 'd'] })
  })

  it('waits while replicas are outstanding, or fewer votes than replicas (plus extra) are in', () => {
    expect(decide(input([v('a', 'K1'), v('b', 'K1')], { replicas: 3, quorum: 2 }))).toEqual({ kind: 'wait' })
    expect(decide(input([v('a', 'K1'), v('b', 'K1')], { replicas: 2, quorum: 2, outstanding: 1 }))).toEqual({ kind: 'wait' })
    // A tie-break replica was asked for: the decision waits for it.
    expect(decide(input([v('a', 'K1'), v('b', 'K2')], { replicas: 2, quorum: 2, extra: 1 }))).toEqual({ kind: 'wait' })
  })

  it('a tie 1 vs 1 with replicas 2 asks for one more replica; neither side is the answer', () => {
    const tie = [v('a', 'K1'), v('b', 'K2')]
    expect(decide(input(tie, { replicas: 2, quorum: 2 }))).toEqual({ kind: 'more', replicas: 1 })
    // Even a quorum of 1 does not let a tied side win.
    expect(decide(input(tie, { replicas: 2, quorum: 1 }))).toEqual({ kind: 'more', replicas: 1 })
  })

  it('the tie-break replica decides: agreeing with one side verifies it and outvotes the other', () => {
    const votes = [v('a', 'K1'), v('b', 'K2'), v('c', 'K2')]
    expect(decide(input(votes, { replicas: 2, quorum: 2, extra: 1 }))).toEqual({ kind: 'verified', key: 'K2', agreeing: ['b', 'c'], outvoted: ['a'] })
  })

  it('a three-way disagreement after the tie-break is unverified, with every output named', () => {
    const votes = [v('a', 'K1'), v('b', 'K2'), v('c', 'K3')]
    const verdict = decide(input(votes, { replicas: 2, quorum: 2, extra: 1 }))
    expect(verdict.kind).toBe('unverified')
    expect(verdict.kind === 'unverified' && [...verdict.keys].sort()).toEqual(['K1', 'K2', 'K3'])
  })

  it('no tie-break replicas allowed (maxExtra 0, e.g. at the deadline): a tie is unverified at once', () => {
    expect(decide(input([v('a', 'K1'), v('b', 'K2')], { replicas: 2, quorum: 2, maxExtra: 0 })).kind).toBe('unverified')
  })

  it('a quorum not reached gets a tie-break replica, then is unverified', () => {
    const votes = [v('a', 'K1'), v('b', 'K1'), v('c', 'K2')]
    expect(decide(input(votes, { replicas: 3, quorum: 3 }))).toEqual({ kind: 'more', replicas: 1 })
    expect(decide(input([...votes, v('d', 'K2')], { replicas: 3, quorum: 3, extra: 1 })).kind).toBe('unverified')
    expect(decide(input([...votes, v('d', 'K1')], { replicas: 3, quorum: 3, extra: 1 }))).toMatchObject({ kind: 'verified', key: 'K1', agreeing: ['a', 'b', 'd'] })
  })

  it('workers on one host vote once: two peer ids on one machine do not outvote a third', () => {
    const votes = [v('a', 'K1', '10.0.0.1'), v('b', 'K1', '10.0.0.1'), v('c', 'K2', '10.0.0.2')]
    const groups = tally(votes)
    expect(groups.get('K1')).toEqual({ votes: 1, workers: ['a', 'b'], hosts: new Set(['10.0.0.1']) })
    expect(groups.get('K2')?.votes).toBe(1)
    expect(decide(input(votes, { replicas: 3, quorum: 2 }))).toEqual({ kind: 'more', replicas: 1 })
    // Distinct hosts (or no host known) count one vote each.
    expect(tally([v('a', 'K1', 'h1'), v('b', 'K1', 'h2'), v('c', 'K1')]).get('K1')?.votes).toBe(3)
    // The same host on different outputs votes once in each group.
    const split = tally([v('a', 'K1', 'h1'), v('b', 'K2', 'h1')])
    expect([split.get('K1')?.votes, split.get('K2')?.votes]).toEqual([1, 1])
  })
})

describe('ranking (rankBids, pickLease, leasesWanted)', () => {
  const bid = (worker: string, extra: Partial<BidCandidate> = {}): BidCandidate =>
    ({ worker, price: 1, freeSlots: 1, latencyMs: 10, reliability: 0.5, leases: 0, ...extra })
  const order = (bids: BidCandidate[]): string[] => rankBids(bids).map((b) => b.worker)

  it('a worker with no lease yet comes first, even at a higher price', () => {
    expect(order([bid('held', { leases: 1, price: 1 }), bid('new', { price: 5 })])).toEqual(['new', 'held'])
    // One lease or three: the same "already leased" rank; then price decides.
    expect(order([bid('three', { leases: 3, price: 1 }), bid('one', { leases: 1, price: 2 })])).toEqual(['three', 'one'])
  })

  it('then one that can start now, then the lower price, the better reliability, the quicker answer', () => {
    expect(order([bid('full', { freeSlots: 0, price: 1 }), bid('free', { freeSlots: 2, price: 9 })])).toEqual(['free', 'full'])
    expect(order([bid('dear', { price: 3 }), bid('cheap', { price: 2 })])).toEqual(['cheap', 'dear'])
    expect(order([bid('flaky', { reliability: 0.2 }), bid('solid', { reliability: 0.9 })])).toEqual(['solid', 'flaky'])
    expect(order([bid('slow', { latencyMs: 200 }), bid('quick', { latencyMs: 5 })])).toEqual(['quick', 'slow'])
    // Price outranks reliability and latency.
    expect(order([bid('good', { price: 2, reliability: 0.99, latencyMs: 1 }), bid('cheap', { price: 1, reliability: 0.1, latencyMs: 900 })])).toEqual(['cheap', 'good'])
  })

  it('returns a sorted copy and leaves its input alone', () => {
    const bids = [bid('b', { price: 2 }), bid('a', { price: 1 })]
    expect(rankBids(bids).map((b) => b.worker)).toEqual(['a', 'b'])
    expect(bids.map((b) => b.worker)).toEqual(['b', 'a'])
    expect(rankBids([])).toEqual([])
  })

  const lease = (worker: string, extra: Partial<LeaseCandidate> = {}): LeaseCandidate =>
    ({ worker, price: 1, outstanding: 0, window: 4, reliability: 0.5, ...extra })

  it('pickLease: the least loaded for its window, then the cheapest, then the most reliable; full leases never', () => {
    expect(pickLease([lease('busy', { outstanding: 3 }), lease('idle', { outstanding: 1 })])?.worker).toBe('idle')
    // Load is relative to the window: 4 of 16 is less loaded than 2 of 4.
    expect(pickLease([lease('small', { outstanding: 2, window: 4 }), lease('big', { outstanding: 4, window: 16 })])?.worker).toBe('big')
    expect(pickLease([lease('dear', { price: 3 }), lease('cheap', { price: 2 })])?.worker).toBe('cheap')
    expect(pickLease([lease('flaky', { reliability: 0.1 }), lease('solid', { reliability: 0.9 })])?.worker).toBe('solid')
    expect(pickLease([lease('full', { outstanding: 4 }), lease('fuller', { outstanding: 9 })])).toBeUndefined()
    expect(pickLease([lease('full', { outstanding: 4, price: 0 }), lease('room', { outstanding: 3, price: 9 })])?.worker).toBe('room')
    expect(pickLease([])).toBeUndefined()
  })

  const wanted = (extra: Partial<Parameters<typeof leasesWanted>[0]>): number =>
    leasesWanted({ queued: 1, window: 4, usable: 0, opening: 0, distinctWorkersNeeded: 1, max: 32, ...extra })

  it('leasesWanted: none for an empty queue, one to start, enough windows for the volume', () => {
    expect(wanted({ queued: 0 })).toBe(0)
    expect(wanted({ queued: 0, distinctWorkersNeeded: 3 })).toBe(0)
    expect(wanted({ queued: 1 })).toBe(1)
    expect(wanted({ queued: 10, window: 4 })).toBe(3)
    // Leases held count towards the volume; leases being opened too.
    expect(wanted({ queued: 10, window: 4, usable: 2 })).toBe(1)
    expect(wanted({ queued: 10, window: 4, opening: 3 })).toBe(0)
    expect(wanted({ queued: 1, usable: 1 })).toBe(0)
  })

  it('leasesWanted: at least as many workers as replicas still unplaced, within the caps', () => {
    expect(wanted({ queued: 1, window: 16, usable: 1, distinctWorkersNeeded: 3 })).toBe(2)
    expect(wanted({ queued: 1, window: 16, usable: 1, opening: 1, distinctWorkersNeeded: 3 })).toBe(1)
    expect(wanted({ queued: 1000, window: 4, usable: 30, max: 32 })).toBe(2)
    expect(wanted({ queued: 1000, window: 4, usable: 30, opening: 2, max: 32 })).toBe(0)
    expect(wanted({ queued: 1000, window: 4, usable: 40, max: 32 })).toBe(0)
  })
})

describe('batching on a lease (leaseWindow, resultsDue)', () => {
  it('leaseWindow: the minimum per slot until run times are known, about LEASE_PIPELINE_MS of work per slot after, within the bounds', () => {
    expect(leaseWindow(2, undefined)).toBe(2 * LEASE_MIN_WINDOW_PER_SLOT)
    // Long tasks: the minimum (one running, three waiting per slot).
    expect(leaseWindow(2, 5_000)).toBe(2 * LEASE_MIN_WINDOW_PER_SLOT)
    expect(leaseWindow(3, LEASE_PIPELINE_MS)).toBe(3 * LEASE_MIN_WINDOW_PER_SLOT)
    // In between: the pipeline's worth.
    expect(leaseWindow(2, LEASE_PIPELINE_MS / 8)).toBe(2 * 8)
    // Short tasks, and runs reported as taking 0 ms: at most what a worker accepts.
    expect(leaseWindow(2, 0.1)).toBe(2 * LEASE_WINDOW_PER_SLOT)
    expect(leaseWindow(1, 0)).toBe(LEASE_WINDOW_PER_SLOT)
    expect(LEASE_MIN_WINDOW_PER_SLOT).toBeLessThan(LEASE_WINDOW_PER_SLOT)
  })

  it('resultsDue: at once when nothing else is outstanding, at half the window, or when the lease runs dry; else later', () => {
    expect(resultsDue({ waiting: 0, outstanding: 3, running: 1 })).toBe(false)
    // The last one (or the last few) outstanding: the requester waits for them.
    expect(resultsDue({ waiting: 1, outstanding: 0, running: 0 })).toBe(true)
    expect(resultsDue({ waiting: 5, outstanding: 0, running: 0 })).toBe(true)
    // Half of what the requester counts as outstanding is answered.
    expect(resultsDue({ waiting: 8, outstanding: 8, running: 2 })).toBe(true)
    expect(resultsDue({ waiting: 7, outstanding: 9, running: 2 })).toBe(false)
    // Nothing waits for a slot: the lease runs dry unless the requester hears of these.
    expect(resultsDue({ waiting: 1, outstanding: 2, running: 2 })).toBe(true)
    expect(resultsDue({ waiting: 1, outstanding: 3, running: 2 })).toBe(false)
  })
})

describe('what fits a lease (taskFitsLease, leaseExhausted)', () => {
  const NOW = 1_000_000
  // Price 2 credits per gigafuel, cap 100 credits: 50 gigafuel in all.
  const terms = {
    v: 1, offerId: valueCid(utf8('offer')), requester: 'req', worker: 'w1', price: 2, slots: 2, maxCredits: 100, memoryMiB: 256,
    maxTaskMs: 10_000, maxTaskFuel: 10_000_000_000n, acceptedAt: NOW, expiresAt: NOW + 60_000
  } as unknown as LeaseBody
  const needs = (extra: Partial<Requirements> = {}): Requirements => ({ memoryMiB: 128, timeoutMs: 5_000, fuel: 1_000_000_000n, maxPrice: 5, ...extra })

  it('a task within every term fits; each term over the lease does not', () => {
    expect(taskFitsLease(terms, needs(), 0n, NOW)).toBe(true)
    expect(taskFitsLease(terms, needs({ memoryMiB: 512 }), 0n, NOW)).toBe(false)
    expect(taskFitsLease(terms, needs({ timeoutMs: 20_000 }), 0n, NOW)).toBe(false)
    expect(taskFitsLease(terms, needs({ fuel: 20_000_000_000n }), 0n, NOW)).toBe(false)
    expect(taskFitsLease(terms, needs({ maxPrice: 1 }), 0n, NOW)).toBe(false)
    expect(taskFitsLease(terms, needs({ peers: ['w2'] }), 0n, NOW)).toBe(false)
    expect(taskFitsLease(terms, needs({ peers: ['w2', 'w1'] }), 0n, NOW)).toBe(true)
  })

  it('a task that would run past the lease, or past its credit cap at its fuel limit, does not fit', () => {
    const lastStart = NOW + 60_000 - 5_000 - TASK_RUN_GRACE_MS
    expect(taskFitsLease(terms, needs(), 0n, lastStart)).toBe(true)
    expect(taskFitsLease(terms, needs(), 0n, lastStart + 1)).toBe(false)
    // 49 gigafuel committed + 1 = 50 gigafuel = 100 credits: fits; one fuel more does not.
    expect(taskFitsLease(terms, needs(), 49_000_000_000n, NOW)).toBe(true)
    expect(taskFitsLease(terms, needs(), 49_000_000_001n, NOW)).toBe(false)
  })

  it('the fuel cap says what the credit cap says, for any price, cap and fuel', () => {
    let seed = 11
    const next = (n: number): number => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed % n }
    for (let i = 0; i < 5000; i++) {
      const t = { ...terms, price: next(4) === 0 ? 0 : 1 + next(1000), maxCredits: next(3) === 0 ? next(10) : next(1_000_000_000) } as LeaseBody
      const cap = leaseFuelCap(t)
      const around = t.price === 0 ? [0n, 10n ** 18n] : [cap - 1n, cap, cap + 1n, BigInt(next(1_000_000_000)) * 1000n]
      for (const fuel of around) {
        if (fuel < 0n) continue
        expect(fuel <= cap, `price ${t.price}, cap ${t.maxCredits}, fuel ${fuel}`).toBe(creditsFor(t.price, fuel) <= t.maxCredits)
      }
    }
  })

  it('a lease is exhausted once a full-size task cannot fit its budget or its time', () => {
    expect(leaseExhausted(terms, 0n, NOW)).toBe(false)
    expect(leaseExhausted(terms, 40_000_000_000n, NOW)).toBe(false)
    expect(leaseExhausted(terms, 40_000_000_001n, NOW)).toBe(true)
    expect(leaseExhausted(terms, 0n, NOW + 50_000)).toBe(false)
    expect(leaseExhausted(terms, 0n, NOW + 50_001)).toBe(true)
  })
})

describe('blobs a worker may ask for (BlobAllowance)', () => {
  const cid = (s: string): CID => rawCid(utf8(s))
  const task = (module: string, input: string, extra: Partial<TaskWork> = {}): TaskWork =>
    ({ spec: { module: cid(module), input: cid(input) } as unknown as TaskSpec, ...extra }) as unknown as TaskWork

  it('serves each blob once per outstanding task that names it, and nothing else', () => {
    const allowance = new BlobAllowance()
    const a = task('mod', 'in-a')
    const b = task('mod', 'in-b')
    allowance.allow(a)
    allowance.allow(b)
    const m = cid('mod').toString()
    expect(allowance.take(m, [a, b])).toBe(true)
    expect(allowance.take(m, [a, b])).toBe(true)
    expect(allowance.take(m, [a, b])).toBe(false)
    expect(allowance.take(cid('in-a').toString(), [a, b])).toBe(true)
    expect(allowance.take(cid('in-a').toString(), [a, b])).toBe(false)
    // Owed, but its task is no longer outstanding.
    expect(allowance.take(cid('in-b').toString(), [a])).toBe(false)
    expect(allowance.take(cid('other').toString(), [a, b])).toBe(false)
  })

  it('a stdin carried in the task frame is never served; tree files once per task of the tree', () => {
    const allowance = new BlobAllowance()
    const tree = { cid: cid('manifest').toString(), blobs: new Set([cid('manifest').toString(), cid('f1').toString()]) }
    const a = task('mod', 'in', { stdin: new Uint8Array(1), inputTree: tree })
    const b = task('mod', 'in', { stdin: new Uint8Array(1), inputTree: tree })
    allowance.allow(a)
    allowance.allow(b)
    expect(allowance.take(cid('in').toString(), [a, b])).toBe(false)
    expect(allowance.take(tree.cid, [a, b])).toBe(true)
    const f1 = cid('f1').toString()
    expect(allowance.take(f1, [a, b])).toBe(true)
    expect(allowance.take(f1, [a, b])).toBe(true)
    expect(allowance.take(f1, [a, b])).toBe(false)
  })
})

describe('a result arriving in data frames (IncomingResult)', () => {
  const id = rawCid(utf8('task'))
  const work = { id } as unknown as TaskWork
  const frame = (outBytes: number, errBytes: number): ResultFrame => ({ outBytes, errBytes } as unknown as ResultFrame)

  it('fills stdout then stderr and is complete at the announced lengths', () => {
    const inc = new IncomingResult(work, frame(5, 2))
    expect(inc.complete).toBe(false)
    inc.data(id, 'stdout', utf8('hel'))
    inc.data(id, 'stdout', utf8('lo'))
    expect(inc.complete).toBe(false)
    inc.data(id, 'stderr', utf8('!!'))
    expect(inc.complete).toBe(true)
    expect(new TextDecoder().decode(inc.stdout)).toBe('hello')
    expect(new TextDecoder().decode(inc.stderr)).toBe('!!')
  })

  it('refuses data of another task, out of order, past its length, or files for a result without files', () => {
    expect(() => { new IncomingResult(work, frame(2, 2)).data(rawCid(utf8('other')), 'stdout', utf8('a')) }).toThrow(ProtocolViolationError)
    expect(() => { new IncomingResult(work, frame(2, 2)).data(id, 'stderr', utf8('a')) }).toThrow(ProtocolViolationError)
    expect(() => { new IncomingResult(work, frame(2, 2)).data(id, 'stdout', utf8('abc')) }).toThrow(BadResultError)
    expect(() => { new IncomingResult(work, frame(0, 0)).data(id, 'manifest', utf8('a')) }).toThrow(ProtocolViolationError)
  })
})

describe('checkpoint accounting (LeaseAccount)', () => {
  const task = (n: number): CID => valueCid({ task: n })
  /** A result of task `n` that used `megafuel` × 10^6 fuel (so 1000 of them are a gigafuel, the price's unit). */
  const entry = (n: number, megafuel: number, out = `out ${n}`): ResultEntry => ({ task: task(n), out: rawCid(utf8(out)), exit: 0, fuel: BigInt(megafuel) * 1_000_000n })
  const fuelOf = (entries: ResultEntry[]): bigint => entries.reduce((sum, e) => sum + e.fuel, 0n)
  const LEASE = valueCid({ lease: 1 })
  const cp = (extra: Partial<CheckpointBody> & Pick<CheckpointBody, 'seq' | 'count' | 'root' | 'fuel' | 'amount'>): CheckpointBody =>
    ({ v: 1, lease: LEASE, worker: '12D3KooWworker', at: 0, ...extra })

  function account (price: number, megafuel: number[]): { acc: LeaseAccount, entries: ResultEntry[] } {
    const acc = new LeaseAccount(price)
    const entries = megafuel.map((mf, i) => entry(i, mf))
    for (const e of entries) acc.add(e)
    return { acc, entries }
  }

  it('pays the charged tasks\' fuel at the price, rounded up once for the lease, not per task', () => {
    const { acc } = account(3, [100, 100, 100])
    expect(acc.count).toBe(3)
    expect(acc.fuel).toBe(300_000_000n)
    expect(acc.claimable).toBe(1) // 3 × 0.3 gigafuel × 1 = 0.9 → 1, not 3 × ceil(0.3) = 3
    for (let i = 0; i < 3; i++) acc.decide(task(i).toString(), true)
    expect(acc.paidThrough(3)).toEqual({ paid: 1, refused: 0, refusedTasks: [] })
    expect(acc.paidThrough(1).paid).toBe(1) // 0.3 → 1
    expect(acc.paidThrough(0).paid).toBe(0)
  })

  it('refused tasks are not charged; they are counted, and listed from a given position on', () => {
    const { acc } = account(10, [150, 250, 330])
    acc.decide(task(0).toString(), true)
    acc.decide(task(1).toString(), false)
    acc.decide(task(2).toString(), true)
    const all = acc.paidThrough(3)
    expect(all.paid).toBe(5) // (0.15 + 0.33) gigafuel × 10 = 4.8 → 5
    expect(all.refused).toBe(1)
    expect(all.refusedTasks.map(String)).toEqual([task(1).toString()])
    // Refused before position 2: counted, not listed again.
    expect(acc.paidThrough(3, 2)).toMatchObject({ paid: 5, refused: 1, refusedTasks: [] })
    expect(acc.claimable).toBe(8) // everything received: 7.3 → 8
  })

  it('undecided tasks are pending: neither paid nor refused', () => {
    const { acc } = account(10, [100, 200, 300])
    expect(acc.pendingThrough(3)).toBe(3)
    acc.decide(task(1).toString(), true)
    expect(acc.pendingThrough(3)).toBe(2)
    expect(acc.pendingThrough(1)).toBe(1)
    expect(acc.paidThrough(3)).toEqual({ paid: 2, refused: 0, refusedTasks: [] })
    // An unknown task changes nothing.
    acc.decide(task(99).toString(), false)
    expect(acc.pendingThrough(3)).toBe(2)
  })

  it('what it pays through any count matches a recount, however results, decisions and queries interleave', () => {
    // (the decided head of the book is summed once; this checks that against the plain sum)
    let seed = 7
    const next = (n: number): number => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed % n }
    const acc = new LeaseAccount(7)
    const added: Array<{ n: number, megafuel: number }> = []
    const decisions = new Map<number, boolean>()
    for (let step = 0; step < 3000; step++) {
      const what = next(4)
      if (what === 0 || added.length === 0) {
        const n = next(400) // tasks may come twice (re-placed)
        const megafuel = 1 + next(900)
        added.push({ n, megafuel })
        acc.add(entry(n, megafuel))
      } else if (what === 1) {
        const n = added[next(added.length)].n
        const charged = next(3) > 0
        if (!decisions.has(n)) decisions.set(n, charged)
        acc.decide(task(n).toString(), charged)
      } else {
        const count = next(added.length + 1)
        const since = next(count + 1)
        let fuel = 0n
        let refused = 0
        const listed: string[] = []
        let pending = 0
        for (const [i, a] of added.slice(0, count).entries()) {
          const d = decisions.get(a.n)
          if (d === true) fuel += BigInt(a.megafuel) * 1_000_000n
          else if (d === false) {
            refused++
            if (i >= since) listed.push(task(a.n).toString())
          } else pending++
        }
        const got = acc.paidThrough(count, since)
        expect({ paid: got.paid, refused: got.refused, listed: got.refusedTasks.map(String) }).toEqual({ paid: Number((7n * fuel + 999_999_999n) / 1_000_000_000n), refused, listed })
        expect(acc.pendingThrough(count)).toBe(pending)
      }
    }
  })

  it('a decision stands: a later refusal does not undo a charge, and a task met twice is decided in both places', () => {
    const acc = new LeaseAccount(1000)
    acc.add(entry(0, 1))
    acc.add(entry(1, 2))
    acc.add(entry(0, 4)) // the same task again on this lease (re-placed)
    acc.decide(task(0).toString(), true)
    acc.decide(task(0).toString(), false) // e.g. the owner's final "not paid" sweep
    expect(acc.pendingThrough(3)).toBe(1)
    expect(acc.paidThrough(3).paid).toBe(5)
  })

  it('accepts a checkpoint that matches what was received, also one that lags behind, and trims older states', () => {
    const { acc, entries } = account(2, [400, 600, 500])
    expect(acc.lastCheckpoint).toEqual({ seq: 0, count: 0, amount: 0 })
    acc.accept(cp({ seq: 1, count: 2, root: chainRoot(entries.slice(0, 2)), fuel: fuelOf(entries.slice(0, 2)), amount: 2 }))
    expect(acc.lastCheckpoint).toEqual({ seq: 1, count: 2, amount: 2 })
    acc.accept(cp({ seq: 2, count: 3, root: chainRoot(entries), fuel: fuelOf(entries), amount: 3 }))
    expect(acc.lastCheckpoint).toEqual({ seq: 2, count: 3, amount: 3 })
    // More results, then a checkpoint naming the same count again (nothing new): still fine.
    acc.accept(cp({ seq: 3, count: 3, root: chainRoot(entries), fuel: fuelOf(entries), amount: 3 }))
    expect(acc.lastCheckpoint.seq).toBe(3)
  })

  it('an empty checkpoint (no results yet) matches the zero root', () => {
    const acc = new LeaseAccount(5)
    acc.accept(cp({ seq: 1, count: 0, root: ZERO_ROOT, fuel: 0n, amount: 0 }))
    expect(acc.lastCheckpoint).toEqual({ seq: 1, count: 0, amount: 0 })
  })

  const refuses = (acc: LeaseAccount, body: CheckpointBody, code: string): void => {
    let caught: unknown
    try { acc.accept(body) } catch (err) { caught = err }
    expect(caught).toBeInstanceOf(CheckpointError)
    expect((caught as CheckpointError).code).toBe(code)
  }

  it('refuses a checkpoint out of sequence: skipping ahead, starting at 0, or replaying the last one', () => {
    const { acc, entries } = account(2, [400, 600])
    const first = cp({ seq: 1, count: 1, root: chainRoot(entries.slice(0, 1)), fuel: fuelOf(entries.slice(0, 1)), amount: 1 })
    refuses(acc, { ...first, seq: 2 }, 'ERR_CHECKPOINT_SEQ')
    refuses(acc, { ...first, seq: 0 }, 'ERR_CHECKPOINT_SEQ')
    acc.accept(first)
    refuses(acc, first, 'ERR_CHECKPOINT_SEQ')
    expect(acc.lastCheckpoint).toEqual({ seq: 1, count: 1, amount: 1 })
  })

  it('refuses a checkpoint with fewer results, or a lower amount, than the one before', () => {
    const { acc, entries } = account(2, [400, 600, 500])
    acc.accept(cp({ seq: 1, count: 2, root: chainRoot(entries.slice(0, 2)), fuel: fuelOf(entries.slice(0, 2)), amount: 2 }))
    refuses(acc, cp({ seq: 2, count: 1, root: chainRoot(entries.slice(0, 1)), fuel: fuelOf(entries.slice(0, 1)), amount: 2 }), 'ERR_CHECKPOINT_REGRESSED')
    refuses(acc, cp({ seq: 2, count: 3, root: chainRoot(entries), fuel: fuelOf(entries), amount: 1 }), 'ERR_CHECKPOINT_REGRESSED')
    // A refused checkpoint changes nothing: the proper next one still fits.
    acc.accept(cp({ seq: 2, count: 3, root: chainRoot(entries), fuel: fuelOf(entries), amount: 3 }))
  })

  it('refuses a checkpoint committing to results not received: a wrong root, or a count beyond what arrived', () => {
    const { acc, entries } = account(2, [400, 600])
    const forged = [entries[0], entry(1, 600, 'a different output')]
    refuses(acc, cp({ seq: 1, count: 2, root: chainRoot(forged), fuel: fuelOf(forged), amount: 2 }), 'ERR_CHECKPOINT_MISMATCH')
    refuses(acc, cp({ seq: 1, count: 2, root: chainRoot([entries[1], entries[0]]), fuel: fuelOf([entries[1], entries[0]]), amount: 2 }), 'ERR_CHECKPOINT_MISMATCH')
    refuses(acc, cp({ seq: 1, count: 3, root: chainRoot([...entries, entry(2, 1)]), fuel: fuelOf([...entries, entry(2, 1)]), amount: 2 }), 'ERR_CHECKPOINT_MISMATCH')
    // The right root under another count.
    refuses(acc, cp({ seq: 1, count: 1, root: chainRoot(entries), fuel: fuelOf(entries), amount: 1 }), 'ERR_CHECKPOINT_MISMATCH')
  })

  it('refuses a checkpoint claiming another amount than its results are worth (more, or less)', () => {
    const { acc, entries } = account(2, [400, 600])
    refuses(acc, cp({ seq: 1, count: 2, root: chainRoot(entries), fuel: fuelOf(entries), amount: 3 }), 'ERR_CHECKPOINT_MISMATCH')
    refuses(acc, cp({ seq: 1, count: 2, root: chainRoot(entries), fuel: fuelOf(entries), amount: 1 }), 'ERR_CHECKPOINT_MISMATCH')
    acc.accept(cp({ seq: 1, count: 2, root: chainRoot(entries), fuel: fuelOf(entries), amount: 2 }))
  })

  it('refuses a checkpoint whose fuel is not what its results used, even when the amount works out the same', () => {
    const { acc, entries } = account(2, [400, 600]) // 1 gigafuel: 2 credits
    // One fuel less is still 2 credits at 2 per gigafuel (1.999… → 2), but not what was used.
    refuses(acc, cp({ seq: 1, count: 2, root: chainRoot(entries), fuel: fuelOf(entries) - 1n, amount: 2 }), 'ERR_CHECKPOINT_MISMATCH')
    refuses(acc, cp({ seq: 1, count: 2, root: chainRoot(entries), fuel: fuelOf(entries) + 1n, amount: 3 }), 'ERR_CHECKPOINT_MISMATCH')
    refuses(acc, cp({ seq: 1, count: 2, root: chainRoot(entries), fuel: 0n, amount: 0 }), 'ERR_CHECKPOINT_MISMATCH')
    // A checkpoint over a prefix carries the fuel through that count, not of everything received.
    refuses(acc, cp({ seq: 1, count: 1, root: chainRoot(entries.slice(0, 1)), fuel: fuelOf(entries), amount: 2 }), 'ERR_CHECKPOINT_MISMATCH')
    acc.accept(cp({ seq: 1, count: 1, root: chainRoot(entries.slice(0, 1)), fuel: fuelOf(entries.slice(0, 1)), amount: 1 }))
    acc.accept(cp({ seq: 2, count: 2, root: chainRoot(entries), fuel: fuelOf(entries), amount: 2 }))
  })

  it('fuel past 2^53 is summed and priced exactly; results that used no fuel cost nothing', () => {
    const acc = new LeaseAccount(3)
    const big: ResultEntry = { task: task(0), out: rawCid(utf8('big')), exit: 0, fuel: 2n ** 60n + 1n }
    const small: ResultEntry = { ...big, task: task(1), fuel: 1n }
    const none: ResultEntry = { ...big, task: task(2), exit: -1, fuel: 0n }
    for (const e of [big, small, none]) acc.add(e)
    expect(acc.fuel).toBe(2n ** 60n + 2n)
    // ceil(3 × (2^60 + 2) / 10^9) = ceil(3,458,764,513.82…), exactly (a double would lose the last digits)
    expect(acc.claimable).toBe(3_458_764_514)
    acc.decide(task(0).toString(), true)
    acc.decide(task(1).toString(), false)
    acc.decide(task(2).toString(), true)
    expect(acc.paidThrough(3)).toMatchObject({ paid: 3_458_764_514, refused: 1 })
    acc.accept(cp({ seq: 1, count: 3, root: chainRoot([big, small, none]), fuel: 2n ** 60n + 2n, amount: 3_458_764_514 }))
    const free = new LeaseAccount(5)
    free.add({ ...none, task: task(3) })
    free.decide(task(3).toString(), true)
    expect([free.claimable, free.paidThrough(1).paid]).toEqual([0, 0])
  })

  it('a checkpoint may not name a count before the last accepted one, even with its old root', () => {
    const { acc, entries } = account(2, [400, 600, 500])
    acc.accept(cp({ seq: 1, count: 3, root: chainRoot(entries), fuel: fuelOf(entries), amount: 3 }))
    refuses(acc, cp({ seq: 2, count: 2, root: chainRoot(entries.slice(0, 2)), fuel: fuelOf(entries.slice(0, 2)), amount: 3 }), 'ERR_CHECKPOINT_REGRESSED')
  })
})

describe('replica keys (keyOfResult, keyOfOutcome)', () => {
  const tree = (content: string): OutputTree => {
    const files = [{ path: 'out/result.txt', bytes: utf8(content) }, { path: 'empty', bytes: new Uint8Array(0) }]
    const manifest = manifestOf(files)
    const manifestBytes = encodeManifest(manifest)
    return { cid: manifestCid(manifestBytes), manifest, manifestBytes, files: manifest.files.map((e) => ({ path: e.path, bytes: files.find((f) => f.path === e.path)?.bytes ?? new Uint8Array(0) })) }
  }
  const replica = (stdout: string, extra: Partial<ReplicaResult> = {}): ReplicaResult => ({
    worker: 'w', leaseId: 'lease', exitCode: 0, outputCid: rawCid(utf8(stdout)), stdout: utf8(stdout), stderr: new Uint8Array(0),
    fuel: 1_000n, cpuMs: 1, wallMs: 1, observedMs: 1, cost: 0, ...extra
  })

  it('equal stdout, exit code, fuel and output files agree, whoever ran them and however long it took', () => {
    expect(keyOfResult(replica('x'))).toBe(keyOfResult(replica('x', { worker: 'other', leaseId: 'l2', cpuMs: 99, wallMs: 999, cost: 7, stderr: utf8('noise') })))
    expect(keyOfResult(replica('x', { files: tree('a') }))).toBe(keyOfResult(replica('x', { files: tree('a') })))
  })

  it('a result naming the empty manifest and one without files agree: both left no files (two honest encodings of one outcome)', () => {
    const manifestBytes = encodeManifest(EMPTY_MANIFEST)
    const empty: OutputTree = { cid: manifestCid(manifestBytes), manifest: EMPTY_MANIFEST, manifestBytes, files: [] }
    expect(keyOfResult(replica('x', { files: empty }))).toBe(keyOfResult(replica('x')))
    expect(keyOfResult(replica('x', { files: empty }))).not.toBe(keyOfResult(replica('x', { files: tree('a') })))
  })

  it('a different fuel count or different output files is a different result, with the same stdout and exit code', () => {
    const keys = [
      replica('x'),
      replica('x', { fuel: 1_001n }),
      replica('x', { fuel: 0n }),
      replica('x', { fuel: 2n ** 64n - 1n }),
      replica('x', { fuel: 2n ** 64n - 2n }),
      replica('x', { files: tree('a') }),
      replica('x', { files: tree('b') }),
      replica('x', { exitCode: 1 }),
      replica('y')
    ].map(keyOfResult)
    expect(new Set(keys).size).toBe(keys.length)
  })

  it('keyOfOutcome: a local run keys as the same result from a worker; an empty /out is no files', () => {
    const t = tree('a')
    const outputs = { files: t.manifest.files.map((e, i) => ({ ...e, bytes: t.files[i].bytes })), manifest: t.manifest, manifestBytes: t.manifestBytes, manifestCid: t.cid }
    const local: TaskOutcome = { exitCode: 0, stdout: utf8('x'), stderr: new Uint8Array(0), stdoutTruncated: false, stderrTruncated: false, wallMs: 1, cpuMs: 1, fuel: 1_000n, outputs }
    expect(keyOfOutcome(local)).toBe(keyOfResult(replica('x', { files: t })))
    expect(keyOfOutcome({ ...local, fuel: 999n })).not.toBe(keyOfResult(replica('x', { files: t })))
    const empty = encodeManifest(EMPTY_MANIFEST)
    expect(keyOfOutcome({ ...local, outputs: { files: [], manifest: EMPTY_MANIFEST, manifestBytes: empty, manifestCid: manifestCid(empty) } })).toBe(keyOfResult(replica('x')))
    // No fuel counted (an executor that does not meter) keys as 0.
    const { fuel: _ignored, outputs: _none, ...unmetered } = local
    expect(keyOfOutcome(unmetered)).toBe(keyOfResult(replica('x', { fuel: 0n })))
  })
})

describe('verdicts (verdictOf)', () => {
  const timeoutMs = 5_000
  const fuel = 5_000_000n
  const work = { spec: { fuel }, requirements: { memoryMiB: 64, timeoutMs, fuel, maxPrice: 1 }, replicas: 2, quorum: 2 } as unknown as TaskWork
  const result = (worker: string, stdout: string, extra: Partial<ReplicaResult> = {}): ReplicaResult => ({
    worker, leaseId: 'lease', exitCode: 0, outputCid: rawCid(utf8(stdout)), stdout: utf8(stdout), stderr: new Uint8Array(0),
    fuel: 1_000n, cpuMs: 100, wallMs: 120, observedMs: 125, cost: 0.25, ...extra
  })
  const records: ReplicaRecord[] = [{ worker: 'a', status: 'done' }, { worker: 'b', status: 'done' }]
  const of = (input: Omit<VerdictInput, 'work' | 'records'>): ReturnType<typeof verdictOf> => verdictOf({ work, records, ...input })
  const text = (b: Uint8Array | undefined): string => new TextDecoder().decode(b)

  it('verified: completed with the agreeing output; the cost is the agreeing replicas\'', () => {
    const results = [result('a', 'right'), result('b', 'right', { cost: 0.5 }), result('c', 'wrong')]
    const key = keyOfResult(results[0])
    const verdict = of({ verdict: { kind: 'verified', key, agreeing: ['a', 'b'], outvoted: ['c'] }, outputKey: key, paidKey: key, results })
    expect(verdict).toMatchObject({ status: 'completed', verified: true, agreeing: ['a', 'b'], cost: 0.75, replicas: records })
    expect(text(verdict.output?.stdout)).toBe('right')
    expect(verdict.output?.outputCid.equals(rawCid(utf8('right')))).toBe(true)
    expect(verdict.output?.fuel).toBe(1_000n)
    expect(verdict.error).toBeUndefined()
    expect(verdict).not.toHaveProperty('spotCheck')
  })

  it('a non-zero exit code that the quorum agrees on is still completed', () => {
    const results = [result('a', '', { exitCode: 3 }), result('b', '', { exitCode: 3 })]
    const key = keyOfResult(results[0])
    expect(of({ verdict: { kind: 'verified', key, agreeing: ['a', 'b'], outvoted: [] }, outputKey: key, paidKey: key, results })).toMatchObject({ status: 'completed', verified: true, output: { exitCode: 3 } })
    expect(keyOfResult(results[0])).not.toBe(keyOfResult(result('a', '')))
  })

  it('a run past its time limit is timed-out, not completed, even when the replicas agree', () => {
    const results = [result('a', 'partial', { exitCode: -1, trap: 'timeout' }), result('b', 'partial', { exitCode: -1, trap: 'timeout' })]
    const key = keyOfResult(results[0])
    const verdict = of({ verdict: { kind: 'verified', key, agreeing: ['a', 'b'], outvoted: [] }, outputKey: key, paidKey: key, results })
    expect(verdict).toMatchObject({ status: 'timed-out', verified: true, error: { code: 'ERR_TASK_TIMEOUT' } })
    expect(verdict.error?.message).toContain(`${timeoutMs / 1000} s`)
    expect(text(verdict.output?.stdout)).toBe('partial')
  })

  it('a run that used its whole fuel limit is failed (ERR_OUT_OF_FUEL) when verified, and its workers paid; unverified when too few agree', () => {
    const spent = { exitCode: -1, trap: 'out of fuel', fuel }
    const results = [result('a', 'partial', spent), result('b', 'partial', spent)]
    const key = keyOfResult(results[0])
    const verdict = of({ verdict: { kind: 'verified', key, agreeing: ['a', 'b'], outvoted: [] }, outputKey: key, paidKey: key, results })
    expect(verdict).toMatchObject({ status: 'failed', verified: true, agreeing: ['a', 'b'], cost: 0.5, output: { exitCode: -1, trap: 'out of fuel', fuel }, error: { code: 'ERR_OUT_OF_FUEL' } })
    expect(verdict.error?.message).toContain(String(fuel))
    expect(text(verdict.output?.stdout)).toBe('partial')
    const alone = of({ verdict: { kind: 'unverified', keys: [key] }, outputKey: key, results: results.slice(0, 1) })
    expect(alone).toMatchObject({ status: 'unverified', verified: false, cost: 0, error: { code: 'ERR_OUT_OF_FUEL' } })
    // A program that traps with the text but exits on its own terms is not out of fuel.
    const own = [result('a', '', { exitCode: 1, trap: 'out of fuel' })]
    const ownKey = keyOfResult(own[0])
    expect(of({ verdict: { kind: 'verified', key: ownKey, agreeing: ['a'], outvoted: [] }, outputKey: ownKey, paidKey: ownKey, results: own }).status).toBe('completed')
  })

  it('a module that could not run is failed, with its fault as the error', () => {
    for (const trap of ['InvalidModuleError: not wasm', 'ForbiddenImportError: env.x', 'MemoryLimitError: 9000 MiB', 'ModuleCidMismatchError: cid']) {
      const results = [result('a', '', { exitCode: -1, trap })]
      const key = keyOfResult(results[0])
      expect(of({ verdict: { kind: 'verified', key, agreeing: ['a'], outvoted: [] }, outputKey: key, paidKey: key, results })).toMatchObject({ status: 'failed', error: { code: 'ERR_INVALID_MODULE', message: trap } })
    }
    // A trap of the program itself is its outcome, not a failure of the module.
    const results = [result('a', '', { exitCode: -1, trap: 'unreachable' })]
    const key = keyOfResult(results[0])
    expect(of({ verdict: { kind: 'verified', key, agreeing: ['a'], outvoted: [] }, outputKey: key, paidKey: key, results }).status).toBe('completed')
  })

  it('unverified (the replicas did not agree) has no output, no agreeing worker and costs nothing', () => {
    const results = [result('a', 'one'), result('b', 'two'), result('c', 'three')]
    const verdict = of({ verdict: { kind: 'unverified', keys: results.map(keyOfResult) }, results })
    expect(verdict).toMatchObject({ status: 'unverified', verified: false, agreeing: [], cost: 0, error: { code: 'ERR_NO_QUORUM' } })
    expect(verdict.output).toBeUndefined()
    expect(verdict.error?.message).toContain('3 results, 3 different: stdout, exit code, fuel or files differ')
  })

  it('too few replicas for the quorum but all agreeing: their output is shown, labelled unverified, and nobody is paid', () => {
    const results = [result('a', 'alone')]
    const key = keyOfResult(results[0])
    const verdict = of({ verdict: { kind: 'unverified', keys: [key] }, outputKey: key, results })
    expect(verdict).toMatchObject({ status: 'unverified', verified: false, agreeing: ['a'], cost: 0, error: { code: 'ERR_NOT_VERIFIED' } })
    expect(verdict.error?.message).toContain('1 of 2 needed')
    expect(text(verdict.output?.stdout)).toBe('alone')
  })

  it('a failed spot check: the local output is the answer, not verified; only replicas matching it are paid', () => {
    const results = [result('a', 'liar'), result('b', 'liar')]
    const local: TaskOutcome = { exitCode: 0, stdout: utf8('truth'), stderr: utf8('log'), stdoutTruncated: false, stderrTruncated: false, wallMs: 5, cpuMs: 5, fuel: 1_000n }
    const localKey = keyOfOutcome(local)
    expect(localKey).toBe(keyOfResult(result('c', 'truth')))
    const verdict = of({ verdict: { kind: 'verified', key: keyOfResult(results[0]), agreeing: ['a', 'b'], outvoted: [] }, outputKey: localKey, paidKey: localKey, results, spotCheck: 'failed', local })
    expect(verdict).toMatchObject({ status: 'unverified', verified: false, spotCheck: 'failed', agreeing: [], cost: 0 })
    expect(text(verdict.output?.stdout)).toBe('truth')
    expect(text(verdict.output?.stderr)).toBe('log')
    expect(verdict.output?.outputCid.equals(rawCid(utf8('truth')))).toBe(true)
    expect(verdict.output?.fuel).toBe(1_000n)
    // An outvoted honest replica that matches the local run is the one paid.
    const mixed = [result('a', 'liar'), result('b', 'liar'), result('c', 'truth', { cost: 0.1 })]
    const again = of({ verdict: { kind: 'verified', key: keyOfResult(mixed[0]), agreeing: ['a', 'b'], outvoted: ['c'] }, outputKey: localKey, paidKey: localKey, results: mixed, spotCheck: 'failed', local })
    expect(again).toMatchObject({ agreeing: ['c'], cost: 0.1, verified: false })
  })

  it('a spot check that passed, or could not be run here, leaves a verified result verified', () => {
    const results = [result('a', 'right'), result('b', 'right')]
    const key = keyOfResult(results[0])
    const verified = { kind: 'verified' as const, key, agreeing: ['a', 'b'], outvoted: [] }
    expect(of({ verdict: verified, outputKey: key, paidKey: key, results, spotCheck: 'passed' })).toMatchObject({ status: 'completed', verified: true, spotCheck: 'passed' })
    expect(of({ verdict: verified, outputKey: key, paidKey: key, results, spotCheck: 'not-checked' })).toMatchObject({ status: 'completed', verified: true, spotCheck: 'not-checked' })
  })
})

describe('offer caps after a funds decline (LeasePool)', () => {
  /**
   * A pool whose every round gets one `funds` decline and no lease; `capOf(budget, capLimit)`:
   * the cap the round's offer would carry. Resolves with the caps offered once the class fails.
   */
  async function capsUntilTheClassFails (capOf: (budget: number, capLimit: number) => number): Promise<{ caps: number[], noBids: Record<string, number> }> {
    const caps: number[] = []
    let noBids: Record<string, number> | undefined
    let pool: LeasePool | undefined
    const requirements: Requirements = { memoryMiB: 64, timeoutMs: 1_000, fuel: 1_000_000n, maxPrice: 10 }
    const negotiator = {
      targets: async () => ['w1'],
      round: async (_r: Requirements, _need: number, _targets: string[], _gossip: boolean, budget: number, _lw: unknown, _s: unknown, _e: unknown, capLimit = Number.MAX_SAFE_INTEGER) => {
        const offered = capOf(budget, capLimit)
        caps.push(offered)
        return { leases: [], declines: new Map([['w1', 'funds']]), asked: 1, offered }
      }
    }
    pool = new LeasePool({
      negotiator: negotiator as unknown as Negotiator,
      spendable: async () => 1_000_000,
      reportPeer: () => {},
      // The dispatcher asks again once a round is over (here: on the next turn of the event loop).
      hooks: { onRoom: () => { setTimeout(() => { if (noBids == null) pool?.want('k', requirements, 1, new Set()) }, 0) } } as unknown as LeasePoolComponents['hooks'],
      onNoBids: (_key, reasons) => { noBids = reasons }
    })
    pool.start()
    pool.want('k', requirements, 1, new Set())
    const reasons = await waitFor(() => noBids, { what: 'the class to fail', timeoutMs: 10_000 }).catch((err) => { throw new Error(`${String(err)} caps ${JSON.stringify(caps)}`) })
    await pool.stop(new Error('done'))
    return { caps, noBids: reasons }
  }

  it('offers a quarter of the last cap after each funds decline, then fails the class with the reasons', async () => {
    // Caps set by the budget (the whole spendable balance for one lease).
    const { caps, noBids } = await capsUntilTheClassFails((budget, capLimit) => Math.min(budget, capLimit))
    expect(caps).toEqual([1_000_000, 250_000, 62_500])
    expect(noBids).toEqual({ funds: 1 })
  })

  it('a cap that came from the task-cost term, not the budget, is quartered too', async () => {
    // The offers capped at 102,400 whatever the budget (one task's cost × slots × 64).
    const { caps } = await capsUntilTheClassFails((budget, capLimit) => Math.min(budget, capLimit, 102_400))
    expect(caps).toEqual([102_400, 25_600, 6_400])
  })
})

describe('offer caps within the budget (Negotiator.round)', () => {
  it('never splits the budget below one task\'s cost: fewer leases, each able to run a task', async () => {
    const signer = createSigner(await generateKeyPair('Ed25519'))
    const offers: SignedOffer[] = []
    const negotiator = new Negotiator({
      signer,
      channels: { open: async () => { throw new Error('no network in this test') } },
      publishOffer: async (offer) => { offers.push(offer) },
      knownPeers: () => [],
      findPeers: async () => [],
      reportPeer: () => {},
      reliability: () => 0.5,
      speed: () => 1
    })
    // One task costs 100 credits at the class's price cap (10 gigafuel at 10); 250 spendable.
    const r: Requirements = { memoryMiB: 64, timeoutMs: 10_000, fuel: 10_000_000_000n, maxPrice: 10 }
    const result = await negotiator.round(r, 16, [], true, 250, () => 0, new AbortController().signal)
    expect(result.leases).toEqual([])
    // Two leases are affordable: each offer may cap at 125, not 250 / 16 = 15.
    expect(offers[0].body.maxCredits).toBe(125)
    expect(result.offered).toBe(125)
  })
})
