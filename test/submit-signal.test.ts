/**
 * `submitJob`/`submitBatch` with `{ signal }`: the abort listener goes when the job or batch ends
 * (a long-lived signal must not keep every finished result alive), a signal that has already
 * aborted is refused before anything is recorded, and the signal's reason reaches the cancel
 * error's message.
 */
import { getEventListeners } from 'node:events'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { createTestnet, type Testnet } from '../src/node/testnet.ts'
import type { ComputeNode } from '../src/node/compute-node.ts'
import { example, text, utf8, waitForCapacity, waitForOfferMesh } from './jobs-helpers.ts'

const listeners = (signal: AbortSignal): number => getEventListeners(signal, 'abort').length

describe('submit options: signal', () => {
  let net: Testnet
  let R: ComputeNode

  beforeAll(async () => {
    net = await createTestnet({ nodes: 2, nodeInit: (i) => (i === 0 ? { capacity: { slots: 0 } } : {}) })
    R = net.nodes[0]
    await waitForOfferMesh(R, [net.nodes[1].peerId])
    await waitForCapacity(R, 1)
  })

  afterAll(async () => { await net?.stop() })

  it('one long-lived signal over many jobs and a batch: no listener stays once they end', async () => {
    const ac = new AbortController()
    const handles = await Promise.all(Array.from({ length: 5 }, async (_, i) => await R.submitJob({ module: example('echo'), input: utf8(`job ${i}`) }, { signal: ac.signal })))
    expect(listeners(ac.signal)).toBe(5)
    const results = await Promise.all(handles.map(async (h) => await h.result()))
    expect(results.map((r) => [r.status, text(r.stdout)])).toEqual(results.map((_, i) => ['completed', `job ${i}`]))
    expect(listeners(ac.signal)).toBe(0)

    const batch = await R.submitBatch({ module: example('echo'), tasks: [{ input: utf8('a') }, { input: utf8('b') }] }, { signal: ac.signal })
    expect(listeners(ac.signal)).toBe(1)
    expect(await batch.result()).toMatchObject({ status: 'done', completed: 2 })
    expect(listeners(ac.signal)).toBe(0)
  })

  it('an already-aborted signal: submitJob and submitBatch reject with its reason, and record nothing', async () => {
    const before = (await R.jobs()).length
    const reason = new Error('shutting down')
    const aborted = AbortSignal.abort(reason)
    await expect(R.submitJob({ module: example('echo') }, { signal: aborted })).rejects.toBe(reason)
    await expect(R.submitBatch({ module: example('echo'), tasks: [{ input: utf8('x') }] }, { signal: aborted })).rejects.toBe(reason)
    // The default reason is an AbortError.
    await expect(R.submitJob({ module: example('echo') }, { signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' })
    expect((await R.jobs()).length).toBe(before)
    expect(listeners(aborted)).toBe(0)
  })

  it('aborting cancels with the signal\'s reason in the message', async () => {
    // Named peers nobody knows: the job and the batch wait for workers until cancelled.
    const nobody = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
    const ac = new AbortController()
    const job = await R.submitJob({ module: example('echo'), peers: [nobody] }, { signal: ac.signal })
    const batch = await R.submitBatch({ module: example('echo'), peers: [nobody], tasks: [{ input: utf8('x') }] }, { signal: ac.signal })
    ac.abort(new Error('user pressed stop'))
    const result = await job.result()
    expect(result.status).toBe('cancelled')
    expect(result.error).toMatchObject({ code: 'ERR_JOB_CANCELLED', message: 'the job was cancelled: user pressed stop' })
    expect(await batch.result()).toMatchObject({ status: 'cancelled' })
    const [task] = await R.scheduler.batchTasks(batch.id, 0, 10)
    expect(task).toMatchObject({ status: 'cancelled', error: { code: 'ERR_JOB_CANCELLED', message: 'the batch was cancelled: user pressed stop' } })
    expect(listeners(ac.signal)).toBe(0)
  })
})
