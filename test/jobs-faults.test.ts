/**
 * Jobs when things go wrong on a real testnet: a worker dies mid-task (the replica is re-placed),
 * nobody can run a job (it fails fast with the decline reasons), a requester that starts before it
 * has any peer (its job waits for one), workers whose executors lie (outvoted, a tie broken by one
 * more replica, or no quorum at all: unverified and nobody paid), and a requester restarted on its
 * data dir (LevelDB) still knows its jobs and their output.
 */
import { join } from 'node:path'
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createTestnet, type Testnet } from '../src/node/testnet.ts'
import { createComputeNode, type ComputeNode } from '../src/node/compute-node.ts'
import { example, text, utf8, waitForCapacity, waitForOfferMesh } from './jobs-helpers.ts'
import { outputRewritingExecutor, tempDir, waitFor } from './helpers.ts'

describe('a worker killed mid-task', () => {
  let net: Testnet

  beforeAll(async () => {
    net = await createTestnet({ nodes: 4 })
    await waitForOfferMesh(net.nodes[0], net.nodes.slice(1).map((n) => n.peerId))
    await waitForCapacity(net.nodes[0], 3)
  })

  afterAll(async () => { await net?.stop() })

  it('the replica is re-placed on another worker and the job still succeeds with correct output', async () => {
    const requester = net.nodes[0]
    let victim: string | undefined
    let stopping: Promise<void> | undefined
    const handle = await requester.submitJob({ module: example('primes'), args: ['4000000'] }, {
      onProgress: (p) => {
        // Stop the node running the task as soon as it reports running (a ~1.5 s computation).
        if (p.stage !== 'running' || victim != null) return
        victim = p.peerId
        stopping = net.nodes.find((n) => n.peerId === p.peerId)?.stop()
      }
    })
    const result = await handle.result()
    await stopping
    expect(victim).toBeDefined()
    expect(result.error).toBeUndefined()
    expect(result.status).toBe('completed')
    expect(text(result.stdout)).toBe('283146\n')
    expect(result.verified).toBe(true)
    const failed = result.workers.filter((w) => w.status === 'failed')
    const done = result.workers.filter((w) => w.status === 'done')
    expect(failed.map((w) => w.peerId)).toEqual([victim])
    expect(done).toHaveLength(1)
    expect(done[0].peerId).not.toBe(victim)
    expect(done[0].agreed).toBe(true)
    // The requester remembers the failure as evidence against the dead worker.
    expect(requester.scheduler.reputation.get(victim as string).failure).toBe(1)
    expect(requester.scheduler.reputation.get(done[0].peerId).success).toBe(1)
  })
})

describe('workers that return wrong output', () => {
  let net: Testnet
  let honest: ComputeNode
  let other: ComputeNode
  let liar: ComputeNode
  let liar2: ComputeNode

  beforeAll(async () => {
    // 1: honest, free; 2: honest, price 1; 3: lies "a lie", free; 4: lies "another lie", free.
    // Prices decide which leases replicas go on first, so the ties below are certain.
    net = await createTestnet({
      nodes: 5,
      nodeInit: (i) => i === 3
        ? { executor: outputRewritingExecutor(() => utf8('a lie\n')), capacity: { pricePerGigafuel: 0 } }
        : i === 4 ? { executor: outputRewritingExecutor(() => utf8('another lie\n')), capacity: { pricePerGigafuel: 0 } } : i === 1 ? { capacity: { pricePerGigafuel: 0 } } : {}
    })
    ;[, honest, other, liar, liar2] = net.nodes
    await waitForOfferMesh(net.nodes[0], net.nodes.slice(1).map((n) => n.peerId))
    await waitForCapacity(net.nodes[0], 4)
  })

  afterAll(async () => { await net?.stop() })

  it('three replicas: the two honest ones agree, the result is verified, the liar is outvoted, unpaid and scored down', async () => {
    const requester = net.nodes[0]
    const input = utf8('the truth\n')
    const result = await (await requester.submitJob({ module: example('echo'), input, replicas: 3, peers: [honest.peerId, other.peerId, liar.peerId] })).result()
    expect(result.status).toBe('completed')
    expect(result.verified).toBe(true)
    expect(text(result.stdout)).toBe('the truth\n')
    expect(result.workers).toHaveLength(3)
    const lie = result.workers.find((w) => w.peerId === liar.peerId)
    expect(lie).toMatchObject({ status: 'done', agreed: false, cost: 0 })
    const good = result.workers.filter((w) => w.peerId !== liar.peerId)
    expect(good.map((w) => w.agreed)).toEqual([true, true])
    expect(result.cost).toBe(good.reduce((sum, w) => sum + (w.cost ?? 0), 0))
    expect(requester.scheduler.reputation.get(liar.peerId).mismatch).toBe(1)
    expect(requester.peerScore.score(liar.peerId)).toBeLessThan(0)
    for (const w of good) expect(requester.peerScore.score(w.peerId)).toBe(0)
  })

  it('replicas that never agree: unverified, no output presented as the answer, nobody paid', async () => {
    const requester = net.nodes[0]
    const result = await (await requester.submitJob({ module: example('echo'), input: utf8('x'), replicas: 2, peers: [liar.peerId, liar2.peerId, other.peerId] })).result()
    expect(result.status).toBe('unverified')
    expect(result.verified).toBe(false)
    expect(result.error?.code).toBe('ERR_NO_QUORUM')
    expect(result.stdout.byteLength).toBe(0)
    expect(result.outputCid).toBeUndefined()
    expect(result.cost).toBe(0)
    expect(result.workers.map((w) => w.status)).toEqual(['done', 'done', 'done'])
    expect(result.workers.every((w) => (w.cost ?? 0) === 0)).toBe(true)
    expect(new Set(result.workers.map((w) => w.outputCid)).size).toBe(3)
  })
  it('two replicas that disagree (1 vs 1): one more replica breaks the tie; the liar\'s output is never the answer', async () => {
    const requester = net.nodes[0]
    const result = await (await requester.submitJob({ module: example('echo'), input: utf8('tie'), replicas: 2, peers: [honest.peerId, liar.peerId, other.peerId] })).result()
    expect(result.status).toBe('completed')
    expect(result.verified).toBe(true)
    expect(text(result.stdout)).toBe('tie')
    expect(result.workers.map((w) => w.peerId).sort()).toEqual([honest.peerId, liar.peerId, other.peerId].sort())
    expect(result.workers.find((w) => w.peerId === liar.peerId)).toMatchObject({ agreed: false, cost: 0 })
    expect(requester.scheduler.reputation.get(liar.peerId).mismatch).toBe(2)
    // Two wrong results cost the liar its connection to this requester.
    expect(requester.peerScore.score(liar.peerId)).toBeLessThanOrEqual(-50)
  })
})

describe('jobs no peer can run', () => {
  let net: Testnet

  beforeAll(async () => {
    // Every node offers 64 MiB; node 2 charges 50 credits per CPU-second.
    net = await createTestnet({ nodes: 3, nodeInit: (i) => ({ capacity: { memoryMiB: 64, ...(i === 2 ? { pricePerGigafuel: 50 } : {}) } }) })
    await waitForOfferMesh(net.nodes[0], [net.nodes[1].peerId, net.nodes[2].peerId])
  })

  afterAll(async () => { await net?.stop() })

  it('more memory than any node offers: fails fast with ERR_NO_BIDS and memory declines', async () => {
    const handle = await net.nodes[0].submitJob({ module: example('echo'), memoryMiB: 1024 })
    const result = await handle.result()
    expect(result.status).toBe('failed')
    expect(result.error?.code).toBe('ERR_NO_BIDS')
    expect(result.error?.reasons?.memory).toBeGreaterThanOrEqual(1)
    expect(Object.keys(result.error?.reasons ?? {})).toEqual(['memory'])
    expect(result.workers).toEqual([])
    const listed = (await net.nodes[0].jobs()).find((j) => j.id === handle.id)
    expect(listed?.status).toBe('failed')
  })

  it('targeted at a node whose price is above maxPrice: fails fast with a price decline', async () => {
    const handle = await net.nodes[0].submitJob({ module: example('echo'), memoryMiB: 32, maxPrice: 10, peers: [net.nodes[2].peerId] })
    const result = await handle.result()
    expect(result.status).toBe('failed')
    expect(result.error?.code).toBe('ERR_NO_BIDS')
    expect(result.error?.reasons).toEqual({ price: 1 })
  })
})

describe('a requester that has no peer yet', () => {
  let net: Testnet
  let late: ComputeNode | undefined

  afterAll(async () => {
    await late?.stop()
    await net?.stop()
  })

  it('keeps offering its job until a worker appears, instead of failing for lack of answers', async () => {
    net = await createTestnet({ nodes: 1 })
    const requester = net.nodes[0]
    const input = utf8('waiting for a worker')
    const handle = await requester.submitJob({ module: example('echo'), input })
    // Four lease offer rounds with nobody to answer, and the job is still being placed.
    let rounds = 0
    const fourRounds = new Promise<string>((resolve) => {
      requester.scheduler.addEventListener('lease:offered', () => { if (++rounds === 4) resolve('placing') })
    })
    expect(await Promise.race([fourRounds, handle.result().then((r) => `${r.status} ${r.error?.code ?? ''}`)])).toBe('placing')
    late = createComputeNode({ listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, testnet: true, network: net.network, bootstrap: [requester.multiaddrs[0]] })
    await late.start()
    const result = await handle.result()
    expect(result.error).toBeUndefined()
    expect(result.status).toBe('completed')
    expect(text(result.stdout)).toBe('waiting for a worker')
    expect(result.workers.find((w) => w.status === 'done')?.peerId).toBe(late.peerId)
  })
})

describe('a requester restarted on its data dir', () => {
  let dir: { path: string, remove: () => Promise<void> }
  let net: Testnet
  /** The node running on node-0's data dir now (the testnet's, then its restarts). */
  let requester: ComputeNode
  const restarts: ComputeNode[] = []

  beforeAll(async () => {
    dir = await tempDir()
    net = await createTestnet({ nodes: 2, dir: dir.path })
    requester = net.nodes[0]
    await waitForOfferMesh(requester, [net.nodes[1].peerId])
  })

  afterAll(async () => {
    for (const node of restarts) await node.stop()
    await net?.stop()
    await dir?.remove()
  })

  /** Stops the requester and starts a new node on the same data dir (same identity, same LevelDB). */
  async function restart (): Promise<ComputeNode> {
    const peerId = requester.peerId
    await requester.stop()
    requester = createComputeNode({
      dataDir: join(dir.path, 'node-0'), listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, testnet: true,
      network: net.network, bootstrap: [net.nodes[1].multiaddrs[0]]
    })
    restarts.push(requester)
    await requester.start()
    expect(requester.peerId).toBe(peerId)
    return requester
  }

  it('a job cancelled while it waits for a lease resolves at once as cancelled (ERR_JOB_CANCELLED)', async () => {
    // Aimed at a peer that does not exist: no lease can be made, the job waits in the queue.
    const nobody = (await generateKeyPair('Ed25519')).publicKey.toString()
    const queued = await requester.submitJob({ module: example('echo'), input: utf8('never runs'), peers: [nobody] })
    queued.cancel()
    const result = await queued.result() // resolves (never rejects)
    expect(result.status).toBe('cancelled')
    expect(result.error?.code).toBe('ERR_JOB_CANCELLED')
    expect((await requester.jobs()).find((j) => j.id === queued.id)?.status).toBe('cancelled')
  })

  it('still lists its completed job and returns the output bytes (LevelDB on disk)', async () => {
    const worker = net.nodes[1]
    const input = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7) & 0xff)
    const handle = await requester.submitJob({ module: example('echo'), input })
    const first = await handle.result()
    expect(first.status).toBe('completed')
    const peerId = requester.peerId
    const restarted = await restart()
    const listed = (await restarted.jobs()).filter((j) => j.id === handle.id)
    expect(listed).toHaveLength(1)
    expect(listed[0]).toMatchObject({ role: 'requester', status: 'completed', exitCode: 0, verified: true, requester: peerId, workers: [worker.peerId] })
    const again = await restarted.job(handle.id)
    expect(again.status).toBe('completed')
    expect(again.exitCode).toBe(0)
    expect(again.verified).toBe(true)
    expect(again.outputCid).toBe(first.outputCid)
    expect(Buffer.from(again.stdout).equals(Buffer.from(input))).toBe(true)
    expect(again.workers.map((w) => [w.peerId, w.status, w.agreed])).toEqual([[worker.peerId, 'done', true]])
    // The worker keeps a record of the lease it served (written when the lease ended with the restart).
    const served = await waitFor(async () => (await worker.jobs()).find((j) => j.role === 'worker' && j.requester === peerId && (j.tasks ?? 0) >= 1), { what: 'the worker\'s lease record' })
    expect(served.kind).toBe('lease')
    await expect(restarted.job('bafyreiaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa')).rejects.toMatchObject({ code: 'ERR_JOB_NOT_FOUND' })
  })

  it('a job in flight when its requester stops is resumed by the restarted node and completes', async () => {
    let running!: () => void
    const started = new Promise<void>((resolve) => { running = resolve })
    const handle = await requester.submitJob({ module: example('primes'), args: ['1000000'] }, { onProgress: (p) => { if (p.stage === 'running') running() } })
    await started
    const stopped = handle.result()
    const restarted = await restart()
    // The old handle learns that its node stopped (not a cancel); the job itself is not failed on disk.
    expect(await stopped).toMatchObject({ status: 'running', error: { code: 'ERR_NODE_STOPPED', message: expect.stringMatching(/it was not cancelled, and resumes when the node starts again with the same data dir$/) } })
    const resumed = await waitFor(async () => {
      const summary = (await restarted.jobs()).find((j) => j.id === handle.id)
      return summary != null && summary.status !== 'queued' && summary.status !== 'running' ? summary : undefined
    }, { what: 'the resumed job to finish' })
    expect(resumed.status).toBe('completed')
    const result = await restarted.job(handle.id)
    expect(text(result.stdout)).toBe('78498\n')
    expect(result.verified).toBe(true)
  })
})
