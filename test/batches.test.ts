/**
 * Batches on a real testnet: many tasks through warm leases, per-task results and progress as
 * they arrive, records that survive for the API, one settle per lease on the chain however many
 * tasks ran, and the bounds (no tasks, a missing input, 100,000 tasks, one more than that).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { createTestnet, type Testnet } from '../src/node/testnet.ts'
import type { ComputeNode } from '../src/node/compute-node.ts'
import { MAX_BATCH_TASKS } from '../src/scheduler/constants.ts'
import type { BatchProgress, BatchTaskResult } from '../src/scheduler/requester/batches.ts'
import { example, text, utf8, waitForCapacity, waitForOfferMesh } from './jobs-helpers.ts'
import { waitFor } from './helpers.ts'
import { CID } from 'multiformats/cid'

describe('batches', () => {
  let net: Testnet
  let R: ComputeNode

  beforeAll(async () => {
    // Node 0 requests (no slots) and mines, so settles reach the chain.
    net = await createTestnet({ nodes: 3, miners: [0], genesis: { hashesPerBlock: 2 ** 12, blockIntervalMs: 500 }, nodeInit: (i) => (i === 0 ? { capacity: { slots: 0 } } : {}) })
    R = net.nodes[0]
    await waitForOfferMesh(R, net.nodes.slice(1).map((n) => n.peerId))
    await waitForCapacity(R, 2)
  })

  afterAll(async () => { await net?.stop() })

  it('runs every task on warm leases: each result and the progress arrive as tasks finish, the records keep them', async () => {
    const inputs = Array.from({ length: 200 }, (_, i) => utf8(`input ${i}`))
    const results: BatchTaskResult[] = []
    const progress: BatchProgress[] = []
    let opened = 0
    const onOpened = (): void => { opened++ }
    R.addEventListener('lease:opened', onOpened)
    const handle = await R.submitBatch({ module: example('echo'), tasks: inputs.map((input, i) => ({ input, name: `in-${i}.txt` })) }, {
      onTask: (t) => { results.push(t) },
      onProgress: (p) => { progress.push(p) }
    })
    expect(handle.total).toBe(200)
    const summary = await handle.result()
    R.removeEventListener('lease:opened', onOpened)
    expect(summary).toMatchObject({ id: handle.id, status: 'done', tasks: 200, completed: 200, failed: 0, verified: 200 })
    expect(results).toHaveLength(200)
    for (const r of results) {
      expect(text(r.stdout)).toBe(`input ${r.index}`)
      expect(r.name).toBe(`in-${r.index}.txt`)
      expect(r.status).toBe('completed')
    }
    // Progress only goes up, and ends at the total.
    expect(progress.map((p) => p.done)).toEqual([...progress.map((p) => p.done)].sort((a, b) => a - b))
    expect(progress.at(-1)?.done).toBe(200)
    // A handful of leases carried 200 tasks: no negotiation per task.
    expect(opened).toBeGreaterThanOrEqual(1)
    expect(opened).toBeLessThanOrEqual(4)
    // The records (as the API reads them) have every task's outcome and output.
    const tasks = await R.scheduler.batchTasks(handle.id, 0, 1000)
    expect(tasks).toHaveLength(200)
    expect(tasks.every((t) => t.status === 'completed' && t.outputCid != null && t.verified === true)).toBe(true)
    expect(await R.batch(handle.id)).toMatchObject({ tasks: 200, completed: 200 })
    // A second batch goes on the leases already held.
    let openedAgain = 0
    const count = (): void => { openedAgain++ }
    R.addEventListener('lease:opened', count)
    const again = await (await R.submitBatch({ module: example('echo'), tasks: inputs.slice(0, 20).map((input) => ({ input })) })).result()
    R.removeEventListener('lease:opened', count)
    expect(again.completed).toBe(20)
    expect(openedAgain).toBe(0)
  })

  it('a task\'s record and output can be read as soon as its event arrives (a running batch writes them first)', async () => {
    // wordcount: each output differs from its input (an input is pinned before the task runs).
    const inputs = Array.from({ length: 24 }, (_, i) => utf8('w '.repeat(i + 1)))
    const reads: Array<Promise<{ index: number, stored?: string, bytes?: Uint8Array }>> = []
    const handle = await R.submitBatch({ module: example('wordcount'), tasks: inputs.map((input) => ({ input })) }, {
      // What the CLI does on a task event: fetch the task's output (through the API, the same calls).
      onTask: (t) => {
        reads.push(R.scheduler.batchTaskStored(t.batchId, t.index).then(async (task) => ({
          index: t.index, stored: task?.outputCid, bytes: task?.outputCid != null ? await R.scheduler.blobs.get(CID.parse(task.outputCid)) : undefined
        })))
      }
    })
    expect(await handle.result()).toMatchObject({ completed: 24 })
    const read = await Promise.all(reads)
    expect(read).toHaveLength(24)
    for (const r of read) {
      expect(r.stored, `task ${r.index}`).toBeDefined()
      expect(r.bytes != null ? text(r.bytes) : undefined, `task ${r.index}`).toBe(`0 ${r.index + 1} ${2 * (r.index + 1)}\n`)
    }
    expect(await R.scheduler.batchTaskStored(handle.id, 24)).toBeUndefined()
  })

  it('a worker lists the leases it serves now as running, and as done once they end', async () => {
    await (await R.submitBatch({ module: example('echo'), tasks: [{ input: utf8('a') }, { input: utf8('b') }] })).result()
    // The leases stay open (warm) after their tasks: each worker lists its own as running.
    const held = R.scheduler.leases()
    expect(held.length).toBeGreaterThanOrEqual(1)
    const workerOf = (id: string): ComputeNode => net.nodes.find((n) => n.peerId === id) as ComputeNode
    for (const l of held) {
      const listed = (await workerOf(l.worker).scheduler.jobs()).find((j) => j.id === l.leaseId)
      expect(listed).toMatchObject({ role: 'worker', kind: 'lease', status: 'running', requester: R.peerId })
    }
    R.scheduler.closeLeases()
    for (const l of held) {
      await waitFor(async () => (await workerOf(l.worker).scheduler.jobs()).find((j) => j.id === l.leaseId)?.status === 'done', { timeoutMs: 15_000 })
      expect((await workerOf(l.worker).scheduler.jobs()).filter((j) => j.id === l.leaseId)).toHaveLength(1)
    }
  })

  it('a worker announces each lease it accepts (lease:accepted: its id, requester, price and slots) before its tasks', async () => {
    R.scheduler.closeLeases()
    await waitFor(() => R.scheduler.leases().length === 0, { timeoutMs: 15_000 })
    const accepted: Array<{ worker: string, leaseId: string, requester: string, price: number, slots: number, tasksRunBefore: number }> = []
    const started = new Map<string, number>()
    const detach: Array<() => void> = []
    for (const n of net.nodes.filter((n) => n !== R)) {
      const onAccepted = (evt: CustomEvent<{ leaseId: string, requester: string, price: number, slots: number }>): void => {
        accepted.push({ worker: n.peerId, ...evt.detail, tasksRunBefore: started.get(evt.detail.leaseId) ?? 0 })
      }
      const onStarted = (evt: CustomEvent<{ leaseId: string }>): void => { started.set(evt.detail.leaseId, (started.get(evt.detail.leaseId) ?? 0) + 1) }
      n.addEventListener('lease:accepted', onAccepted)
      n.scheduler.addEventListener('task:started', onStarted)
      detach.push(() => { n.removeEventListener('lease:accepted', onAccepted); n.scheduler.removeEventListener('task:started', onStarted) })
    }
    try {
      expect((await (await R.submitBatch({ module: example('echo'), tasks: [{ input: utf8('x') }, { input: utf8('y') }] })).result()).completed).toBe(2)
    } finally {
      for (const d of detach) d()
    }
    const held = R.scheduler.leases()
    expect(held.length).toBeGreaterThanOrEqual(1)
    for (const l of held) {
      const event = accepted.find((a) => a.leaseId === l.leaseId)
      expect(event).toMatchObject({ worker: l.worker, requester: R.peerId, tasksRunBefore: 0 })
      expect(event?.slots).toBeGreaterThanOrEqual(1)
    }
  })

  it('one settle per lease reaches the chain, however many tasks the lease ran', async () => {
    // Tasks that take some CPU (an echo run rounds to 0 ms and costs nothing to settle).
    R.scheduler.closeLeases()
    await waitFor(() => R.scheduler.leases().length === 0, { what: 'the echo leases to close' })
    const batch = await (await R.submitBatch({ module: example('primes'), args: ['300000'], tasks: Array.from({ length: 12 }, () => ({ input: new Uint8Array(0) })) })).result()
    const failures = batch.completed === 12 ? [] : (await R.scheduler.batchTasks(batch.id, 0, 12)).map((t) => [t.status, t.error])
    expect(batch.completed, JSON.stringify(failures)).toBe(12)
    const leases = R.scheduler.leases().map((l) => l.leaseId)
    expect(leases.length).toBeGreaterThanOrEqual(1)
    R.scheduler.closeLeases()
    const receipts = await waitFor(async () => {
      const found = await R.ledger.receipts({ requester: R.peerId, limit: 1000 })
      return leases.every((id) => found.some((r) => r.leaseId === id)) ? found : undefined
    }, { timeoutMs: 60_000, what: 'every lease settled on the chain' })
    // One settle per lease, covering the 12 tasks.
    const settles = receipts.filter((r) => leases.includes(r.leaseId))
    expect(settles).toHaveLength(leases.length)
    expect(settles.reduce((sum, r) => sum + r.tasks, 0)).toBe(12)
    expect(settles.every((r) => r.seq >= 1 && r.paid >= 1)).toBe(true)
  })

  it('refuses a batch with no tasks, with a task without input, and with more than 100,000 tasks; nothing is recorded', async () => {
    const before = (await R.jobs()).length
    await expect(R.submitBatch({ module: example('echo'), tasks: [] })).rejects.toMatchObject({ code: 'ERR_INVALID_JOB' })
    await expect(R.submitBatch({ module: example('echo'), tasks: [{ input: utf8('a') }, {} as { input: Uint8Array }] })).rejects.toThrow(/task 1: input must be bytes/)
    const tooMany = Array.from({ length: MAX_BATCH_TASKS + 1 }, () => ({ input: new Uint8Array(0) }))
    await expect(R.submitBatch({ module: example('echo'), tasks: tooMany })).rejects.toThrow(/at most 100000 tasks/)
    expect((await R.jobs()).length).toBe(before)
  })

  it('takes 100,000 tasks (inputs pinned, tasks recorded, fed a few thousand at a time), and cancels them all', async () => {
    const tasks = Array.from({ length: MAX_BATCH_TASKS }, (_, i) => ({ input: utf8(String(i)) }))
    // Aimed at a peer that does not exist: nothing runs, everything waits, then is cancelled.
    const handle = await R.submitBatch({ module: example('echo'), peers: ['12D3KooWBhMbLvQGgqByteiNg6g4DnbjLTxDcrtW4V9yJ5BE7tu4'], tasks })
    expect(handle.total).toBe(MAX_BATCH_TASKS)
    expect(R.scheduler.requester.dispatcher.stats().tasks).toBeLessThanOrEqual(4096)
    handle.cancel()
    const summary = await handle.result()
    expect(summary).toMatchObject({ status: 'cancelled', tasks: MAX_BATCH_TASKS, completed: 0, failed: MAX_BATCH_TASKS })
    expect(R.scheduler.requester.dispatcher.stats().tasks).toBe(0)
  }, 120_000)
})
