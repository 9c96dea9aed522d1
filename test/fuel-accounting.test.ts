/**
 * Fuel outside the lease stream. Where it is kept between runs: a requester's job and batch records (LevelDB, DAG-CBOR)
 * hold the body with its fuel limit, and a restarted node rebuilds the task spec and the
 * requirements from them. DAG-CBOR gives a fuel up to 2^53 back as a number, so whatever is read
 * back must be a bigint again before the lease code adds it to other fuel.
 * (Regression tests of a bug found when fuel arrived: a resumed job's fuel limit came back a
 * number and its placement threw "Cannot mix BigInt and other types".) And where it is counted:
 * `runTask` hands the spec's limit to the executor and bills what the executor reports.
 */
import { describe, it, expect, afterEach } from 'vitest'
import { openStore, type Store } from '../src/node/storage.ts'
import { JobStore, type BatchRecord, type RequestedJob } from '../src/scheduler/job-store.ts'
import { batchTaskSpec, createBatch, createJob, jobTaskSpec, requirementsOf } from '../src/scheduler/job.ts'
import { creditsFor, defaultFuel, requirementsKey, taskId } from '../src/scheduler/task.ts'
import { rawCid } from '../src/proofs/encoding.ts'
import { InvalidModuleError, type ExecResult, type ExecSpec, type Executor } from '../src/scheduler/executor/index.ts'
import { runTask } from '../src/scheduler/run-task.ts'

const REQUESTER = '12D3KooWBjmPvyUyUdNtbFXHWi9uhxDYbr5FpRRwZGmfzhZ1ncVX'
const MODULE = Uint8Array.of(0, 0x61, 0x73, 0x6d, 1, 0, 0, 0)
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)

describe('fuel limits in stored job and batch records', () => {
  const stores: Store[] = []
  afterEach(async () => { for (const s of stores.splice(0)) await s.close() })

  async function records (): Promise<JobStore> {
    const store = await openStore()
    stores.push(store)
    return new JobStore(store)
  }

  it('a job\'s requirements and task id do not depend on how the fuel limit was decoded', async () => {
    const { id, body } = createJob(REQUESTER, { module: MODULE, timeoutMs: 30_000 })
    const asNumber = { ...body, fuel: Number(body.fuel) as unknown as bigint }
    // The same bytes on the wire, the same grouping of tasks on leases.
    expect(requirementsKey(requirementsOf(asNumber))).toBe(requirementsKey(requirementsOf(body)))
    expect(taskId(jobTaskSpec(id, asNumber)).equals(taskId(jobTaskSpec(id, body)))).toBe(true)
  })

  it('a stored job gives back its fuel limit as a bigint (what a resumed job places its task with)', async () => {
    const store = await records()
    const { id, body } = createJob(REQUESTER, { module: MODULE, timeoutMs: 30_000 })
    expect(body.fuel).toBe(defaultFuel(30_000))
    expect(body.fuel).toBeLessThanOrEqual(BigInt(Number.MAX_SAFE_INTEGER)) // so DAG-CBOR stores it as a number
    const record: RequestedJob = { id: id.toString(), body, status: 'running', createdAt: 1, updatedAt: 1, replicas: [] }
    await store.putRequested(record)
    const back = await store.getRequested(id.toString())
    if (back == null) throw new Error('the job record is gone')
    const spec = jobTaskSpec(id, back.body)
    // What LeaseClient.fits/assign do with it: bigint arithmetic.
    expect(typeof spec.fuel).toBe('bigint')
    expect(spec.fuel).toBe(body.fuel)
    expect(creditsFor(1, 0n + spec.fuel + requirementsOf(back.body).fuel)).toBe(creditsFor(1, 2n * body.fuel))
  })

  it('a stored batch gives back its fuel limit as a bigint (what a resumed batch places its tasks with)', async () => {
    const store = await records()
    const { id, body } = createBatch(REQUESTER, { module: MODULE, timeoutMs: 2_000, fuel: 123_456_789n, tasks: [{ input: utf8('a') }] })
    const record: BatchRecord = { id: id.toString(), body, status: 'running', createdAt: 1, updatedAt: 1, done: 0, failed: 0, verified: 0, cost: 0 }
    await store.putBatch(record)
    const back = await store.getBatch(id.toString())
    if (back == null) throw new Error('the batch record is gone')
    const spec = batchTaskSpec(id, back.body, 0, { input: rawCid(utf8('a')), inputBytes: 1 })
    expect(typeof spec.fuel).toBe('bigint')
    expect(spec.fuel).toBe(123_456_789n)
  })

  it('fuel past 2^53 comes back from a record as a bigint already (DAG-CBOR keeps it one)', async () => {
    const store = await records()
    const { id, body } = createJob(REQUESTER, { module: MODULE, fuel: 2n ** 60n })
    await store.putRequested({ id: id.toString(), body, status: 'running', createdAt: 1, updatedAt: 1, replicas: [] })
    const back = await store.getRequested(id.toString())
    expect(back?.body.fuel).toBe(2n ** 60n)
  })

  it('job records written together go in one batch: each is there once its write settles, the last write of a record wins, a delete drops a pending one', async () => {
    const store = await records()
    const jobs = Array.from({ length: 50 }, (_, i) => createJob(REQUESTER, { module: MODULE, input: utf8(`job ${i}`) }))
    const record = (i: number, status: 'queued' | 'running' | 'completed', updatedAt = 1): Parameters<JobStore['putRequested']>[0] =>
      ({ id: jobs[i].id.toString(), body: jobs[i].body, status, createdAt: 1, updatedAt, replicas: [] })
    // All in one turn: one batch; record 0 written three times (the last one stays).
    const writes = [...jobs.map((_, i) => store.putRequested(record(i, 'queued'))), store.putRequested(record(0, 'running', 2)), store.putRequested(record(0, 'completed', 3))]
    // Visible to a reader while the batch is pending, too.
    expect((await store.getRequested(jobs[0].id.toString()))?.status).toBe('completed')
    await Promise.all(writes)
    const listed = new Map<string, string>()
    for await (const r of store.allRequested()) listed.set(r.id, r.status)
    expect(listed.size).toBe(50)
    expect(listed.get(jobs[0].id.toString())).toBe('completed')
    expect(listed.get(jobs[49].id.toString())).toBe('queued')
    // Written one after the other, each batch after the one before: the later write stays.
    for (const status of ['running', 'completed'] as const) await store.putRequested(record(1, status))
    expect((await store.getRequested(jobs[1].id.toString()))?.status).toBe('completed')
    // A delete of a record still pending: it is not written afterwards.
    const pending = store.putRequested(record(2, 'completed'))
    await store.deleteRequested([jobs[2].id.toString()])
    await pending
    expect(await store.getRequested(jobs[2].id.toString())).toBeUndefined()
  })
})

describe('runTask: the fuel limit goes to the executor, the fuel reported is what is billed', () => {
  const { id, body } = createJob(REQUESTER, { module: MODULE, input: utf8('in'), timeoutMs: 1_000, fuel: 1_000n })
  const spec = jobTaskSpec(id, body)
  const base: ExecResult = { exitCode: 0, stdout: utf8('out'), stderr: new Uint8Array(0), stdoutTruncated: false, stderrTruncated: false, wallMs: 1, cpuMs: 1 }

  /** An executor that records what it was asked to run and answers `result`. */
  function fake (result: Partial<ExecResult>): { executor: Executor, seen: Array<{ spec: ExecSpec, signal?: AbortSignal }> } {
    const seen: Array<{ spec: ExecSpec, signal?: AbortSignal }> = []
    return {
      seen,
      executor: {
        start: async () => {},
        stop: async () => {},
        run: async (s, options) => { seen.push({ spec: s, signal: options?.signal }); return { ...base, ...result } }
      }
    }
  }

  it('passes the spec\'s fuel limit, the input files and the abort signal; returns the executor\'s fuel', async () => {
    const { executor, seen } = fake({ fuel: 321n })
    const files = [{ path: 'a.txt', bytes: utf8('a') }]
    const signal = new AbortController().signal
    const outcome = await runTask(executor, spec, taskId(spec), MODULE, utf8('in'), files, signal)
    expect(outcome.fuel).toBe(321n)
    expect(seen).toHaveLength(1)
    expect(seen[0].spec.fuel).toBe(1_000n)
    expect(seen[0].spec.files).toEqual(files)
    expect(seen[0].signal).toBe(signal)
    // No files: none passed (an empty /in), not an empty list.
    await runTask(executor, spec, taskId(spec), MODULE, utf8('in'), [], signal)
    expect(seen[1].spec).not.toHaveProperty('files')
  })

  it('bills at most the limit, and nothing when the executor counted no fuel (a timeout, a crash, a non-metering executor)', async () => {
    expect((await runTask(fake({ fuel: 5_000n }).executor, spec, taskId(spec), MODULE, utf8('in'))).fuel).toBe(1_000n)
    expect((await runTask(fake({ exitCode: -1, trap: 'timeout' }).executor, spec, taskId(spec), MODULE, utf8('in'))).fuel).toBe(0n)
  })

  it('a module the executor refuses is the task\'s outcome, with no fuel', async () => {
    const executor: Executor = { start: async () => {}, stop: async () => {}, run: async () => { throw new InvalidModuleError('not wasm') } }
    const outcome = await runTask(executor, spec, taskId(spec), MODULE, utf8('in'))
    expect(outcome).toMatchObject({ exitCode: -1, fuel: 0n })
    expect(outcome.trap).toMatch(/^InvalidModuleError: /)
  })
})
