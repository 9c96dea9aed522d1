/**
 * The capacity view (what a node knows of other peers' capacity) and the capacity exchange's
 * answer rules, without a network: bounds, reachability, forgetting, and what an answer may carry.
 */
import { describe, it, expect } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createSigner, signBody, type Signer } from '../src/proofs/signing.ts'
import { encode } from '../src/proofs/encoding.ts'
import { CapacityView } from '../src/node/capacity-view.ts'
import { checkAnswer } from '../src/node/capacity-exchange.ts'
import { measureCapacity, signCapacityRecord, verifyCapacityRecordOf } from '../src/node/capacity-record.ts'
import {
  CAPACITY_CANDIDATES_MAX, CAPACITY_DOMAIN, CAPACITY_REACHABLE_MS, CAPACITY_UNREACHABLE_MS, CAPACITY_VIEW_MAX
} from '../src/node/constants.ts'
import { InvalidMessageError } from '../src/errors.ts'

async function signers (n: number): Promise<Signer[]> {
  return await Promise.all(Array.from({ length: n }, async () => createSigner(await generateKeyPair('Ed25519'))))
}

function record (signer: Signer, seq = 1, now = Date.now()): { record: ReturnType<typeof verifyCapacityRecordOf>, bytes: Uint8Array } {
  const bytes = signCapacityRecord(signer, measureCapacity({ cores: 2 }), { seq, multiaddrs: [], now })
  return { record: verifyCapacityRecordOf(bytes, now), bytes }
}

describe('capacity view', () => {
  it('lists peers that answered, not second-hand ones, and keeps the newest record', async () => {
    const [self, a, b] = await signers(3)
    const view = new CapacityView(self.peerId)
    const ra = record(a, 5)
    view.confirm(ra.record, ra.bytes)
    const rb = record(b, 1)
    expect(view.suggest(rb.record, rb.bytes)).toBe(true)
    expect(view.reachable().map((x) => x.peerId)).toEqual([a.peerId])
    expect(view.candidates().map((x) => x.peerId)).toEqual([b.peerId])
    // An older record of a does not replace the newer one; a newer one does.
    const old = record(a, 2)
    view.suggest(old.record, old.bytes)
    expect(view.get(a.peerId)?.seq).toBe(5)
    const newer = record(a, 9)
    view.suggest(newer.record, newer.bytes)
    expect(view.get(a.peerId)?.seq).toBe(9)
    expect(view.reachable().map((x) => x.peerId)).toEqual([a.peerId])
    // Its own record never enters the view.
    const own = record(self)
    view.confirm(own.record, own.bytes)
    expect(view.get(self.peerId)).toBeUndefined()
  })

  it('forgets a peer that did not answer and refuses it second-hand for a while', async () => {
    const [self, a] = await signers(2)
    let now = Date.now()
    const view = new CapacityView(self.peerId, () => now)
    const ra = record(a, 1, now)
    view.confirm(ra.record, ra.bytes)
    view.forget(a.peerId)
    expect(view.reachable()).toEqual([])
    expect(view.suggest(ra.record, ra.bytes)).toBe(false)
    expect(view.isUnreachable(a.peerId)).toBe(true)
    now += CAPACITY_UNREACHABLE_MS + 1
    expect(view.suggest(ra.record, ra.bytes)).toBe(true)
  })

  it('keeps a peer reachable for a while after its connection closed, then lists it no more', async () => {
    const [self, a] = await signers(2)
    let now = Date.now()
    const view = new CapacityView(self.peerId, () => now)
    const ra = record(a, 1, now)
    view.suggest(ra.record, ra.bytes)
    view.peerConnected(a.peerId)
    expect(view.reachable().map((x) => x.peerId)).toEqual([a.peerId])
    view.peerDisconnected(a.peerId)
    now += CAPACITY_REACHABLE_MS - 1000
    expect(view.reachable().map((x) => x.peerId)).toEqual([a.peerId])
    now += 2000
    expect(view.reachable()).toEqual([])
    expect(view.candidates().map((x) => x.peerId)).toEqual([a.peerId])
  })

  it('holds at most CAPACITY_CANDIDATES_MAX candidates and CAPACITY_VIEW_MAX entries', async () => {
    const [self] = await signers(1)
    const view = new CapacityView(self.peerId)
    const many = await signers(CAPACITY_VIEW_MAX + 20)
    for (const s of many.slice(0, CAPACITY_CANDIDATES_MAX + 50)) {
      const r = record(s)
      view.suggest(r.record, r.bytes)
    }
    expect(view.candidates().length).toBe(CAPACITY_CANDIDATES_MAX)
    for (const s of many) {
      const r = record(s)
      view.confirm(r.record, r.bytes)
    }
    const stats = view.stats()
    expect(stats.reachable + stats.candidates).toBeLessThanOrEqual(CAPACITY_VIEW_MAX)
  })

  it('returns the same cached array to repeated calls until something changes', async () => {
    const [self, a, b] = await signers(3)
    const view = new CapacityView(self.peerId)
    const ra = record(a)
    view.confirm(ra.record, ra.bytes)
    const first = view.reachable()
    expect(view.reachable()).toBe(first)
    const rb = record(b)
    view.confirm(rb.record, rb.bytes)
    expect(view.reachable()).not.toBe(first)
    expect(view.reachable()).toHaveLength(2)
  })
})

describe('capacity answers', () => {
  it('refuses an answer whose own record is another peer\'s', async () => {
    const [responder, other] = await signers(2)
    const theirs = record(other)
    expect(() => checkAnswer(responder.peerId, { t: 'capacity', record: theirs.bytes, sample: [] })).toThrow(InvalidMessageError)
  })

  it('keeps valid sampled records, drops forged, expired and duplicate ones', async () => {
    const [responder, a, b, c] = await signers(4)
    const ra = record(a)
    const expired = signCapacityRecord(b, measureCapacity(), { seq: 1, multiaddrs: [], now: Date.now() - 10_000, ttlMs: 1000 })
    const rc = record(c)
    const forgedBody = { ...rc.record.body, pricePerGigafuel: 0 }
    const forged = encode({ body: forgedBody, sig: rc.record.sig })
    // A record with 1,000 addresses, properly signed by c: over the size and schema bounds.
    const hugeBody = { ...rc.record.body, seq: 2, multiaddrs: Array.from({ length: 1000 }, (_, i) => `/ip4/10.0.${i >> 8}.${i & 255}/tcp/4001/p2p/${c.peerId}`) }
    const huge = encode({ body: hugeBody, sig: signBody(c, CAPACITY_DOMAIN, hugeBody) })
    const own = record(responder)
    const reply = checkAnswer(responder.peerId, { t: 'capacity', record: own.bytes, sample: [ra.bytes, expired, forged, ra.bytes, huge, own.bytes] })
    expect(reply.own?.record.body.peer).toBe(responder.peerId)
    expect(reply.sample.map((s) => s.record.body.peer)).toEqual([a.peerId])
    expect(reply.dropped).toBe(3)
  })
})
