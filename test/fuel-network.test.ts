/**
 * Fuel through the network, on real nodes with the real (metering) executor: a job stopped by
 * its fuel limit stops at the same count on two replicas, which a quorum verifies and the lease
 * pays for; a worker that claims more fuel than it used is outvoted, or caught by a spot check,
 * and not paid; the edges of the limit (0, 2^64 − 1, 2^64); a module that cannot be metered.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { createTestnet, type Testnet } from '../src/node/testnet.ts'
import type { Executor } from '../src/scheduler/executor/index.ts'
import { InvalidJobError } from '../src/scheduler/errors.ts'
import { example, fixture, text } from './jobs-helpers.ts'
import { resultRewritingExecutor, waitFor } from './helpers.ts'

/** Runs jobs for real and reports twice the fuel they used (a worker inflating its bill). */
const inflatingExecutor = (): Executor => resultRewritingExecutor((result) => ({ ...result, ...(result.fuel != null ? { fuel: result.fuel * 2n } : {}) }))
/** The greedy limit below: what a worker billing a task's whole fuel limit claims. */
const GREEDY_FUEL = 10n ** 12n
/** Runs jobs for real and bills `GREEDY_FUEL` for each (its limit in the test: as much as it may). */
const greedyExecutor = (): Executor => resultRewritingExecutor((result) => ({ ...result, fuel: GREEDY_FUEL }))

const loop = fixture('loop')
const primes = example('primes')

describe('fuel on the network', () => {
  let net: Testnet
  beforeAll(async () => {
    // Node 0 requests only; 1 and 2 are honest workers; 3 inflates its fuel; 4 bills each task's whole limit.
    net = await createTestnet({
      nodes: 5,
      miners: [0],
      genesis: { hashesPerBlock: 2 ** 12, blockIntervalMs: 500 },
      nodeInit: (i) => (i === 0 ? { capacity: { slots: 0 } } : i === 3 ? { executor: inflatingExecutor() } : i === 4 ? { executor: greedyExecutor() } : {})
    })
    await waitFor(async () => (await net.nodes[0].findCapacity()).length >= 3, { what: 'three workers\' capacity records' })
  })
  afterAll(async () => { await net?.stop() })

  it('a program that never ends stops by its fuel limit at the same count on two replicas: verified and paid', async () => {
    const [R, a, b] = net.nodes
    const fuel = 50_000_000n
    const result = await (await R.submitJob({ module: loop, fuel, replicas: 2, timeoutMs: 60_000, peers: [a.peerId, b.peerId] })).result()
    expect(result.status).toBe('failed')
    expect(result.error?.code).toBe('ERR_OUT_OF_FUEL')
    expect(result.trap).toBe('out of fuel')
    expect(result.exitCode).toBe(-1)
    expect(result.verified).toBe(true)
    expect(result.fuel).toBe(String(fuel))
    expect(result.workers.map((w) => w.fuel)).toEqual([String(fuel), String(fuel)])
    expect(result.workers.every((w) => w.agreed === true)).toBe(true)
    // Stopped by fuel, the run is reproducible, so it is paid: 0.05 gigafuel at the worker's price, rounded up.
    expect(result.cost).toBeGreaterThan(0)
  })

  it('a worker that claims more fuel than it used is outvoted and not paid', async () => {
    const [R, a, b, liar] = net.nodes
    const result = await (await R.submitJob({ module: primes, args: ['100000'], replicas: 3, quorum: 2, peers: [a.peerId, b.peerId, liar.peerId] })).result()
    expect(result.status).toBe('completed')
    expect(text(result.stdout)).toBe('9592\n')
    const honest = result.workers.filter((w) => w.peerId !== liar.peerId)
    const lying = result.workers.find((w) => w.peerId === liar.peerId)
    expect(honest.every((w) => w.agreed === true && w.fuel === result.fuel)).toBe(true)
    expect(lying?.agreed).toBe(false)
    expect(lying?.cost ?? 0).toBe(0)
    expect(BigInt(lying?.fuel ?? '0')).toBe(2n * BigInt(result.fuel ?? '0'))
    expect(R.scheduler.reputation.get(liar.peerId).mismatch).toBeGreaterThanOrEqual(1)
  })

  it('a lone worker that claims more fuel is caught by a spot check and not paid', async () => {
    const [R, , , liar] = net.nodes
    const result = await (await R.submitJob({ module: primes, args: ['50000'], replicas: 1, peers: [liar.peerId] }, { spotCheck: true })).result()
    expect(result.spotCheck).toBe('failed')
    expect(result.status).toBe('unverified')
    expect(result.cost).toBe(0)
    expect(text(result.stdout)).toBe('5133\n')
    // The local run is the answer, with its own (honest) fuel.
    expect(BigInt(result.workers[0].fuel ?? '0')).toBe(2n * BigInt(result.fuel ?? '0'))
  })

  it('a lone worker that bills a task\'s whole fuel limit for a run of milliseconds is refused by the clock: blamed, its lease ended, the task not paid', async () => {
    const [R, , , , greedy] = net.nodes
    // 1,000 gigafuel for an echo: at 400 gigafuel per second at most, not within the time observed.
    const handle = await R.submitJob({ module: example('echo'), input: new TextEncoder().encode('greedy'), fuel: GREEDY_FUEL, timeoutMs: 60_000, replicas: 1, peers: [greedy.peerId] })
    await waitFor(() => R.peerScore.score(greedy.peerId) < 0, { what: 'the greedy worker scored down', timeoutMs: 60_000 })
    handle.cancel()
    const result = await handle.result()
    expect(result.status).toBe('cancelled')
    expect(result.cost).toBe(0)
    const lease = result.workers.find((w) => w.peerId === greedy.peerId)
    expect(lease?.status).toBe('failed')
    expect(lease?.error).toMatch(/more than any machine runs/)
  })

  it('a fuel limit of 0 stops a program before its first instruction; 2^64 − 1 is more than any lease can cover', async () => {
    const [R, a] = net.nodes
    const zero = await (await R.submitJob({ module: primes, args: ['1000'], fuel: 0n, peers: [a.peerId] })).result()
    expect(zero.error?.code).toBe('ERR_OUT_OF_FUEL')
    expect(zero.fuel).toBe('0')
    expect(zero.stdout.byteLength).toBe(0)
    // The largest limit: one task's worst case is more than any requester can pay, so no worker
    // can take the lease (declined `funds`): the job fails with the reasons, it does not hang.
    const max = await (await R.submitJob({ module: primes, args: ['1000'], fuel: 2n ** 64n - 1n, peers: [a.peerId], deadline: Date.now() + 20_000 })).result()
    expect(max.status).toBe('failed')
    expect(max.error?.code).toBe('ERR_NO_BIDS')
    expect(max.error?.reasons).toHaveProperty('funds')
  })

  it('a fuel limit of 2^64 or below 0 is refused before anything is sent', async () => {
    const [R] = net.nodes
    await expect(R.submitJob({ module: primes, fuel: 2n ** 64n })).rejects.toThrow(InvalidJobError)
    await expect(R.submitJob({ module: primes, fuel: -1 })).rejects.toThrow(/fuel must be an integer in 0..2\^64-1/)
  })

  it('a module that exports the meter\'s own names cannot run: a deterministic failure both replicas report', async () => {
    const [R, a, b] = net.nodes
    const result = await (await R.submitJob({ module: fixture('reserved-export'), replicas: 2, peers: [a.peerId, b.peerId] })).result()
    expect(result.status).toBe('failed')
    expect(result.verified).toBe(true)
    expect(result.trap).toMatch(/^ReservedExportError: /)
    expect(result.fuel).toBe('0')
  })
})
