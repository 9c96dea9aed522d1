/**
 * Workers that lie about their price, on a real testnet. Two honest workers ask 1 credit per
 * gigafuel; four liars bid 10 (the requester's price cap) but answer capacity queries with a
 * record that advertises 0. The requester offers directly to the cheapest advertised workers
 * (the leases needed plus 2), so before the fix only liars were asked and every lease went to a
 * liar at 10. A bid above the bidder's own advertised price is refused (and scored down): the
 * round brings nothing, the next one also gossips the offer, and an honest worker gets the
 * lease, at 1.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { lpStream } from '@libp2p/utils'
import type { Stream } from '@libp2p/interface'
import { createTestnet, type Testnet } from '../src/node/testnet.ts'
import { CAPACITY_PROTOCOL } from '../src/node/constants.ts'
import { measureCapacity, signCapacityRecord } from '../src/node/capacity-record.ts'
import { encode } from '../src/proofs/encoding.ts'
import type { LeaseInfo } from '../src/scheduler/requester/service.ts'
import { example, text, utf8 } from './jobs-helpers.ts'
import { waitFor } from './helpers.ts'

const HONEST = [1, 2]
const LIARS = [3, 4, 5, 6]

describe('a capacity record that lies about its price', () => {
  let net: Testnet

  beforeAll(async () => {
    net = await createTestnet({
      nodes: 7,
      nodeInit: (i) => ({ fuelPerSecond: 0, capacity: i === 0 ? { slots: 0 } : { pricePerGigafuel: LIARS.includes(i) ? 10 : 1, slots: 2 } })
    })
    for (const i of LIARS) {
      const liar = net.nodes[i]
      // Answers every capacity query with a record advertising price 0 (a valid record: signed by
      // the liar, within the TTL, and with the highest possible seq so it beats its real one).
      await liar.host.unhandle(CAPACITY_PROTOCOL)
      await liar.host.handle(CAPACITY_PROTOCOL, async (stream: Stream) => {
        const lp = lpStream(stream, { maxDataLength: 1024 })
        try {
          await lp.read({ signal: AbortSignal.timeout(5000) })
          const record = signCapacityRecord(liar.signer, { ...measureCapacity({ slots: 2 }), pricePerGigafuel: 0 }, { seq: Number.MAX_SAFE_INTEGER, multiaddrs: liar.multiaddrs })
          await lp.write(encode({ t: 'capacity', record, sample: [] }), { signal: AbortSignal.timeout(5000) })
          await stream.close()
        } catch (err) { stream.abort(err as Error) }
      }, { maxInboundStreams: 8 })
    }
  }, 60_000)

  afterAll(async () => { await net?.stop() })

  it('a bid above the bidder\'s advertised price is refused: the honest workers get the leases at their price', { timeout: 120_000 }, async () => {
    const R = net.nodes[0]
    const liars = LIARS.map((i) => net.nodes[i].peerId)
    const honest = HONEST.map((i) => net.nodes[i].peerId)
    // The requester holds every worker's record (what it picks direct-offer targets from), the liars' advertising 0.
    await waitFor(async () => {
      await R.findCapacity({ timeoutMs: 5000 })
      const view = R.services().capacity.cached()
      const price = new Map(view.map((a) => [a.peerId, a.pricePerGigafuel]))
      return liars.every((p) => price.get(p) === 0) && honest.every((p) => price.get(p) === 1)
    }, { what: 'the requester to hold the liars\' and the honest workers\' records', timeoutMs: 60_000 })

    const opened: LeaseInfo[] = []
    const onOpened = (evt: CustomEvent<LeaseInfo>): void => { opened.push(evt.detail) }
    R.addEventListener('lease:opened', onOpened)
    const inputs = [utf8('one job')]
    const results = await Promise.all(inputs.map(async (input) => await (await R.submitJob({ module: example('echo'), input })).result()))
    R.removeEventListener('lease:opened', onOpened)

    for (const [i, result] of results.entries()) {
      expect(result.status).toBe('completed')
      expect(text(result.stdout)).toBe(text(inputs[i]))
    }
    expect(opened.length).toBeGreaterThan(0)
    // Every lease went to an honest worker, at its advertised price; none to a liar.
    for (const lease of opened) {
      expect(honest).toContain(lease.worker)
      expect(lease.price).toBe(1)
    }
    // The liars that bid were scored down for it.
    expect(liars.some((p) => R.peerScore.score(p) < 0)).toBe(true)
  })
})

describe('an honest worker that raised its price', () => {
  let net: Testnet

  beforeAll(async () => {
    net = await createTestnet({ nodes: 2, nodeInit: (i) => ({ fuelPerSecond: 0, capacity: i === 0 ? { slots: 0 } : { pricePerGigafuel: 1, slots: 2 } }) })
  }, 60_000)

  afterAll(async () => { await net?.stop() })

  it('bids above the record a requester holds: scored once (not cut off round after round), asked for its record again, and leased at its new price', { timeout: 120_000 }, async () => {
    const [R, W] = net.nodes
    await waitFor(async () => {
      await R.findCapacity({ timeoutMs: 5000 })
      return R.services().capacity.cached().find((a) => a.peerId === W.peerId)?.pricePerGigafuel === 1
    }, { what: 'the requester to hold the worker\'s record at price 1', timeoutMs: 60_000 })
    // The worker raises its price; the requester still holds its record at 1.
    W.services().capacity.update({ pricePerGigafuel: 5 })
    const opened: LeaseInfo[] = []
    const onOpened = (evt: CustomEvent<LeaseInfo>): void => { opened.push(evt.detail) }
    R.addEventListener('lease:opened', onOpened)
    const accepted: string[] = []
    const onProgress = (p: { stage: string, detail?: string }): void => { if (p.stage === 'accepted') accepted.push(p.detail ?? '') }
    const result = await (await R.submitJob({ module: example('echo'), input: utf8('dearer'), maxPrice: 10, peers: [W.peerId] }, { onProgress })).result()
    // The next job finds that lease open: placed at once, on a warm lease (the first was on a new one).
    const again = await (await R.submitJob({ module: example('echo'), input: utf8('again'), maxPrice: 10, peers: [W.peerId] }, { onProgress })).result()
    R.removeEventListener('lease:opened', onOpened)
    expect(text(again.stdout)).toBe('again')
    expect(accepted).toEqual([expect.stringMatching(/ \(new\)$/), expect.stringMatching(/ \(warm\)$/)])
    expect(result.status).toBe('completed')
    expect(text(result.stdout)).toBe('dearer')
    expect(opened.map((l) => [l.worker, l.price])).toEqual([[W.peerId, 5]])
    expect(R.services().capacity.cached().find((a) => a.peerId === W.peerId)?.pricePerGigafuel).toBe(5)
    // One BidOverAdvert (−10, decaying), far from the disconnect threshold (−50); still connected.
    expect(R.peerScore.score(W.peerId)).toBeGreaterThanOrEqual(-10)
    expect(R.peerScore.score(W.peerId)).toBeLessThan(0)
    expect(R.host.getConnections().some((c) => c.remotePeer.toString() === W.peerId)).toBe(true)
  })
})
