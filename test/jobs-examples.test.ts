/**
 * The example jobs of examples/ on a real 4-node testnet (libp2p over TCP on loopback, real WASI
 * executor): every output byte checked, with one replica and with two replicas that must agree.
 * Also: many concurrent jobs from one requester, each with its own output.
 */
import { randomBytes } from 'node:crypto'
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { createTestnet, type Testnet } from '../src/node/testnet.ts'
import type { ComputeNode } from '../src/node/compute-node.ts'
import type { JobInit } from '../src/scheduler/job.ts'
import type { JobResult } from '../src/scheduler/requester/jobs.ts'
import { createExecutor } from '../src/scheduler/executor/index.ts'
import { rawCid, sha256 } from '../src/proofs/encoding.ts'
import { example, text, utf8, varint, waitForCapacity, waitForOfferMesh } from './jobs-helpers.ts'
import { CHUNK_BYTES } from '../src/scheduler/constants.ts'

describe('example jobs on a 4-node testnet', () => {
  let net: Testnet
  let requester: ComputeNode
  let workerIds: string[]

  beforeAll(async () => {
    net = await createTestnet({ nodes: 4 })
    requester = net.nodes[0]
    workerIds = net.nodes.slice(1).map((n) => n.peerId)
    // Two replicas need two capable peers: wait until the requester reaches every worker by
    // gossip (offers) and knows them from the DHT (direct offers).
    await waitForOfferMesh(requester, workerIds)
    await waitForCapacity(requester, 3)
  })

  afterAll(async () => { await net?.stop() })

  async function run (init: JobInit): Promise<JobResult> {
    const handle = await requester.submitJob(init)
    return await handle.result()
  }

  /** Checks the outcome every successful job shares, for `replicas` workers. */
  function expectGood (result: JobResult, replicas: number): void {
    expect(result.error).toBeUndefined()
    expect(result.status).toBe('completed')
    expect(result.exitCode).toBe(0)
    expect(result.verified).toBe(true)
    const done = result.workers.filter((w) => w.status === 'done')
    expect(done).toHaveLength(replicas)
    expect(new Set(done.map((w) => w.peerId)).size).toBe(replicas)
    for (const w of done) {
      expect(workerIds).toContain(w.peerId)
      expect(w.agreed).toBe(true)
      expect(w.outputCid).toBe(rawCid(result.stdout).toString())
    }
    expect(result.outputCid).toBe(rawCid(result.stdout).toString())
  }

  const echoInput = (): Uint8Array => {
    // Every byte value, then enough random bytes to need several 256 KiB chunks each way.
    const all = Uint8Array.from({ length: 256 }, (_, i) => i)
    const input = new Uint8Array(256 + 600_000)
    input.set(all, 0)
    input.set(randomBytes(600_000), 256)
    return input
  }

  for (const replicas of [1, 2]) {
    describe(`replicas: ${replicas}`, () => {
      it('echo returns its binary input byte for byte (all 256 byte values, multi-chunk)', async () => {
        const input = echoInput()
        const result = await run({ module: example('echo'), input, replicas })
        expectGood(result, replicas)
        expect(result.stdout.byteLength).toBe(input.byteLength)
        expect(Buffer.from(result.stdout).equals(Buffer.from(input))).toBe(true)
        expect(result.stderr.byteLength).toBe(0)
      })

      it('primes counts 78498 primes below 1,000,000', async () => {
        const result = await run({ module: example('primes'), args: ['1000000'], replicas })
        expectGood(result, replicas)
        expect(text(result.stdout)).toBe('78498\n')
      })

      it('mandelbrot renders a PGM equal to a local run of the same module', async () => {
        const module = example('mandelbrot')
        const args = ['64', '48', '100']
        const result = await run({ module, args, replicas, memoryMiB: 64 })
        expectGood(result, replicas)
        const header = 'P5\n64 48\n255\n'
        expect(text(result.stdout.subarray(0, header.length))).toBe(header)
        expect(result.stdout.byteLength).toBe(header.length + 64 * 48)
        const local = createExecutor({ workers: 1 })
        await local.start()
        try {
          const mine = await local.run({ moduleCid: rawCid(module), module, stdin: new Uint8Array(0), args, env: {}, memoryMiB: 64, timeoutMs: 30_000, seed: sha256(utf8('any seed')) })
          expect(mine.exitCode).toBe(0)
          expect(Buffer.from(result.stdout).equals(Buffer.from(mine.stdout))).toBe(true)
        } finally {
          await local.stop()
        }
      })

      it('wordcount counts like wc', async () => {
        // `printf 'the quick brown fox\njumps over\tthe lazy dog\n\n  end' | wc` → 3 10 50
        const input = utf8('the quick brown fox\njumps over\tthe lazy dog\n\n  end')
        const result = await run({ module: example('wordcount'), input, replicas })
        expectGood(result, replicas)
        expect(text(result.stdout)).toBe('3 10 50\n')
      })
    })
  }

  it('a module larger than one transfer chunk (echo with a 700 KiB custom section) is shipped and run', async () => {
    // A custom section (id 0: name length, name, payload) leaves the module's code as it is.
    const echo = example('echo')
    const name = utf8('padding')
    const payload = randomBytes(700 * 1024)
    const content = Uint8Array.from([name.byteLength, ...name, ...payload])
    const section = Uint8Array.from([0x00, ...varint(content.byteLength), ...content])
    const module = new Uint8Array(echo.byteLength + section.byteLength)
    module.set(echo, 0)
    module.set(section, echo.byteLength)
    expect(module.byteLength).toBeGreaterThan(2 * CHUNK_BYTES)
    const result = await run({ module, input: utf8('big module') })
    expectGood(result, 1)
    expect(text(result.stdout)).toBe('big module')
  })

  it('100 concurrent echo jobs from one requester each get their own output', async () => {
    const module = example('echo')
    const inputs = Array.from({ length: 100 }, (_, i) => utf8(`job ${i}: ${randomBytes(8 + i).toString('hex')}`))
    const handles = await Promise.all(inputs.map(async (input) => await requester.submitJob({ module, input })))
    expect(new Set(handles.map((h) => h.id)).size).toBe(100)
    const results = await Promise.all(handles.map(async (h) => await h.result()))
    for (let i = 0; i < inputs.length; i++) {
      expect(results[i].error).toBeUndefined()
      expect(results[i].status).toBe('completed')
      expect(results[i].id).toBe(handles[i].id)
      expect(text(results[i].stdout)).toBe(text(inputs[i]))
    }
    // Workers that were full at accept time or whose streams were busy are not misbehaving:
    // the requester holds nothing against any of them.
    expect(requester.peerScore.list()).toEqual([])
    expect((await requester.peers()).map((p) => p.peerId)).toEqual(expect.arrayContaining(workerIds))
  }, 120_000)
})
