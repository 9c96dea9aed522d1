/**
 * Jobs that wait for workers, on a real testnet: while too few capable workers are known the job
 * says why (`waiting`, in the job, the jobs list and a `waiting` progress stage), and at its
 * deadline it ends with that reason (ERR_NOT_ENOUGH_WORKERS, ERR_NO_CAPABLE_WORKERS) instead of a
 * bare timeout; a worker that joins in time takes the missing replica and the job succeeds.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { createTestnet, type Testnet } from '../src/node/testnet.ts'
import { createComputeNode, type ComputeNode } from '../src/node/compute-node.ts'
import type { JobProgress } from '../src/scheduler/requester/jobs.ts'
import { example, text, utf8, waitForCapacity, waitForOfferMesh } from './jobs-helpers.ts'
import { waitFor } from './helpers.ts'

describe('three replicas and two workers', () => {
  let net: Testnet
  let requester: ComputeNode
  let late: ComputeNode | undefined

  beforeAll(async () => {
    net = await createTestnet({ nodes: 3 })
    requester = net.nodes[0]
    await waitForOfferMesh(requester, [net.nodes[1].peerId, net.nodes[2].peerId])
    await waitForCapacity(requester, 2)
  })

  afterAll(async () => {
    await late?.stop()
    await net?.stop()
  })

  it('says it waits for a third worker, and ends at its deadline with ERR_NOT_ENOUGH_WORKERS', async () => {
    const stages: JobProgress[] = []
    // quorum 3: two agreeing replicas do not verify it, so the missing third decides the outcome.
    const handle = await requester.submitJob({ module: example('echo'), input: utf8('three'), replicas: 3, quorum: 3, deadline: Date.now() + 12_000 }, {
      onProgress: (p) => { stages.push(p) }
    })
    // (before its leases open it reads `0 of 3 replicas placed; only 2 capable workers are known`)
    const waiting = await waitFor(async () => {
      const wait = (await requester.job(handle.id)).waiting
      return wait?.placed === 2 ? wait : undefined
    }, { what: 'the job to say it waits for a third worker' })
    expect(waiting).toMatchObject({ code: 'ERR_NOT_ENOUGH_WORKERS', placed: 2, replicas: 3, reasons: { placed: 2 } })
    expect(waiting.message).toBe('2 of 3 replicas placed; no other capable worker known (2 known workers already have a replica)')
    expect((await requester.jobs()).find((j) => j.id === handle.id)?.waiting).toBe(waiting.message)
    expect(stages.filter((p) => p.stage === 'waiting').map((p) => p.detail)).toContain(waiting.message)

    const result = await handle.result()
    expect(result.status).toBe('unverified')
    expect(result.error?.code).toBe('ERR_NOT_ENOUGH_WORKERS')
    expect(result.error?.message).toBe(`too few replicas for the quorum (2 of 3 needed) by the deadline: ${waiting.message}; nobody is paid`)
    expect(result.workers.map((w) => w.status)).toEqual(['done', 'done'])
    expect(result.waiting).toBeUndefined()
    expect((await requester.job(handle.id)).waiting).toBeUndefined()
  })

  it('a third worker that joins takes the missing replica: the job completes, verified by all three', async () => {
    const handle = await requester.submitJob({ module: example('echo'), input: utf8('joined'), replicas: 3, quorum: 3 })
    await waitFor(async () => (await requester.job(handle.id)).waiting?.code === 'ERR_NOT_ENOUGH_WORKERS', { what: 'the job to wait for a third worker' })
    late = createComputeNode({ listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, testnet: true, network: net.network, bootstrap: [requester.multiaddrs[0]] })
    await late.start()
    const result = await handle.result()
    expect(result.error).toBeUndefined()
    expect(result.status).toBe('completed')
    expect(result.verified).toBe(true)
    expect(text(result.stdout)).toBe('joined')
    expect(result.workers.map((w) => w.peerId)).toContain(late.peerId)
    expect(result.waiting).toBeUndefined()
  })
})

describe('no worker at all', () => {
  let net: Testnet

  beforeAll(async () => { net = await createTestnet({ nodes: 1 }) })
  afterAll(async () => { await net?.stop() })

  it('says no capable worker is known, and fails at its deadline with ERR_NO_CAPABLE_WORKERS', async () => {
    const requester = net.nodes[0]
    const handle = await requester.submitJob({ module: example('echo'), deadline: Date.now() + 4_000 })
    const waiting = await waitFor(async () => (await requester.job(handle.id)).waiting, { what: 'the job to say why it waits' })
    expect(waiting).toMatchObject({ code: 'ERR_NO_CAPABLE_WORKERS', placed: 0, replicas: 1 })
    expect(waiting.message).toBe('no capable worker known (no other peer\'s capacity is known)')
    const result = await handle.result()
    expect(result.status).toBe('failed')
    expect(result.error).toEqual({ code: 'ERR_NO_CAPABLE_WORKERS', message: `the deadline passed while the task waited for workers: ${waiting.message}`, reasons: {} })
  })

  it('a batch says how many of its tasks wait and why; at its deadline each task fails with the reason', async () => {
    const requester = net.nodes[0]
    const progress: Array<string | undefined> = []
    const handle = await requester.submitBatch({ module: example('echo'), tasks: [{ input: utf8('a') }, { input: utf8('b') }], deadline: Date.now() + 4_000 })
    handle.addEventListener('progress', (evt) => { progress.push(evt.detail.waiting) })
    const waiting = await waitFor(async () => (await requester.batch(handle.id)).waiting, { what: 'the batch to say why its tasks wait' })
    expect(waiting).toMatchObject({ tasks: 2, code: 'ERR_NO_CAPABLE_WORKERS', message: 'no capable worker known (no other peer\'s capacity is known)' })
    expect((await requester.jobs()).find((j) => j.id === handle.id)?.waiting).toBe(`2 tasks waiting: ${waiting.message}`)
    const summary = await handle.result()
    expect(summary).toMatchObject({ tasks: 2, failed: 2 })
    expect(summary.waiting).toBeUndefined()
    const tasks = await requester.scheduler.batchTasks(handle.id)
    expect(tasks.map((t) => [t.status, t.error?.code])).toEqual([['failed', 'ERR_NO_CAPABLE_WORKERS'], ['failed', 'ERR_NO_CAPABLE_WORKERS']])
    // (a listener added after submission may have missed the first reason; the last word is that none waits)
    expect(progress.length).toBeGreaterThanOrEqual(2)
    expect(progress.at(-1)).toBeUndefined()
  })
})
