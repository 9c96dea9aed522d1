/**
 * The worker side of the market without a network: a WorkerService built from a hand-made
 * components object answers lease offers (bids, declines, silence, the answer cache), turns
 * accepts into co-signed leases (and refuses the wrong ones), and serves lease streams over
 * `channelPair()`, including opens of leases it does not hold or that already ended.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { readFileSync } from 'node:fs'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { CID } from 'multiformats/cid'
import { createSigner, type Signer } from '../src/proofs/signing.ts'
import { rawCid, valueCid } from '../src/proofs/encoding.ts'
import { leaseId, signAck, signLeaseAsRequester, verifyLease, type Lease, type LeaseBody } from '../src/proofs/lease.ts'
import { InvalidSignatureError } from '../src/errors.ts'
import { channelPair, type ChannelOpener } from '../src/transport.ts'
import { openStore, type Store } from '../src/node/storage.ts'
import type { Capacity } from '../src/shared/capacity.ts'
import { BlobStore } from '../src/scheduler/blob-store.ts'
import { JobStore, type LeaseRecord } from '../src/scheduler/job-store.ts'
import { createExecutor, type WasiExecutor } from '../src/scheduler/executor/index.ts'
import { WorkerService, type WorkerComponents } from '../src/scheduler/worker/service.ts'
import type { LeaseSummary } from '../src/scheduler/worker/lease-server.ts'
import { LeaseJournal } from '../src/scheduler/worker/lease-journal.ts'
import { offerId, signOffer, verifyBid, verifyDecline, type OfferBody, type SignedBid, type SignedOffer } from '../src/scheduler/messages.ts'
import { parseWorkerFrame, type WorkerFrame } from '../src/scheduler/lease-frames.ts'
import { createJob, jobTaskSpec } from '../src/scheduler/job.ts'
import { creditsFor } from '../src/scheduler/task.ts'
import { BID_TTL_MS, MAX_LEASE_FRAME_BYTES, MAX_LEASES_PER_REQUESTER } from '../src/scheduler/constants.ts'
import { AckRejectedError, AcceptReplayedError, ProtocolViolationError, UnknownOfferError } from '../src/scheduler/errors.ts'
import { waitFor } from './helpers.ts'

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)
const ECHO = new Uint8Array(readFileSync(new URL('../examples/echo.wasm', import.meta.url)))

async function newSigner (): Promise<Signer> {
  return createSigner(await generateKeyPair('Ed25519'))
}

describe('WorkerService (no network)', () => {
  let requester: Signer
  let worker: Signer
  let other: Signer
  let store: Store
  let executor: WasiExecutor
  let capacity: Capacity
  let funded: boolean
  /** The requester's spendable credits as canPay sees them. */
  let balance = Infinity
  let ledgerRead: Promise<void> = Promise.resolve()
  const asked: Array<[string, number]> = []
  const opened: Lease[] = []
  const ended: LeaseSummary[] = []
  /** What the worker scored its peers down for. */
  const reports: Array<[string, string]> = []
  let svc: WorkerService

  const noChannels: ChannelOpener = { open: async () => { throw new Error('no network in this test') } }

  beforeAll(async () => {
    ;[requester, worker, other] = await Promise.all([newSigner(), newSigner(), newSigner()])
    store = await openStore()
    executor = createExecutor({ workers: 1 })
    await executor.start()
    const blobs = new BlobStore(store)
    await blobs.start()
    svc = new WorkerService({
      signer: worker,
      executor,
      blobs,
      records: new JobStore(store),
      channels: noChannels,
      capacity: () => capacity,
      canPay: async (peer, amount) => {
        asked.push([peer, amount])
        await ledgerRead // (a slow ledger read: accepts overlap)
        return funded && amount <= balance
      },
      reportPeer: (peer, action) => { reports.push([peer, action]) }
    }, { onLeaseOpened: (lease) => { opened.push(lease) }, onLeaseEnded: (summary) => { ended.push(summary) } })
    svc.start()
  })

  afterAll(async () => {
    svc?.stop()
    await executor?.stop()
    await store?.close()
  })

  function reset (): void {
    capacity = { cores: 2, memoryMiB: 512, slots: 4, pricePerGigafuel: 2, fuelPerSecond: 0, runtimes: ['wasi-p1'] }
    funded = true
    balance = Infinity
    ledgerRead = Promise.resolve()
    asked.length = 0
  }

  function offer (extra: Partial<OfferBody> = {}, signer = requester): { offer: SignedOffer, id: CID } {
    const now = Date.now()
    const body: OfferBody = {
      v: 1, requester: signer.peerId, nonce: new Uint8Array(16).map(() => Math.floor(Math.random() * 256)), runtime: 'wasi-p1',
      memoryMiB: 256, maxTaskMs: 30_000, maxTaskFuel: 300_000_000_000n, maxPrice: 5, slots: 2, maxCredits: 1_000, durationMs: 600_000, createdAt: now, expiresAt: now + 30_000, ...extra
    }
    return { offer: signOffer(signer, body), id: offerId(body) }
  }

  async function bidOn (o: { offer: SignedOffer, id: CID }): Promise<SignedBid> {
    const answer = await svc.answerOffer(o.offer, o.id, true)
    if (answer?.response.t !== 'bid') throw new Error(`expected a bid, got ${answer?.response.t}`)
    return answer.response.bid
  }

  function acceptBody (o: { offer: SignedOffer, id: CID }, bid: SignedBid, extra: Partial<LeaseBody> = {}): LeaseBody {
    const now = Date.now()
    return {
      v: 1, offerId: o.id, requester: o.offer.body.requester, worker: worker.peerId, price: bid.body.price, slots: bid.body.slots,
      maxCredits: o.offer.body.maxCredits, memoryMiB: o.offer.body.memoryMiB, maxTaskMs: o.offer.body.maxTaskMs,
      maxTaskFuel: o.offer.body.maxTaskFuel, acceptedAt: now,
      expiresAt: now + o.offer.body.durationMs, ...extra
    }
  }

  async function declineReason (o: { offer: SignedOffer, id: CID }, direct = true): Promise<string | undefined> {
    const answer = await svc.answerOffer(o.offer, o.id, direct)
    if (answer?.response.t !== 'decline') return undefined
    verifyDecline(answer.response.decline)
    return answer.response.decline.body.reason
  }

  it('bids on an offer it can serve: its price, granted slots, a short expiry, signed; the same offer again gets the same answer', async () => {
    reset()
    const o = offer()
    const before = Date.now()
    const answer = await svc.answerOffer(o.offer, o.id, false)
    expect(answer?.fresh).toBe(true)
    const bid = (answer?.response as { bid: SignedBid }).bid
    verifyBid(bid)
    expect(bid.body).toMatchObject({ worker: worker.peerId, requester: requester.peerId, price: 2, slots: 2, freeSlots: 4 })
    expect(bid.body.offerId.equals(o.id)).toBe(true)
    expect(bid.body.expiresAt).toBeGreaterThanOrEqual(before + BID_TTL_MS)
    // The requester's funds were asked about for the offer's cap.
    expect(asked).toEqual([[requester.peerId, 1_000]])
    // Gossip and direct copies of one offer: one bid.
    const again = await svc.answerOffer(o.offer, o.id, true)
    expect(again).toEqual({ response: answer?.response, fresh: false })
  })

  it('two copies of one offer arriving together (direct and gossip) get one bid', async () => {
    reset()
    const gate = Promise.withResolvers<void>()
    ledgerRead = gate.promise
    const o = offer()
    const both = [svc.answerOffer(o.offer, o.id, true), svc.answerOffer(o.offer, o.id, false)]
    gate.resolve()
    const [direct, gossip] = await Promise.all(both)
    expect(direct?.response.t).toBe('bid')
    expect(gossip?.response).toEqual(direct?.response)
    expect([direct?.fresh, gossip?.fresh]).toEqual([true, false])
    expect(asked).toHaveLength(1)
  })

  it('silent on its own offers; not-targeted only to a direct offer; funds when the requester cannot pay', async () => {
    reset()
    const own = offer({}, worker)
    expect(await svc.answerOffer(own.offer, own.id, true)).toBeUndefined()
    const elsewhere = offer({ peers: [other.peerId] })
    expect(await svc.answerOffer(elsewhere.offer, elsewhere.id, false)).toBeUndefined()
    expect(await declineReason(elsewhere, true)).toBe('not-targeted')
    funded = false
    expect(await declineReason(offer())).toBe('funds')
    expect(await declineReason(offer({ memoryMiB: 513 }))).toBe('memory')
    // A runtime a later version may add: declined, not malformed (no score lost for it).
    expect(await declineReason(offer({ runtime: 'wasi-p2' }))).toBe('runtime')
    expect(await declineReason(offer({ maxPrice: 1 }))).toBe('price')
  })

  it('busy is not remembered: the same offer gets a bid once there is room', async () => {
    reset()
    capacity.slots = 0
    const o = offer()
    expect(await declineReason(o)).toBe('busy')
    capacity.slots = 4
    expect((await svc.answerOffer(o.offer, o.id, true))?.response.t).toBe('bid')
  })

  it('turns an accept into a co-signed lease; the same accept again is a replay', async () => {
    reset()
    const o = offer()
    const body = acceptBody(o, await bidOn(o))
    const lease = await svc.accept({ body, requesterSig: signLeaseAsRequester(requester, body) }, requester.peerId)
    verifyLease(lease)
    expect(leaseId(lease.body).equals(leaseId(body))).toBe(true)
    expect(opened.at(-1)).toBe(lease)
    await expect(svc.accept({ body, requesterSig: lease.requesterSig }, requester.peerId)).rejects.toBeInstanceOf(AcceptReplayedError)
    // The open lease's cap counts against what this requester may still owe here.
    expect(svc.committedTo(requester.peerId)).toBeGreaterThanOrEqual(body.maxCredits)
    expect(svc.committedTo(other.peerId)).toBe(0)
  })

  it('a bid makes one lease: a second accept of it (another acceptedAt, so another lease id) is refused', async () => {
    reset()
    const r = await newSigner()
    const o = offer({}, r)
    const bid = await bidOn(o)
    const first = acceptBody(o, bid)
    await svc.accept({ body: first, requesterSig: signLeaseAsRequester(r, first) }, r.peerId)
    const second = acceptBody(o, bid, { acceptedAt: first.acceptedAt + 1 })
    await expect(svc.accept({ body: second, requesterSig: signLeaseAsRequester(r, second) }, r.peerId)).rejects.toMatchObject({ code: 'ERR_ACCEPT_REPLAYED' })
  })

  it('accepts that arrive together: the funds check counts those still being checked, and one requester holds at most MAX_LEASES_PER_REQUESTER', async () => {
    reset()
    const r = await newSigner()
    // Eight offers with their bids; caps of 1,000 each, the requester can pay 3,500.
    const offers = Array.from({ length: MAX_LEASES_PER_REQUESTER }, () => offer({}, r))
    const bodies = []
    for (const o of offers) bodies.push(acceptBody(o, await bidOn(o)))
    balance = 3_500
    const gate = Promise.withResolvers<void>()
    ledgerRead = gate.promise
    const accepts = bodies.map(async (body) => await svc.accept({ body, requesterSig: signLeaseAsRequester(r, body) }, r.peerId))
    gate.resolve()
    const settled = await Promise.allSettled(accepts)
    expect(settled.filter((x) => x.status === 'fulfilled')).toHaveLength(3)
    expect(settled.filter((x) => x.status === 'rejected').map((x) => (x as PromiseRejectedResult).reason.code)).toEqual(Array(MAX_LEASES_PER_REQUESTER - 3).fill('ERR_FUNDS'))

    // With funds enough, the per-requester bound: MAX_LEASES_PER_REQUESTER in all (3 held already).
    const more = Array.from({ length: 10 }, () => offer({}, r))
    const moreBodies = []
    balance = Infinity
    for (const o of more) moreBodies.push(acceptBody(o, await bidOn(o)))
    const together = await Promise.allSettled(moreBodies.map(async (body) => await svc.accept({ body, requesterSig: signLeaseAsRequester(r, body) }, r.peerId)))
    expect(together.filter((x) => x.status === 'fulfilled')).toHaveLength(MAX_LEASES_PER_REQUESTER - 3)
    expect(new Set(together.filter((x) => x.status === 'rejected').map((x) => (x as PromiseRejectedResult).reason.code))).toEqual(new Set(['ERR_BUSY']))
  })

  it('refuses accepts from the wrong peer, with a bad signature, for an unknown offer, or by another requester than the offer\'s', async () => {
    reset()
    const o = offer()
    const bid = await bidOn(o)
    const body = acceptBody(o, bid)
    const requesterSig = signLeaseAsRequester(requester, body)
    await expect(svc.accept({ body, requesterSig }, other.peerId)).rejects.toBeInstanceOf(ProtocolViolationError)
    await expect(svc.accept({ body, requesterSig: new Uint8Array(64) }, requester.peerId)).rejects.toBeInstanceOf(InvalidSignatureError)
    const unknown = { ...body, offerId: valueCid(utf8('no such offer')) }
    await expect(svc.accept({ body: unknown, requesterSig: signLeaseAsRequester(requester, unknown) }, requester.peerId)).rejects.toBeInstanceOf(UnknownOfferError)
    const cheaper = { ...body, price: 1 }
    await expect(svc.accept({ body: cheaper, requesterSig: signLeaseAsRequester(requester, cheaper) }, requester.peerId)).rejects.toBeInstanceOf(ProtocolViolationError)
    // Another peer takes up the bid made on requester's offer, under its own name.
    const hijack = { ...body, requester: other.peerId }
    await expect(svc.accept({ body: hijack, requesterSig: signLeaseAsRequester(other, hijack) }, other.peerId)).rejects.toThrow(/another requester/)
    // None of those used up the bid.
    verifyLease(await svc.accept({ body, requesterSig }, requester.peerId))
  })

  it('refuses an accept with ERR_FUNDS when the requester can no longer pay the cap', async () => {
    reset()
    const o = offer()
    const body = acceptBody(o, await bidOn(o))
    funded = false
    await expect(svc.accept({ body, requesterSig: signLeaseAsRequester(requester, body) }, requester.peerId)).rejects.toMatchObject({ code: 'ERR_FUNDS' })
  })

  /**
   * A worker service with the given settle hooks serves one lease of one task; `paidOf` is what
   * the requester's acknowledgement of each checkpoint pays. Returns the lease's summary.
   */
  async function serveOneLease (self: WorkerService, served: LeaseSummary[], paidOf: (amount: number) => number): Promise<LeaseSummary> {
    const o = offer()
    const answer = await self.answerOffer(o.offer, o.id, true)
    if (answer?.response.t !== 'bid') throw new Error('expected a bid')
    const body = acceptBody(o, answer.response.bid)
    const lease = await self.accept({ body, requesterSig: signLeaseAsRequester(requester, body) }, requester.peerId)
    const [mine, theirs] = channelPair(requester.peerId, worker.peerId, { maxFrameBytes: MAX_LEASE_FRAME_BYTES })
    const serving = self.serveLease(theirs)
    const job = createJob(requester.peerId, { module: ECHO, input: utf8('paid'), memoryMiB: 64, timeoutMs: 10_000, fuel: 100_000_000_000n })
    await mine.send({ t: 'open', lease })
    await mine.send({ t: 'tasks', tasks: [{ spec: jobTaskSpec(job.id, job.body), deadline: Date.now() + 60_000, stdin: utf8('paid') }] })
    await mine.send({ t: 'close' })
    let end = false
    while (!end) {
      const frame = parseWorkerFrame(await mine.receive())
      if (frame.t === 'want') {
        for (const cid of frame.cids) {
          await mine.send({ t: 'chunk', cid, data: ECHO })
          await mine.send({ t: 'end', cid })
        }
      } else if (frame.t === 'checkpoint') {
        const c = frame.checkpoint.body
        await mine.send({ t: 'ack', ack: signAck(requester, { v: 1, lease: c.lease, requester: requester.peerId, seq: c.seq, count: c.count, root: c.root, paid: paidOf(c.amount), refused: 0 }), refused: [] })
      } else if (frame.t === 'end') end = true
    }
    await serving
    return await waitFor(() => served[0], { what: 'the lease summary' })
  }

  async function workerWith (hooks: Pick<WorkerComponents, 'settle' | 'settled' | 'journal'>, served: LeaseSummary[]): Promise<{ self: WorkerService, records: JobStore }> {
    const blobs = new BlobStore(store)
    await blobs.start()
    const records = new JobStore(store)
    const self = new WorkerService({
      signer: worker,
      executor,
      blobs,
      records,
      channels: noChannels,
      capacity: () => capacity,
      canPay: async () => true,
      reportPeer: () => {},
      ...hooks,
      settleDelaysMs: [20, 40, 60]
    }, { onLeaseEnded: (summary) => { served.push(summary) } })
    self.start()
    return { self, records }
  }

  it('settles a lease itself when the chain has not paid it, and again after a refusal', async () => {
    reset()
    const attempts: number[] = []
    let paidOnChain = 0
    const served: LeaseSummary[] = []
    const { self } = await workerWith({
      settle: async (_lease, _checkpoint, ack) => {
        attempts.push(ack.body.paid)
        if (attempts.length === 1) throw new Error('the mempool is full')
        paidOnChain = ack.body.paid
      },
      settled: async () => paidOnChain
    }, served)
    try {
      const summary = await serveOneLease(self, served, (amount) => amount)
      expect(summary.paid).toBeGreaterThan(0)
      // The requester never settles: the worker does, the second attempt goes through, no third.
      await waitFor(() => paidOnChain > 0, { what: 'the worker\'s own settle' })
      expect(attempts).toEqual([summary.paid, summary.paid])
    } finally {
      self.stop()
    }
  })

  it('settles at its next start a lease it stopped before settling (the journal outlives the process)', async () => {
    reset()
    const attempts: number[] = []
    let paidOnChain = 0
    const hooks = {
      settle: async (_lease: Lease, _checkpoint: unknown, ack: { body: { paid: number } }) => { attempts.push(ack.body.paid); paidOnChain = ack.body.paid },
      settled: async () => paidOnChain,
      journal: new LeaseJournal(store)
    }
    const served: LeaseSummary[] = []
    const first = await workerWith(hooks, served)
    const summary = await serveOneLease(first.self, served, (amount) => amount)
    expect(summary.paid).toBeGreaterThan(0)
    // Stopped before its settle was due (the requester never settled): nothing was submitted.
    first.self.stop()
    expect(attempts).toEqual([])
    const again = await workerWith(hooks, [])
    try {
      await again.self.recover()
      await waitFor(() => paidOnChain > 0, { what: 'the settle at the next start' })
      expect(attempts).toEqual([summary.paid])
      // Paid: the journal no longer holds it, and a third start settles nothing.
      await waitFor(async () => { for await (const e of hooks.journal.all()) if (leaseId(e.lease.body).toString() === summary.leaseId) return false; return true }, { what: 'the journal entry to go' })
    } finally {
      again.self.stop()
    }
  })

  it('records what the chain paid when the requester\'s final settle paid more than any acknowledgement the worker received', async () => {
    reset()
    const attempts: number[] = []
    let paidOnChain = 0
    const served: LeaseSummary[] = []
    const { self, records } = await workerWith({
      settle: async (_lease, _checkpoint, ack) => { attempts.push(ack.body.paid) },
      settled: async () => paidOnChain
    }, served)
    try {
      // The last checkpoint was acknowledged before the task's verdict (paying nothing); the
      // requester's final acknowledgement went only to the chain, in its settle.
      const summary = await serveOneLease(self, served, () => 0)
      expect(summary.paid).toBe(0)
      expect(summary.amount).toBeGreaterThan(0)
      paidOnChain = summary.amount
      const recorded = async (): Promise<number | undefined> => {
        for await (const r of records.allLeases()) if (r.leaseId === summary.leaseId) return r.paid
      }
      await waitFor(async () => await recorded() === summary.amount, { what: 'the lease record paying what the chain paid' })
      expect(attempts).toEqual([]) // the chain paid more than the worker's acknowledgement: no settle of its own
    } finally {
      self.stop()
    }
  })

  it('serves a lease stream from open to end, records it, and answers a later open of the ended lease with ERR_UNKNOWN_LEASE', async () => {
    reset()
    const o = offer()
    const body = acceptBody(o, await bidOn(o))
    const lease = await svc.accept({ body, requesterSig: signLeaseAsRequester(requester, body) }, requester.peerId)
    const held = svc.load().leases // this one, and the ones earlier tests accepted and never opened
    const othersCommitted = svc.committedTo(requester.peerId) - body.maxCredits
    const [mine, theirs] = channelPair(requester.peerId, worker.peerId, { maxFrameBytes: MAX_LEASE_FRAME_BYTES })
    const serving = svc.serveLease(theirs)
    const job = createJob(requester.peerId, { module: ECHO, input: utf8('leased'), memoryMiB: 64, timeoutMs: 10_000, fuel: 100_000_000_000n })
    const spec = jobTaskSpec(job.id, job.body)
    await mine.send({ t: 'open', lease })
    await mine.send({ t: 'tasks', tasks: [{ spec, deadline: Date.now() + 60_000, stdin: utf8('leased') }] })
    const next = async (): Promise<WorkerFrame> => {
      while (true) {
        const frame = parseWorkerFrame(await mine.receive())
        if (frame.t === 'want') {
          for (const cid of frame.cids) {
            await mine.send({ t: 'chunk', cid, data: ECHO })
            await mine.send({ t: 'end', cid })
          }
          continue
        }
        if (frame.t !== 'running' && frame.t !== 'ping') return frame
      }
    }
    const results = await next()
    expect(results.t === 'results' && results.results.map((r) => r.out.toString())).toEqual([rawCid(utf8('leased')).toString()])
    await mine.send({ t: 'close' })
    const cp = await next()
    if (cp.t !== 'checkpoint') throw new Error(`expected a checkpoint, got ${cp.t}`)
    expect(await next()).toMatchObject({ t: 'end', code: 'closed' })
    const c = cp.checkpoint.body
    // Ending, its last checkpoint not yet acknowledged: it holds what it claims, not its whole cap.
    expect(c.amount).toBeLessThan(body.maxCredits)
    expect(svc.committedTo(requester.peerId)).toBe(othersCommitted + c.amount)
    await mine.send({ t: 'ack', ack: signAck(requester, { v: 1, lease: c.lease, requester: requester.peerId, seq: c.seq, count: c.count, root: c.root, paid: c.amount, refused: 0 }), refused: [] })
    await serving
    const id = leaseId(lease.body).toString()
    // Billed by the fuel the executor counted: the checkpoint's amount is that fuel at the price.
    expect(c.fuel).toBeGreaterThan(0n)
    expect(c.amount).toBe(creditsFor(2, c.fuel))
    expect(ended.at(-1)).toMatchObject({ leaseId: id, requester: requester.peerId, tasks: 1, fuel: c.fuel, amount: c.amount, paid: c.amount, reason: 'closed' })
    const record = await waitFor(async () => {
      for await (const record of new JobStore(store).allLeases()) if ((record as LeaseRecord).leaseId === id) return record
      return undefined
    }, { what: 'the lease record' })
    // Kept as a decimal string (fuel may pass 2^53).
    expect(record).toMatchObject({ tasks: 1, fuel: c.fuel.toString(), amount: c.amount })
    expect(svc.load().leases).toBe(held - 1)
    expect(svc.committedTo(requester.peerId)).toBe(othersCommitted)

    // Task frames for a lease that ended: its stream cannot be opened again.
    const [mine2, theirs2] = channelPair(requester.peerId, worker.peerId, { maxFrameBytes: MAX_LEASE_FRAME_BYTES })
    const again = svc.serveLease(theirs2)
    await mine2.send({ t: 'open', lease })
    expect(parseWorkerFrame(await mine2.receive())).toMatchObject({ t: 'error', code: 'ERR_UNKNOWN_LEASE' })
    await again
  })

  it('an acknowledgement that does not check out (of a checkpoint never sent, signed by the requester) ends the lease and scores the requester down', async () => {
    reset()
    reports.length = 0
    const o = offer()
    const body = acceptBody(o, await bidOn(o))
    const lease = await svc.accept({ body, requesterSig: signLeaseAsRequester(requester, body) }, requester.peerId)
    const [mine, theirs] = channelPair(requester.peerId, worker.peerId, { maxFrameBytes: MAX_LEASE_FRAME_BYTES })
    const serving = svc.serveLease(theirs)
    const failed = expect(serving).rejects.toBeInstanceOf(AckRejectedError)
    await mine.send({ t: 'open', lease })
    const id = leaseId(lease.body)
    // Validly signed, but of checkpoint 9: this worker has sent none.
    await mine.send({ t: 'ack', ack: signAck(requester, { v: 1, lease: id, requester: requester.peerId, seq: 9, count: 3, root: new Uint8Array(32), paid: 0, refused: 0 }), refused: [] })
    await failed
    expect(reports).toEqual([[requester.peerId, 'WrongResult']])
    // The requester is told why.
    let frame: WorkerFrame
    do frame = parseWorkerFrame(await mine.receive())
    while (frame.t === 'ping' || frame.t === 'running')
    expect(frame).toMatchObject({ t: 'error', code: 'ERR_PROTOCOL_VIOLATION' })
  })

  it('a lease stream that does not start with open, or is opened by someone else, is a protocol violation', async () => {
    reset()
    const [mine, theirs] = channelPair(requester.peerId, worker.peerId)
    const serving = svc.serveLease(theirs)
    await mine.send({ t: 'ping' })
    await expect(serving).rejects.toBeInstanceOf(ProtocolViolationError)

    const o = offer()
    const body = acceptBody(o, await bidOn(o))
    const lease = await svc.accept({ body, requesterSig: signLeaseAsRequester(requester, body) }, requester.peerId)
    const [intruder, theirs2] = channelPair(other.peerId, worker.peerId)
    const stolen = svc.serveLease(theirs2)
    await intruder.send({ t: 'open', lease })
    await expect(stolen).rejects.toThrow(/someone other than its requester/)
  })
})
