/**
 * Lease tails, part by part: the requester's bounded retention of a lease whose stream died
 * (TailAccounts), its side of `/depin/lease-tail/1.0.0` against a hand-written or a real worker
 * book (serveTail over a channel pair, the real LeaseClient behind it), and the worker's claim
 * (TailClaims): the bad inputs each with their error code, a second exchange that pays nothing
 * more, a requester that never answers. The two-node test is lease-tail.test.ts.
 */
import { describe, it, expect, beforeAll, afterEach } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createSigner, type Signer } from '../src/proofs/signing.ts'
import { encode, rawCid, valueCid } from '../src/proofs/encoding.ts'
import { chainRoot, type ResultEntry } from '../src/proofs/commitment.ts'
import { leaseId, signAck, signCheckpoint, type CheckpointBody, type Lease, type LeaseBody, type SignedAck } from '../src/proofs/lease.ts'
import { channelPair, type Channel, type ChannelOpener } from '../src/transport.ts'
import type { PeerActionName } from '../src/shared/peer-actions.ts'
import { LeaseClient } from '../src/scheduler/requester/lease-client.ts'
import { TailAccounts } from '../src/scheduler/requester/tail-accounts.ts'
import { serveTail } from '../src/scheduler/requester/tail-server.ts'
import { WorkerCheckpoints } from '../src/scheduler/worker/checkpoints.ts'
import { exchangeTail, TailClaims } from '../src/scheduler/worker/tail-claims.ts'
import type { TaskWork } from '../src/scheduler/requester/types.ts'
import { createJob, jobTaskSpec } from '../src/scheduler/job.ts'
import { creditsFor, requirementsKey, taskId } from '../src/scheduler/task.ts'
import { parseRequesterFrame, type ResultFrame } from '../src/scheduler/lease-frames.ts'
import { parseTailAck, parseTailReceived } from '../src/scheduler/lease-tail-frames.ts'
import { MAX_LEASE_FRAME_BYTES, MAX_TAIL_FRAME_BYTES, TAIL_ACCOUNT_BYTES, TAIL_POINT_BYTES, TAIL_RESULT_BYTES } from '../src/scheduler/constants.ts'
import { TailError } from '../src/scheduler/errors.ts'
import { waitFor } from './helpers.ts'
import { coSignedLease } from './jobs-helpers.ts'

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)
const MODULE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0])
const FUEL = 300_000_000n // 0.3 gigafuel: 3 credits at the lease's price of 10

let requester: Signer
let worker: Signer
let stranger: Signer

beforeAll(async () => {
  ;[requester, worker, stranger] = await Promise.all([0, 1, 2].map(async () => createSigner(await generateKeyPair('Ed25519'))))
})

describe('TailAccounts: what a requester keeps of leases whose stream died', () => {
  const payer = (worker: string, retainedBytes = 1): { worker: string, retainedBytes: number, tailPoint: () => never, settleTail: () => never } => ({ worker, retainedBytes, tailPoint: () => { throw new Error('unused') }, settleTail: () => { throw new Error('unused') } })

  it('keeps an account for its retention time, then forgets it', () => {
    let now = 1_000
    const accounts = new TailAccounts({ retainMs: 100, now: () => now })
    accounts.keep('a', payer('w'))
    now += 99
    expect(accounts.get('a')?.payer.worker).toBe('w')
    now += 1
    expect(accounts.get('a')).toBeUndefined()
    expect(accounts.size).toBe(0)
  })

  it('keeps at most `max` accounts, the oldest dropped first; stop() forgets them all', () => {
    const accounts = new TailAccounts({ max: 2 })
    accounts.keep('a', payer('w1'))
    accounts.keep('b', payer('w2'))
    accounts.keep('c', payer('w3'))
    expect(accounts.get('a')).toBeUndefined()
    expect(accounts.get('b')?.payer.worker).toBe('w2')
    expect(accounts.get('c')?.payer.worker).toBe('w3')
    accounts.stop()
    expect(accounts.size).toBe(0)
  })
})

/** A requester's lease whose stream died after `count` results (the first `acked` of them acknowledged by checkpoint 1). */
interface Tail {
  lease: Lease
  client: LeaseClient
  works: TaskWork[]
  frames: ResultFrame[]
  accounts: TailAccounts
  reports: Array<[string, PeerActionName]>
  settles: SignedAck[]
}

describe('the requester\'s side of /depin/lease-tail/1.0.0', () => {
  const clients: LeaseClient[] = []
  afterEach(() => { for (const c of clients.splice(0)) c.abort(new Error('test over')) })

  function work (input: string): TaskWork {
    const { id, body } = createJob(requester.peerId, { module: MODULE, input: utf8(input), memoryMiB: 64, timeoutMs: 10_000 })
    const s = jobTaskSpec(id, body)
    const tid = taskId(s)
    const requirements = { memoryMiB: 64, timeoutMs: s.timeoutMs, fuel: s.fuel, maxPrice: 10 }
    return { id: tid, idText: tid.toString(), spec: s, stdin: utf8(input), requirements, classKey: requirementsKey(requirements), replicas: 1, quorum: 1, deadline: Date.now() + 60_000, spotCheck: false, onEvent: () => {}, onVerdict: () => {} }
  }

  const resultOf = (w: TaskWork, input: string): ResultFrame => {
    const out = utf8(input)
    return { task: w.id, exit: 0, out: rawCid(out), outBytes: out.byteLength, errBytes: 0, fuel: FUEL, cpuMs: 1, wallMs: 1, stdoutTruncated: false, stderrTruncated: false, stdout: out, stderr: new Uint8Array(0) }
  }

  const entryOf = (r: ResultFrame): ResultEntry => ({ task: r.task, out: r.out, exit: r.exit, fuel: r.fuel })

  async function died (count: number, acked = 0, fields: Partial<LeaseBody> = {}, decide = true): Promise<Tail> {
    const lease = coSignedLease(requester, worker, fields)
    const [mine, theirs] = channelPair(requester.peerId, worker.peerId, { maxFrameBytes: MAX_LEASE_FRAME_BYTES, idleTimeoutMs: 30_000 })
    const accounts = new TailAccounts()
    const tail: Omit<Tail, 'client'> = { lease, works: [], frames: [], accounts, reports: [], settles: [] }
    let delivered = 0
    const client = new LeaseClient(lease, mine, {
      signer: requester,
      blob: async () => undefined,
      onResult: () => { delivered++ },
      onRunning: () => {},
      onTaskFailed: () => {},
      onRoom: () => {},
      onEnded: () => {},
      onTailLeft: (c) => { accounts.keep(c.idText, c) },
      reportPeer: (peer, action) => { tail.reports.push([peer, action]) },
      settle: async (_lease, _checkpoint, ack) => { tail.settles.push(ack) }
    })
    clients.push(client)
    client.start()
    tail.works = Array.from({ length: count }, (_, i) => work(`task ${i}`))
    for (const w of tail.works) client.assign(w)
    expect(parseRequesterFrame(await theirs.receive()).t).toBe('open')
    expect(parseRequesterFrame(await theirs.receive()).t).toBe('tasks')
    tail.frames = tail.works.map((w, i) => resultOf(w, `task ${i}`))
    await theirs.send({ t: 'results', results: tail.frames })
    await waitFor(() => delivered === count, { what: 'the results' })
    if (decide) for (const w of tail.works) client.decide(w.idText, true)
    if (acked > 0) {
      const entries = tail.frames.slice(0, acked).map(entryOf)
      const fuel = FUEL * BigInt(acked)
      await theirs.send({ t: 'checkpoint', checkpoint: signCheckpoint(worker, { v: 1, lease: leaseId(lease.body), worker: worker.peerId, seq: 1, count: acked, root: chainRoot(entries), fuel, amount: creditsFor(lease.body.price, fuel), at: Date.now() }) })
      expect(parseRequesterFrame(await theirs.receive()).t).toBe('ack')
    }
    // The connection is lost: the stream dies under both sides.
    theirs.abort(new Error('connection lost'))
    await client.ended
    return { ...tail, client }
  }

  /** A tail stream from `from` to the requester, served. */
  function tailStream (t: Tail, from: Signer = worker, idleTimeoutMs = 10_000): { theirs: Channel, served: Promise<void> } {
    const [mine, theirs] = channelPair(requester.peerId, from.peerId, { maxFrameBytes: MAX_TAIL_FRAME_BYTES, idleTimeoutMs })
    const served = serveTail(mine, { accounts: t.accounts, reportPeer: (peer, action) => { t.reports.push([peer, action]) } })
    return { theirs, served }
  }

  /** The worker's own book of the lease: the same results, the first `acked` acknowledged. */
  function bookOf (t: Tail, acked = 0): WorkerCheckpoints {
    const book = new WorkerCheckpoints(t.lease, leaseId(t.lease.body).toString(), worker)
    for (const f of t.frames.slice(0, acked)) book.commit(f)
    if (acked > 0) {
      const cp = book.next(true)
      if (cp == null) throw new Error('no checkpoint')
      book.acknowledge(signAck(requester, { v: 1, lease: cp.body.lease, requester: requester.peerId, seq: 1, count: acked, root: cp.body.root, paid: cp.body.amount, refused: 0 }))
    }
    for (const f of t.frames.slice(acked)) book.commit(f)
    return book
  }

  const body = (t: Tail, count: number, extra: Partial<CheckpointBody> = {}): CheckpointBody => {
    const entries = t.frames.slice(0, count).map(entryOf)
    const fuel = FUEL * BigInt(count)
    return { v: 1, lease: leaseId(t.lease.body), worker: worker.peerId, seq: 1, count, root: chainRoot(entries), fuel, amount: creditsFor(t.lease.body.price, fuel), at: Date.now(), ...extra }
  }

  /** Opens an exchange by hand: the `received` answer. */
  async function ask (t: Tail, theirs: Channel): Promise<{ seq: number, count: number, root: Uint8Array }> {
    await theirs.send({ t: 'tail', lease: leaseId(t.lease.body) })
    const received = parseTailReceived(await theirs.receive())
    if (received.t !== 'received') throw new Error(`expected received, got ${received.code}`)
    return received
  }

  it('keeps no tail of a lease whose results were all acknowledged, nor of one aborted by this node', async () => {
    const t = await died(2, 2)
    expect(t.accounts.size).toBe(0)
  })

  it('a real worker book gets an acknowledgement for exactly what was received; the requester settles it; a second exchange pays nothing more', async () => {
    const t = await died(3, 1)
    expect(t.accounts.size).toBe(1)
    // Kept: the 2 results after checkpoint 1 (the first, decided and acknowledged, is dropped) and 3 chain states.
    expect(t.accounts.bytes).toBe(TAIL_ACCOUNT_BYTES + 2 * TAIL_RESULT_BYTES + 3 * TAIL_POINT_BYTES)
    const book = bookOf(t, 1)
    expect(book.hasTail).toBe(true)
    const first = tailStream(t)
    const best = await exchangeTail(first.theirs, { id: leaseId(t.lease.body), book })
    await first.served
    const due = creditsFor(t.lease.body.price, FUEL * 3n)
    expect(best?.ack.body).toMatchObject({ seq: 2, count: 3, paid: due, refused: 0 })
    expect(best?.checkpoint.body).toMatchObject({ seq: 2, count: 3, fuel: FUEL * 3n, amount: due })
    expect(book.hasTail).toBe(false)
    // (the lease's end settled checkpoint 1 already; the tail's settle pays the rest)
    await waitFor(() => t.settles.some((a) => a.body.count === 3), { what: 'the tail\'s settle' })
    expect(t.settles.map((a) => a.body)).toMatchObject([{ seq: 1, count: 1, paid: creditsFor(10, FUEL) }, { seq: 2, count: 3, paid: due }])

    // The worker did not hear the answer, say, and asks again: the same count, the next seq, the same pay.
    const second = tailStream(t)
    const point = await ask(t, second.theirs)
    expect(point).toMatchObject({ seq: 3, count: 3 })
    await second.theirs.send({ t: 'checkpoint', checkpoint: signCheckpoint(worker, body(t, 3, { seq: 3 })) })
    const again = parseTailAck(await second.theirs.receive())
    if (again.t !== 'ack') throw new Error(`expected ack, got ${again.code}`)
    expect(again.ack.body).toMatchObject({ seq: 3, count: 3, paid: due })
    await second.theirs.close()
    await second.served
    // Nothing new to settle: the settle pays the difference, and there is none.
    expect(t.settles).toHaveLength(2)
    expect(t.reports).toEqual([])
  })

  it('acknowledges undecided results as unpaid, and settles them once their verdicts are in', async () => {
    const t = await died(2, 0, {}, false)
    const { theirs, served } = tailStream(t)
    const best = await exchangeTail(theirs, { id: leaseId(t.lease.body), book: bookOf(t) })
    await served
    expect(best?.ack.body).toMatchObject({ seq: 1, count: 2, paid: 0, refused: 0 })
    expect(t.settles).toEqual([])
    t.client.decide(t.works[0].idText, true)
    t.client.decide(t.works[1].idText, false)
    await waitFor(() => t.settles.length === 1, { what: 'the final settle' })
    expect(t.settles[0].body).toMatchObject({ seq: 1, count: 2, paid: creditsFor(10, FUEL), refused: 1 })
  })

  const badCheckpoints: Array<[string, string, (t: Tail) => ReturnType<typeof signCheckpoint>, Partial<LeaseBody>?]> = [
    ['signed by another key', 'ERR_CHECKPOINT_SIGNATURE', (t) => ({ body: body(t, 3, { seq: 2 }), sig: signCheckpoint(stranger, body(t, 3, { seq: 2, worker: stranger.peerId })).sig })],
    ['of another count than received', 'ERR_CHECKPOINT_COUNT', (t) => signCheckpoint(worker, body(t, 2, { seq: 2 }))],
    ['whose root is not the requester\'s chain', 'ERR_CHECKPOINT_MISMATCH', (t) => signCheckpoint(worker, body(t, 3, { seq: 2, root: new Uint8Array(32).fill(7) }))],
    ['with another seq than asked', 'ERR_CHECKPOINT_SEQ', (t) => signCheckpoint(worker, body(t, 3, { seq: 5 }))],
    ['with an amount below the one acknowledged', 'ERR_CHECKPOINT_REGRESSED', (t) => signCheckpoint(worker, body(t, 3, { seq: 2, amount: 1 }))],
    ['claiming more than the lease\'s cap', 'ERR_CHECKPOINT_CAP', (t) => signCheckpoint(worker, body(t, 3, { seq: 2 })), { maxCredits: 5 }]
  ]
  for (const [what, code, make, fields] of badCheckpoints) {
    it(`a tail checkpoint ${what} is refused (${code}); the worker is scored down and its tail forgotten`, async () => {
      const t = await died(3, 1, fields)
      const { theirs, served } = tailStream(t)
      await ask(t, theirs)
      await theirs.send({ t: 'checkpoint', checkpoint: make(t) })
      expect(parseTailAck(await theirs.receive())).toMatchObject({ t: 'error', code })
      await theirs.close()
      await served
      expect(t.reports).toEqual([[worker.peerId, 'WrongResult']])
      expect(t.accounts.size).toBe(0)
      // Only what checkpoint 1 acknowledged on the stream is settled.
      expect(t.settles.map((a) => a.body.count)).toEqual([1])
    })
  }

  it('refuses an unknown lease, a peer that is not the lease\'s worker, and a second exchange while one is under way', async () => {
    const t = await died(2)
    const unknown = tailStream(t)
    await unknown.theirs.send({ t: 'tail', lease: valueCid({ another: 'lease' }) })
    expect(parseTailReceived(await unknown.theirs.receive())).toMatchObject({ t: 'error', code: 'ERR_UNKNOWN_LEASE' })
    await unknown.theirs.close()
    await unknown.served

    const other = tailStream(t, stranger)
    await other.theirs.send({ t: 'tail', lease: leaseId(t.lease.body) })
    expect(parseTailReceived(await other.theirs.receive())).toMatchObject({ t: 'error', code: 'ERR_NOT_LEASE_WORKER' })
    await other.theirs.close()
    await other.served

    const first = tailStream(t)
    await ask(t, first.theirs)
    const second = tailStream(t)
    await second.theirs.send({ t: 'tail', lease: leaseId(t.lease.body) })
    expect(parseTailReceived(await second.theirs.receive())).toMatchObject({ t: 'error', code: 'ERR_TAIL_BUSY' })
    await second.theirs.close()
    await second.served
    // The first goes on and is acknowledged.
    await first.theirs.send({ t: 'checkpoint', checkpoint: signCheckpoint(worker, body(t, 2)) })
    expect(parseTailAck(await first.theirs.receive())).toMatchObject({ t: 'ack' })
    await first.theirs.close()
    await first.served
    expect(t.reports).toEqual([])
  })

  it('a malformed frame, an oversized frame and silence past the deadline get their error codes and score the peer', async () => {
    const t = await died(1)
    const malformed = tailStream(t)
    await malformed.theirs.send({ t: 'tail', lease: 'not a CID' })
    expect(parseTailReceived(await malformed.theirs.receive())).toMatchObject({ t: 'error', code: 'ERR_INVALID_MESSAGE' })
    await malformed.theirs.close()
    await malformed.served

    const oversized = tailStream(t)
    await oversized.theirs.send({ t: 'tail', lease: leaseId(t.lease.body), pad: new Uint8Array(MAX_TAIL_FRAME_BYTES) })
    expect(encode({ pad: new Uint8Array(MAX_TAIL_FRAME_BYTES) }).byteLength).toBeGreaterThan(MAX_TAIL_FRAME_BYTES)
    expect(parseTailReceived(await oversized.theirs.receive())).toMatchObject({ t: 'error', code: 'ERR_MESSAGE_TOO_LARGE' })
    await oversized.theirs.close()
    await oversized.served

    const silent = tailStream(t, worker, 200)
    expect(parseTailReceived(await silent.theirs.receive())).toMatchObject({ t: 'error', code: 'ERR_DEADLINE_EXCEEDED' })
    silent.theirs.abort(new Error('done'))
    await silent.served
    expect(t.reports).toEqual([[worker.peerId, 'MalformedMessage'], [worker.peerId, 'MalformedMessage'], [worker.peerId, 'Timeout']])
    // None of it cost the worker its tail.
    expect(t.accounts.size).toBe(1)
  })

  it('a worker whose chain differs at the count received refuses to sign (ERR_TAIL_MISMATCH); the requester forgets the tail', async () => {
    const t = await died(2)
    const book = bookOf(t)
    const { theirs, served } = tailStream(t)
    // The worker's chain holds other results than those the requester received.
    const differs = new WorkerCheckpoints(t.lease, leaseId(t.lease.body).toString(), worker)
    for (const f of t.frames) differs.commit({ ...f, exit: 1 })
    await expect(exchangeTail(theirs, { id: leaseId(t.lease.body), book: differs })).rejects.toMatchObject({ code: 'ERR_TAIL_MISMATCH', final: true })
    await served
    expect(t.accounts.size).toBe(0)
    expect(book.hasTail).toBe(true)
  })
})

describe('TailClaims: the worker asks, with back-off, and gives up', () => {
  it('a requester that never answers: each attempt ends at its deadline, and the claim gives up after the last', async () => {
    const lease = coSignedLease(requester, worker)
    const book = new WorkerCheckpoints(lease, leaseId(lease.body).toString(), worker)
    const out = utf8('x')
    book.commit({ task: valueCid({ t: 1 }), exit: 0, out: rawCid(out), outBytes: 1, errBytes: 0, fuel: FUEL, cpuMs: 1, wallMs: 1, stdoutTruncated: false, stderrTruncated: false, stdout: out, stderr: new Uint8Array(0) })
    const opened: Channel[] = []
    const channels: ChannelOpener = {
      async open () {
        // The requester's side reads nothing and never writes.
        const [mine] = channelPair(worker.peerId, requester.peerId, { maxFrameBytes: MAX_TAIL_FRAME_BYTES, idleTimeoutMs: 100 })
        opened.push(mine)
        return mine
      }
    }
    const claims = new TailClaims({ channels, delaysMs: [0, 10, 20] })
    claims.start()
    const done = Promise.withResolvers<string>()
    const acks: unknown[] = []
    claims.claim({ lease, id: leaseId(lease.body), book, onAck: (best) => { acks.push(best) }, onDone: (outcome) => { done.resolve(outcome) } })
    expect(claims.pending).toBe(1)
    expect(await done.promise).toBe('gave-up')
    expect(opened).toHaveLength(3)
    expect(acks).toEqual([])
    expect(claims.pending).toBe(0)
    expect(book.hasTail).toBe(true) // what it has is still its own to self-settle
    claims.stop()
  })

  it('a final refusal ends the claim at once; stop() drops claims waiting', async () => {
    const lease = coSignedLease(requester, worker)
    const book = new WorkerCheckpoints(lease, leaseId(lease.body).toString(), worker)
    const out = utf8('x')
    book.commit({ task: valueCid({ t: 2 }), exit: 0, out: rawCid(out), outBytes: 1, errBytes: 0, fuel: FUEL, cpuMs: 1, wallMs: 1, stdoutTruncated: false, stderrTruncated: false, stdout: out, stderr: new Uint8Array(0) })
    let opens = 0
    const channels: ChannelOpener = {
      async open () {
        opens++
        const [mine, theirs] = channelPair(worker.peerId, requester.peerId, { maxFrameBytes: MAX_TAIL_FRAME_BYTES, idleTimeoutMs: 5_000 })
        void theirs.receive().then(async () => { await theirs.send({ t: 'error', code: 'ERR_NOT_LEASE_WORKER', message: 'no' }) })
        return mine
      }
    }
    const claims = new TailClaims({ channels, delaysMs: [0, 10, 20] })
    claims.start()
    const done = Promise.withResolvers<string>()
    claims.claim({ lease, id: leaseId(lease.body), book, onAck: () => {}, onDone: (outcome) => { done.resolve(outcome) } })
    expect(await done.promise).toBe('refused')
    expect(opens).toBe(1)

    const later = new TailClaims({ channels, delaysMs: [60_000] })
    later.start()
    later.claim({ lease, id: leaseId(lease.body), book, onAck: () => {} })
    expect(later.pending).toBe(1)
    later.stop()
    expect(later.pending).toBe(0)
    expect(opens).toBe(1)
  })

  it('a worker book refuses a tail checkpoint not past its last acknowledgement, or beyond its chain', () => {
    const lease = coSignedLease(requester, worker)
    const book = new WorkerCheckpoints(lease, leaseId(lease.body).toString(), worker)
    expect(() => book.tailCheckpoint(1, 1, new Uint8Array(32))).toThrow(TailError)
    expect(book.hasTail).toBe(false)
  })
})
