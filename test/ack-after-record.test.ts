/**
 * Write before you answer, on a lease: the requester acknowledges a task's result as paid only
 * once the record of its verdict is written. Before, a checkpoint that arrived in the ~100 ms
 * between a batch task's verdict and the write of its record was acknowledged paying for it; a
 * requester killed then ran the task again at its next start and paid for it twice (its worker
 * settles the acknowledgement it holds). Real parts where it matters (Batches, Dispatcher and
 * LeaseClient, signed frames over a channel pair); the worker is hand-written, the record store
 * one whose task writes the test holds.
 */
import { describe, it, expect } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { rawCid } from '../src/proofs/encoding.ts'
import { chainRoot, type ResultEntry } from '../src/proofs/commitment.ts'
import { createSigner } from '../src/proofs/signing.ts'
import { leaseId, signCheckpoint } from '../src/proofs/lease.ts'
import { channelPair, type Channel } from '../src/transport.ts'
import { Batches } from '../src/scheduler/requester/batches.ts'
import { Dispatcher } from '../src/scheduler/requester/dispatcher.ts'
import { LeaseClient } from '../src/scheduler/requester/lease-client.ts'
import { createBatch } from '../src/scheduler/job.ts'
import { creditsFor, taskId } from '../src/scheduler/task.ts'
import type { BatchRecord, BatchTaskRecord } from '../src/scheduler/job-store.ts'
import { parseRequesterFrame, type RequesterFrame, type ResultFrame } from '../src/scheduler/lease-frames.ts'
import { MAX_LEASE_FRAME_BYTES } from '../src/scheduler/constants.ts'
import { BlobStore } from '../src/scheduler/blob-store.ts'
import { openStore } from '../src/node/storage.ts'
import type { TaskWork } from '../src/scheduler/requester/types.ts'
import { waitFor } from './helpers.ts'
import { coSignedLease } from './jobs-helpers.ts'

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)
const requester = createSigner(await generateKeyPair('Ed25519'))
const worker = createSigner(await generateKeyPair('Ed25519'))
const MODULE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0])

/** Batch records in memory; task-record writes wait while `held` (a slow disk, or the moment before a kill). */
function heldRecords (): { held: boolean, release: () => void, written: Set<number>, putBatch: (r: BatchRecord) => Promise<void>, putBatchTasks: (id: string, rs: BatchTaskRecord[]) => Promise<void> } {
  let gate = Promise.withResolvers<void>()
  const store = {
    held: false,
    written: new Set<number>(),
    release: () => { store.held = false; gate.resolve(); gate = Promise.withResolvers<void>() },
    async putBatch (_r: BatchRecord) {},
    async putBatchTasks (_id: string, rs: BatchTaskRecord[]) {
      if (store.held) await gate.promise
      for (const r of rs) store.written.add(r.index)
    }
  }
  return store
}

async function received (ch: Channel): Promise<RequesterFrame> {
  return parseRequesterFrame(await ch.receive())
}

describe('a lease acknowledges a result as paid only once its verdict is recorded', () => {
  it('a checkpoint that arrives while the batch\'s task records are being written is acknowledged after the write, paying for them (even after the worker\'s end)', async () => {
    const lease = coSignedLease(requester, worker)
    const body = lease.body
    const [mine, theirs] = channelPair(requester.peerId, worker.peerId, { maxFrameBytes: MAX_LEASE_FRAME_BYTES, idleTimeoutMs: 30_000 })
    const blobs = new BlobStore(await openStore())
    let dispatcher: Dispatcher | undefined
    const client = new LeaseClient(lease, mine, {
      signer: requester,
      blob: async (cid) => await blobs.get(cid),
      onResult: (w, r) => { dispatcher?.onResult(w, r) },
      onRunning: () => {},
      onTaskFailed: (w, from, f) => { dispatcher?.onTaskFailed(w, from, f) },
      onRoom: () => {},
      onEnded: () => {},
      reportPeer: () => {}
    })
    const pool = { usableFor: (w: TaskWork, t: number) => (client.usable && client.fits(w, t) ? [client] : []), want: () => {}, leases: new Map() }
    dispatcher = new Dispatcher({ pool: pool as never, reputation: { reliability: () => 0.5, record: () => {}, observeSpeed: () => {} } as never, reportPeer: () => {} })
    const records = heldRecords()
    const batches = new Batches({ blobs, records: records as never, dispatcher, spotCheckRate: 0 })
    client.start()
    try {
      const tasks = [{ input: utf8('first') }, { input: utf8('second') }]
      const { body: batchBody, id } = createBatch(requester.peerId, { module: MODULE, tasks, memoryMiB: 64, timeoutMs: 10_000 })
      await blobs.pin(MODULE, batchBody.module)
      const handle = await batches.submit(batchBody, id, tasks)
      records.written.clear()
      records.held = true // from here on, the task records' write does not complete until released

      expect((await received(theirs)).t).toBe('open')
      const frame = await received(theirs)
      if (frame.t !== 'tasks') throw new Error(`expected tasks, got ${frame.t}`)
      expect(frame.tasks).toHaveLength(2)
      // The first task's result (its verdict follows at once: one replica), the second one stays outstanding.
      const first = frame.tasks.find((t) => t.stdin != null && new TextDecoder().decode(t.stdin) === 'first')
      if (first == null) throw new Error('no first task')
      const out = utf8('first')
      const result: ResultFrame = { task: taskId(first.spec), exit: 0, out: rawCid(out), outBytes: out.byteLength, errBytes: 0, fuel: 300_000_000n, cpuMs: 1, wallMs: 1, stdoutTruncated: false, stderrTruncated: false, stdout: out, stderr: new Uint8Array(0) }
      await theirs.send({ t: 'results', results: [result] })
      await waitFor(() => batches.unwritten(id.toString()).length === 1, { what: 'the first task\'s verdict' })

      // The checkpoint over it, then a want (answered at once): what the worker hears first tells
      // whether the acknowledgement waited for the record.
      const entries: ResultEntry[] = [{ task: result.task, out: result.out, exit: result.exit, fuel: result.fuel }]
      const checkpoint = signCheckpoint(worker, { v: 1, lease: leaseId(body), worker: worker.peerId, seq: 1, count: 1, root: chainRoot(entries), fuel: result.fuel, amount: creditsFor(body.price, result.fuel), at: Date.now() })
      await theirs.send({ t: 'checkpoint', checkpoint })
      await theirs.send({ t: 'want', cids: [batchBody.module] })
      const heard: string[] = []
      let next = await received(theirs)
      while (next.t !== 'end') {
        // Before the fix: the ack came here, paying 3 credits for a task whose record was not written.
        if (next.t === 'ack') heard.push(`ack paid ${next.ack.body.paid}`)
        next = await received(theirs)
      }
      expect(heard).toEqual([])
      expect(records.written.has(0) || records.written.has(1)).toBe(false)
      // The worker ends the lease meanwhile (as it does once the requester closes it): the
      // acknowledgement of its final checkpoint still comes, before the stream closes.
      await theirs.send({ t: 'end', code: 'closed', message: 'bye' })

      records.release()
      const ack = await received(theirs)
      if (ack.t !== 'ack') throw new Error(`expected ack, got ${ack.t}`)
      expect(records.written.size).toBe(1)
      expect(ack.ack.body).toMatchObject({ seq: 1, count: 1, paid: 3 }) // 0.3 gigafuel at 10
    } finally {
      client.abort(new Error('test over'))
      records.release()
      await batches.stop()
    }
  })
})
