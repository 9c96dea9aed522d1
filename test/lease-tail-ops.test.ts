/**
 * Lease tails as the operator sees them, part by part: the requester's kept accounts bounded in
 * bytes as well as in number (TailAccounts, with made-up accounts; LeaseAccount's estimate of
 * its bytes, and `compact`, which keeps what a tail's acknowledgement needs), and what each side reports when an exchange ends (serveTail's `onServed`,
 * TailClaims' `onDone`): paid with the results and credits, refused or given up with the code;
 * the operator log's lines and the metrics those reports make. The two-node test that the log
 * and metrics show a real claim is lease-tail.test.ts.
 */
import { describe, it, expect, beforeAll } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createSigner, type Signer } from '../src/proofs/signing.ts'
import { rawCid, valueCid } from '../src/proofs/encoding.ts'
import { chainRoot, type ResultEntry } from '../src/proofs/commitment.ts'
import { leaseId, signAck, type Lease, type SignedCheckpoint } from '../src/proofs/lease.ts'
import { channelPair, type ChannelOpener } from '../src/transport.ts'
import { LeaseAccount } from '../src/scheduler/requester/accounting.ts'
import { TailAccounts, type TailPayer, type TailPoint } from '../src/scheduler/requester/tail-accounts.ts'
import { serveTail, type TailServed } from '../src/scheduler/requester/tail-server.ts'
import { WorkerCheckpoints } from '../src/scheduler/worker/checkpoints.ts'
import { TailClaims, tailClaimed, type TailClaimed, type TailClaimEnd, type TailOutcome } from '../src/scheduler/worker/tail-claims.ts'
import type { PeerActionName } from '../src/shared/peer-actions.ts'
import { attachOperatorLog } from '../src/node/operator-events.ts'
import { createOperatorLog } from '../src/node/operator-log.ts'
import { attachNodeMetrics, createNodeMetrics } from '../src/node/metrics/index.ts'
import type { ResultFrame } from '../src/scheduler/lease-frames.ts'
import { creditsFor } from '../src/scheduler/task.ts'
import { MAX_TAIL_FRAME_BYTES, TAIL_ACCOUNT_BYTES, TAIL_POINT_BYTES, TAIL_RESULT_BYTES, TAIL_RETAIN_BYTES, TAIL_RETAIN_MAX } from '../src/scheduler/constants.ts'
import { coSignedLease } from './jobs-helpers.ts'

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)
const FUEL = 300_000_000n // 3 credits at the lease's price of 10

let requester: Signer
let worker: Signer
let stranger: Signer

beforeAll(async () => {
  ;[requester, worker, stranger] = await Promise.all([0, 1, 2].map(async () => createSigner(await generateKeyPair('Ed25519'))))
})

const frame = (i: number): ResultFrame => {
  const out = utf8(`out ${i}`)
  return { task: valueCid({ task: i }), exit: 0, out: rawCid(out), outBytes: out.byteLength, errBytes: 0, fuel: FUEL, cpuMs: 1, wallMs: 1, stdoutTruncated: false, stderrTruncated: false, stdout: out, stderr: new Uint8Array(0) }
}
const entry = (f: ResultFrame): ResultEntry => ({ task: f.task, out: f.out, exit: f.exit, fuel: f.fuel })

describe('TailAccounts: bounded in bytes as well as in number', () => {
  const payer = (worker: string, retainedBytes: number): TailPayer => ({ worker, retainedBytes, tailPoint: () => { throw new Error('unused') }, settleTail: () => { throw new Error('unused') } })

  it('drops the oldest accounts once their bytes pass the bound, and counts what it holds', () => {
    const accounts = new TailAccounts({ maxBytes: 100 })
    expect(accounts.keep('a', payer('w1', 40))).toBe(true)
    expect(accounts.keep('b', payer('w2', 40))).toBe(true)
    expect(accounts.bytes).toBe(80)
    expect(accounts.keep('c', payer('w3', 40))).toBe(true)
    expect(accounts.get('a')).toBeUndefined()
    expect([accounts.size, accounts.bytes]).toEqual([2, 80])
    // One that takes the whole budget drops every other.
    expect(accounts.keep('d', payer('w4', 100))).toBe(true)
    expect([accounts.get('b'), accounts.get('c')]).toEqual([undefined, undefined])
    expect([accounts.size, accounts.bytes]).toEqual([1, 100])
  })

  it('does not keep an account larger than the bound alone, and drops nothing for it', () => {
    const accounts = new TailAccounts({ maxBytes: 100 })
    accounts.keep('a', payer('w1', 60))
    expect(accounts.keep('huge', payer('w2', 101))).toBe(false)
    expect(accounts.get('huge')).toBeUndefined()
    expect(accounts.get('a')?.payer.worker).toBe('w1')
    expect(accounts.bytes).toBe(60)
    // (nor a payer whose estimate is not a number)
    expect(accounts.keep('nan', payer('w3', Number.NaN))).toBe(false)
    expect(accounts.bytes).toBe(60)
  })

  it('gives the bytes back when an account is replaced, dropped, expires or all are stopped', () => {
    let now = 0
    const accounts = new TailAccounts({ maxBytes: 1_000, retainMs: 100, now: () => now })
    accounts.keep('a', payer('w1', 300))
    accounts.keep('a', payer('w1', 200))
    expect([accounts.size, accounts.bytes]).toEqual([1, 200])
    accounts.keep('b', payer('w2', 300))
    accounts.drop('a')
    accounts.drop('a')
    expect(accounts.bytes).toBe(300)
    now += 100
    expect(accounts.get('b')).toBeUndefined()
    expect(accounts.bytes).toBe(0)
    accounts.keep('c', payer('w3', 400))
    accounts.stop()
    expect([accounts.size, accounts.bytes]).toEqual([0, 0])
  })

  it('the default bounds: 1,024 small accounts fit in the byte budget; it holds about 128 K results', () => {
    expect(TAIL_RETAIN_MAX * TAIL_ACCOUNT_BYTES).toBeLessThan(TAIL_RETAIN_BYTES)
    const accounts = new TailAccounts()
    // Made-up accounts of 10,000 results each: 13 fit, the oldest go.
    const bytes = TAIL_ACCOUNT_BYTES + 10_000 * TAIL_RESULT_BYTES
    for (let i = 0; i < 20; i++) accounts.keep(`l${i}`, payer('w', bytes))
    expect(accounts.size).toBe(Math.floor(TAIL_RETAIN_BYTES / bytes))
    expect(accounts.get('l0')).toBeUndefined()
    expect(accounts.get('l19')).toBeDefined()
    expect(accounts.bytes).toBeLessThanOrEqual(TAIL_RETAIN_BYTES)
  })
})

describe('LeaseAccount.retainedBytes: every result of the lease, and the chain states since its last checkpoint', () => {
  it('grows per result and shrinks by the chain states a checkpoint trims', () => {
    const account = new LeaseAccount(10)
    expect(account.retainedBytes).toBe(TAIL_ACCOUNT_BYTES + TAIL_POINT_BYTES)
    const frames = Array.from({ length: 5 }, (_, i) => frame(i))
    for (const f of frames) account.add(entry(f))
    expect(account.retainedBytes).toBe(TAIL_ACCOUNT_BYTES + 5 * TAIL_RESULT_BYTES + 6 * TAIL_POINT_BYTES)
    account.accept({ v: 1, lease: valueCid({ lease: 1 }), worker: 'w', seq: 1, count: 3, root: chainRoot(frames.slice(0, 3).map(entry)), fuel: 3n * FUEL, amount: creditsFor(10, 3n * FUEL), at: 0 })
    // Results stay (their verdicts pay the tail); the states before the checkpoint go.
    expect(account.retainedBytes).toBe(TAIL_ACCOUNT_BYTES + 5 * TAIL_RESULT_BYTES + 3 * TAIL_POINT_BYTES)
  })
})

describe('LeaseAccount.compact: a kept account holds what a tail\'s acknowledgement needs', () => {
  /** Two books of the same 10 results, checkpoint 1 at 6 accepted; verdicts: 0-4 decided (1 and 3 refused), 5-9 later. */
  function twins (): { frames: ResultFrame[], full: LeaseAccount, kept: LeaseAccount } {
    const frames = Array.from({ length: 10 }, (_, i) => frame(i))
    const [full, kept] = [new LeaseAccount(10), new LeaseAccount(10)]
    for (const account of [full, kept]) {
      for (const f of frames) account.add(entry(f))
      for (let i = 0; i < 5; i++) account.decide(frames[i].task.toString(), i !== 1 && i !== 3)
      account.accept({ v: 1, lease: valueCid({ lease: 1 }), worker: 'w', seq: 1, count: 6, root: chainRoot(frames.slice(0, 6).map(entry)), fuel: 6n * FUEL, amount: creditsFor(10, 6n * FUEL), at: 0 })
    }
    return { frames, full, kept }
  }

  it('drops the results decided before the last acknowledged checkpoint; pays, refuses and waits as the whole book does', () => {
    const { frames, full, kept } = twins()
    kept.compact(6)
    // 0-4 are decided and before the checkpoint: gone; 5 (undecided) on are kept.
    expect(full.retainedBytes - kept.retainedBytes).toBe(5 * TAIL_RESULT_BYTES)
    const same = (): void => {
      expect(kept.paidThrough(10, 6)).toEqual(full.paidThrough(10, 6))
      expect(kept.paidThrough(6, 6)).toEqual(full.paidThrough(6, 6))
      expect(kept.pendingThrough(10)).toBe(full.pendingThrough(10))
      expect(kept.pendingThrough(6)).toBe(full.pendingThrough(6))
    }
    same()
    expect(kept.pendingThrough(10)).toBe(5)
    // Verdicts still come in after the lease ended: charged at once, refused, charged once recorded.
    for (const account of [full, kept]) {
      account.decide(frames[5].task.toString(), true)
      account.decide(frames[6].task.toString(), false)
      // (a verdict for a dropped result changes nothing)
      account.decide(frames[0].task.toString(), false)
    }
    same()
    const positions = [full, kept].map((a) => a.charging(frames[7].task.toString()))
    expect(positions[1]).toEqual(positions[0])
    full.recorded(positions[0], true)
    kept.recorded(positions[1], true)
    for (const account of [full, kept]) for (const i of [8, 9]) account.decide(frames[i].task.toString(), true)
    same()
    expect(kept.paidThrough(10, 6)).toMatchObject({ paid: creditsFor(10, 7n * FUEL), refused: 3, refusedTasks: [frames[6].task] })
    expect(kept.pendingThrough(10)).toBe(0)
  })

  it('keeps a result still waiting for its verdict, and what the next acknowledgement lists, however long the lease', () => {
    const { full, kept } = twins()
    // Only results before the first undecided one go, whatever the checkpoint.
    kept.compact(10)
    expect(full.retainedBytes - kept.retainedBytes).toBe(5 * TAIL_RESULT_BYTES)
    // Results after the last acknowledged checkpoint are kept, decided or not.
    const { full: full2, kept: kept2 } = twins()
    kept2.compact(2)
    expect(full2.retainedBytes - kept2.retainedBytes).toBe(2 * TAIL_RESULT_BYTES)
    expect(kept2.paidThrough(10, 2)).toEqual(full2.paidThrough(10, 2))
    // Compacting again, or to an earlier count, is harmless.
    kept2.compact(1)
    kept2.compact(2)
    expect(kept2.paidThrough(10, 2)).toEqual(full2.paidThrough(10, 2))
  })
})

/** A worker's book of `count` results, the first `acked` acknowledged as paying `ackPaid`. */
function bookOf (lease: Lease, count: number, acked = 0, ackPaid = 0): WorkerCheckpoints {
  const book = new WorkerCheckpoints(lease, leaseId(lease.body).toString(), worker)
  for (let i = 0; i < count; i++) {
    book.commit(frame(i))
    if (i + 1 === acked) {
      const cp = book.next(true) as SignedCheckpoint
      book.acknowledge(signAck(requester, { v: 1, lease: cp.body.lease, requester: requester.peerId, seq: 1, count: acked, root: cp.body.root, paid: ackPaid, refused: 0 }))
    }
  }
  return book
}

/** A requester's made-up account of `count` results: it pays every result it received; `paid` before. */
function payerOf (lease: Lease, count: number, seq: number, paid: number, owner = worker.peerId): TailPayer {
  const root = chainRoot(Array.from({ length: count }, (_, i) => entry(frame(i))))
  return {
    worker: owner,
    retainedBytes: 1,
    tailPoint: (): TailPoint => ({ seq, count, root, paid }),
    settleTail: async (checkpoint) => signAck(requester, { v: 1, lease: checkpoint.body.lease, requester: requester.peerId, seq: checkpoint.body.seq, count: checkpoint.body.count, root: checkpoint.body.root, paid: checkpoint.body.amount, refused: 0 })
  }
}

/** A requester that never answers: each exchange ends at its 50 ms idle deadline. */
const silentRequester: ChannelOpener = {
  async open () {
    const [mine] = channelPair(worker.peerId, requester.peerId, { maxFrameBytes: MAX_TAIL_FRAME_BYTES, idleTimeoutMs: 50 })
    return mine
  }
}

/** A channel opener to a requester serving tails from `accounts`, its reports in `served`. */
function requesterSide (accounts: TailAccounts, served: TailServed[], from: Signer = worker): ChannelOpener {
  return {
    async open () {
      const [mine, theirs] = channelPair(from.peerId, requester.peerId, { maxFrameBytes: MAX_TAIL_FRAME_BYTES, idleTimeoutMs: 5_000 })
      void serveTail(theirs, { accounts, reportPeer: () => {}, onServed: (s) => { served.push(s) } })
      return mine
    }
  }
}

/** Runs one claim to its end (`reports`: the peers it scored down, and for what). */
async function claimed (lease: Lease, book: WorkerCheckpoints, channels: ChannelOpener, delaysMs = [0], reports: Array<[string, PeerActionName]> = []): Promise<{ outcome: TailOutcome, end: TailClaimEnd }> {
  const claims = new TailClaims({ channels, delaysMs, reportPeer: (peer, action) => { reports.push([peer, action]) } })
  claims.start()
  const done = Promise.withResolvers<{ outcome: TailOutcome, end: TailClaimEnd }>()
  claims.claim({ lease, id: leaseId(lease.body), book, onAck: () => {}, onDone: (outcome, end) => { done.resolve({ outcome, end }) } })
  try {
    return await done.promise
  } finally {
    claims.stop()
  }
}

describe('what each side reports when a tail exchange ends', () => {
  it('paid: both sides report the results and the credits the tail adds to the last acknowledgement', async () => {
    const lease = coSignedLease(requester, worker)
    const id = leaseId(lease.body).toString()
    const first = creditsFor(10, FUEL)
    const all = creditsFor(10, 3n * FUEL)
    const accounts = new TailAccounts()
    accounts.keep(id, payerOf(lease, 3, 2, first))
    const served: TailServed[] = []
    const { outcome, end } = await claimed(lease, bookOf(lease, 3, 1, first), requesterSide(accounts, served))
    expect(outcome).toBe('acknowledged')
    expect(end).toEqual({ attempts: 1, tasks: 3, paid: all, credits: all - first })
    expect(tailClaimed({ lease, id: leaseId(lease.body) }, outcome, end)).toEqual({ leaseId: id, requester: requester.peerId, outcome: 'paid', attempts: 1, tasks: 3, paid: all, credits: all - first })
    expect(served).toEqual([{ leaseId: id, worker: worker.peerId, outcome: 'paid', tasks: 3, paid: all, credits: all - first, kept: true }])
  })

  it('refused: the requester reports its code (a tail it does not keep, another worker\'s lease, a bad frame)', async () => {
    const lease = coSignedLease(requester, worker)
    const id = leaseId(lease.body).toString()
    const accounts = new TailAccounts()
    const served: TailServed[] = []

    // Not kept: asked twice (the second answer is final), refused twice.
    const unknown = await claimed(lease, bookOf(lease, 1), requesterSide(accounts, served), [0, 10])
    expect(unknown).toEqual({ outcome: 'refused', end: { attempts: 2, code: 'ERR_UNKNOWN_LEASE' } })
    expect(served).toEqual([0, 1].map(() => ({ leaseId: id, worker: worker.peerId, outcome: 'refused', code: 'ERR_UNKNOWN_LEASE', kept: false })))

    // Another peer names the lease.
    served.length = 0
    accounts.keep(id, payerOf(lease, 1, 1, 0))
    const [mine, theirs] = channelPair(requester.peerId, stranger.peerId, { maxFrameBytes: MAX_TAIL_FRAME_BYTES, idleTimeoutMs: 5_000 })
    const done = serveTail(mine, { accounts, reportPeer: () => {}, onServed: (s) => { served.push(s) } })
    await theirs.send({ t: 'tail', lease: leaseId(lease.body) })
    await theirs.receive()
    await theirs.close()
    await done
    expect(served).toEqual([{ leaseId: id, worker: stranger.peerId, outcome: 'refused', code: 'ERR_NOT_LEASE_WORKER', kept: false }])

    // A first frame that is not one: no lease named.
    served.length = 0
    const [mine2, theirs2] = channelPair(requester.peerId, worker.peerId, { maxFrameBytes: MAX_TAIL_FRAME_BYTES, idleTimeoutMs: 5_000 })
    const done2 = serveTail(mine2, { accounts, reportPeer: () => {}, onServed: (s) => { served.push(s) } })
    await theirs2.send({ t: 'tail', lease: 'not a cid' })
    await theirs2.receive()
    await theirs2.close()
    await done2
    expect(served).toEqual([{ worker: worker.peerId, outcome: 'refused', code: 'ERR_INVALID_MESSAGE', kept: false }])
  })

  it('refused by the worker: its chain is not the requester\'s at that count (the requester says by whom)', async () => {
    const lease = coSignedLease(requester, worker)
    const id = leaseId(lease.body).toString()
    const accounts = new TailAccounts()
    // The requester says it received 5 results; the worker has 2.
    accounts.keep(id, payerOf(lease, 5, 1, 0))
    const served: TailServed[] = []
    const { outcome, end } = await claimed(lease, bookOf(lease, 2), requesterSide(accounts, served))
    expect(outcome).toBe('refused')
    expect(end.code).toMatch(/^ERR_TAIL_/)
    expect(served).toEqual([{ leaseId: id, worker: worker.peerId, outcome: 'refused', code: end.code, by: 'worker', kept: true }])
    expect(accounts.size).toBe(0)
  })

  it('gave up: the worker reports the code of its last failed attempt', async () => {
    const lease = coSignedLease(requester, worker)
    expect(await claimed(lease, bookOf(lease, 1), silentRequester, [0, 10])).toEqual({ outcome: 'gave-up', end: { attempts: 2, code: 'ERR_DEADLINE_EXCEEDED' } })
    const unreachable: ChannelOpener = { async open () { throw Object.assign(new Error('no route'), { code: 'ERR_NO_VALID_ADDRESSES' }) } }
    expect(await claimed(lease, bookOf(lease, 1), unreachable, [0])).toEqual({ outcome: 'gave-up', end: { attempts: 1, code: 'ERR_NO_VALID_ADDRESSES' } })
  })
})

describe('a requester whose answers do not check out is scored down by the worker, as on a stream it opened', () => {
  /** A requester that answers `received` at the worker's whole chain, then `ack` made by `answer`. */
  function lying (lease: Lease, count: number, answer: (checkpoint: SignedCheckpoint) => unknown): ChannelOpener {
    return {
      async open () {
        const [mine, theirs] = channelPair(worker.peerId, requester.peerId, { maxFrameBytes: MAX_TAIL_FRAME_BYTES, idleTimeoutMs: 5_000 })
        void (async () => {
          await theirs.receive()
          await theirs.send({ t: 'received', seq: 1, count, root: chainRoot(Array.from({ length: count }, (_, i) => entry(frame(i)))) })
          const { checkpoint } = await theirs.receive() as { checkpoint: SignedCheckpoint }
          await theirs.send(answer(checkpoint))
        })().catch(() => {})
        return mine
      }
    }
  }
  const ackOf = (cp: SignedCheckpoint, paid: number) => ({ t: 'ack', ack: signAck(requester, { v: 1, lease: cp.body.lease, requester: requester.peerId, seq: cp.body.seq, count: cp.body.count, root: cp.body.root, paid, refused: 0 }) })
  /** The same acknowledgement with a signature another key made (the stranger's, not the requester's). */
  const forged = (cp: SignedCheckpoint) => {
    const { ack } = ackOf(cp, cp.body.amount)
    return { t: 'ack', ack: { body: ack.body, sig: signAck(stranger, { ...ack.body, requester: stranger.peerId }).sig } }
  }

  it('a bad signature, an acknowledgement paying more than the checkpoint claims, a malformed frame: refused, and the requester scored down for each', async () => {
    const lease = coSignedLease(requester, worker)
    const cases: Array<[string, (cp: SignedCheckpoint) => unknown, PeerActionName]> = [
      ['signed by another key', forged, 'InvalidSignature'],
      ['paying more than claimed', (cp) => ackOf(cp, cp.body.amount + 1), 'WrongResult'],
      ['malformed', () => ({ t: 'ack', ack: 'not an acknowledgement' }), 'MalformedMessage']
    ]
    for (const [what, answer, action] of cases) {
      const reports: Array<[string, PeerActionName]> = []
      const book = bookOf(lease, 2)
      const { outcome, end } = await claimed(lease, book, lying(lease, 2, answer), [0, 10], reports)
      expect({ what, outcome, attempts: end.attempts }).toEqual({ what, outcome: 'refused', attempts: 1 })
      expect({ what, reports }).toEqual({ what, reports: [[requester.peerId, action]] })
      expect(book.paid).toBe(0)
    }
  })

  it('silence past the idle deadline costs a Timeout per attempt; a refusal (an error frame) and an unreachable requester cost nothing', async () => {
    const lease = coSignedLease(requester, worker)
    const reports: Array<[string, PeerActionName]> = []
    expect((await claimed(lease, bookOf(lease, 1), silentRequester, [0, 10], reports)).outcome).toBe('gave-up')
    expect(reports).toEqual([[requester.peerId, 'Timeout'], [requester.peerId, 'Timeout']])

    reports.length = 0
    expect((await claimed(lease, bookOf(lease, 1), requesterSide(new TailAccounts(), []), [0, 10], reports)).end.code).toBe('ERR_UNKNOWN_LEASE')
    const unreachable: ChannelOpener = { async open () { throw Object.assign(new Error('no route'), { code: 'ERR_NO_VALID_ADDRESSES' }) } }
    expect((await claimed(lease, bookOf(lease, 1), unreachable, [0], reports)).outcome).toBe('gave-up')
    expect(reports).toEqual([])
  })
})

describe('the operator log and the metrics of tail exchanges (a node\'s events, made up)', () => {
  /** Enough of a node for the log and the metrics to attach to: its events, a ledger at height 0. */
  function fakeNode (): { node: EventTarget, emit: (type: string, detail: unknown) => void } {
    const ledger = Object.assign(new EventTarget(), { tip: () => ({ height: 0 }) })
    const scheduler = Object.assign(new EventTarget(), { requester: { tails: new TailAccounts() } })
    const node = Object.assign(new EventTarget(), { peerId: 'me', ledger, scheduler, isStarted: false })
    return { node, emit: (type, detail) => { node.dispatchEvent(new CustomEvent(type, { detail })) } }
  }
  const claim = (fields: Partial<TailClaimed>): TailClaimed => ({ leaseId: 'L', requester: 'R', outcome: 'paid', attempts: 1, ...fields })
  const serve = (fields: Partial<TailServed>): TailServed => ({ leaseId: 'L', worker: 'W', outcome: 'paid', kept: true, ...fields })

  it('logs paid claims at info, refusals and give-ups at warn with their code; a refusal any peer can cause at debug', () => {
    const lines: Array<Record<string, any>> = []
    const { log } = createOperatorLog({ format: 'json', level: 'debug', destination: { write: (s: string) => { lines.push(JSON.parse(s)) } } as any })
    const { node, emit } = fakeNode()
    const detach = attachOperatorLog(node as any, log)
    emit('lease:tail-claimed', claim({ tasks: 3, paid: 9, credits: 6 }))
    emit('lease:tail-claimed', claim({ outcome: 'refused', attempts: 2, code: 'ERR_UNKNOWN_LEASE' }))
    emit('lease:tail-claimed', claim({ outcome: 'gave-up', attempts: 6, code: 'ERR_DEADLINE_EXCEEDED' }))
    emit('lease:tail-served', serve({ tasks: 3, paid: 9, credits: 6 }))
    emit('lease:tail-served', serve({ outcome: 'refused', code: 'ERR_TAIL_MISMATCH', by: 'worker' }))
    emit('lease:tail-served', serve({ outcome: 'refused', code: 'ERR_UNKNOWN_LEASE', kept: false }))
    detach()
    emit('lease:tail-served', serve({}))
    expect(lines.map(({ time, ...l }) => l)).toEqual([
      { level: 'info', msg: 'lease tail claimed: paid', lease: 'L', requester: 'R', tasks: 3, acknowledged: 9, credits: 6 },
      { level: 'warn', msg: 'lease tail claim refused', lease: 'L', requester: 'R', code: 'ERR_UNKNOWN_LEASE', attempts: 2 },
      { level: 'warn', msg: 'lease tail claim given up', lease: 'L', requester: 'R', code: 'ERR_DEADLINE_EXCEEDED', attempts: 6 },
      { level: 'info', msg: 'lease tail paid', lease: 'L', worker: 'W', tasks: 3, acknowledged: 9, credits: 6 },
      { level: 'warn', msg: 'lease tail refused', lease: 'L', worker: 'W', code: 'ERR_TAIL_MISMATCH', by: 'worker' },
      { level: 'debug', msg: 'lease tail refused', lease: 'L', worker: 'W', code: 'ERR_UNKNOWN_LEASE' }
    ])
  })

  it('counts claims by role and outcome, and the credits they added', async () => {
    const metrics = createNodeMetrics({ libp2p: false })
    const { node, emit } = fakeNode()
    const detach = attachNodeMetrics(node as any, metrics)
    emit('lease:tail-claimed', claim({ tasks: 3, paid: 9, credits: 6 }))
    emit('lease:tail-claimed', claim({ outcome: 'gave-up', attempts: 6, code: 'ERR_DEADLINE_EXCEEDED' }))
    emit('lease:tail-served', serve({ tasks: 3, paid: 9, credits: 6 }))
    emit('lease:tail-served', serve({ outcome: 'refused', code: 'ERR_UNKNOWN_LEASE', kept: false }))
    emit('lease:tail-served', serve({ outcome: 'refused', code: 'ERR_TAIL_BUSY' }))
    detach()
    const text = await metrics.text()
    expect(text).toContain('depin_lease_tail_claims_total{role="worker",outcome="paid"} 1')
    expect(text).toContain('depin_lease_tail_claims_total{role="worker",outcome="gave-up"} 1')
    expect(text).toContain('depin_lease_tail_claims_total{role="requester",outcome="paid"} 1')
    expect(text).toContain('depin_lease_tail_claims_total{role="requester",outcome="refused"} 2')
    expect(text).toContain('depin_lease_tail_credits_total{role="worker"} 6')
    expect(text).toContain('depin_lease_tail_credits_total{role="requester"} 6')
  })
})
