/**
 * A worker announces a task running when its executor runs it, not when it gets its slot: on a
 * real two-node network (in process, real libp2p over loopback, real executor), a task that must
 * wait for a new executor thread (the one it would run on was killed by a cancel, and its
 * replacement is slow to start, as on a loaded machine) still ends within its own time limit on
 * that worker, not blamed for a timeout by the requester (which allows the limit plus grace from
 * the `running` notice) and left to wait for another worker until its deadline.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { createTestnet, type Testnet } from '../src/node/testnet.ts'
import { createExecutor, type WasiExecutor } from '../src/scheduler/executor/index.ts'
import { fixture, waitForCapacity } from './jobs-helpers.ts'
import { waitFor } from './helpers.ts'

/** Read by test/fixtures/wasm/slow-start-worker.ts in each executor thread as it starts. */
const START_DELAY = 'DEPIN_TEST_WORKER_START_DELAY_MS'

describe('running notices on a worker whose executor thread is replaced', () => {
  let net: Testnet
  let executor: WasiExecutor

  beforeAll(async () => {
    executor = createExecutor({ workers: 1, workerUrl: new URL('fixtures/wasm/slow-start-worker.ts', import.meta.url) })
    net = await createTestnet({
      nodes: 2,
      nodeInit: (i) => i === 0
        ? { capacity: { slots: 0 } }
        : { capacity: { slots: 1 }, executor }
    })
    await waitForCapacity(net.nodes[0], 1)
  })

  afterAll(async () => {
    delete process.env[START_DELAY]
    await net?.stop()
  })

  it('a task after a cancelled running one waits for the new thread unblamed, and times out on the worker', async () => {
    const first = await net.nodes[0].submitJob({ module: fixture('loop'), timeoutMs: 60_000 })
    // Running on the executor's one thread (not only holding the worker's slot): cancelled, that thread is killed.
    await waitFor(() => executor.stats().running === 1, { timeoutMs: 30_000, what: 'the worker to run the first task' })
    // Threads started from now on (the one replacing the killed thread) take 4 s to start.
    process.env[START_DELAY] = '4000'
    first.cancel()
    expect((await first.result()).status).toBe('cancelled')

    // Its deadline is far past its time limit plus grace: it ends by the worker's time limit.
    const second = await net.nodes[0].submitJob({ module: fixture('loop'), timeoutMs: 1500, deadline: Date.now() + 40_000 })
    const result = await second.result()
    expect(result.error?.code).toBe('ERR_TASK_TIMEOUT')
    expect(result.status).toBe('timed-out')
    expect(result.workers.map((w) => w.status)).toEqual(['done'])
  })
})
