/**
 * Why a task waits for workers, as the pure decision of src/scheduler/requester/placement.ts:
 * made-up capacity records, refusals and replicas in, the reason (or none) out.
 */
import { describe, it, expect } from 'vitest'
import { knownWorkers, placementWait, type KnownWorker } from '../src/scheduler/requester/placement.ts'
import type { DeclineReason } from '../src/scheduler/errors.ts'
import { deadlineVerdict } from '../src/scheduler/requester/verdict.ts'

const SELF = 'self'
const need = { memoryMiB: 512, maxPrice: 5 }

function worker (peerId: string, fields: Partial<KnownWorker> = {}): KnownWorker {
  return { peerId, memoryMiB: 1024, pricePerGigafuel: 1, runtimes: ['wasi-p1'], slots: 4, ...fields }
}

const placedOn = (...peers: string[]): Array<{ peerId: string }> => peers.map((peerId) => ({ peerId }))

describe('knownWorkers: which known workers could take a class of tasks', () => {
  it('sorts workers by what they lack; this node and duplicates do not count', () => {
    const known = knownWorkers(need, [
      worker('a'), worker('a'), worker(SELF),
      worker('small', { memoryMiB: 256 }), worker('smaller', { memoryMiB: 128 }),
      worker('dear', { pricePerGigafuel: 9 }), worker('dearer', { pricePerGigafuel: 20 }),
      worker('other-runtime', { runtimes: ['wasm-other'] }), worker('full', { slots: 0 })
    ], new Map(), SELF)
    expect(known.capable).toEqual([{ peerId: 'a' }])
    expect(known.unable).toEqual({ memory: 2, price: 2, runtime: 1, slots: 1 })
    expect(known.mostMemoryMiB).toBe(256)
    expect(known.lowestPrice).toBe(9)
  })

  it('a permanent refusal outweighs the record; a worker known only by its refusal counts; transient refusals do not', () => {
    const declines = new Map<string, DeclineReason>([['a', 'funds'], ['b', 'busy'], ['gossip-only', 'memory'], ['gossip-busy', 'busy']])
    const known = knownWorkers(need, [worker('a'), worker('b')], declines, SELF)
    expect(known.capable).toEqual([{ peerId: 'b' }])
    expect(known.unable).toEqual({ funds: 1, memory: 1 })
    // Known only by a refusal: no record, so no figures to quote.
    expect(known.mostMemoryMiB).toBeUndefined()
  })

  it('a task for named peers counts only those, and the named peers nobody knows', () => {
    const known = knownWorkers({ ...need, peers: ['a', 'ghost', 'ghost2'] }, [worker('a'), worker('b', { memoryMiB: 1 })], new Map(), SELF)
    expect(known.capable).toEqual([{ peerId: 'a' }])
    expect(known.unable).toEqual({ unknown: 2 })
  })
})

describe('placementWait: why one task cannot get all its replicas', () => {
  it('enough capable workers: no reason, whatever the task (the common case)', () => {
    const known = knownWorkers(need, [worker('a'), worker('b'), worker('c')], new Map(), SELF)
    expect(placementWait(known, { replicas: 1, placed: [], failed: [] })).toBeUndefined()
    expect(placementWait(known, { replicas: 3, placed: [], failed: [] })).toBeUndefined()
    expect(placementWait(known, { replicas: 3, placed: placedOn('a', 'b'), failed: [] })).toBeUndefined()
    // Every replica placed: nothing to wait for.
    expect(placementWait(knownWorkers(need, [], new Map(), SELF), { replicas: 2, placed: placedOn('a', 'b'), failed: [] })).toBeUndefined()
  })

  it('no worker known at all', () => {
    const wait = placementWait(knownWorkers(need, [], new Map(), SELF), { replicas: 1, placed: [], failed: [] })
    expect(wait).toEqual({ code: 'ERR_NO_CAPABLE_WORKERS', message: 'no capable worker known (no other peer\'s capacity is known)', placed: 0, replicas: 1, reasons: {} })
  })

  it('more memory than any known worker has', () => {
    const known = knownWorkers(need, [worker('a', { memoryMiB: 256 }), worker('b', { memoryMiB: 64 })], new Map(), SELF)
    const wait = placementWait(known, { replicas: 1, placed: [], failed: [] })
    expect(wait?.code).toBe('ERR_NO_CAPABLE_WORKERS')
    expect(wait?.message).toBe('no capable worker known (2 known workers have at most 256 MiB of memory but 512 MiB is needed)')
    expect(wait?.reasons).toEqual({ memory: 2 })
  })

  it('a maximum price below every known worker\'s price', () => {
    const known = knownWorkers({ memoryMiB: 64, maxPrice: 1 }, [worker('a', { pricePerGigafuel: 2 })], new Map(), SELF)
    expect(placementWait(known, { replicas: 1, placed: [], failed: [] })?.message).toBe('no capable worker known (1 known worker charges 2 per gigafuel but the max price is 1)')
  })

  it('three replicas, two capable workers that already have one: the example of the README', () => {
    const known = knownWorkers(need, [worker('a'), worker('b'), worker('c', { memoryMiB: 256 })], new Map(), SELF)
    const wait = placementWait(known, { replicas: 3, placed: placedOn('a', 'b'), failed: [] })
    expect(wait).toEqual({
      code: 'ERR_NOT_ENOUGH_WORKERS',
      message: '2 of 3 replicas placed; no other capable worker known (2 known workers already have a replica, 1 has 256 MiB of memory but 512 MiB is needed)',
      placed: 2,
      replicas: 3,
      reasons: { placed: 2, memory: 1 }
    })
  })

  it('three replicas, two capable workers, nothing placed yet: not enough, though two will be placed', () => {
    const known = knownWorkers(need, [worker('a'), worker('b')], new Map(), SELF)
    const wait = placementWait(known, { replicas: 3, placed: [], failed: [] })
    expect(wait?.code).toBe('ERR_NOT_ENOUGH_WORKERS')
    expect(wait?.message).toBe('0 of 3 replicas placed; only 2 capable workers are known')
  })

  it('the only capable worker failed the task', () => {
    const known = knownWorkers(need, [worker('a')], new Map(), SELF)
    const wait = placementWait(known, { replicas: 1, placed: [], failed: ['a'] })
    expect(wait?.code).toBe('ERR_NO_CAPABLE_WORKERS')
    expect(wait?.message).toBe('no capable worker known (1 known worker failed it)')
  })

  it('replicas go to distinct hosts: capable workers on a host that has one do not count', () => {
    const known = knownWorkers(need, [worker('a', { host: 'h1' }), worker('b', { host: 'h1' }), worker('c', { host: 'h2' })], new Map(), SELF)
    expect(placementWait(known, { replicas: 2, placed: [{ peerId: 'a', host: 'h1' }], failed: [] })).toBeUndefined()
    const wait = placementWait(known, { replicas: 3, placed: [{ peerId: 'a', host: 'h1' }, { peerId: 'c', host: 'h2' }], failed: [] })
    expect(wait?.message).toBe('2 of 3 replicas placed; no other capable worker known (2 known workers already have a replica, 1 is on a host that already has a replica)')
    expect(wait?.reasons).toEqual({ placed: 2, host: 1 })
  })

  it('only a named peer nobody knows may run it', () => {
    const known = knownWorkers({ ...need, peers: ['ghost'] }, [worker('a')], new Map(), SELF)
    expect(placementWait(known, { replicas: 1, placed: [], failed: [] })?.message).toBe('no capable worker known (the named peer is not known)')
  })

  it('refusals heard: funds and memory, with no record to quote', () => {
    const known = knownWorkers(need, [], new Map<string, DeclineReason>([['a', 'funds'], ['b', 'memory'], ['c', 'memory']]), SELF)
    expect(placementWait(known, { replicas: 1, placed: [], failed: [] })?.message)
      .toBe('no capable worker known (2 known workers have less memory than the 512 MiB needed, 1 declined: this node\'s credits do not cover a lease)')
  })
})

describe('deadlineVerdict: a task with no result at its deadline', () => {
  it('fails with the reason it waited for workers, else times out', () => {
    const wait = placementWait(knownWorkers(need, [], new Map(), SELF), { replicas: 1, placed: [], failed: [] })
    expect(deadlineVerdict([], wait)).toMatchObject({
      status: 'failed',
      verified: false,
      cost: 0,
      error: { code: 'ERR_NO_CAPABLE_WORKERS', message: 'the deadline passed while the task waited for workers: no capable worker known (no other peer\'s capacity is known)', reasons: {} }
    })
    expect(deadlineVerdict([{ worker: 'a', status: 'failed' }])).toMatchObject({
      status: 'timed-out',
      error: { code: 'ERR_JOB_TIMEOUT', message: 'task reached its deadline with no result (1 placement(s) tried)' }
    })
  })
})
