/**
 * The job model and the wire messages of leases, without a network: jobs and batches (every bad
 * field), task ids, seeds and keys, lease offers, bids and declines (signatures, domains,
 * schemas), and the frames of a lease stream (every type, size bounds, unknown types).
 */
import { describe, it, expect, beforeAll } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { CID } from 'multiformats/cid'
import { createSigner, signBody, type Signer } from '../src/proofs/signing.ts'
import { decode, encode, rawCid, valueCid } from '../src/proofs/encoding.ts'
import { MAX_LEASE_SLOTS, signAck, signCheckpoint, signLeaseAsRequester, signLeaseAsWorker, type Lease, type LeaseBody } from '../src/proofs/lease.ts'
import { InvalidMessageError, InvalidSignatureError } from '../src/errors.ts'
import {
  batchTaskKey, batchTaskSpec, createBatch, createJob, jobTaskSpec, parseBatchBody, parseJobBody, requirementsOf,
  DEFAULT_MAX_PRICE, MAX_JOB_MEMORY_MIB, MAX_JOB_TIMEOUT_MS, MAX_REPLICAS, type BatchInit, type JobInit
} from '../src/scheduler/job.ts'
import {
  checkInt, creditsFor, defaultFuel, leaseFuelCap, maxTaskCost, parseTaskSpec, requirementsKey, taskId, taskSeed, MAX_ARGS, MAX_ARG_CHARS, MAX_ENV, type TaskSpec
} from '../src/scheduler/task.ts'
import {
  offerId, parseNegotiateRequest, parseNegotiateResponse, parseSignedOffer, signBid, signDecline, signOffer, verifyBid,
  verifyDecline, type BidBody, type DeclineBody, type OfferBody
} from '../src/scheduler/messages.ts'
import { MAX_FRAME_ITEMS, parseRequesterFrame, parseWorkerFrame, type ResultFrame, type TaskFrame } from '../src/scheduler/lease-frames.ts'
import {
  BID_DOMAIN, CHUNK_BYTES, DECLINE_DOMAIN, DEFAULT_DEADLINE_SLACK_MS, DEFAULT_TIMEOUT_MS, INLINE_BYTES, MAX_BATCH_TASKS,
  MAX_INPUT_BYTES, MAX_LEASE_DURATION_MS, MAX_MODULE_BYTES, MAX_OUTPUT_BYTES, MAX_STDERR_BYTES, OFFER_DOMAIN
} from '../src/scheduler/constants.ts'
import { DECLINE_REASONS, InvalidJobError } from '../src/scheduler/errors.ts'
import { taskFitsLease } from '../src/scheduler/requester/ranking.ts'

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)

async function newSigner (): Promise<Signer> {
  return createSigner(await generateKeyPair('Ed25519'))
}

const MODULE = utf8('\0asm not really a module, only hashed here')
const NOW = 1_700_000_000_000

describe('jobs (createJob)', () => {
  let alice: Signer
  let peers: string[]

  beforeAll(async () => {
    alice = await newSigner()
    peers = await Promise.all(Array.from({ length: 33 }, async () => (await newSigner()).peerId))
  })

  it('fills the documented defaults; the id is the CID of the body, which survives the wire', () => {
    const { body, id } = createJob(alice.peerId, { module: MODULE, replicas: 3 }, NOW)
    expect(body).toMatchObject({
      v: 1, requester: alice.peerId, runtime: 'wasi-p1', moduleBytes: MODULE.byteLength, inputBytes: 0, args: [], env: {},
      memoryMiB: 256, timeoutMs: DEFAULT_TIMEOUT_MS, replicas: 3, quorum: 2, maxPrice: DEFAULT_MAX_PRICE, createdAt: NOW,
      deadline: NOW + DEFAULT_TIMEOUT_MS + DEFAULT_DEADLINE_SLACK_MS
    })
    expect(body.module.equals(rawCid(MODULE))).toBe(true)
    expect(body.input.equals(rawCid(new Uint8Array(0)))).toBe(true)
    expect(body.nonce.byteLength).toBe(16)
    expect(body.peers).toBeUndefined()
    expect(id.equals(valueCid(body))).toBe(true)
    const back = parseJobBody(decode(encode(body), 1 << 20))
    expect(valueCid(back).equals(id)).toBe(true)
  })

  it('quorum defaults to a majority of the replicas', () => {
    const quorum = (replicas: number): number => createJob(alice.peerId, { module: MODULE, replicas }, NOW).body.quorum
    expect([1, 2, 3, 4, 5].map(quorum)).toEqual([1, 2, 2, 3, 3])
  })

  it('two identical submissions are two jobs (random nonce)', () => {
    const a = createJob(alice.peerId, { module: MODULE }, NOW)
    const b = createJob(alice.peerId, { module: MODULE }, NOW)
    expect(a.id.equals(b.id)).toBe(false)
  })

  it('keeps target peers, and drops an empty list', () => {
    expect(createJob(alice.peerId, { module: MODULE, peers: peers.slice(0, 2) }, NOW).body.peers).toEqual(peers.slice(0, 2))
    expect(createJob(alice.peerId, { module: MODULE, peers: [] }, NOW).body.peers).toBeUndefined()
    expect(createJob(alice.peerId, { module: MODULE, peers: peers.slice(0, 32) }, NOW).body.peers).toHaveLength(32)
  })

  const rejects: Array<[string, () => Partial<JobInit>]> = [
    ['an empty module', () => ({ module: new Uint8Array(0) })],
    ['a module that is not bytes', () => ({ module: 'wasm' as unknown as Uint8Array })],
    ['an input that is not bytes', () => ({ input: 'stdin' as unknown as Uint8Array })],
    ['quorum above replicas', () => ({ replicas: 2, quorum: 3 })],
    ['zero quorum', () => ({ replicas: 2, quorum: 0 })],
    ['zero replicas', () => ({ replicas: 0 })],
    ['too many replicas', () => ({ replicas: MAX_REPLICAS + 1, quorum: 1 })],
    ['fractional replicas', () => ({ replicas: 1.5 })],
    ['a peer id that is not one', () => ({ peers: ['12D3KooWnot-a-peer-id'] })],
    ['an RSA-style peer id', () => ({ peers: ['QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N'] })],
    ['more than 32 target peers', () => ({ peers })],
    ['an argument over the character limit', () => ({ args: ['x'.repeat(MAX_ARG_CHARS + 1)] })],
    ['too many arguments', () => ({ args: Array.from({ length: MAX_ARGS + 1 }, () => 'a') })],
    ['a NUL in an argument', () => ({ args: ['a\0b'] })],
    ['arguments that are not strings', () => ({ args: [1] as unknown as string[] })],
    ['an env name with =', () => ({ env: { 'A=B': 'c' } })],
    ['an empty env name', () => ({ env: { '': 'c' } })],
    ['a NUL in an env value', () => ({ env: { A: 'b\0' } })],
    ['too many env entries', () => ({ env: Object.fromEntries(Array.from({ length: MAX_ENV + 1 }, (_, i) => [`K${i}`, 'v'])) })],
    ['zero memory', () => ({ memoryMiB: 0 })],
    ['memory over the maximum', () => ({ memoryMiB: MAX_JOB_MEMORY_MIB + 1 })],
    ['a zero timeout', () => ({ timeoutMs: 0 })],
    ['a fractional timeout', () => ({ timeoutMs: 1.5 })],
    ['a timeout over the maximum', () => ({ timeoutMs: MAX_JOB_TIMEOUT_MS + 1 })],
    ['a negative price', () => ({ maxPrice: -1 })],
    ['a fractional price', () => ({ maxPrice: 0.5 })],
    ['a deadline before creation', () => ({ deadline: NOW - 1 })],
    ['a deadline equal to creation', () => ({ deadline: NOW })]
  ]

  for (const [what, init] of rejects) {
    it(`rejects ${what} with InvalidJobError`, () => {
      expect(() => createJob(alice.peerId, { module: MODULE, ...init() }, NOW)).toThrow(InvalidJobError)
    })
  }

  it('rejects a module over the size limit before hashing it', () => {
    // Not filled: the bytes are never read, only their length.
    const big = new Uint8Array(MAX_MODULE_BYTES + 1)
    expect(() => createJob(alice.peerId, { module: big }, NOW)).toThrow(/over the limit/)
    expect(() => createJob(alice.peerId, { module: big }, NOW)).toThrow(InvalidJobError)
  })

  it('rejects a requester that is not a peer id', () => {
    expect(() => createJob('alice', { module: MODULE }, NOW)).toThrow(InvalidJobError)
  })

  it('the schema rejects unknown fields and wrong types', () => {
    const { body } = createJob(alice.peerId, { module: MODULE })
    expect(() => parseJobBody({ ...body, extra: 1 })).toThrow(InvalidJobError)
    expect(() => parseJobBody({ ...body, v: 2 })).toThrow(InvalidJobError)
    expect(() => parseJobBody({ ...body, runtime: 'wasi-p2' })).toThrow(InvalidJobError)
    expect(() => parseJobBody({ ...body, module: 'bafy-not-a-cid' })).toThrow(InvalidJobError)
    expect(() => parseJobBody({ ...body, nonce: new Uint8Array(15) })).toThrow(InvalidJobError)
    expect(() => parseJobBody({ ...body, inputBytes: MAX_INPUT_BYTES + 1 })).toThrow(InvalidJobError)
  })

  it('requirementsOf carries the limits and target peers a lease must meet', () => {
    const { body } = createJob(alice.peerId, { module: MODULE, memoryMiB: 64, timeoutMs: 5_000, maxPrice: 3, peers: [peers[0]] }, NOW)
    expect(requirementsOf(body)).toEqual({ memoryMiB: 64, timeoutMs: 5_000, fuel: 500_000_000_000n, maxPrice: 3, peers: [peers[0]] })
    expect(requirementsOf(createJob(alice.peerId, { module: MODULE }, NOW).body)).not.toHaveProperty('peers')
  })
})

describe('batches (createBatch)', () => {
  let alice: Signer

  beforeAll(async () => {
    alice = await newSigner()
  })

  const batch = (tasks: BatchInit['tasks'], init: Partial<BatchInit> = {}): ReturnType<typeof createBatch> =>
    createBatch(alice.peerId, { module: MODULE, tasks, ...init }, NOW)

  it('records the task count and placement fields; the default deadline grows with the tasks', () => {
    const small = batch([{ input: utf8('a') }], { replicas: 2 })
    expect(small.body).toMatchObject({ v: 1, requester: alice.peerId, tasks: 1, replicas: 2, quorum: 2, moduleBytes: MODULE.byteLength, createdAt: NOW })
    expect(small.id.equals(valueCid(small.body))).toBe(true)
    expect(valueCid(parseBatchBody(decode(encode(small.body), 1 << 20))).equals(small.id)).toBe(true)
    const tasks = Array.from({ length: 40 }, (_, i) => ({ input: utf8(String(i)) }))
    const big = batch(tasks, { timeoutMs: 1_000 })
    // Slack: the default 60 s, plus the tasks' time run four at a time.
    expect(big.body.deadline).toBe(NOW + 1_000 + DEFAULT_DEADLINE_SLACK_MS + 10 * 1_000)
    expect(batch(tasks, { deadline: NOW + 5 }).body.deadline).toBe(NOW + 5)
  })

  it('takes exactly MAX_BATCH_TASKS tasks, and refuses one more', () => {
    const input = new Uint8Array(0)
    const tasks = Array.from({ length: MAX_BATCH_TASKS }, () => ({ input }))
    expect(batch(tasks).body.tasks).toBe(MAX_BATCH_TASKS)
    tasks.push({ input })
    expect(() => batch(tasks)).toThrow(InvalidJobError)
    expect(() => batch(tasks)).toThrow(new RegExp(`at most ${MAX_BATCH_TASKS}`))
  })

  const rejects: Array<[string, () => { tasks: unknown, init?: Partial<BatchInit> }, RegExp?]> = [
    ['zero tasks', () => ({ tasks: [] }), /at least one task/],
    ['tasks that are not a list', () => ({ tasks: { input: utf8('a') } })],
    ['a task without input', () => ({ tasks: [{ input: utf8('a') }, {}] }), /task 1: input/],
    ['a null task', () => ({ tasks: [null] }), /task 0: input/],
    ['a task whose input is a string', () => ({ tasks: [{ input: 'a' }] }), /task 0: input/],
    ['a task input over the limit', () => ({ tasks: [{ input: new Uint8Array(MAX_INPUT_BYTES + 1) }] }), /task 0: input is over/],
    ['a task argument with a NUL', () => ({ tasks: [{ input: utf8('a') }, { input: utf8('b'), args: ['x\0'] }] }), /task 1 args/],
    ['a task with too many arguments', () => ({ tasks: [{ input: utf8('a'), args: Array.from({ length: MAX_ARGS + 1 }, () => 'a') }] }), /task 0 args/],
    ['a task argument over the character limit', () => ({ tasks: [{ input: utf8('a'), args: ['x'.repeat(MAX_ARG_CHARS + 1)] }] }), /task 0 args/],
    ['task args that are not a list', () => ({ tasks: [{ input: utf8('a'), args: 'x' }] }), /task 0 args/],
    ['a task env name with =', () => ({ tasks: [{ input: utf8('a'), env: { 'A=B': '1' } }] }), /task 0 env/],
    ['a task env value with a NUL', () => ({ tasks: [{ input: utf8('a') }, { input: utf8('a') }, { input: utf8('a'), env: { A: '\0' } }] }), /task 2 env/],
    ['a task with too many env entries', () => ({ tasks: [{ input: utf8('a'), env: Object.fromEntries(Array.from({ length: MAX_ENV + 1 }, (_, i) => [`K${i}`, 'v'])) }] }), /task 0 env/],
    ['an empty module', () => ({ tasks: [{ input: utf8('a') }], init: { module: new Uint8Array(0) } })],
    ['a module over the size limit', () => ({ tasks: [{ input: utf8('a') }], init: { module: new Uint8Array(MAX_MODULE_BYTES + 1) } }), /over the limit/],
    ['quorum above replicas', () => ({ tasks: [{ input: utf8('a') }], init: { replicas: 1, quorum: 2 } })],
    ['memory over the maximum', () => ({ tasks: [{ input: utf8('a') }], init: { memoryMiB: MAX_JOB_MEMORY_MIB + 1 } })],
    ['a negative price', () => ({ tasks: [{ input: utf8('a') }], init: { maxPrice: -1 } })],
    ['a deadline before creation', () => ({ tasks: [{ input: utf8('a') }], init: { deadline: NOW - 1 } })]
  ]

  for (const [what, make, message] of rejects) {
    it(`rejects ${what} with InvalidJobError`, () => {
      const { tasks, init } = make()
      const run = (): unknown => createBatch(alice.peerId, { module: MODULE, ...init, tasks: tasks as BatchInit['tasks'] }, NOW)
      expect(run).toThrow(InvalidJobError)
      if (message != null) expect(run).toThrow(message)
    })
  }

  it('the schema rejects unknown fields, zero tasks and more than MAX_BATCH_TASKS', () => {
    const { body } = batch([{ input: utf8('a') }])
    expect(() => parseBatchBody({ ...body, extra: true })).toThrow(InvalidJobError)
    expect(() => parseBatchBody({ ...body, tasks: 0 })).toThrow(InvalidJobError)
    expect(() => parseBatchBody({ ...body, tasks: MAX_BATCH_TASKS + 1 })).toThrow(InvalidJobError)
    expect(() => parseBatchBody({ ...body, input: rawCid(utf8('a')) })).toThrow(InvalidJobError)
  })
})

describe('tasks: ids, seeds and keys', () => {
  let alice: Signer

  beforeAll(async () => {
    alice = await newSigner()
  })

  it('replicas of a task share its id and seed: the id depends only on the spec, also after the wire', () => {
    const { body, id } = createJob(alice.peerId, { module: MODULE, input: utf8('in'), args: ['-n', '3'], env: { A: '1' } }, NOW)
    const spec = jobTaskSpec(id, body)
    expect(spec).toMatchObject({ v: 1, runtime: 'wasi-p1', args: ['-n', '3'], env: { A: '1' }, memoryMiB: body.memoryMiB, timeoutMs: body.timeoutMs })
    expect(Buffer.from(spec.key).equals(Buffer.from(id.bytes))).toBe(true)
    const first = taskId(spec)
    const second = taskId(parseTaskSpec(decode(encode(spec), 1 << 20)))
    expect(second.equals(first)).toBe(true)
    expect(Buffer.from(taskSeed(second)).equals(Buffer.from(taskSeed(first)))).toBe(true)
    expect(taskSeed(first).byteLength).toBe(32)
  })

  it('tasks with different keys differ in id and seed, even when everything else is equal', () => {
    const a = createJob(alice.peerId, { module: MODULE }, NOW)
    const b = createJob(alice.peerId, { module: MODULE }, NOW)
    const ia = taskId(jobTaskSpec(a.id, a.body))
    const ib = taskId(jobTaskSpec(b.id, b.body))
    expect(ia.equals(ib)).toBe(false)
    expect(Buffer.from(taskSeed(ia)).equals(Buffer.from(taskSeed(ib)))).toBe(false)
  })

  it('a batch task key is the batch id followed by the index, 4 bytes big-endian', () => {
    const { id } = createBatch(alice.peerId, { module: MODULE, tasks: [{ input: utf8('a') }] }, NOW)
    const n = id.bytes.byteLength
    for (const index of [0, 1, 258, 0xffffffff]) {
      const key = batchTaskKey(id, index)
      expect(key.byteLength).toBe(n + 4)
      expect(Buffer.from(key.subarray(0, n)).equals(Buffer.from(id.bytes))).toBe(true)
      expect(new DataView(key.buffer, key.byteOffset).getUint32(n)).toBe(index)
    }
    expect(Array.from(batchTaskKey(id, 258).subarray(n))).toEqual([0, 0, 1, 2])
  })

  it('tasks of a batch with the same input are distinct tasks (their keys differ); two batches never share a task', () => {
    const input = utf8('same input')
    const tasks = [{ input }, { input }]
    const one = createBatch(alice.peerId, { module: MODULE, tasks }, NOW)
    const two = createBatch(alice.peerId, { module: MODULE, tasks }, NOW)
    const spec = (b: typeof one, i: number): TaskSpec => batchTaskSpec(b.id, b.body, i, { input: rawCid(input), inputBytes: input.byteLength })
    const ids = [spec(one, 0), spec(one, 1), spec(two, 0), spec(two, 1)].map((s) => taskId(s).toString())
    expect(new Set(ids).size).toBe(4)
    // The same index of the same batch is the same task (a replica, or a re-placement).
    expect(taskId(spec(one, 1)).equals(taskId(spec(one, 1)))).toBe(true)
    const s = batchTaskSpec(one.id, one.body, 0, { input: rawCid(input), inputBytes: input.byteLength, args: ['x'], env: { K: 'v' } })
    expect(s).toMatchObject({ args: ['x'], env: { K: 'v' }, moduleBytes: MODULE.byteLength, inputBytes: input.byteLength })
    expect(parseTaskSpec(s).key.byteLength).toBe(one.id.bytes.byteLength + 4)
  })

  it('the task spec schema bounds its fields', () => {
    const { body, id } = createJob(alice.peerId, { module: MODULE }, NOW)
    const spec = jobTaskSpec(id, body)
    expect(() => parseTaskSpec({ ...spec, key: new Uint8Array(65) })).toThrow(InvalidMessageError)
    expect(() => parseTaskSpec({ ...spec, moduleBytes: 0 })).toThrow(InvalidMessageError)
    expect(() => parseTaskSpec({ ...spec, moduleBytes: MAX_MODULE_BYTES + 1 })).toThrow(InvalidMessageError)
    expect(() => parseTaskSpec({ ...spec, inputBytes: MAX_INPUT_BYTES + 1 })).toThrow(InvalidMessageError)
    expect(() => parseTaskSpec({ ...spec, timeoutMs: MAX_JOB_TIMEOUT_MS + 1 })).toThrow(InvalidMessageError)
    expect(() => parseTaskSpec({ ...spec, runtime: 'docker' })).toThrow(InvalidMessageError)
    expect(() => parseTaskSpec({ ...spec, extra: 1 })).toThrow(InvalidMessageError)
  })

  it('money: credits per gigafuel, rounded up, exact past 2^53', () => {
    expect(maxTaskCost(30_000_000_000n, 1)).toBe(30)
    expect(maxTaskCost(2_500_000_000n, 3)).toBe(8) // 7.5 → 8
    expect(maxTaskCost(1n, 1)).toBe(1)
    expect(maxTaskCost(60_000_000_000n, 0)).toBe(0)
    expect(creditsFor(3, 1_001_000_000n)).toBe(4) // 3.003 → 4
    expect(creditsFor(2, 1_000_000_000n)).toBe(2)
    expect(creditsFor(5, 0n)).toBe(0)
    expect(creditsFor(0, 10_000_000_000n)).toBe(0)
    expect(creditsFor(1, 2n ** 63n)).toBe(9_223_372_037) // ceil(9,223,372,036.85…)
    expect(creditsFor(1_000_000_000, 2n ** 64n - 1n)).toBe(Number.MAX_SAFE_INTEGER) // clamped
  })

  it('a lease\'s fuel cap: what its credits pay for, and at price 0 what a checkpoint\'s uint64 fuel sum holds', () => {
    expect(leaseFuelCap({ price: 3, maxCredits: 10 })).toBe(3_333_333_333n) // floor(10 × 10^9 / 3)
    expect(leaseFuelCap({ price: 0, maxCredits: 10 })).toBe(2n ** 64n - 1n)
    // At price 0 a task whose fuel limit would take the sum past 2^64 − 1 does not fit the lease
    // (a checkpoint of 2^64 could not be encoded).
    const lease = { worker: 'w', price: 0, maxCredits: 0, maxTaskFuel: 2n ** 63n, memoryMiB: 64, maxTaskMs: 1000, expiresAt: Date.now() + 600_000 } as unknown as LeaseBody
    const task = { memoryMiB: 64, timeoutMs: 1000, fuel: 2n ** 63n, maxPrice: 0 }
    expect(taskFitsLease(lease, task, 2n ** 63n - 1n, Date.now())).toBe(true)
    expect(taskFitsLease(lease, task, 2n ** 63n, Date.now())).toBe(false)
  })

  it('a job without a fuel limit gets 10^8 per ms of its timeout; a bad limit is refused', () => {
    expect(defaultFuel(30_000)).toBe(3_000_000_000_000n)
    const { body } = createJob(alice.peerId, { module: MODULE, timeoutMs: 2000 })
    expect(body.fuel).toBe(200_000_000_000n)
    expect(createJob(alice.peerId, { module: MODULE, fuel: 0n }).body.fuel).toBe(0n)
    expect(createJob(alice.peerId, { module: MODULE, fuel: 2n ** 64n - 1n }).body.fuel).toBe(2n ** 64n - 1n)
    expect(() => createJob(alice.peerId, { module: MODULE, fuel: 2n ** 64n })).toThrow(/fuel must be an integer in 0..2\^64-1/)
    expect(() => createJob(alice.peerId, { module: MODULE, fuel: -1 })).toThrow(InvalidJobError)
    expect(() => createJob(alice.peerId, { module: MODULE, fuel: 1.5 })).toThrow(InvalidJobError)
  })

  it('requirementsKey groups equal requirements, whatever the order of target peers', () => {
    const r = { memoryMiB: 64, timeoutMs: 1000, fuel: 1000n, maxPrice: 2 }
    expect(requirementsKey(r)).toBe(requirementsKey({ ...r }))
    expect(requirementsKey({ ...r, peers: ['b', 'a'] })).toBe(requirementsKey({ ...r, peers: ['a', 'b'] }))
    expect(requirementsKey({ ...r, peers: ['a'] })).not.toBe(requirementsKey(r))
    expect(requirementsKey({ ...r, maxPrice: 3 })).not.toBe(requirementsKey(r))
    expect(requirementsKey({ ...r, fuel: 1001n })).not.toBe(requirementsKey(r))
  })

  it('checkInt accepts integers within bounds and names what is wrong', () => {
    expect(checkInt(3, 'replicas', 1, 16)).toBe(3)
    expect(() => checkInt(0, 'replicas', 1, 16)).toThrow(/replicas must be an integer in 1..16, got 0/)
    expect(() => checkInt(17, 'replicas', 1, 16)).toThrow(InvalidJobError)
    expect(() => checkInt(1.5, 'replicas', 1, 16)).toThrow(InvalidJobError)
    expect(() => checkInt('2', 'replicas', 1, 16)).toThrow(InvalidJobError)
  })
})

describe('lease offers, bids and declines (messages.ts)', () => {
  let alice: Signer
  let bob: Signer
  let carol: Signer

  beforeAll(async () => {
    alice = await newSigner()
    bob = await newSigner()
    carol = await newSigner()
  })

  const offerBody = (extra: Partial<OfferBody> = {}): OfferBody => ({
    v: 1, requester: alice.peerId, nonce: new Uint8Array(16).fill(7), runtime: 'wasi-p1', memoryMiB: 256, maxTaskMs: 30_000,
    maxTaskFuel: 30_000_000_000n, maxPrice: 5, slots: 4, maxCredits: 10_000, durationMs: 600_000, createdAt: NOW, expiresAt: NOW + 30_000, ...extra
  })
  const bidBody = (id: CID, extra: Partial<BidBody> = {}): BidBody => ({
    v: 1, offerId: id, worker: bob.peerId, requester: alice.peerId, price: 2, slots: 2, freeSlots: 1, expiresAt: NOW + 10_000, ...extra
  })
  const declineBody = (id: CID, extra: Partial<DeclineBody> = {}): DeclineBody => ({ v: 1, offerId: id, worker: bob.peerId, reason: 'memory', ...extra })

  it('an offer is signed by its requester; it survives the wire and its id is the CID of its body', () => {
    const offer = signOffer(alice, offerBody({ peers: [bob.peerId] }))
    const back = parseSignedOffer(decode(encode(offer), 1 << 16))
    expect(offerId(back.body).equals(offerId(offer.body))).toBe(true)
    expect(offerId(offerBody()).equals(offerId(offerBody({ nonce: new Uint8Array(16) })))).toBe(false)
  })

  it('an offer signed by someone else, tampered, or signed in another domain is refused', () => {
    const body = offerBody()
    expect(() => parseSignedOffer({ body, sig: signBody(bob, OFFER_DOMAIN, body) })).toThrow(InvalidSignatureError)
    const offer = signOffer(alice, body)
    expect(() => parseSignedOffer({ body: { ...body, maxPrice: 6 }, sig: offer.sig })).toThrow(InvalidSignatureError)
    expect(() => parseSignedOffer({ body, sig: signBody(alice, BID_DOMAIN, body) })).toThrow(InvalidSignatureError)
    expect(() => parseSignedOffer({ body, sig: new Uint8Array(64) })).toThrow(InvalidSignatureError)
  })

  const badOffers: Array<[string, () => unknown]> = [
    ['an unknown field', () => ({ ...offerBody(), extra: 1 })],
    ['another version', () => ({ ...offerBody(), v: 2 })],
    // (another runtime's name is not malformed: a worker that does not run it declines `runtime`)
    ['a runtime name outside its alphabet', () => offerBody({ runtime: 'Wasi P1' })],
    ['a runtime name over 32 characters', () => offerBody({ runtime: 'w'.repeat(33) })],
    ['a short nonce', () => offerBody({ nonce: new Uint8Array(15) })],
    ['zero slots', () => offerBody({ slots: 0 })],
    ['more slots than a lease may have', () => offerBody({ slots: MAX_LEASE_SLOTS + 1 })],
    ['memory over the maximum', () => offerBody({ memoryMiB: MAX_JOB_MEMORY_MIB + 1 })],
    ['a task limit over the maximum', () => offerBody({ maxTaskMs: MAX_JOB_TIMEOUT_MS + 1 })],
    ['a duration over the maximum', () => offerBody({ durationMs: MAX_LEASE_DURATION_MS + 1 })],
    ['a negative price', () => offerBody({ maxPrice: -1 })],
    ['an expiry before creation', () => offerBody({ expiresAt: NOW })],
    ['an empty peer list', () => offerBody({ peers: [] })],
    ['a bad peer id in the list', () => offerBody({ peers: ['12D3KooWnope'] })]
  ]

  for (const [what, make] of badOffers) {
    it(`an offer with ${what} is refused before its signature is checked`, () => {
      const body = make()
      // Validly signed over itself: the schema still refuses it (size and shape first).
      expect(() => parseSignedOffer({ body, sig: signBody(alice, OFFER_DOMAIN, body) })).toThrow(InvalidMessageError)
    })
  }

  it('a bid verifies for its worker only, and not as a decline', () => {
    const id = offerId(offerBody())
    const bid = signBid(bob, bidBody(id))
    expect(() => { verifyBid(bid) }).not.toThrow()
    expect(() => { verifyBid({ body: { ...bid.body, price: 1 }, sig: bid.sig }) }).toThrow(InvalidSignatureError)
    // Signed by carol while naming bob as the worker.
    expect(() => { verifyBid({ body: bid.body, sig: signBody(carol, BID_DOMAIN, bid.body) }) }).toThrow(InvalidSignatureError)
    const decline = signDecline(bob, declineBody(id))
    expect(() => { verifyDecline(decline) }).not.toThrow()
    expect(() => { verifyDecline({ body: decline.body, sig: signBody(carol, DECLINE_DOMAIN, decline.body) }) }).toThrow(InvalidSignatureError)
    // Domain separation: bob's signature over the decline body in the bid domain is not a decline.
    expect(() => { verifyDecline({ body: decline.body, sig: signBody(bob, BID_DOMAIN, decline.body) }) }).toThrow(InvalidSignatureError)
    expect(() => { verifyBid({ body: bid.body, sig: signBody(bob, DECLINE_DOMAIN, bid.body) }) }).toThrow(InvalidSignatureError)
  })

  it('every decline reason parses; others do not', () => {
    const id = offerId(offerBody())
    for (const reason of DECLINE_REASONS) {
      const decline = signDecline(bob, declineBody(id, { reason }))
      expect(parseNegotiateResponse({ t: 'decline', decline }).t).toBe('decline')
    }
    const sig = new Uint8Array(64)
    expect(() => parseNegotiateResponse({ t: 'decline', decline: { body: { ...declineBody(id), reason: 'bored' }, sig } })).toThrow(InvalidMessageError)
    expect(() => parseNegotiateResponse({ t: 'decline', decline: { body: declineBody(id, { detail: 'x'.repeat(201) }), sig } })).toThrow(InvalidMessageError)
    expect(parseNegotiateResponse({ t: 'decline', decline: { body: declineBody(id, { detail: 'x'.repeat(200) }), sig } }).t).toBe('decline')
  })

  it('negotiation frames: each type parses after the wire; unknown types, extra fields and bad values do not', () => {
    const offer = signOffer(alice, offerBody())
    const id = offerId(offer.body)
    const bid = signBid(bob, bidBody(id))
    const decline = signDecline(bob, declineBody(id))
    const leaseBody: LeaseBody = {
      v: 1, offerId: id, requester: alice.peerId, worker: bob.peerId, price: 2, slots: 2, maxCredits: 1000, memoryMiB: 256,
      maxTaskMs: 30_000, maxTaskFuel: 30_000_000_000n, acceptedAt: NOW, expiresAt: NOW + 600_000
    }
    const accept = { body: leaseBody, requesterSig: signLeaseAsRequester(alice, leaseBody) }
    const lease: Lease = { ...accept, workerSig: signLeaseAsWorker(bob, leaseBody) }
    const wire = (v: unknown): unknown => decode(encode(v), 1 << 16)
    expect(parseNegotiateRequest(wire({ t: 'offer', offer })).t).toBe('offer')
    expect(parseNegotiateRequest(wire({ t: 'bid', bid })).t).toBe('bid')
    expect(parseNegotiateRequest(wire({ t: 'decline', decline })).t).toBe('decline')
    expect(parseNegotiateRequest(wire({ t: 'accept', accept })).t).toBe('accept')
    expect(parseNegotiateResponse(wire({ t: 'bid', bid })).t).toBe('bid')
    expect(parseNegotiateResponse(wire({ t: 'ack' })).t).toBe('ack')
    expect(parseNegotiateResponse(wire({ t: 'lease', lease })).t).toBe('lease')
    expect(parseNegotiateResponse(wire({ t: 'error', code: 'ERR_X', message: 'x' })).t).toBe('error')

    expect(() => parseNegotiateRequest({ t: 'hello' })).toThrow(InvalidMessageError)
    expect(() => parseNegotiateRequest({ t: 'ack' })).toThrow(InvalidMessageError) // a response type, not a request
    expect(() => parseNegotiateResponse({ t: 'offer', offer })).toThrow(InvalidMessageError)
    expect(() => parseNegotiateRequest({ t: 'bid', bid, extra: true })).toThrow(InvalidMessageError)
    expect(() => parseNegotiateRequest({ t: 'bid', bid: { ...bid, extra: true } })).toThrow(InvalidMessageError)
    expect(() => parseNegotiateRequest({ t: 'bid', bid: { ...bid, body: { ...bid.body, freeSlots: 4097 } } })).toThrow(InvalidMessageError)
    expect(() => parseNegotiateRequest({ t: 'bid', bid: { ...bid, body: { ...bid.body, slots: 0 } } })).toThrow(InvalidMessageError)
    expect(() => parseNegotiateRequest({ t: 'bid', bid: { ...bid, body: { ...bid.body, price: -1 } } })).toThrow(InvalidMessageError)
    expect(() => parseNegotiateRequest({ t: 'bid', bid: { ...bid, sig: bid.sig.subarray(1) } })).toThrow(InvalidMessageError)
    expect(() => parseNegotiateRequest({ t: 'accept', accept: { ...accept, workerSig: accept.requesterSig } })).toThrow(InvalidMessageError)
    expect(() => parseNegotiateRequest({ t: 'accept', accept: { ...accept, body: { ...leaseBody, worker: alice.peerId } } })).toThrow(InvalidMessageError)
    expect(() => parseNegotiateResponse({ t: 'lease', lease: { ...lease, workerSig: undefined } })).toThrow(InvalidMessageError)
    expect(() => parseNegotiateResponse({ t: 'error', code: 'E'.repeat(65), message: '' })).toThrow(InvalidMessageError)
    expect(() => parseNegotiateResponse({ t: 'error', code: 'E', message: 'm'.repeat(501) })).toThrow(InvalidMessageError)
    expect(() => parseNegotiateRequest('offer')).toThrow(InvalidMessageError)
    expect(() => parseNegotiateRequest(null)).toThrow(InvalidMessageError)
  })
})

describe('lease frames (lease-frames.ts)', () => {
  let alice: Signer
  let bob: Signer
  let lease: Lease
  let spec: TaskSpec
  let task: CID
  let result: ResultFrame

  beforeAll(async () => {
    alice = await newSigner()
    bob = await newSigner()
    const body: LeaseBody = {
      v: 1, offerId: valueCid({ offer: 1 }), requester: alice.peerId, worker: bob.peerId, price: 2, slots: 2, maxCredits: 1000,
      memoryMiB: 256, maxTaskMs: 30_000, maxTaskFuel: 30_000_000_000n, acceptedAt: NOW, expiresAt: NOW + 600_000
    }
    lease = { body, requesterSig: signLeaseAsRequester(alice, body), workerSig: signLeaseAsWorker(bob, body) }
    const job = createJob(alice.peerId, { module: MODULE, input: utf8('hi') }, NOW)
    spec = jobTaskSpec(job.id, job.body)
    task = taskId(spec)
    result = {
      task, exit: 0, out: rawCid(utf8('hi')), outBytes: 2, errBytes: 0, fuel: 1234n, cpuMs: 1, wallMs: 2, stdoutTruncated: false, stderrTruncated: false,
      stdout: utf8('hi'), stderr: new Uint8Array(0)
    }
  })

  const wire = (v: unknown): unknown => decode(encode(v), 4 << 20)
  const frame = (extra: Partial<TaskFrame> = {}): TaskFrame => ({ spec, deadline: NOW + 60_000, stdin: utf8('hi'), ...extra })

  it('every requester frame type parses after the wire', () => {
    const ack = signAck(alice, { v: 1, lease: valueCid(lease.body), requester: alice.peerId, seq: 1, count: 1, root: new Uint8Array(32), paid: 1, refused: 0 })
    const frames = [
      { t: 'open', lease },
      { t: 'tasks', tasks: [frame(), frame({ stdin: undefined })].map((f) => Object.fromEntries(Object.entries(f).filter(([, v]) => v !== undefined))) },
      { t: 'chunk', cid: spec.module, data: new Uint8Array(CHUNK_BYTES) },
      { t: 'end', cid: spec.module },
      { t: 'ack', ack, refused: [task] },
      { t: 'cancel', task },
      { t: 'close' },
      { t: 'ping' }
    ]
    expect(frames.map((f) => parseRequesterFrame(wire(f)).t)).toEqual(['open', 'tasks', 'chunk', 'end', 'ack', 'cancel', 'close', 'ping'])
  })

  it('every worker frame type parses after the wire', () => {
    const checkpoint = signCheckpoint(bob, { v: 1, lease: valueCid(lease.body), worker: bob.peerId, seq: 1, count: 1, root: new Uint8Array(32), fuel: 1234n, amount: 1, at: NOW })
    const frames = [
      { t: 'want', cids: [spec.module, spec.input] },
      { t: 'running', tasks: [task] },
      { t: 'results', results: [result] },
      { t: 'data', task, which: 'stdout', data: new Uint8Array(CHUNK_BYTES) },
      { t: 'data', task, which: 'stderr', data: new Uint8Array(1) },
      { t: 'results', results: [{ ...result, stdout: undefined, stderr: undefined, files: valueCid({ files: [] }), filesBytes: 100, fuel: 2n ** 64n - 1n }].map((r) => Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined))) },
      { t: 'data', task, which: 'manifest', data: new Uint8Array(1) },
      { t: 'data', task, which: 'file', data: new Uint8Array(CHUNK_BYTES) },
      { t: 'task-error', task, code: 'ERR_LEASE_FULL', message: 'full' },
      { t: 'checkpoint', checkpoint },
      { t: 'end', code: 'closed', message: 'bye' },
      { t: 'ping' },
      { t: 'error', code: 'ERR_PROTOCOL_VIOLATION', message: 'no' }
    ]
    expect(frames.map((f) => parseWorkerFrame(wire(f)).t)).toEqual(['want', 'running', 'results', 'data', 'data', 'results', 'data', 'data', 'task-error', 'checkpoint', 'end', 'ping', 'error'])
    // fuel as DAG-CBOR decodes it: a number up to 2^53, a bigint past it; both parse to a bigint
    const parsed = parseWorkerFrame(wire(frames[5]))
    expect(parsed.t === 'results' && parsed.results[0].fuel).toBe(2n ** 64n - 1n)
    const small = parseWorkerFrame(wire({ t: 'results', results: [result] }))
    expect(small.t === 'results' && small.results[0].fuel).toBe(1234n)
  })

  it('unknown frame types, frames of the other side, extra fields and non-maps are refused', () => {
    expect(() => parseRequesterFrame({ t: 'hello' })).toThrow(InvalidMessageError)
    expect(() => parseWorkerFrame({ t: 'hello' })).toThrow(InvalidMessageError)
    expect(() => parseRequesterFrame({ t: 'want', cids: [task] })).toThrow(InvalidMessageError)
    expect(() => parseWorkerFrame({ t: 'tasks', tasks: [frame()] })).toThrow(InvalidMessageError)
    expect(() => parseWorkerFrame({ t: 'close' })).toThrow(InvalidMessageError)
    expect(() => parseRequesterFrame({ t: 'ping', extra: 1 })).toThrow(InvalidMessageError)
    expect(() => parseRequesterFrame({ t: 'tasks', tasks: [{ ...frame(), priority: 1 }] })).toThrow(InvalidMessageError)
    expect(() => parseWorkerFrame({ t: 'results', results: [{ ...result, extra: 1 }] })).toThrow(InvalidMessageError)
    expect(() => parseRequesterFrame({})).toThrow(InvalidMessageError)
    expect(() => parseRequesterFrame('ping')).toThrow(InvalidMessageError)
    expect(() => parseWorkerFrame(null)).toThrow(InvalidMessageError)
    expect(() => parseWorkerFrame({ t: 'data', task, which: 'stdin', data: new Uint8Array(1) })).toThrow(InvalidMessageError)
    expect(() => parseRequesterFrame({ t: 'cancel', task: task.toString() })).toThrow(InvalidMessageError)
  })

  it('oversize items are refused: item counts, chunks, inline data, output sizes, codes', () => {
    const many = <T>(n: number, item: T): T[] => Array.from({ length: n }, () => item)
    // Task frames: 1..MAX_FRAME_ITEMS tasks, inline stdin up to INLINE_BYTES.
    expect(parseRequesterFrame({ t: 'tasks', tasks: many(MAX_FRAME_ITEMS, frame()) }).t).toBe('tasks')
    expect(() => parseRequesterFrame({ t: 'tasks', tasks: many(MAX_FRAME_ITEMS + 1, frame()) })).toThrow(InvalidMessageError)
    expect(() => parseRequesterFrame({ t: 'tasks', tasks: [] })).toThrow(InvalidMessageError)
    expect(parseRequesterFrame({ t: 'tasks', tasks: [frame({ stdin: new Uint8Array(INLINE_BYTES) })] }).t).toBe('tasks')
    expect(() => parseRequesterFrame({ t: 'tasks', tasks: [frame({ stdin: new Uint8Array(INLINE_BYTES + 1) })] })).toThrow(InvalidMessageError)
    expect(() => parseRequesterFrame({ t: 'tasks', tasks: [frame({ deadline: -1 })] })).toThrow(InvalidMessageError)
    // Chunks up to CHUNK_BYTES.
    expect(() => parseRequesterFrame({ t: 'chunk', cid: spec.module, data: new Uint8Array(CHUNK_BYTES + 1) })).toThrow(InvalidMessageError)
    expect(() => parseWorkerFrame({ t: 'data', task, which: 'stdout', data: new Uint8Array(CHUNK_BYTES + 1) })).toThrow(InvalidMessageError)
    // Lists of CIDs: 1..MAX_FRAME_ITEMS wanted or running, at most MAX_FRAME_ITEMS refused.
    expect(parseWorkerFrame({ t: 'want', cids: many(MAX_FRAME_ITEMS, task) }).t).toBe('want')
    expect(() => parseWorkerFrame({ t: 'want', cids: many(MAX_FRAME_ITEMS + 1, task) })).toThrow(InvalidMessageError)
    expect(() => parseWorkerFrame({ t: 'want', cids: [] })).toThrow(InvalidMessageError)
    expect(() => parseWorkerFrame({ t: 'running', tasks: many(MAX_FRAME_ITEMS + 1, task) })).toThrow(InvalidMessageError)
    const ack = signAck(alice, { v: 1, lease: valueCid(lease.body), requester: alice.peerId, seq: 1, count: 1, root: new Uint8Array(32), paid: 1, refused: 0 })
    expect(parseRequesterFrame({ t: 'ack', ack, refused: [] }).t).toBe('ack')
    expect(() => parseRequesterFrame({ t: 'ack', ack, refused: many(MAX_FRAME_ITEMS + 1, task) })).toThrow(InvalidMessageError)
    // Results: 1..MAX_FRAME_ITEMS, sizes within the output caps, inline data within INLINE_BYTES.
    expect(parseWorkerFrame({ t: 'results', results: many(MAX_FRAME_ITEMS, result) }).t).toBe('results')
    expect(() => parseWorkerFrame({ t: 'results', results: many(MAX_FRAME_ITEMS + 1, result) })).toThrow(InvalidMessageError)
    expect(() => parseWorkerFrame({ t: 'results', results: [] })).toThrow(InvalidMessageError)
    const bad: Array<Partial<ResultFrame>> = [
      { outBytes: MAX_OUTPUT_BYTES + 1 },
      { errBytes: MAX_STDERR_BYTES + 1 },
      { exit: 256 },
      { exit: -2 },
      { fuel: 2n ** 64n },
      { fuel: -1n },
      { fuel: 1.5 as unknown as bigint },
      { filesBytes: 0 },
      { trap: 't'.repeat(513) },
      { stdout: new Uint8Array(INLINE_BYTES + 1) },
      { stderr: new Uint8Array(INLINE_BYTES + 1) },
      { cpuMs: -1 }
    ]
    for (const change of bad) expect(() => parseWorkerFrame({ t: 'results', results: [{ ...result, ...change }] })).toThrow(InvalidMessageError)
    expect(parseWorkerFrame({ t: 'results', results: [{ ...result, exit: -1, trap: 't'.repeat(512), outBytes: MAX_OUTPUT_BYTES }] }).t).toBe('results')
    // Codes and messages.
    expect(() => parseWorkerFrame({ t: 'task-error', task, code: 'E'.repeat(65), message: '' })).toThrow(InvalidMessageError)
    expect(() => parseWorkerFrame({ t: 'end', code: 'closed', message: 'm'.repeat(501) })).toThrow(InvalidMessageError)
  })
})
