/**
 * A worker's decisions and its slots, with made-up inputs: whether to bid on a lease offer (each
 * decline reason), the terms of its bid, the checks on an accept, and the slot scheduler shared
 * by its leases (per-lease limits, round robin between leases, aborts, start estimates), and its
 * checkpoint book (what it signs, which acknowledgements it takes).
 */
import { describe, it, expect, beforeAll } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createSigner, type Signer } from '../src/proofs/signing.ts'
import { rawCid, valueCid } from '../src/proofs/encoding.ts'
import { leaseId, signAck, signLeaseAsRequester, signLeaseAsWorker, type Lease, type LeaseBody, type SignedAck, type SignedCheckpoint } from '../src/proofs/lease.ts'
import { WorkerCheckpoints } from '../src/scheduler/worker/checkpoints.ts'
import type { ResultFrame } from '../src/scheduler/lease-frames.ts'
import type { Capacity } from '../src/shared/capacity.ts'
import { bidTerms, checkAccept, expectedLeaseCap, judgeOffer, MAX_SKEW_MS, type OfferContext } from '../src/scheduler/worker/admission.ts'
import { SlotScheduler } from '../src/scheduler/worker/slots.ts'
import type { BidBody, OfferBody } from '../src/scheduler/messages.ts'
import { ProtocolViolationError } from '../src/scheduler/errors.ts'
import { BID_TTL_MS, CHECKPOINT_EVERY_RESULTS, MAX_WORKER_LEASES, WORKER_QUEUE_MIN_MS, WORKER_QUEUE_PER_SLOT } from '../src/scheduler/constants.ts'
import { leaseCap, maxTaskCost } from '../src/scheduler/task.ts'

const NOW = 1_700_000_000_000
/** Fuel limit of the offers' tasks: 30 gigafuel, 60 credits at the worker's price of 2 per gigafuel. */
const FUEL = 30_000_000_000n

describe('admission (judgeOffer, bidTerms, checkAccept)', () => {
  let self: string
  let requester: string
  let other: string

  beforeAll(async () => {
    ;[self, requester, other] = await Promise.all([0, 1, 2].map(async () => createSigner(await generateKeyPair('Ed25519')).peerId))
  })

  const capacity = (extra: Partial<Capacity> = {}): Capacity => ({ cores: 4, memoryMiB: 1024, slots: 4, pricePerGigafuel: 2, fuelPerSecond: 0, runtimes: ['wasi-p1'], ...extra })
  const offer = (extra: Partial<OfferBody> = {}): OfferBody => ({
    v: 1, requester, nonce: new Uint8Array(16), runtime: 'wasi-p1', memoryMiB: 256, maxTaskMs: 30_000, maxTaskFuel: FUEL, maxPrice: 5, slots: 8,
    maxCredits: 10_000, durationMs: 600_000, createdAt: NOW, expiresAt: NOW + 30_000, ...extra
  })
  const ctx = (extra: Partial<OfferContext> = {}): OfferContext => ({ self, capacity: capacity(), now: NOW, leases: 0, queued: 0, ...extra })

  it('bids (no reason) on an offer it can serve, also one that names it among others', () => {
    expect(judgeOffer(offer(), ctx())).toBeUndefined()
    expect(judgeOffer(offer({ peers: [other, self] }), ctx())).toBeUndefined()
    // Exactly at its limits: memory equal, price equal, a cap covering exactly one task.
    expect(judgeOffer(offer({ memoryMiB: 1024, maxPrice: 2, maxCredits: maxTaskCost(FUEL, 2) }), ctx())).toBeUndefined()
    expect(maxTaskCost(FUEL, 2)).toBe(60)
    // What one task can cost is its fuel limit at the price, whatever its time limit.
    expect(judgeOffer(offer({ maxTaskMs: 1, maxCredits: 60 }), ctx())).toBeUndefined()
    expect(judgeOffer(offer({ maxTaskMs: 1, maxCredits: 59 }), ctx())).toBe('funds')
    expect(judgeOffer(offer({ maxTaskFuel: 0n, maxCredits: 0 }), ctx())).toBeUndefined()
  })

  it('stays silent on its own offers, and declines not-targeted when the offer names only others', () => {
    expect(judgeOffer(offer({ requester: self }), ctx())).toBe('silent')
    expect(judgeOffer(offer({ requester: self, peers: [other] }), ctx())).toBe('silent')
    expect(judgeOffer(offer({ peers: [other] }), ctx())).toBe('not-targeted')
  })

  const declines: Array<[string, string, () => [OfferBody, OfferContext]]> = [
    ['expired', 'an offer past its expiry', () => [offer({ expiresAt: NOW }), ctx()]],
    ['runtime', 'a runtime it does not have', () => [offer(), ctx({ capacity: capacity({ runtimes: [] }) })]],
    ['memory', 'more memory per task than it has', () => [offer({ memoryMiB: 1025 }), ctx()]],
    ['price', 'a price cap below its price', () => [offer({ maxPrice: 1 }), ctx()]],
    ['funds', 'a credit cap that does not cover one task at its price', () => [offer({ maxCredits: maxTaskCost(FUEL, 2) - 1 }), ctx()]],
    ['funds', 'a fuel limit per task that the cap cannot pay for', () => [offer({ maxTaskFuel: 2n ** 64n - 1n }), ctx()]],
    ['busy', 'no slots at all', () => [offer(), ctx({ capacity: capacity({ slots: 0 }) })]],
    ['busy', 'as many leases as it serves', () => [offer(), ctx({ leases: MAX_WORKER_LEASES })]],
    ['busy', 'a full queue', () => [offer(), ctx({ queued: 4 * WORKER_QUEUE_PER_SLOT })]]
  ]

  for (const [reason, what, make] of declines) {
    it(`declines ${reason} for ${what}`, () => {
      const [o, c] = make()
      expect(judgeOffer(o, c)).toBe(reason)
    })
  }

  it('is not busy one queued task short of the queue cap, or one lease short of the lease cap', () => {
    expect(judgeOffer(offer(), ctx({ queued: 4 * WORKER_QUEUE_PER_SLOT - 1, leases: MAX_WORKER_LEASES - 1 }))).toBeUndefined()
  })

  it('a full queue of short tasks is not busy: only once it is WORKER_QUEUE_MIN_MS of work per slot', () => {
    const full = 4 * WORKER_QUEUE_PER_SLOT * 4
    expect(judgeOffer(offer(), ctx({ queued: full, queuedMs: WORKER_QUEUE_MIN_MS - 1 }))).toBeUndefined()
    expect(judgeOffer(offer(), ctx({ queued: full, queuedMs: WORKER_QUEUE_MIN_MS }))).toBe('busy')
    // run times not known yet: the count alone
    expect(judgeOffer(offer(), ctx({ queued: 4 * WORKER_QUEUE_PER_SLOT }))).toBe('busy')
    // a long wait with few tasks is not busy either (the count decides first)
    expect(judgeOffer(offer(), ctx({ queued: 4 * WORKER_QUEUE_PER_SLOT - 1, queuedMs: 60_000 }))).toBeUndefined()
  })

  it('bid terms: its own price, slots within the offer and its capacity, free slots now, a short expiry', () => {
    const terms = bidTerms(offer({ slots: 8 }), capacity({ slots: 4 }), 1, NOW)
    expect(terms).toEqual({ price: 2, slots: 4, freeSlots: 3, expiresAt: NOW + BID_TTL_MS })
    expect(bidTerms(offer({ slots: 2 }), capacity({ slots: 4 }), 0, NOW).slots).toBe(2)
    // Overloaded (more running than slots): no free slots, never negative.
    expect(bidTerms(offer(), capacity({ slots: 4 }), 6, NOW).freeSlots).toBe(0)
    // A bid never outlives the offer.
    expect(bidTerms(offer({ expiresAt: NOW + 1_000 }), capacity(), 0, NOW).expiresAt).toBe(NOW + 1_000)
  })

  const bid = (extra: Partial<BidBody> = {}): BidBody => ({
    v: 1, offerId: valueCid({ offer: 1 }), worker: self, requester, price: 2, slots: 4, freeSlots: 4, expiresAt: NOW + BID_TTL_MS, ...extra
  })
  const accept = (extra: Partial<LeaseBody> = {}): LeaseBody => ({
    v: 1, offerId: valueCid({ offer: 1 }), requester, worker: self, price: 2, slots: 4, maxCredits: 10_000, memoryMiB: 256,
    maxTaskMs: 30_000, maxTaskFuel: FUEL, acceptedAt: NOW, expiresAt: NOW + 600_000, ...extra
  })

  it('an accept matching the offer and the bid passes (fewer slots than granted, a lower cap, a shorter lease too)', () => {
    expect(checkAccept(accept(), offer(), bid(), NOW)).toBeUndefined()
    expect(checkAccept(accept({ slots: 1, maxCredits: 60, expiresAt: NOW + 1 }), offer(), bid(), NOW)).toBeUndefined()
    expect(checkAccept(accept({ acceptedAt: NOW - MAX_SKEW_MS, expiresAt: NOW - MAX_SKEW_MS + 600_000 }), offer(), bid(), NOW)).toBeUndefined()
  })

  const mismatches: Array<[string, () => Partial<LeaseBody>, RegExp]> = [
    ['another price than the bid', () => ({ price: 1 }), /price 1, the bid was 2/],
    ['more slots than the bid granted', () => ({ slots: 5 }), /5 slots, the bid granted 4/],
    ['other memory than the offer', () => ({ memoryMiB: 128 }), /other task limits/],
    ['another task time limit than the offer', () => ({ maxTaskMs: 60_000 }), /other task limits/],
    ['a higher task fuel limit than the offer', () => ({ maxTaskFuel: FUEL + 1n }), /other task limits/],
    ['a lower task fuel limit than the offer', () => ({ maxTaskFuel: FUEL - 1n }), /other task limits/],
    ['a cap over the offer\'s', () => ({ maxCredits: 10_001 }), /cap of 10001, over the offer's 10000/],
    ['a cap below the cost of one task', () => ({ maxCredits: maxTaskCost(FUEL, 2) - 1 }), /below the cost of one task/],
    ['a time far from ours (past)', () => ({ acceptedAt: NOW - MAX_SKEW_MS - 1 }), /far from ours/],
    ['a time far from ours (future)', () => ({ acceptedAt: NOW + MAX_SKEW_MS + 1, expiresAt: NOW + MAX_SKEW_MS + 2 }), /far from ours/],
    ['an expiry already past', () => ({ acceptedAt: NOW - 1_000, expiresAt: NOW }), /already expired/],
    ['a lease longer than offered', () => ({ expiresAt: NOW + 600_001 }), /longer than offered/],
    ['another requester than the offer\'s', () => ({ requester: other }), /another requester/]
  ]

  for (const [what, change, message] of mismatches) {
    it(`refuses an accept with ${what}`, () => {
      const body = accept(change())
      expect(() => { checkAccept(body, offer(), bid(), NOW) }).toThrow(ProtocolViolationError)
      expect(() => { checkAccept(body, offer(), bid(), NOW) }).toThrow(message)
    })
  }
})

describe('the cap a worker checks the requester\'s funds against (expectedLeaseCap)', () => {
  const offer = { maxCredits: 1_000_000, maxTaskFuel: 3_000_000_000_000n } as unknown as OfferBody
  it('one task at the bid\'s price × granted slots × 64, within the offer\'s maxCredits', () => {
    // 3,000 gigafuel at 1 credit per gigafuel: 3,000 credits a task; 2 slots × 64 tasks.
    expect(expectedLeaseCap(offer, { price: 1, slots: 2 })).toBe(384_000)
    expect(expectedLeaseCap(offer, { price: 10, slots: 2 })).toBe(1_000_000)
    expect(expectedLeaseCap({ ...offer, maxCredits: 5_000 }, { price: 1, slots: 2 })).toBe(5_000)
  })

  it('is the cap the requester accepts with (leaseCap): never under one task\'s cost', () => {
    expect(leaseCap(1_000_000, 3_000, 2)).toBe(384_000)
    expect(leaseCap(5_000, 3_000, 2)).toBe(5_000)
    expect(leaseCap(1_000, 3_000, 2)).toBe(3_000)
  })
})

describe('slots (SlotScheduler)', () => {
  const never = new AbortController().signal

  /** Acquires and records the order in which waiters get their slot. */
  function recorder (slots: SlotScheduler): { order: string[], releases: Map<string, () => void>, acquire: (lease: string, name: string, leaseSlots?: number, signal?: AbortSignal) => Promise<void> } {
    const order: string[] = []
    const releases = new Map<string, () => void>()
    return {
      order,
      releases,
      acquire: async (lease, name, leaseSlots = 4, signal = never) => {
        const release = await slots.acquire(lease, leaseSlots, signal)
        order.push(name)
        releases.set(name, release)
      }
    }
  }
  const settle = async (): Promise<void> => { await new Promise((resolve) => setImmediate(resolve)) }

  it('a lease runs at most its own slots at once, even with node slots free', async () => {
    const slots = new SlotScheduler(() => 4)
    const r = recorder(slots)
    await r.acquire('A', 'a1', 1)
    const a2 = r.acquire('A', 'a2', 1)
    await r.acquire('B', 'b1', 1) // another lease is not held up by A's limit
    await settle()
    expect(r.order).toEqual(['a1', 'b1'])
    expect(slots.active).toBe(2)
    expect(slots.queued).toBe(1)
    r.releases.get('a1')?.()
    await a2
    expect(r.order).toEqual(['a1', 'b1', 'a2'])
    expect(slots.queued).toBe(0)
  })

  it('the node\'s slots cap all leases together; a release is idempotent', async () => {
    const slots = new SlotScheduler(() => 2)
    const r = recorder(slots)
    await r.acquire('A', 'a1')
    await r.acquire('A', 'a2')
    const a3 = r.acquire('A', 'a3')
    await settle()
    expect(slots.active).toBe(2)
    const release = r.releases.get('a1') as () => void
    release()
    release() // twice: frees one slot, not two
    await a3
    expect(slots.active).toBe(2)
    const a4 = r.acquire('A', 'a4')
    await settle()
    expect(r.order).toEqual(['a1', 'a2', 'a3'])
    r.releases.get('a2')?.()
    await a4
  })

  it('leases with waiters take turns (round robin): a deep queue does not starve another lease', async () => {
    const slots = new SlotScheduler(() => 1)
    const r = recorder(slots)
    await r.acquire('A', 'a0')
    const waiting = [r.acquire('A', 'a1'), r.acquire('A', 'a2'), r.acquire('A', 'a3'), r.acquire('B', 'b1'), r.acquire('B', 'b2'), r.acquire('C', 'c1')]
    await settle()
    expect(slots.queued).toBe(6)
    for (let i = 0; i < 6; i++) {
      const last = r.order[r.order.length - 1]
      r.releases.get(last)?.()
      await settle()
    }
    await Promise.all(waiting)
    expect(r.order).toEqual(['a0', 'a1', 'b1', 'c1', 'a2', 'b2', 'a3'])
  })

  it('a lease at its own limit lets another lease\'s waiter go first', async () => {
    const slots = new SlotScheduler(() => 2)
    const r = recorder(slots)
    await r.acquire('A', 'a1', 1)
    await r.acquire('B', 'b1', 2)
    const later = [r.acquire('A', 'a2', 1), r.acquire('B', 'b2', 2)]
    await settle()
    // B frees a slot: A is still at its limit of 1, so B's own waiter takes it.
    r.releases.get('b1')?.()
    await later[1]
    expect(r.order).toEqual(['a1', 'b1', 'b2'])
    r.releases.get('a1')?.()
    await later[0]
    expect(r.order).toEqual(['a1', 'b1', 'b2', 'a2'])
  })

  it('an aborted waiter leaves the queue with the abort reason; the slot goes to the next one', async () => {
    const slots = new SlotScheduler(() => 1)
    const r = recorder(slots)
    await r.acquire('A', 'a0')
    const controller = new AbortController()
    const aborted = r.acquire('A', 'a1', 4, controller.signal)
    const next = r.acquire('B', 'b1')
    await settle()
    expect(slots.queued).toBe(2)
    const reason = new Error('cancelled by the requester')
    controller.abort(reason)
    await expect(aborted).rejects.toBe(reason)
    expect(slots.queued).toBe(1)
    r.releases.get('a0')?.()
    await next
    expect(r.order).toEqual(['a0', 'b1'])
    // Already aborted: refused at once, nothing queued.
    await expect(slots.acquire('A', 1, controller.signal)).rejects.toBe(reason)
    expect(slots.queued).toBe(0)
  })

  it('clear fails every waiter (the node is stopping)', async () => {
    const slots = new SlotScheduler(() => 1)
    const r = recorder(slots)
    await r.acquire('A', 'a0')
    const waiters = [r.acquire('A', 'a1'), r.acquire('B', 'b1')]
    await settle()
    slots.clear(new Error('the node is stopping'))
    for (const w of waiters) await expect(w).rejects.toThrow('the node is stopping')
    expect(slots.queued).toBe(0)
  })

  it('estimateStart: the work ahead spread over the slots, at the typical (moving average) run time', async () => {
    let n = 2
    const slots = new SlotScheduler(() => n)
    expect(slots.typicalRunMs).toBe(0)
    expect(slots.estimateStart(NOW)).toBe(NOW)
    slots.observe(100)
    expect(slots.typicalRunMs).toBe(100)
    slots.observe(200)
    expect(slots.typicalRunMs).toBeCloseTo(110) // 100 × 0.9 + 200 × 0.1
    const r = recorder(slots)
    await r.acquire('A', 'a1')
    expect(slots.estimateStart(NOW)).toBe(NOW) // a slot is free
    await r.acquire('A', 'a2')
    expect(slots.estimateStart(NOW)).toBe(NOW + 110) // both busy: one run ahead over 2 slots
    const waiting = [r.acquire('A', 'a3'), r.acquire('B', 'b1'), r.acquire('B', 'b2')]
    await settle()
    expect(slots.estimateStart(NOW)).toBe(NOW + 2 * 110) // 3 queued + 1: two rounds
    n = 1 // the capacity shrank: the same work takes longer
    expect(slots.estimateStart(NOW)).toBe(NOW + 5 * 110)
    slots.clear(new Error('done'))
    await Promise.allSettled(waiting)
  })

  it('forgets a lease once nothing of it waits or runs, however its waiters went (released, aborted, cleared)', async () => {
    const slots = new SlotScheduler(() => 1)
    const hog = await slots.acquire('busy', 1, never)
    for (let i = 0; i < 100; i++) {
      const c = new AbortController()
      const waiting = slots.acquire(`lease-${i}`, 2, c.signal)
      c.abort(new Error('the lease ended'))
      await expect(waiting).rejects.toThrow('the lease ended')
    }
    expect(slots.leasesKnown).toBe(1)
    const queued = slots.acquire('queued', 1, never)
    slots.clear(new Error('stopping'))
    await expect(queued).rejects.toThrow('stopping')
    expect(slots.leasesKnown).toBe(1)
    hog()
    expect(slots.leasesKnown).toBe(0)
  })
})

describe("the worker's checkpoint book (WorkerCheckpoints)", () => {
  let worker: Signer
  let requester: Signer
  let stranger: Signer
  let lease: Lease

  beforeAll(async () => {
    ;[worker, requester, stranger] = await Promise.all([0, 1, 2].map(async () => createSigner(await generateKeyPair('Ed25519'))))
    const body: LeaseBody = {
      v: 1, offerId: valueCid({ offer: 1 }), requester: requester.peerId, worker: worker.peerId, price: 2, slots: 2, maxCredits: 1000,
      memoryMiB: 256, maxTaskMs: 30_000, maxTaskFuel: FUEL, acceptedAt: NOW, expiresAt: NOW + 600_000
    }
    lease = { body, requesterSig: signLeaseAsRequester(requester, body), workerSig: signLeaseAsWorker(worker, body) }
  })

  const result = (n: number, fuel: bigint): ResultFrame => ({
    task: valueCid(new TextEncoder().encode(`task ${n}`)), exit: 0, out: rawCid(new Uint8Array(0)), outBytes: 0, errBytes: 0,
    fuel, cpuMs: 1, wallMs: 1, stdoutTruncated: false, stderrTruncated: false
  })
  const ackFor = (by: Signer, cp: SignedCheckpoint, paid: number, extra: Record<string, unknown> = {}): SignedAck =>
    signAck(by, { v: 1, lease: cp.body.lease, requester: by.peerId, seq: cp.body.seq, count: cp.body.count, root: cp.body.root, paid, refused: 0, ...extra })

  it('commits results, signs a checkpoint of the fuel and amount when forced or due, and nothing when nothing is new', () => {
    const book = new WorkerCheckpoints(lease, leaseId(lease.body).toString(), worker)
    expect(book.next(true)).toBeUndefined()
    book.commit(result(1, 1_500_000_000n))
    expect(book.next(false)).toBeUndefined()
    const cp = book.next(true)
    expect(cp?.body).toMatchObject({ seq: 1, count: 1, fuel: 1_500_000_000n, amount: 3, worker: worker.peerId })
    expect(book.next(true)).toBeUndefined()
    for (let i = 2; i <= 1 + CHECKPOINT_EVERY_RESULTS; i++) book.commit(result(i, 0n))
    expect(book.next(false)?.body).toMatchObject({ seq: 2, count: 1 + CHECKPOINT_EVERY_RESULTS })
  })

  it('keeps the best acknowledgement; refuses one for another lease, by another requester, of a checkpoint it never sent, paying more than claimed, or refusing more than it covers', () => {
    const book = new WorkerCheckpoints(lease, leaseId(lease.body).toString(), worker)
    book.commit(result(1, 2_000_000_000n))
    const first = book.next(true) as SignedCheckpoint
    book.commit(result(2, 1_000_000_000n))
    const second = book.next(true) as SignedCheckpoint
    expect(book.allAcked).toBe(false)
    // Due from when it left, not from when it was made (it may queue behind output).
    const now = Date.now()
    expect(book.oldestUnackedMs(now + 10)).toBe(0)
    book.sentAt(first.body.seq, now)
    expect(book.oldestUnackedMs(now + 10)).toBe(10)
    expect(() => book.acknowledge(ackFor(stranger, first, 4))).toThrow(ProtocolViolationError)
    expect(() => book.acknowledge(ackFor(requester, first, 4, { lease: valueCid({ other: 1 }) }))).toThrow(ProtocolViolationError)
    expect(() => book.acknowledge(ackFor(requester, first, 4, { seq: 7 }))).toThrow(ProtocolViolationError)
    expect(() => book.acknowledge(ackFor(requester, first, 5))).toThrow(ProtocolViolationError)
    // Refusing more results than it covers: a settle the chain would refuse.
    expect(() => book.acknowledge(ackFor(requester, first, 4, { refused: first.body.count + 1 }))).toThrow(/refusing more results/)
    expect(book.acknowledge(ackFor(requester, first, 4))?.ack.body.paid).toBe(4)
    expect(book.allAcked).toBe(false)
    // The second pays less than it claims (6: a task refused): still the best so far.
    expect(book.acknowledge(ackFor(requester, second, 5))?.checkpoint.body.seq).toBe(2)
    expect(book.allAcked).toBe(true)
    expect(book.paid).toBe(5)
    // The first again: a checkpoint older than an acknowledged one is forgotten, so it is refused.
    expect(() => book.acknowledge(ackFor(requester, first, 4))).toThrow(ProtocolViolationError)
  })
})
