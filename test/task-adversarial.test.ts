/**
 * Hostile peers on the task protocol, on a real testnet.
 *   - fake workers (real nodes whose task handler is replaced) that return a result signed for
 *     another peer, a forged signature, or output that does not match the committed CID: the
 *     requester rejects the result, re-places the replica on an honest worker and scores the liar
 *     down; one that dies after every other bid expired: the job is re-offered and still completes;
 *   - a malicious requester that sends module bytes not matching their CID for an agreed job: the
 *     worker refuses, reports it and keeps serving;
 *   - a task frame over the size limit: the stream is aborted, the node stays up.
 */
import { randomBytes } from 'node:crypto'
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromString } from '@libp2p/peer-id'
import { lpStream } from '@libp2p/utils'
import { createTestnet, type Testnet } from '../src/node/testnet.ts'
import type { ComputeNode } from '../src/node/compute-node.ts'
import type { Channel } from '../src/transport.ts'
import { rawCid } from '../src/proofs/encoding.ts'
import { createSigner, signBody, type Signer } from '../src/proofs/signing.ts'
import { agreementId, signAgreementAsRequester, RESULT_DOMAIN, type AgreementBody, type ResultBody } from '../src/proofs/agreement.ts'
import { createJob, maxCostAt } from '../src/scheduler/job.ts'
import { parseNegotiateResponse, parseTaskRequest, parseTaskResponse } from '../src/scheduler/messages.ts'
import {
  BID_TTL_MS, MAX_TASK_FRAME_BYTES, NEGOTIATE_PROTOCOL, TASK_IDLE_TIMEOUT_MS, TASK_PROTOCOL
} from '../src/scheduler/constants.ts'
import type { JobProgress } from '../src/scheduler/requester-service.ts'
import { example, text, utf8, varint } from './jobs-helpers.ts'
import { waitFor } from './helpers.ts'

type FakeMode = 'other-signer' | 'forged-signature' | 'wrong-output' | 'hang-then-die'

describe('task protocol under attack', () => {
  let net: Testnet
  let W: ComputeNode // honest worker
  let R: ComputeNode // honest requester
  let M: ComputeNode // malicious requester
  const fakes = new Map<FakeMode, ComputeNode>()
  let stranger: Signer
  let releaseHang!: () => void
  const hangReleased = new Promise<void>((resolve) => { releaseHang = resolve })

  /** A task handler that negotiates like a real worker but lies in its result. */
  function fakeTaskHandler (node: ComputeNode, mode: FakeMode) {
    return async (channel: Channel): Promise<void> => {
      const first = parseTaskRequest(await channel.receive())
      if (first.t !== 'task') throw new Error('expected a task')
      await channel.send({ t: 'need', module: false, input: false })
      await channel.send({ t: 'running' })
      if (mode === 'hang-then-die') {
        const beat = setInterval(() => { channel.send({ t: 'heartbeat' }).catch(() => {}) }, 1_000)
        await hangReleased
        clearInterval(beat)
        channel.abort(new Error('the fake worker died'))
        return
      }
      const output = utf8('forged output')
      const body: ResultBody = {
        v: 1,
        agreementId: agreementId(first.agreement.body),
        jobId: first.agreement.body.jobId,
        worker: mode === 'other-signer' ? stranger.peerId : node.peerId,
        outputCid: rawCid(mode === 'wrong-output' ? utf8('not what is sent') : output),
        outputBytes: output.byteLength,
        exitCode: 0,
        cpuMs: 1,
        wallMs: 1
      }
      const signer = mode === 'other-signer' || mode === 'forged-signature' ? stranger : node.signer
      await channel.send({ t: 'result', result: { body, sig: signBody(signer, RESULT_DOMAIN, body) }, stderrBytes: 0, stdoutTruncated: false, stderrTruncated: false })
      await channel.send({ t: 'stdout', data: output })
      await channel.close()
    }
  }

  const modes: FakeMode[] = ['other-signer', 'forged-signature', 'wrong-output', 'hang-then-die']

  beforeAll(async () => {
    stranger = createSigner(await generateKeyPair('Ed25519'))
    // Fakes charge nothing, so the requester ranks their bids first.
    net = await createTestnet({ nodes: 3 + modes.length, nodeInit: (i) => (i >= 3 ? { capacity: { pricePerCpuSecond: 0 } } : {}) })
    ;[W, R, M] = net.nodes
    for (const [i, mode] of modes.entries()) {
      const node = net.nodes[3 + i]
      fakes.set(mode, node)
      await node.host.unhandle(TASK_PROTOCOL)
      await node.services().protocols.handle(TASK_PROTOCOL, fakeTaskHandler(node, mode), { maxFrameBytes: MAX_TASK_FRAME_BYTES, idleTimeoutMs: TASK_IDLE_TIMEOUT_MS })
      // The testnet bootstraps each node to the three before it, so R is not connected to every
      // fake, and reaching one would wait for a DHT lookup of its address: slow on a loaded
      // machine, and a targeted job does not gossip. These tests are about the task protocol,
      // not discovery: R connects to every fake first (a dial that a busy machine lets time
      // out is tried again).
      await waitFor(async () => {
        if (R.host.getConnections().some((c) => c.remotePeer.toString() === node.peerId)) return true
        await R.dial(node.multiaddrs[0]).catch(() => {})
        return false
      }, { what: `R to connect to the ${mode} fake` })
    }
  })

  afterAll(async () => {
    releaseHang()
    await net?.stop()
  })

  /** R submits an echo job that may run on `fake` or W; the fake's bid (price 0) wins. */
  async function jobViaFake (mode: FakeMode, extra: { deadline?: number, timeoutMs?: number } = {}, onProgress?: (p: JobProgress) => void) {
    const fake = fakes.get(mode) as ComputeNode
    const input = utf8(`real input ${randomBytes(4).toString('hex')}`)
    const handle = await R.submitJob({ module: example('echo'), input, peers: [fake.peerId, W.peerId], ...extra }, { onProgress })
    return { fake, input, result: await handle.result() }
  }

  it('a result signed for another peer is rejected (BadResultError), re-placed on an honest worker, the liar scored down', async () => {
    const { fake, input, result } = await jobViaFake('other-signer')
    expect(result.status).toBe('completed')
    expect(text(result.stdout)).toBe(text(input))
    expect(result.workers.map((w) => [w.peerId, w.status])).toEqual([[fake.peerId, 'failed'], [W.peerId, 'done']])
    expect(result.workers[0].error).toMatch(/result signed for .*, the agreement is with /)
    expect(R.peerScore.score(fake.peerId)).toBeLessThan(0)
    expect(R.scheduler.reputation.get(fake.peerId).failure).toBe(1)
    expect(R.peerScore.score(W.peerId)).toBe(0)
  })

  it('a result whose signature is forged is rejected, re-placed, the liar scored down', async () => {
    const { fake, input, result } = await jobViaFake('forged-signature')
    expect(result.status).toBe('completed')
    expect(text(result.stdout)).toBe(text(input))
    expect(result.workers.map((w) => [w.peerId, w.status])).toEqual([[fake.peerId, 'failed'], [W.peerId, 'done']])
    expect(R.peerScore.score(fake.peerId)).toBeLessThan(0)
    expect(R.scheduler.reputation.get(fake.peerId).failure).toBe(1)
  })

  it('output that does not match the committed CID is rejected, re-placed, the liar scored down', async () => {
    const { fake, input, result } = await jobViaFake('wrong-output')
    expect(result.status).toBe('completed')
    expect(text(result.stdout)).toBe(text(input))
    expect(result.workers.map((w) => [w.peerId, w.status])).toEqual([[fake.peerId, 'failed'], [W.peerId, 'done']])
    expect(result.workers[0].error).toMatch(/does not match the committed/)
    expect(R.peerScore.score(fake.peerId)).toBeLessThan(0)
  })

  it('a worker that dies after every other bid expired: the job is offered again and completes elsewhere', async () => {
    let lastBidAt = 0
    let running = false
    const done = jobViaFake('hang-then-die', { timeoutMs: 5_000, deadline: Date.now() + 30_000 }, (p) => {
      if (p.stage === 'bid') lastBidAt = Date.now()
      if (p.stage === 'running') running = true
    })
    await waitFor(() => running, { what: 'the fake to report running' })
    // Wait out the TTL of W's bid (a clock condition, not a network wait), then the fake dies.
    await waitFor(() => lastBidAt > 0 && Date.now() > lastBidAt + BID_TTL_MS + 500, { timeoutMs: BID_TTL_MS + 5_000, intervalMs: 200, what: 'the other bids to expire' })
    releaseHang()
    const { fake, input, result } = await done
    expect(result.error).toBeUndefined()
    expect(result.status).toBe('completed')
    expect(text(result.stdout)).toBe(text(input))
    expect(result.workers.map((w) => [w.peerId, w.status])).toEqual([[fake.peerId, 'failed'], [W.peerId, 'done']])
  }, 45_000)

  it('module bytes that do not match their CID (malicious requester): the worker refuses, reports the peer, stays up', async () => {
    const module = randomBytes(4096) // a module W has never seen, so it asks for the bytes
    const { job, id } = createJob(M.signer, { module, peers: [W.peerId] })
    const negotiate = async (request: unknown): Promise<ReturnType<typeof parseNegotiateResponse>> => {
      const channel = await M.services().channels.open(W.peerId, NEGOTIATE_PROTOCOL)
      await channel.send(request)
      const response = parseNegotiateResponse(await channel.receive())
      await channel.close()
      return response
    }
    const offer = await negotiate({ t: 'offer', job })
    if (offer.t !== 'bid') throw new Error(`expected a bid, got ${JSON.stringify(offer)}`)
    const body: AgreementBody = {
      v: 1, jobId: id, requester: M.peerId, worker: W.peerId, replica: 0, price: offer.bid.body.price,
      maxCost: maxCostAt(job.body, offer.bid.body.price), acceptedAt: Date.now(), deadline: job.body.deadline
    }
    const agreed = await negotiate({ t: 'accept', accept: { body, requesterSig: signAgreementAsRequester(M.signer, body) } })
    if (agreed.t !== 'agreement') throw new Error(`expected an agreement, got ${JSON.stringify(agreed)}`)
    const before = W.peerScore.score(M.peerId)

    const task = await M.services().channels.open(W.peerId, TASK_PROTOCOL, { maxFrameBytes: MAX_TASK_FRAME_BYTES })
    await task.send({ t: 'task', agreement: agreed.agreement, job })
    expect(parseTaskResponse(await task.receive())).toMatchObject({ t: 'need', module: true })
    await task.send({ t: 'chunk', which: 'module', data: randomBytes(4096) }) // right length, wrong bytes
    await task.send({ t: 'end', which: 'module' })
    await expect(task.receive()).rejects.toThrow()
    await waitFor(() => W.peerScore.score(M.peerId) < before, { what: 'W to report the requester' })
    await waitFor(async () => (await W.jobs()).find((j) => j.id === id.toString() && j.role === 'worker')?.status === 'failed', { what: 'the failed task record' })
    // W still works for honest requesters.
    const input = utf8('after the bad bytes')
    const result = await (await R.submitJob({ module: example('echo'), input, peers: [W.peerId] })).result()
    expect(text(result.stdout)).toBe('after the bad bytes')
  })

  it('a task frame over the size limit: the stream is aborted before the body is read, the sender scored down, the worker stays up', async () => {
    const before = W.peerScore.score(M.peerId)
    const stream = await M.host.dialProtocol(peerIdFromString(W.peerId), TASK_PROTOCOL)
    stream.send(Uint8Array.from([...varint(MAX_TASK_FRAME_BYTES + 1), 1, 2, 3]))
    const lp = lpStream(stream)
    await expect(lp.read({ signal: AbortSignal.timeout(TASK_IDLE_TIMEOUT_MS) })).rejects.toThrow()
    await waitFor(() => W.peerScore.score(M.peerId) < before, { what: 'W to report the sender' })
    const input = utf8('after the big frame')
    const result = await (await R.submitJob({ module: example('echo'), input, peers: [W.peerId] })).result()
    expect(text(result.stdout)).toBe('after the big frame')
  })
})
