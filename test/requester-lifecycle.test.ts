/**
 * The requester's job and batch lifecycle without a network: a Dispatcher over fake leases, and
 * Batches over a fake record store, blob store and dispatcher. Each case is a race that once went
 * wrong: a cancel during the spot check (the job completed and the workers were paid), a task
 * decided at its deadline and placed again while its spot check ran, a failing lease given the
 * very tasks it was handing back, a batch's counters on disk ahead of (or behind) its task records
 * across a stop or crash, a batch cancelled while it read a task's input, a batch resumed after its
 * deadline.
 */
import { describe, it, expect } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { cidText, rawCid, valueCid } from '../src/proofs/encoding.ts'
import { createSigner } from '../src/proofs/signing.ts'
import type { SignedAck } from '../src/proofs/lease.ts'
import { channelPair } from '../src/transport.ts'
import { Dispatcher } from '../src/scheduler/requester/dispatcher.ts'
import { Batches } from '../src/scheduler/requester/batches.ts'
import { Jobs } from '../src/scheduler/requester/jobs.ts'
import { LeaseClient } from '../src/scheduler/requester/lease-client.ts'
import { SettleRetries } from '../src/scheduler/requester/settle-retries.ts'
import { createBatch, createJob, jobTaskSpec, requirementsOf } from '../src/scheduler/job.ts'
import { requirementsKey, taskId } from '../src/scheduler/task.ts'
import type { BatchRecord, BatchTaskRecord } from '../src/scheduler/job-store.ts'
import type { ReplicaResult, TaskVerdict, TaskWork } from '../src/scheduler/requester/types.ts'
import type { TaskOutcome } from '../src/scheduler/run-task.ts'
import { waitFor } from './helpers.ts'
import { coSignedLease, holdingDispatcher } from './jobs-helpers.ts'

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)
const requester = createSigner(await generateKeyPair('Ed25519'))
const worker = createSigner(await generateKeyPair('Ed25519'))

// Dispatcher ---------------------------------------------------------------------------------

/** A lease as the dispatcher sees it: it records what it is told. */
class FakeLease {
  readonly idText: string
  readonly lease = { body: { price: 1 } }
  readonly openedAt = Date.now() - 1000
  readonly out = new Set<string>()
  usable = true
  readonly worker: string
  private readonly log: string[]
  constructor (worker: string, log: string[]) {
    this.worker = worker
    this.log = log
    this.idText = `lease-${worker}`
  }
  get load (): number { return this.out.size }
  get window (): number { return 4 }
  fits (): boolean { return true }
  assign (w: TaskWork): void { this.out.add(w.idText); this.log.push(`assign ${this.worker}`) }
  cancel (w: TaskWork): void { if (this.out.delete(w.idText)) this.log.push(`cancel ${this.worker}`) }
  decide (_id: string, charged: boolean): void { this.log.push(`decide ${this.worker} ${charged}`) }
}

function fakePool (log: string[]): { add: (w: string) => FakeLease, usableFor: () => FakeLease[], want: () => void } {
  const leases: FakeLease[] = []
  return {
    add: (w) => { const l = new FakeLease(w, log); leases.push(l); return l },
    usableFor: () => leases.filter((l) => l.usable),
    want: () => {}
  }
}

const reputation = { reliability: () => 0.5, record: () => {}, observeSpeed: () => {} }

function resultFrom (lease: FakeLease, text: string): ReplicaResult {
  const out = utf8(text)
  return { worker: lease.worker, leaseId: lease.idText, exitCode: 0, outputCid: rawCid(out), stdout: out, stderr: new Uint8Array(0), fuel: 10n, cpuMs: 1, wallMs: 1, observedMs: 1, cost: 1 } as unknown as ReplicaResult
}

let serial = 0
function fakeWork (log: string[], verdicts: TaskVerdict[], fields: Partial<TaskWork> = {}): TaskWork {
  const id = rawCid(utf8(`task ${serial++}`))
  return {
    id,
    idText: cidText(id),
    spec: { fuel: 100n } as unknown as TaskWork['spec'],
    requirements: { memoryMiB: 1, timeoutMs: 1000, fuel: 100n, maxPrice: 10 },
    classKey: 'k',
    replicas: 2,
    quorum: 2,
    deadline: Date.now() + 60_000,
    spotCheck: false,
    onEvent: (e) => { log.push(`event ${e.stage}${'worker' in e ? ` ${String(e.worker)}` : ''}`) },
    onVerdict: (v) => { verdicts.push(v) },
    ...fields
  } as TaskWork
}

const localRun = (text: string): TaskOutcome => ({ exitCode: 0, stdout: utf8(text), stderr: new Uint8Array(0), stdoutTruncated: false, stderrTruncated: false, wallMs: 1, cpuMs: 1, fuel: 10n })

describe('Dispatcher: decisions that race with cancels, deadlines and failing leases', () => {
  it('a task cancelled while its spot check runs ends cancelled, and nobody is paid', async () => {
    const log: string[] = []
    const verdicts: TaskVerdict[] = []
    const pool = fakePool(log)
    const [A, B] = [pool.add('A'), pool.add('B')]
    const local = Promise.withResolvers<TaskOutcome>()
    const d = new Dispatcher({ pool: pool as never, reputation: reputation as never, reportPeer: () => {}, runLocally: async () => await local.promise })
    const w = fakeWork(log, verdicts, { spotCheck: true })
    d.submit(w)
    d.onResult(w, resultFrom(A, 'x'))
    d.onResult(w, resultFrom(B, 'x'))
    expect(log).toContain('event spot-check')
    d.cancel(w.idText, { code: 'ERR_JOB_CANCELLED', message: 'cancelled' })
    local.resolve(localRun('x'))
    await waitFor(() => verdicts.length === 1, { what: 'the verdict' })
    expect(verdicts[0]).toMatchObject({ status: 'cancelled', verified: false, cost: 0, error: { code: 'ERR_JOB_CANCELLED' } })
    expect(log.filter((l) => l.startsWith('decide'))).toEqual(['decide A false', 'decide B false'])
    expect(d.stats()).toEqual({ queued: 0, running: 0, tasks: 0 })
  })

  it('a task decided at its deadline leaves its queue: a lease that opens during its spot check does not get it', async () => {
    const log: string[] = []
    const verdicts: TaskVerdict[] = []
    const pool = fakePool(log)
    const A = pool.add('A')
    pool.add('B')
    const local = Promise.withResolvers<TaskOutcome>()
    const d = new Dispatcher({ pool: pool as never, reputation: reputation as never, reportPeer: () => {}, runLocally: async () => await local.promise })
    d.start()
    try {
      const w = fakeWork(log, verdicts, { spotCheck: true, deadline: Date.now() + 200 })
      d.submit(w)
      d.onResult(w, resultFrom(A, 'x'))
      // B's lease is lost: the task waits in its queue for another worker, until its deadline.
      d.onTaskFailed(w, 'B', { kind: 'lost', reason: 'the lease ended' })
      await waitFor(() => log.includes('event spot-check'), { what: 'the deadline\'s decision' })
      pool.add('C')
      d.pump()
      local.resolve(localRun('x'))
      await waitFor(() => verdicts.length === 1, { what: 'the verdict' })
      expect(log).not.toContain('assign C')
      expect(verdicts[0].status).toBe('unverified')
    } finally {
      d.stop()
    }
  })

  it('a lease that fails does not take back the tasks it hands back (they wait for another lease)', async () => {
    const lease = coSignedLease(requester, worker, { slots: 1 })
    const [mine, theirs] = channelPair(requester.peerId, worker.peerId, { idleTimeoutMs: 30_000 })
    const assigned: string[] = []
    const failed: string[] = []
    let ended = false
    let d: Dispatcher | undefined
    const client = new LeaseClient(lease, mine, {
      signer: requester,
      blob: async () => undefined,
      onResult: (w, r) => { d?.onResult(w, r) },
      onRunning: () => {},
      onTaskFailed: (w, from, f) => { failed.push(w.idText); d?.onTaskFailed(w, from, f) },
      onRoom: () => {},
      onEnded: () => { ended = true },
      reportPeer: () => {}
    })
    const pool = { usableFor: (w: TaskWork, t: number) => (client.usable && client.fits(w, t) ? [client] : []), want: () => {} }
    d = new Dispatcher({ pool: pool as never, reputation: reputation as never, reportPeer: () => {} })
    client.start()
    for (let i = 0; i < 5; i++) {
      const { id, body: job } = createJob(requester.peerId, { module: new Uint8Array([0, 97, 115, 109]), input: new Uint8Array([i]), memoryMiB: 64, timeoutMs: 10_000 })
      const spec = jobTaskSpec(id, job)
      const tid = taskId(spec)
      const requirements = requirementsOf(job)
      d.submit({
        id: tid, idText: cidText(tid), spec, stdin: new Uint8Array([i]), requirements, classKey: requirementsKey(requirements), replicas: 1, quorum: 1,
        deadline: Date.now() + 60_000, spotCheck: false, onEvent: (e) => { if (e.stage === 'assigned') assigned.push(cidText(tid)) }, onVerdict: () => {}
      })
    }
    await waitFor(() => client.load === client.window, { what: 'the window to fill' })
    const first = [...assigned]
    await theirs.send({ t: 'error', code: 'ERR_X', message: 'broken' })
    await waitFor(() => ended, { what: 'the lease to fail' })
    // Only the tasks it held came back, and none went on it again.
    expect(assigned).toEqual(first)
    expect(failed.sort()).toEqual([...first].sort())
    expect(d.stats()).toMatchObject({ queued: 5, running: 0, tasks: 5 })
  })
})

// Batches ------------------------------------------------------------------------------------

const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

/** A record store whose task-record writes take `delayMs` (a slow disk), copying what it stores. */
function fakeRecords (delayMs: number): {
  batches: Map<string, BatchRecord>
  tasks: Map<string, Map<number, BatchTaskRecord>>
  failBatchWrites: boolean
  /** Task-record writes begun. */
  taskWrites: number
  putBatch: (r: BatchRecord) => Promise<void>
  putBatchTasks: (id: string, rs: BatchTaskRecord[]) => Promise<void>
  allBatches: () => AsyncGenerator<BatchRecord>
  batchTasksOf: (id: string) => AsyncGenerator<BatchTaskRecord>
} {
  const store = {
    batches: new Map<string, BatchRecord>(),
    tasks: new Map<string, Map<number, BatchTaskRecord>>(),
    failBatchWrites: false,
    taskWrites: 0,
    async putBatch (r: BatchRecord) {
      await sleep(1)
      if (store.failBatchWrites) throw new Error('the store is closed')
      store.batches.set(r.id, structuredClone(r))
    },
    async putBatchTasks (id: string, rs: BatchTaskRecord[]) {
      if (rs.length === 0) return
      store.taskWrites++
      const copies = rs.map((r) => structuredClone(r))
      await sleep(delayMs)
      const m = store.tasks.get(id) ?? new Map<number, BatchTaskRecord>()
      store.tasks.set(id, m)
      for (const r of copies) m.set(r.index, r)
    },
    async * allBatches () { for (const r of store.batches.values()) yield structuredClone(r) },
    async * batchTasksOf (id: string) { for (const r of [...(store.tasks.get(id)?.values() ?? [])].sort((a, b) => a.index - b.index)) yield structuredClone(r) }
  }
  return store
}

function fakeBlobs (gate?: Promise<void>): { pinMany: (items: Array<{ bytes: Uint8Array, cid?: ReturnType<typeof rawCid> }>) => Promise<Array<ReturnType<typeof rawCid>>>, get: (cid: ReturnType<typeof rawCid>) => Promise<Uint8Array | undefined> } {
  const m = new Map<string, Uint8Array>()
  return {
    async pinMany (items) { return items.map((i) => { const c = i.cid ?? rawCid(i.bytes); m.set(cidText(c), i.bytes); return c }) },
    async get (cid) { await gate; return m.get(cidText(cid)) }
  }
}

function completed (): TaskVerdict {
  const out = utf8('ok')
  return { status: 'completed', verified: true, output: { stdout: out, stderr: new Uint8Array(0), exitCode: 0, outputCid: rawCid(out), fuel: 1n }, replicas: [], agreeing: ['w1', 'w2'], cost: 1 } as unknown as TaskVerdict
}

/** Finishes the submitted task `w` (and forgets it, as the dispatcher does). */
function finishTask (d: ReturnType<typeof holdingDispatcher>, w: TaskWork): void {
  d.submitted.delete(w.idText)
  w.onVerdict(completed())
}

function newBatches (records: ReturnType<typeof fakeRecords>, blobs: ReturnType<typeof fakeBlobs>, dispatcher: ReturnType<typeof holdingDispatcher>): Batches {
  return new Batches({ blobs: blobs as never, records: records as never, dispatcher: dispatcher as never, spotCheckRate: 0 })
}

async function submitTen (batches: Batches): Promise<string> {
  const tasks = Array.from({ length: 10 }, (_, i) => ({ input: utf8(`in ${i}`) }))
  const { body, id } = createBatch(requester.peerId, { module: new Uint8Array([0, 97, 115, 109]), tasks })
  await batches.submit(body, id, tasks)
  return id.toString()
}

describe('Batches: counters, stops, cancels and resumes', () => {
  it('a stop writes the tasks finished before it; the next start runs only the rest and counts from the task records', async () => {
    const records = fakeRecords(30)
    const blobs = fakeBlobs()
    const d1 = holdingDispatcher()
    const b1 = newBatches(records, blobs, d1)
    const id = await submitTen(b1)
    const works = [...d1.submitted.values()]
    for (const w of works.slice(0, 5)) finishTask(d1, w)
    // The timed flush is writing tasks 0-4 (a slow disk) when 5 and 6 finish, then the node stops.
    // (write 1 was the ten queued records at submit)
    await waitFor(() => records.taskWrites === 2, { what: 'the flush of tasks 0-4 to begin' })
    finishTask(d1, works[5])
    finishTask(d1, works[6])
    await b1.stop()
    const onDisk = [...(records.tasks.get(id)?.values() ?? [])].filter((t) => t.status === 'completed').map((t) => t.index)
    expect(onDisk).toEqual([0, 1, 2, 3, 4, 5, 6])

    const d2 = holdingDispatcher()
    const b2 = newBatches(records, blobs, d2)
    await b2.resume()
    await waitFor(() => d2.submitted.size === 3, { what: 'the three unfinished tasks to be placed' })
    const handle = b2.handle(id)
    if (handle == null) throw new Error('the batch did not resume')
    for (const w of [...d2.submitted.values()]) finishTask(d2, w)
    expect(await handle.result()).toMatchObject({ status: 'done', tasks: 10, completed: 10, failed: 0, verified: 10, cost: 10 })
  })

  it('a failed write of finished tasks is not lost: written again, the batch marked done only once they are', async () => {
    const records = fakeRecords(1)
    const blobs = fakeBlobs()
    const d1 = holdingDispatcher()
    const b1 = newBatches(records, blobs, d1)
    const id = await submitTen(b1)
    // The disk refuses the next task write (full for a moment).
    const put = records.putBatchTasks
    let refusals = 1
    records.putBatchTasks = async (batch, rs) => {
      if (refusals-- > 0) throw new Error('no space left on device')
      await put(batch, rs)
    }
    const handle = b1.handle(id)
    if (handle == null) throw new Error('no handle')
    for (const w of [...d1.submitted.values()]) finishTask(d1, w)
    expect(await handle.result()).toMatchObject({ status: 'done', completed: 10 })
    // Written on the next attempt: every task completed on disk, then the batch done.
    await waitFor(() => records.batches.get(id)?.status === 'done', { what: 'the batch record', timeoutMs: 10_000 })
    const tasks = [...(records.tasks.get(id)?.values() ?? [])]
    expect(tasks.filter((t) => t.status === 'completed')).toHaveLength(10)
    expect(records.batches.get(id)).toMatchObject({ done: 10, verified: 10 })
  })

  it('counters on disk behind the task records (the batch record\'s write failed): the resumed batch still finishes', async () => {
    const records = fakeRecords(1)
    const blobs = fakeBlobs()
    const d1 = holdingDispatcher()
    const b1 = newBatches(records, blobs, d1)
    const id = await submitTen(b1)
    records.failBatchWrites = true
    for (const w of [...d1.submitted.values()].slice(0, 5)) finishTask(d1, w)
    await b1.stop()
    records.failBatchWrites = false
    expect(records.batches.get(id)?.done).toBe(0)

    const d2 = holdingDispatcher()
    const b2 = newBatches(records, blobs, d2)
    await b2.resume()
    await waitFor(() => d2.submitted.size === 5, { what: 'the five unfinished tasks to be placed' })
    const handle = b2.handle(id)
    if (handle == null) throw new Error('the batch did not resume')
    for (const w of [...d2.submitted.values()]) finishTask(d2, w)
    expect(await handle.result()).toMatchObject({ status: 'done', completed: 10, verified: 10 })
  })

  it('a batch cancelled while it reads a task\'s input places nothing more, and its result comes once that read ends', async () => {
    const records = fakeRecords(1)
    const gate = Promise.withResolvers<void>()
    const blobs = fakeBlobs(gate.promise)
    const b1 = newBatches(records, blobs, holdingDispatcher())
    const id = await submitTen(b1)
    await b1.stop()
    // A resumed batch reads each input from the blob store: the first read waits for the gate.
    const d2 = holdingDispatcher()
    const b2 = newBatches(records, blobs, d2)
    await b2.resume()
    const handle = b2.handle(id)
    if (handle == null) throw new Error('the batch did not resume')
    expect(await b2.cancel(id)).toBe(true)
    gate.resolve()
    expect(await handle.result()).toMatchObject({ status: 'cancelled', completed: 0, failed: 10 })
    expect(d2.submitted.size).toBe(0)
    expect([...(records.tasks.get(id)?.values() ?? [])].every((t) => t.status === 'cancelled')).toBe(true)
  })

  it('a batch resumed after its deadline ends its unfinished tasks timed out without placing them', async () => {
    const records = fakeRecords(1)
    const blobs = fakeBlobs()
    const d1 = holdingDispatcher()
    const b1 = newBatches(records, blobs, d1)
    const id = await submitTen(b1)
    for (const w of [...d1.submitted.values()].slice(0, 2)) finishTask(d1, w)
    await b1.stop()
    // The node stays down past the batch's deadline.
    const stored = records.batches.get(id)
    if (stored == null) throw new Error('no batch record')
    stored.body.deadline = Date.now() - 1
    const d2 = holdingDispatcher()
    const b2 = newBatches(records, blobs, d2)
    await b2.resume()
    const handle = b2.handle(id)
    const summary = handle != null ? await handle.result() : undefined
    expect(d2.submitted.size).toBe(0)
    expect(summary).toMatchObject({ status: 'done', tasks: 10, completed: 2, failed: 8 })
    const tasks = [...(records.tasks.get(id)?.values() ?? [])]
    expect(tasks.filter((t) => t.status === 'timed-out')).toHaveLength(8)
  })
})

// Settles ------------------------------------------------------------------------------------

describe('SettleRetries: a settle the ledger refuses for now is submitted again', () => {
  const leaseOf = (n: number): { lease: never, checkpoint: never, ack: SignedAck } => ({
    lease: {} as never,
    checkpoint: {} as never,
    ack: { body: { lease: valueCid({ lease: n }), paid: n } } as unknown as SignedAck
  })

  it('retries after each failure until it goes through; the caller hears of the first failure', async () => {
    const calls: number[] = []
    let failures = 2
    const retries = new SettleRetries(async (_l, _c, ack) => {
      calls.push(ack.body.paid)
      if (failures-- > 0) throw new Error('the mempool is full')
    }, [5, 5, 5])
    const { lease, checkpoint, ack } = leaseOf(7)
    await expect(retries.settle(lease, checkpoint, ack)).rejects.toThrow('the mempool is full')
    await waitFor(() => calls.length === 3, { what: 'two more attempts' })
    expect(calls).toEqual([7, 7, 7])
    expect(retries.pending).toBe(0)
  })

  it('gives up after its last delay; a newer settle of the lease replaces a retry waiting; stop drops the rest', async () => {
    const calls: string[] = []
    const retries = new SettleRetries(async (_l, _c, ack) => {
      calls.push(`${ack.body.lease.toString().slice(-4)}:${ack.body.paid}`)
      throw new Error('refused')
    }, [60_000])
    const a = leaseOf(1)
    await expect(retries.settle(a.lease, a.checkpoint, a.ack)).rejects.toThrow('refused')
    expect(retries.pending).toBe(1)
    // A newer acknowledgement of the same lease: its settle replaces the waiting retry.
    const newer = { ...a, ack: { body: { lease: a.ack.body.lease, paid: 2 } } as unknown as SignedAck }
    await expect(retries.settle(newer.lease, newer.checkpoint, newer.ack)).rejects.toThrow('refused')
    expect(retries.pending).toBe(1)
    const b = leaseOf(3)
    await expect(retries.settle(b.lease, b.checkpoint, b.ack)).rejects.toThrow('refused')
    expect(retries.pending).toBe(2)
    retries.stop()
    expect(retries.pending).toBe(0)
    // With no delays left, a failure is final.
    const once = new SettleRetries(async () => { throw new Error('no') }, [])
    await expect(once.settle(b.lease, b.checkpoint, b.ack)).rejects.toThrow('no')
    expect(once.pending).toBe(0)
  })
})

// Jobs ----------------------------------------------------------------------------------------

describe('Jobs: a result that cannot be stored', () => {
  it('ends the job failed with ERR_RESULT_NOT_STORED and a final progress event (streams and waiting clients end on it)', async () => {
    const stored: Array<{ status: string }> = []
    const stages: string[] = []
    const dispatcher = holdingDispatcher()
    const jobs = new Jobs({
      blobs: { pinMany: async () => { throw new Error('no space left on device') } } as never,
      records: { putRequested: async (r: { status: string }) => { stored.push({ status: r.status }) } } as never,
      dispatcher: dispatcher as never,
      emit: (p) => { stages.push(p.stage) },
      spotCheckRate: 0
    })
    const { body, id } = createJob(requester.peerId, { module: new Uint8Array([0, 97, 115, 109]), input: utf8('x') })
    const handle = await jobs.submit(body, id, utf8('x'))
    const [work] = [...dispatcher.submitted.values()]
    work.onVerdict(completed())
    const result = await handle.result()
    expect(result).toMatchObject({ status: 'failed', error: { code: 'ERR_RESULT_NOT_STORED' } })
    expect(result.error?.message).toContain('no space left on device')
    expect(stages.at(-1)).toBe('failed')
    expect(stored.at(-1)).toEqual({ status: 'failed' })
  })
})
