/**
 * Hostile and broken workers and requesters on the lease protocol, on real testnets.
 *
 * Fake workers are real nodes (they negotiate and hold leases like any worker) whose lease-stream
 * handler is replaced: one goes silent (pings, no results), one never reads its stream, one
 * returns results for tasks it was never given, one returns output that does not match its
 * commitment, one signs a checkpoint that does not match what it returned. They are free, so
 * the requester fills their leases first; a batch must still complete, correct and verified,
 * with each fake penalised and not leased again. A malicious requester sends module bytes that
 * do not match their CID, opens a lease that does not exist, and sends an oversized frame.
 */
import { randomBytes } from 'node:crypto'
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { peerIdFromString } from '@libp2p/peer-id'
import { lpStream } from '@libp2p/utils'
import type { CID } from 'multiformats/cid'
import { createTestnet, type Testnet } from '../src/node/testnet.ts'
import type { ComputeNode } from '../src/node/compute-node.ts'
import type { Channel } from '../src/transport.ts'
import { rawCid, valueCid } from '../src/proofs/encoding.ts'
import { chainRoot, type ResultEntry } from '../src/proofs/commitment.ts'
import { leaseId, signCheckpoint } from '../src/proofs/lease.ts'
import { parseRequesterFrame, parseWorkerFrame, type TaskFrame } from '../src/scheduler/lease-frames.ts'
import { parseNegotiateResponse } from '../src/scheduler/messages.ts'
import { taskId } from '../src/scheduler/task.ts'
import { LEASE_IDLE_TIMEOUT_MS, LEASE_PROTOCOL, MAX_LEASE_FRAME_BYTES, NEGOTIATE_PROTOCOL } from '../src/scheduler/constants.ts'
import { acceptOf, example, leaseOffer, text, utf8, varint, waitForCapacity, waitForOfferMesh } from './jobs-helpers.ts'
import { waitFor } from './helpers.ts'

type FakeMode = 'silent' | 'deaf' | 'unasked-results' | 'wrong-output' | 'bad-checkpoint'

/** A lease-stream handler that plays a worker badly. Echo tasks only: a task's output is its stdin. */
function fakeLeaseHandler (node: ComputeNode, mode: FakeMode) {
  return async (channel: Channel): Promise<void> => {
    const open = parseRequesterFrame(await channel.receive())
    if (open.t !== 'open') throw new Error('expected open')
    if (mode === 'deaf') {
      // Never reads again, never answers: the stream stays open until the requester gives up.
      await new Promise<void>((resolve) => setTimeout(resolve, 60_000).unref())
      return
    }
    const ping = setInterval(() => { channel.send({ t: 'ping' }).catch(() => {}) }, 1_000)
    const entries: ResultEntry[] = []
    try {
      while (true) {
        const frame = parseRequesterFrame(await channel.receive())
        if (frame.t !== 'tasks' || mode === 'silent') continue
        const results = frame.tasks.map((task: TaskFrame) => {
          const stdout = task.stdin ?? new Uint8Array(0)
          const id: CID = mode === 'unasked-results' ? taskId({ ...task.spec, key: randomBytes(8) }) : taskId(task.spec)
          const out = mode === 'wrong-output' ? rawCid(utf8('something else')) : rawCid(stdout)
          entries.push({ task: id, out, exit: 0, fuel: 1n })
          return { task: id, exit: 0, out, outBytes: stdout.byteLength, errBytes: 0, fuel: 1n, cpuMs: 1, wallMs: 1, stdoutTruncated: false, stderrTruncated: false, stdout, stderr: new Uint8Array(0) }
        })
        await channel.send({ t: 'results', results })
        if (mode === 'bad-checkpoint') {
          // Claims one more result than it returned (a commitment the requester cannot match).
          const claimed = [...entries, { task: valueCid(utf8('never sent')), out: rawCid(utf8('x')), exit: 0, fuel: 1n }]
          await channel.send({
            t: 'checkpoint',
            checkpoint: signCheckpoint(node.signer, { v: 1, lease: leaseId(open.lease.body), worker: node.peerId, seq: 1, count: claimed.length, root: chainRoot(claimed), fuel: BigInt(claimed.length), amount: 1, at: Date.now() })
          })
        }
      }
    } catch {
      // the requester ended the lease
    } finally {
      clearInterval(ping)
    }
  }
}

async function fake (node: ComputeNode, mode: FakeMode): Promise<void> {
  await node.host.unhandle(LEASE_PROTOCOL)
  await node.services().protocols.handle(LEASE_PROTOCOL, fakeLeaseHandler(node, mode), { maxFrameBytes: MAX_LEASE_FRAME_BYTES, idleTimeoutMs: LEASE_IDLE_TIMEOUT_MS })
}

/** Runs a batch of echo tasks and checks every output, and that every task is verified. */
async function correctBatch (requester: ComputeNode, tasks: number, extra: { replicas?: number, timeoutMs?: number } = {}): Promise<void> {
  const inputs = Array.from({ length: tasks }, (_, i) => utf8(`task ${i} ${randomBytes(4).toString('hex')}`))
  const outputs = new Map<number, string>()
  // The time limit sets how soon a stalled task is given up (its limit plus grace); a loaded
  // machine must still finish an echo well inside it.
  const handle = await requester.submitBatch({ module: example('echo'), timeoutMs: 10_000, ...extra, tasks: inputs.map((input) => ({ input })) }, {
    onTask: (t) => { outputs.set(t.index, text(t.stdout)) }
  })
  const summary = await handle.result()
  expect(summary).toMatchObject({ tasks, completed: tasks, failed: 0, verified: tasks, status: 'done' })
  for (const [i, input] of inputs.entries()) expect(outputs.get(i)).toBe(text(input))
}

describe('workers that stall: silent on a lease, or never reading it', () => {
  let net: Testnet
  let R: ComputeNode
  const fakes: ComputeNode[] = []

  beforeAll(async () => {
    // 0 requester (no slots), 1-2 honest (price 1), 3 silent and 4 deaf (free: their leases fill first).
    net = await createTestnet({ nodes: 5, nodeInit: (i) => i === 0 ? { capacity: { slots: 0 } } : i >= 3 ? { capacity: { pricePerGigafuel: 0 } } : {} })
    R = net.nodes[0]
    await fake(net.nodes[3], 'silent')
    await fake(net.nodes[4], 'deaf')
    fakes.push(net.nodes[3], net.nodes[4])
    await waitForOfferMesh(R, net.nodes.slice(1).map((n) => n.peerId))
    await waitForCapacity(R, 4)
  })

  afterAll(async () => { await net?.stop() })

  it('a batch still completes, correct and verified; each staller is timed out, penalised and not leased again', async () => {
    await correctBatch(R, 40, { timeoutMs: 3_000 })
    for (const f of fakes) {
      expect(R.scheduler.reputation.get(f.peerId).timeout).toBeGreaterThanOrEqual(1)
      // Letting tasks run past their time breaks the lease: disconnected, and benched.
      expect(R.peerScore.score(f.peerId)).toBeLessThanOrEqual(-50)
      expect(R.scheduler.requester.pool.isBenched(f.peerId)).toBe(true)
    }
    // The next batch goes only to honest workers, without waiting for anyone.
    const before = fakes.map((f) => R.scheduler.reputation.get(f.peerId).timeout)
    await correctBatch(R, 20, { timeoutMs: 3_000 })
    expect(fakes.map((f) => R.scheduler.reputation.get(f.peerId).timeout)).toEqual(before)
  }, 120_000)
})

describe('workers that lie on a lease', () => {
  let net: Testnet
  let R: ComputeNode

  beforeAll(async () => {
    // 0 requester, 1-2 honest, 3 results for tasks never given, 4 output not matching its CID, 5 a checkpoint over results it never sent.
    net = await createTestnet({ nodes: 6, nodeInit: (i) => i === 0 ? { capacity: { slots: 0 } } : i >= 3 ? { capacity: { pricePerGigafuel: 0 } } : {} })
    R = net.nodes[0]
    await fake(net.nodes[3], 'unasked-results')
    await fake(net.nodes[4], 'wrong-output')
    await fake(net.nodes[5], 'bad-checkpoint')
    await waitForOfferMesh(R, net.nodes.slice(1).map((n) => n.peerId))
    await waitForCapacity(R, 5)
  })

  afterAll(async () => { await net?.stop() })

  it('a batch completes correct and verified; every liar loses its lease, is scored down and benched', async () => {
    await correctBatch(R, 30)
    for (const liar of net.nodes.slice(3)) {
      expect(R.peerScore.score(liar.peerId)).toBeLessThan(0)
      expect(R.scheduler.requester.pool.isBenched(liar.peerId)).toBe(true)
    }
    // The honest workers were never blamed.
    for (const honest of net.nodes.slice(1, 3)) expect(R.peerScore.score(honest.peerId)).toBe(0)
  }, 60_000)
})

describe('a worker whose executor lies, in a batch with replicas 2', () => {
  let net: Testnet
  let R: ComputeNode

  beforeAll(async () => {
    const { outputRewritingExecutor } = await import('./helpers.ts')
    net = await createTestnet({ nodes: 4, nodeInit: (i) => i === 0 ? { capacity: { slots: 0 } } : i === 3 ? { executor: outputRewritingExecutor(() => utf8('a lie')), capacity: { pricePerGigafuel: 0 } } : {} })
    R = net.nodes[0]
    await waitForOfferMesh(R, net.nodes.slice(1).map((n) => n.peerId))
    await waitForCapacity(R, 3)
  })

  afterAll(async () => { await net?.stop() })

  it('every task is verified with the right output; the liar is outvoted and paid nothing', async () => {
    const liar = net.nodes[3]
    await correctBatch(R, 12, { replicas: 2 })
    expect(R.scheduler.reputation.get(liar.peerId).mismatch).toBeGreaterThanOrEqual(1)
    expect(R.scheduler.reputation.get(liar.peerId).success).toBe(0)
  }, 60_000)
})

describe('a malicious requester on the lease protocol', () => {
  let net: Testnet
  let W: ComputeNode
  let R: ComputeNode
  let M: ComputeNode

  beforeAll(async () => {
    net = await createTestnet({ nodes: 3 })
    ;[W, R, M] = net.nodes
    await waitForOfferMesh(R, [W.peerId])
  })

  afterAll(async () => { await net?.stop() })

  async function honestJobOnW (): Promise<void> {
    const input = utf8(`honest ${randomBytes(4).toString('hex')}`)
    const result = await (await R.submitJob({ module: example('echo'), input, peers: [W.peerId] })).result()
    expect(text(result.stdout)).toBe(text(input))
  }

  /** M makes a lease with W by hand. */
  async function leaseWithW () {
    const offer = leaseOffer(M.signer, { peers: [W.peerId] })
    const ask = async (request: unknown) => {
      const channel = await M.services().channels.open(W.peerId, NEGOTIATE_PROTOCOL)
      await channel.send(request)
      const response = parseNegotiateResponse(await channel.receive())
      await channel.close()
      return response
    }
    const bid = await ask({ t: 'offer', offer })
    if (bid.t !== 'bid') throw new Error(`expected a bid, got ${JSON.stringify(bid)}`)
    const made = await ask(acceptOf(M.signer, offer, bid.bid))
    if (made.t !== 'lease') throw new Error(`expected a lease, got ${JSON.stringify(made)}`)
    return made.lease
  }

  it('module bytes that do not match their CID: W refuses, reports the requester, keeps serving', async () => {
    const lease = await leaseWithW()
    const before = W.peerScore.score(M.peerId)
    const module = randomBytes(4096) // a module W has never seen, so it asks for the bytes
    const stdin = utf8('x')
    const spec = { v: 1 as const, key: randomBytes(8), runtime: 'wasi-p1' as const, module: rawCid(module), moduleBytes: module.byteLength, input: rawCid(stdin), inputBytes: 1, args: [], env: {}, memoryMiB: 16, timeoutMs: 1_000, fuel: 1_000_000_000n }
    const channel = await M.services().channels.open(W.peerId, LEASE_PROTOCOL, { maxFrameBytes: MAX_LEASE_FRAME_BYTES })
    await channel.send({ t: 'open', lease })
    await channel.send({ t: 'tasks', tasks: [{ spec, deadline: Date.now() + 10_000, stdin }] })
    expect(parseWorkerFrame(await channel.receive())).toMatchObject({ t: 'want' })
    await channel.send({ t: 'chunk', cid: spec.module, data: randomBytes(4096) }) // right length, wrong bytes
    await channel.send({ t: 'end', cid: spec.module })
    // W answers with an error (or a task-error first) and ends the stream.
    const frames: string[] = []
    await expect((async () => { while (true) frames.push(parseWorkerFrame(await channel.receive()).t) })()).rejects.toThrow()
    expect(frames).toContain('error')
    await waitFor(() => W.peerScore.score(M.peerId) < before, { what: 'W to report the requester' })
    await honestJobOnW()
  })

  it('task frames on a lease that does not exist (or has ended): ERR_UNKNOWN_LEASE', async () => {
    const lease = await leaseWithW()
    const forged = { ...lease, body: { ...lease.body, expiresAt: lease.body.expiresAt + 1 } } // another lease id
    const channel = await M.services().channels.open(W.peerId, LEASE_PROTOCOL, { maxFrameBytes: MAX_LEASE_FRAME_BYTES })
    await channel.send({ t: 'open', lease: forged })
    expect(parseWorkerFrame(await channel.receive())).toMatchObject({ t: 'error', code: 'ERR_UNKNOWN_LEASE' })
    // The real lease, once opened and closed, cannot be opened again.
    const first = await M.services().channels.open(W.peerId, LEASE_PROTOCOL, { maxFrameBytes: MAX_LEASE_FRAME_BYTES })
    await first.send({ t: 'open', lease })
    await first.send({ t: 'close' })
    expect(parseWorkerFrame(await first.receive())).toMatchObject({ t: 'end' })
    await first.close()
    await waitFor(async () => {
      const again = await M.services().channels.open(W.peerId, LEASE_PROTOCOL, { maxFrameBytes: MAX_LEASE_FRAME_BYTES })
      await again.send({ t: 'open', lease })
      const frame = parseWorkerFrame(await again.receive())
      return frame.t === 'error' && frame.code === 'ERR_UNKNOWN_LEASE'
    }, { what: 'the ended lease to be refused' })
    await honestJobOnW()
  })

  it('a lease frame over the size limit: the stream is aborted before the body is read, the sender scored down, W stays up', async () => {
    const before = W.peerScore.score(M.peerId)
    const stream = await M.host.dialProtocol(peerIdFromString(W.peerId), LEASE_PROTOCOL)
    stream.send(Uint8Array.from([...varint(MAX_LEASE_FRAME_BYTES + 1), 1, 2, 3]))
    const lp = lpStream(stream)
    await expect(lp.read({ signal: AbortSignal.timeout(LEASE_IDLE_TIMEOUT_MS) })).rejects.toThrow()
    await waitFor(() => W.peerScore.score(M.peerId) < before, { what: 'W to report the sender' })
    await honestJobOnW()
  })
})
