/**
 * The job model and wire messages without a network: schema rejects, signatures and their
 * domains, pricing, and the worker's admission and accept decisions (a WorkerService built from a
 * hand-made components object; tasks served over `channelPair`).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { CID } from 'multiformats/cid'
import { createSigner, signBody, type Signer } from '../src/proofs/signing.ts'
import { decode, encode, rawCid, sha256 } from '../src/proofs/encoding.ts'
import { agreementId, parseResult, signAgreementAsRequester, verifyAgreement, verifyResult, type AgreementBody } from '../src/proofs/agreement.ts'
import { InvalidMessageError, InvalidSignatureError } from '../src/errors.ts'
import { channelPair, type ChannelOpener } from '../src/transport.ts'
import { openStore, type Store } from '../src/node/storage.ts'
import type { Capacity } from '../src/node/capacity-record.ts'
import type { PeerActionName } from '../src/node/peer-score.ts'
import {
  chargeFor, createJob, jobId, jobSeed, maxCostAt, parseJobBody, parseSignedJob, MAX_JOB_MEMORY_MIB, MAX_REPLICAS,
  type JobBody, type JobInit, type SignedJob
} from '../src/scheduler/job.ts'
import {
  parseNegotiateRequest, parseNegotiateResponse, parseTaskRequest, parseTaskResponse, signBid, signDecline, verifyBid,
  verifyDecline, type BidBody, type NegotiateResponse, type SignedBid
} from '../src/scheduler/messages.ts'
import { BID_TTL_MS, CHUNK_BYTES, JOB_DOMAIN, MAX_STDERR_BYTES } from '../src/scheduler/constants.ts'
import { AcceptReplayedError, BlobMismatchError, InvalidJobError, ProtocolViolationError, UnknownOfferError } from '../src/scheduler/errors.ts'
import { WorkerService } from '../src/scheduler/worker-service.ts'
import { BlobStore } from '../src/scheduler/blob-store.ts'
import { JobStore } from '../src/scheduler/job-store.ts'
import { createExecutor, type WasiExecutor } from '../src/scheduler/executor/index.ts'
import { example, text, utf8 } from './jobs-helpers.ts'

async function newSigner (): Promise<Signer> {
  return createSigner(await generateKeyPair('Ed25519'))
}

const MODULE = utf8('\0asm not really a module, only hashed here')

describe('job spec (job.ts)', () => {
  let alice: Signer
  let bob: Signer

  beforeAll(async () => {
    alice = await newSigner()
    bob = await newSigner()
  })

  it('createJob fills the documented defaults and signs; the id is the CID of the body', () => {
    const now = 1_700_000_000_000
    const { job, id } = createJob(alice, { module: MODULE, replicas: 3 }, now)
    expect(job.body).toMatchObject({
      v: 1, requester: alice.peerId, runtime: 'wasi-p1', moduleBytes: MODULE.byteLength, inputBytes: 0, args: [], env: {},
      memoryMiB: 256, timeoutMs: 30_000, replicas: 3, quorum: 2, maxPrice: 10, createdAt: now, deadline: now + 30_000 + 60_000
    })
    expect(job.body.module.equals(rawCid(MODULE))).toBe(true)
    expect(job.body.input.equals(rawCid(new Uint8Array(0)))).toBe(true)
    expect(job.body.nonce.byteLength).toBe(16)
    expect(job.body.peers).toBeUndefined()
    expect(id.equals(jobId(job.body))).toBe(true)
    // Survives the wire: encode, decode, parse, verify.
    const back = parseSignedJob(decode(encode(job), 1 << 20))
    expect(jobId(back.body).equals(id)).toBe(true)
  })

  it('two identical submissions are two jobs (random nonce); the seed is a function of the id', () => {
    const a = createJob(alice, { module: MODULE }, 1000)
    const b = createJob(alice, { module: MODULE }, 1000)
    expect(a.id.equals(b.id)).toBe(false)
    expect(Buffer.from(jobSeed(a.id)).equals(Buffer.from(jobSeed(a.id)))).toBe(true)
    expect(Buffer.from(jobSeed(a.id)).equals(Buffer.from(jobSeed(b.id)))).toBe(false)
    expect(jobSeed(a.id).byteLength).toBe(32)
  })

  const rejects: Array<[string, Partial<JobInit>]> = [
    ['quorum above replicas', { replicas: 2, quorum: 3 }],
    ['zero replicas', { replicas: 0 }],
    ['too many replicas', { replicas: MAX_REPLICAS + 1 }],
    ['a peer id that is not one', { peers: ['12D3KooWnot-a-peer-id'] }],
    ['an RSA-style peer id', { peers: ['QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N'] }],
    ['an argument over 4096 characters', { args: ['x'.repeat(4097)] }],
    ['more than 256 arguments', { args: Array.from({ length: 257 }, () => 'a') }],
    ['an env name with =', { env: { 'A=B': 'c' } }],
    ['more than 128 env entries', { env: Object.fromEntries(Array.from({ length: 129 }, (_, i) => [`K${i}`, 'v'])) }],
    ['zero memory', { memoryMiB: 0 }],
    ['memory over the maximum', { memoryMiB: MAX_JOB_MEMORY_MIB + 1 }],
    ['a fractional timeout', { timeoutMs: 1.5 }],
    ['a negative price', { maxPrice: -1 }],
    ['a deadline before creation', { deadline: 500 }]
  ]

  for (const [what, init] of rejects) {
    it(`createJob rejects ${what} with InvalidJobError`, () => {
      expect(() => createJob(alice, { module: MODULE, ...init }, 1000)).toThrow(InvalidJobError)
    })
  }

  it('createJob rejects more than 32 target peers', async () => {
    const ids = await Promise.all(Array.from({ length: 33 }, async () => (await newSigner()).peerId))
    expect(() => createJob(alice, { module: MODULE, peers: ids.slice(0, 32) }, 1000)).not.toThrow()
    expect(() => createJob(alice, { module: MODULE, peers: ids }, 1000)).toThrow(InvalidJobError)
  })

  it('the schema rejects unknown fields and wrong types before any signature check', () => {
    const { job } = createJob(alice, { module: MODULE })
    expect(() => parseJobBody({ ...job.body, extra: 1 })).toThrow(InvalidJobError)
    expect(() => parseJobBody({ ...job.body, v: 2 })).toThrow(InvalidJobError)
    expect(() => parseJobBody({ ...job.body, runtime: 'wasi-p2' })).toThrow(InvalidJobError)
    expect(() => parseJobBody({ ...job.body, module: 'bafy-not-a-cid' })).toThrow(InvalidJobError)
    expect(() => parseJobBody({ ...job.body, nonce: new Uint8Array(15) })).toThrow(InvalidJobError)
    // A body that breaks a rule but carries a valid signature over itself is still refused as
    // malformed (schema first), not accepted because the signature checks out.
    const bad = { ...job.body, replicas: 1, quorum: 2 }
    const signed = { body: bad, sig: signBody(alice, JOB_DOMAIN, bad) }
    expect(() => parseSignedJob(signed)).toThrow(InvalidMessageError)
    expect(() => parseSignedJob({ ...job, sig: job.sig.subarray(0, 63) })).toThrow(InvalidMessageError)
  })

  it('signature checks: tampered body, someone else\'s signature, another domain', () => {
    const { job } = createJob(alice, { module: MODULE, maxPrice: 5 })
    expect(() => parseSignedJob(job)).not.toThrow()
    const tampered: SignedJob = { body: { ...job.body, maxPrice: 6 }, sig: job.sig }
    expect(() => parseSignedJob(tampered)).toThrow(InvalidSignatureError)
    // bob signs a body naming alice as requester
    expect(() => parseSignedJob({ body: job.body, sig: signBody(bob, JOB_DOMAIN, job.body) })).toThrow(InvalidSignatureError)
    // alice's signature over the same body under another domain does not verify as a job
    expect(() => parseSignedJob({ body: job.body, sig: signBody(alice, 'bid/1', job.body) })).toThrow(InvalidSignatureError)
    const flipped = Uint8Array.from(job.sig)
    flipped[10] ^= 1
    expect(() => parseSignedJob({ body: job.body, sig: flipped })).toThrow(InvalidSignatureError)
  })

  it('maxCostAt: price × timeout in seconds, rounded up', () => {
    const body = (timeoutMs: number): JobBody => createJob(alice, { module: MODULE, timeoutMs }).job.body
    expect(maxCostAt(body(30_000), 1)).toBe(30)
    expect(maxCostAt(body(2_500), 3)).toBe(8) // 7.5 → 8
    expect(maxCostAt(body(1), 1)).toBe(1) // 0.001 → 1
    expect(maxCostAt(body(60_000), 0)).toBe(0)
  })

  it('chargeFor: price × CPU seconds, rounded up, capped at maxCost', () => {
    expect(chargeFor(1, 190, 30)).toBe(1)
    expect(chargeFor(3, 1001, 100)).toBe(4) // 3.003 → 4
    expect(chargeFor(2, 1000, 100)).toBe(2)
    expect(chargeFor(1000, 60_000, 50)).toBe(50) // capped
    expect(chargeFor(5, 0, 50)).toBe(0)
    expect(chargeFor(0, 10_000, 50)).toBe(0)
  })
})

describe('wire messages (messages.ts)', () => {
  let alice: Signer
  let bob: Signer
  let job: SignedJob
  let id: CID

  beforeAll(async () => {
    alice = await newSigner()
    bob = await newSigner()
    ;({ job, id } = createJob(alice, { module: MODULE }))
  })

  const bidBody = (): BidBody => ({ v: 1, jobId: id, worker: bob.peerId, requester: alice.peerId, price: 2, expiresAt: Date.now() + 1000, freeSlots: 1 })

  it('a bid verifies for its worker only, and not as a decline', () => {
    const bid = signBid(bob, bidBody())
    expect(() => verifyBid(bid)).not.toThrow()
    expect(() => verifyBid({ body: { ...bid.body, price: 1 }, sig: bid.sig })).toThrow(InvalidSignatureError)
    expect(() => verifyBid({ body: { ...bid.body, worker: alice.peerId }, sig: bid.sig })).toThrow(InvalidSignatureError)
    const decline = signDecline(bob, { v: 1, jobId: id, worker: bob.peerId, reason: 'memory' })
    expect(() => verifyDecline(decline)).not.toThrow()
    // Domain separation: a bid's signature reused on a decline (or the reverse) fails.
    expect(() => verifyDecline({ body: decline.body, sig: bid.sig })).toThrow(InvalidSignatureError)
  })

  it('negotiation frames: each type parses; unknown types, extra fields and bad values do not', () => {
    const bid = signBid(bob, bidBody())
    expect(parseNegotiateRequest(decode(encode({ t: 'offer', job }), 1 << 20)).t).toBe('offer')
    expect(parseNegotiateRequest({ t: 'bid', bid }).t).toBe('bid')
    expect(parseNegotiateResponse({ t: 'ack' }).t).toBe('ack')
    expect(parseNegotiateResponse({ t: 'error', code: 'ERR_X', message: 'x' }).t).toBe('error')
    expect(() => parseNegotiateRequest({ t: 'hello' })).toThrow(InvalidMessageError)
    expect(() => parseNegotiateRequest({ t: 'bid', bid, extra: true })).toThrow(InvalidMessageError)
    expect(() => parseNegotiateRequest({ t: 'bid', bid: { ...bid, body: { ...bid.body, freeSlots: 5000 } } })).toThrow(InvalidMessageError)
    expect(() => parseNegotiateRequest({ t: 'bid', bid: { ...bid, body: { ...bid.body, price: -1 } } })).toThrow(InvalidMessageError)
    expect(() => parseNegotiateRequest({ t: 'decline', decline: { body: { v: 1, jobId: id, worker: bob.peerId, reason: 'bored' }, sig: bid.sig } })).toThrow(InvalidMessageError)
    expect(() => parseNegotiateResponse({ t: 'error', code: 'E'.repeat(65), message: '' })).toThrow(InvalidMessageError)
    expect(() => parseNegotiateRequest('offer')).toThrow(InvalidMessageError)
    expect(() => parseNegotiateRequest(null)).toThrow(InvalidMessageError)
  })

  it('task frames: chunks up to CHUNK_BYTES, stderr within its bound', () => {
    expect(parseTaskRequest({ t: 'chunk', which: 'module', data: new Uint8Array(CHUNK_BYTES) }).t).toBe('chunk')
    expect(() => parseTaskRequest({ t: 'chunk', which: 'module', data: new Uint8Array(CHUNK_BYTES + 1) })).toThrow(InvalidMessageError)
    expect(() => parseTaskRequest({ t: 'chunk', which: 'output', data: new Uint8Array(1) })).toThrow(InvalidMessageError)
    expect(() => parseTaskRequest({ t: 'end' })).toThrow(InvalidMessageError)
    expect(() => parseTaskResponse({ t: 'stdout', data: 'text' })).toThrow(InvalidMessageError)
    expect(parseTaskResponse({ t: 'need', module: true, input: false }).t).toBe('need')
    const result = { body: { v: 1, agreementId: id, jobId: id, worker: bob.peerId, outputCid: rawCid(new Uint8Array(0)), outputBytes: 0, exitCode: 0, cpuMs: 1, wallMs: 1 }, sig: new Uint8Array(64) }
    expect(parseTaskResponse({ t: 'result', result, stderrBytes: MAX_STDERR_BYTES, stdoutTruncated: false, stderrTruncated: false }).t).toBe('result')
    expect(() => parseTaskResponse({ t: 'result', result, stderrBytes: MAX_STDERR_BYTES + 1, stdoutTruncated: false, stderrTruncated: false })).toThrow(InvalidMessageError)
    expect(() => parseTaskResponse({ t: 'result', result: { ...result, body: { ...result.body, exitCode: 256 } }, stderrBytes: 0, stdoutTruncated: false, stderrTruncated: false })).toThrow(InvalidMessageError)
  })
})

describe('worker admission and accept (WorkerService, no network)', () => {
  let requester: Signer
  let worker: Signer
  let other: Signer
  let store: Store
  let executor: WasiExecutor
  let capacity: Capacity
  let funded: boolean
  const reports: Array<[string, PeerActionName]> = []
  let svc: WorkerService

  const noChannels: ChannelOpener = { open: async () => { throw new Error('no network in this test') } }

  beforeAll(async () => {
    requester = await newSigner()
    worker = await newSigner()
    other = await newSigner()
    store = await openStore()
    executor = createExecutor({ workers: 1 })
    svc = new WorkerService({
      signer: worker,
      executor,
      blobs: new BlobStore(store),
      records: new JobStore(store),
      channels: noChannels,
      capacity: () => capacity,
      canPay: async () => funded,
      reportPeer: (peer, action) => { reports.push([peer, action]) }
    }, { queuePerSlot: 0 })
    await executor.start()
    svc.start()
  })

  afterAll(async () => {
    svc?.stop()
    await executor?.stop()
    await store?.close()
  })

  function reset (): void {
    capacity = { cores: 2, memoryMiB: 512, slots: 1, pricePerCpuSecond: 2, runtimes: ['wasi-p1'] }
    funded = true
  }

  async function answer (init: Partial<JobInit> = {}, signer = requester, now?: number): Promise<{ response: NegotiateResponse, fresh: boolean } | undefined> {
    const { job, id } = createJob(signer, { module: MODULE, ...init }, now)
    return await svc.answerOffer(job, id)
  }

  async function declineReason (init: Partial<JobInit> = {}, now?: number): Promise<string | undefined> {
    const a = await answer(init, requester, now)
    if (a?.response.t !== 'decline') return undefined
    verifyDecline(a.response.decline)
    return a.response.decline.body.reason
  }

  it('bids on a job it can run: its price, free slots, a TTL, signed', async () => {
    reset()
    const { job, id } = createJob(requester, { module: MODULE, memoryMiB: 512, maxPrice: 2 })
    const before = Date.now()
    const a = await svc.answerOffer(job, id)
    expect(a?.fresh).toBe(true)
    expect(a?.response.t).toBe('bid')
    const bid = (a?.response as { bid: SignedBid }).bid
    verifyBid(bid)
    expect(bid.body).toMatchObject({ worker: worker.peerId, requester: requester.peerId, price: 2, freeSlots: 1 })
    expect(bid.body.jobId.equals(id)).toBe(true)
    expect(bid.body.expiresAt).toBeGreaterThanOrEqual(before + BID_TTL_MS)
    // The same offer again (gossip and direct copies) gets the same answer, not a second bid.
    const again = await svc.answerOffer(job, id)
    expect(again?.fresh).toBe(false)
    expect(again?.response).toBe(a?.response)
  })

  it('declines with memory when the job asks more than offered', async () => {
    reset()
    expect(await declineReason({ memoryMiB: 513 })).toBe('memory')
  })

  it('declines with price when its price is above the job\'s maximum', async () => {
    reset()
    expect(await declineReason({ maxPrice: 1 })).toBe('price')
  })

  it('declines with deadline when the job cannot finish before its deadline', async () => {
    reset()
    const now = Date.now()
    expect(await declineReason({ timeoutMs: 10_000, deadline: now + 5_000 }, now)).toBe('deadline')
  })

  it('declines with runtime when it does not run wasi-p1', async () => {
    reset()
    capacity.runtimes = []
    expect(await declineReason()).toBe('runtime')
  })

  it('declines with busy when it offers no slots', async () => {
    reset()
    capacity.slots = 0
    expect(await declineReason()).toBe('busy')
  })

  it('declines with funds when the requester cannot pay the maximum cost', async () => {
    reset()
    funded = false
    expect(await declineReason()).toBe('funds')
  })

  it('stays silent on jobs aimed at other peers and on its own jobs', async () => {
    reset()
    expect(await answer({ peers: [other.peerId] })).toBeUndefined()
    expect(await answer({}, worker)).toBeUndefined()
    expect((await answer({ peers: [other.peerId, worker.peerId] }))?.response.t).toBe('bid')
  })

  /** Offers a job, gets the bid and builds the requester's accept for it. */
  async function bidAndAccept (init: Partial<JobInit> = {}, replica = 0): Promise<{ job: SignedJob, id: CID, body: AgreementBody, requesterSig: Uint8Array }> {
    const { job, id } = createJob(requester, { module: MODULE, ...init })
    const a = await svc.answerOffer(job, id)
    if (a?.response.t !== 'bid') throw new Error(`expected a bid, got ${a?.response.t}`)
    const bid = a.response.bid
    const body: AgreementBody = {
      v: 1, jobId: id, requester: requester.peerId, worker: worker.peerId, replica, price: bid.body.price,
      maxCost: maxCostAt(job.body, bid.body.price), acceptedAt: Date.now(), deadline: job.body.deadline
    }
    return { job, id, body, requesterSig: signAgreementAsRequester(requester, body) }
  }

  it('turns an accept into a co-signed agreement; the same accept again is a replay', async () => {
    reset()
    capacity.slots = 4
    const { body, requesterSig } = await bidAndAccept()
    const agreement = await svc.accept({ body, requesterSig }, requester.peerId)
    expect(() => { verifyAgreement(agreement) }).not.toThrow()
    expect(agreementId(agreement.body).equals(agreementId(body))).toBe(true)
    await expect(svc.accept({ body, requesterSig }, requester.peerId)).rejects.toBeInstanceOf(AcceptReplayedError)
    await expect(svc.accept({ body, requesterSig }, requester.peerId)).rejects.toMatchObject({ code: 'ERR_ACCEPT_REPLAYED' })
  })

  it('refuses accepts that do not match its bid or come from the wrong peer', async () => {
    reset()
    capacity.slots = 8
    const { body, requesterSig } = await bidAndAccept()
    await expect(svc.accept({ body, requesterSig }, other.peerId)).rejects.toBeInstanceOf(ProtocolViolationError)
    const cheaper = { ...body, price: 1, maxCost: body.maxCost }
    await expect(svc.accept({ body: cheaper, requesterSig: signAgreementAsRequester(requester, cheaper) }, requester.peerId)).rejects.toBeInstanceOf(ProtocolViolationError)
    const bigger = { ...body, maxCost: body.maxCost + 1 }
    await expect(svc.accept({ body: bigger, requesterSig: signAgreementAsRequester(requester, bigger) }, requester.peerId)).rejects.toBeInstanceOf(ProtocolViolationError)
    await expect(svc.accept({ body, requesterSig: new Uint8Array(64) }, requester.peerId)).rejects.toBeInstanceOf(InvalidSignatureError)
    const unknown = { ...body, jobId: rawCid(utf8('no such job')) }
    await expect(svc.accept({ body: unknown, requesterSig: signAgreementAsRequester(requester, unknown) }, requester.peerId)).rejects.toBeInstanceOf(UnknownOfferError)
  })

  it('refuses an accept with ERR_BUSY once its slots are taken, and declines new offers with busy', async () => {
    reset()
    capacity.slots = 1 // queuePerSlot 0: one agreement at a time
    // Fresh service state: earlier tests left agreements open; use a new worker service.
    const fresh = new WorkerService({
      signer: worker, executor, blobs: new BlobStore(store), records: new JobStore(store), channels: noChannels,
      capacity: () => capacity, canPay: async () => true, reportPeer: () => {}
    }, { queuePerSlot: 0 })
    fresh.start()
    try {
      const offer = async (): Promise<{ job: SignedJob, id: CID, accept: { body: AgreementBody, requesterSig: Uint8Array } }> => {
        const { job, id } = createJob(requester, { module: MODULE })
        const a = await fresh.answerOffer(job, id)
        if (a?.response.t !== 'bid') throw new Error('expected a bid')
        const body: AgreementBody = { v: 1, jobId: id, requester: requester.peerId, worker: worker.peerId, replica: 0, price: 2, maxCost: maxCostAt(job.body, 2), acceptedAt: Date.now(), deadline: job.body.deadline }
        return { job, id, accept: { body, requesterSig: signAgreementAsRequester(requester, body) } }
      }
      const first = await offer()
      const second = await offer() // bids are quotes: both get a bid while the slot is free
      await fresh.accept(first.accept, requester.peerId)
      await expect(fresh.accept(second.accept, requester.peerId)).rejects.toMatchObject({ code: 'ERR_BUSY' })
      // The refused quote is void: the same offer again is re-checked (busy), not answered
      // from the cache with the old bid.
      const again = await fresh.answerOffer(second.job, second.id)
      expect(again?.response.t === 'decline' && again.response.decline.body.reason).toBe('busy')
      expect(again?.fresh).toBe(true)
      const { job, id } = createJob(requester, { module: MODULE })
      const a = await fresh.answerOffer(job, id)
      expect(a?.response.t === 'decline' && a.response.decline.body.reason).toBe('busy')
      // Busy declines are not cached either: once the slot is free, the same offer gets a bid.
      fresh.stop()
      fresh.start()
      expect((await fresh.answerOffer(job, id))?.response.t).toBe('bid')
    } finally {
      fresh.stop()
    }
  })

  it('serves a task over a channel: fetches the blobs it lacks, runs them, returns a signed result', async () => {
    reset()
    capacity.slots = 8
    const module = example('echo')
    const input = utf8('over a channel pair')
    const { job, body, requesterSig } = await bidAndAccept({ module, input })
    const agreement = await svc.accept({ body, requesterSig }, requester.peerId)
    const [mine, theirs] = channelPair(requester.peerId, worker.peerId, { maxFrameBytes: 2 << 20 })
    const serving = svc.serveTask(theirs)
    await mine.send({ t: 'task', agreement, job })
    expect(parseTaskResponse(await mine.receive())).toEqual({ t: 'need', module: true, input: true })
    await mine.send({ t: 'chunk', which: 'module', data: module })
    await mine.send({ t: 'end', which: 'module' })
    await mine.send({ t: 'chunk', which: 'input', data: input })
    await mine.send({ t: 'end', which: 'input' })
    let frame = parseTaskResponse(await mine.receive())
    while (frame.t === 'running' || frame.t === 'heartbeat') frame = parseTaskResponse(await mine.receive())
    expect(frame.t).toBe('result')
    if (frame.t !== 'result') return
    const result = parseResult(frame.result)
    verifyResult(result)
    expect(result.body.worker).toBe(worker.peerId)
    expect(result.body.exitCode).toBe(0)
    expect(result.body.agreementId.equals(agreementId(agreement.body))).toBe(true)
    expect(result.body.outputCid.equals(rawCid(input))).toBe(true)
    const out = parseTaskResponse(await mine.receive())
    expect(out.t === 'stdout' && text(out.data)).toBe('over a channel pair')
    await mine.close() // the worker waits for our end of stream before releasing its side
    await serving
    // The agreement is used up: a second task frame for it is refused.
    const [mine2, theirs2] = channelPair(requester.peerId, worker.peerId)
    const again = svc.serveTask(theirs2)
    await mine2.send({ t: 'task', agreement, job })
    expect(parseTaskResponse(await mine2.receive())).toMatchObject({ t: 'error', code: 'ERR_UNKNOWN_AGREEMENT' })
    await mine2.close()
    await again
  })

  it('a task stream carries a second task after the first, with the module already cached', async () => {
    reset()
    capacity.slots = 8
    const module = example('echo')
    const [mine, theirs] = channelPair(requester.peerId, worker.peerId, { maxFrameBytes: 2 << 20 })
    const serving = svc.serveTask(theirs)
    for (const [i, word] of ['first', 'second'].entries()) {
      const input = utf8(word)
      const { job, body, requesterSig } = await bidAndAccept({ module, input })
      const agreement = await svc.accept({ body, requesterSig }, requester.peerId)
      await mine.send({ t: 'task', agreement, job })
      // The second task never ships the module (the first one left it cached, if an earlier test
      // had not already); the input is new each time.
      const need = parseTaskResponse(await mine.receive())
      expect(need).toMatchObject({ t: 'need', input: true })
      if (need.t !== 'need') return
      if (i === 1) expect(need.module).toBe(false)
      if (need.module) {
        await mine.send({ t: 'chunk', which: 'module', data: module })
        await mine.send({ t: 'end', which: 'module' })
      }
      await mine.send({ t: 'chunk', which: 'input', data: input })
      await mine.send({ t: 'end', which: 'input' })
      let frame = parseTaskResponse(await mine.receive())
      while (frame.t === 'running' || frame.t === 'heartbeat') frame = parseTaskResponse(await mine.receive())
      expect(frame.t).toBe('result')
      const out = parseTaskResponse(await mine.receive())
      expect(out.t === 'stdout' && text(out.data)).toBe(word)
    }
    await mine.close() // no third task: the worker ends the stream
    await serving
  })

  it('refuses module bytes that do not match the job\'s CID and reports the requester', async () => {
    reset()
    capacity.slots = 8
    const module = utf8('the real module bytes, 40 bytes long....')
    const fake = utf8('other bytes of exactly the same length..')
    expect(fake.byteLength).toBe(module.byteLength)
    const { job, body, requesterSig } = await bidAndAccept({ module })
    const agreement = await svc.accept({ body, requesterSig }, requester.peerId)
    const [mine, theirs] = channelPair(requester.peerId, worker.peerId)
    const serving = svc.serveTask(theirs)
    await mine.send({ t: 'task', agreement, job })
    expect(parseTaskResponse(await mine.receive())).toMatchObject({ t: 'need', module: true })
    await mine.send({ t: 'chunk', which: 'module', data: fake })
    await mine.send({ t: 'end', which: 'module' })
    await expect(serving).rejects.toBeInstanceOf(BlobMismatchError)
    expect(reports).toContainEqual([requester.peerId, 'MalformedMessage'])
    expect(sha256(fake)).not.toEqual(sha256(module))
  })
})
