/**
 * The pieces that bound gossip validation work: the fair per-peer queue and the per-peer
 * allowance (built with their own init, no network).
 */
import { describe, it, expect } from 'vitest'
import { FairQueue } from '../src/node/gossip-queue.ts'
import { Allowance } from '../src/node/gossip-allowance.ts'
import { GossipValidationError } from '../src/transport.ts'

/** A task that finishes when released, recording when it started. */
function gate (order: string[], name: string): { run: () => Promise<string>, release: () => void } {
  const { promise, resolve } = Promise.withResolvers<void>()
  return { run: async () => { order.push(name); await promise; return name }, release: () => { resolve() } }
}

describe('fair validation queue', () => {
  it('takes peers in turn: a flood from one peer delays another peer by one turn, not by the flood', async () => {
    const queue = new FairQueue({ concurrency: 1, maxPerPeer: 100 })
    const order: string[] = []
    const done: Array<Promise<string> | undefined> = []
    const first = gate(order, 'a0')
    done.push(queue.push('a', 1, first.run))
    for (let i = 1; i < 50; i++) done.push(queue.push('a', 1, async () => { order.push(`a${i}`); return `a${i}` }))
    done.push(queue.push('b', 1, async () => { order.push('b0'); return 'b0' }))
    expect(queue.stats()).toMatchObject({ running: 1, waiting: 50, peers: 2 })
    first.release()
    await Promise.all(done)
    // b's only message runs right after a's first turn ends, not after a's 49 others.
    expect(order.indexOf('b0')).toBeLessThanOrEqual(2)
    expect(order).toHaveLength(51)
    expect(queue.stats()).toMatchObject({ running: 0, waiting: 0, bytes: 0, peers: 0 })
  })

  it('refuses at once when a peer\'s queue (count or bytes) or the whole queue is full', async () => {
    const queue = new FairQueue({ concurrency: 1, maxPerPeer: 2, maxBytesPerPeer: 100, maxBytes: 150 })
    const order: string[] = []
    const blocker = gate(order, 'x')
    void queue.push('x', 1, blocker.run)
    expect(queue.push('a', 10, async () => 1)).toBeDefined()
    expect(queue.push('a', 10, async () => 2)).toBeDefined()
    expect(queue.push('a', 10, async () => 3)).toBeUndefined() // count
    expect(queue.push('b', 101, async () => 4)).toBeUndefined() // bytes of one peer
    expect(queue.push('b', 90, async () => 5)).toBeDefined()
    expect(queue.push('c', 60, async () => 6)).toBeUndefined() // bytes of all peers
    expect(queue.stats()).toMatchObject({ waiting: 3, bytes: 110 })
    blocker.release()
  })

  it('drops a peer\'s waiting messages as [IGNORE] (e.g. it was banned), leaving others', async () => {
    const queue = new FairQueue({ concurrency: 1 })
    const order: string[] = []
    const blocker = gate(order, 'x')
    const running = queue.push('a', 1, blocker.run)
    const waitingA = queue.push('a', 1, async () => 'a1') as Promise<string>
    const waitingB = queue.push('b', 1, async () => 'b1') as Promise<string>
    expect(queue.drop('a', 'banned')).toBe(1)
    const err = await waitingA.catch((e: unknown) => e)
    expect(err).toBeInstanceOf(GossipValidationError)
    expect((err as GossipValidationError).action).toBe('ignore')
    blocker.release()
    expect(await running).toBe('x')
    expect(await waitingB).toBe('b1')
  })

  it('passes a failing task\'s error to its caller and keeps going', async () => {
    const queue = new FairQueue({ concurrency: 1 })
    const failing = queue.push('a', 1, () => { throw new Error('bad') }) as Promise<never>
    const next = queue.push('a', 1, async () => 'ok') as Promise<string>
    await expect(failing).rejects.toThrow('bad')
    expect(await next).toBe('ok')
  })
})

describe('validation allowance', () => {
  it('gives a new peer a burst, then a trickle', () => {
    let now = 0
    const allowance = new Allowance({ burst: 5, perSecond: 2, now: () => now })
    for (let i = 0; i < 5; i++) expect(allowance.take('p')).toBe(true)
    expect(allowance.take('p')).toBe(false)
    now += 500
    expect(allowance.take('p')).toBe(true)
    expect(allowance.take('p')).toBe(false)
    // Another peer has its own bucket.
    expect(allowance.take('q')).toBe(true)
  })

  it('gives back the token of a valid message and grows with them; an invalid one takes the growth away', () => {
    let now = 0
    const allowance = new Allowance({ burst: 2, perSecond: 1, growthPerSecond: 0.5, now: () => now })
    for (let i = 0; i < 100; i++) {
      expect(allowance.take('good')).toBe(true)
      allowance.accepted('good')
    }
    expect(allowance.limits('good')).toMatchObject({ burst: 102, perSecond: 51 })
    allowance.rejected('good')
    expect(allowance.limits('good')).toMatchObject({ burst: 2, perSecond: 1 })
    expect(allowance.limits('good').tokens).toBeLessThanOrEqual(2)
  })

  it('forgets the least recently heard peers past its bound (they start afresh)', () => {
    const allowance = new Allowance({ burst: 1, perSecond: 0, maxPeers: 2, now: () => 0 })
    expect(allowance.take('a')).toBe(true)
    expect(allowance.take('a')).toBe(false)
    allowance.take('b')
    allowance.take('c')
    expect(allowance.take('a')).toBe(true)
  })
})
