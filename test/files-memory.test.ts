/**
 * A job with a 100 MiB input file through the network: a requester in this process, one worker
 * that is a real `depin start` daemon in its own process (so its memory is measured alone). The
 * job (examples/copytree.wasm) copies the file to /out; the output file fetched with `jobFile`
 * is byte-identical to the input, and its CID and the run's fuel are those of the same job run
 * by a local executor. The worker's peak RSS during the job (VmHWM, reset before the job) stays
 * under a generous 1 GiB: a worker that held the file a handful of times over would pass it
 * (bench/files.ts measures ~300 MiB of growth over ~210 MiB idle).
 */
import { randomFillSync } from 'node:crypto'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createComputeNode, type ComputeNode } from '../src/node/compute-node.ts'
import { testnetGenesis } from '../src/node/testnet.ts'
import { readApiInfo } from '../src/node/data-dir.ts'
import { rawCid } from '../src/proofs/encoding.ts'
import { createExecutor } from '../src/scheduler/executor/index.ts'
import { runCli, startDaemonProcess, type DaemonProcess } from './cli-helpers.ts'
import { tempDir } from './helpers.ts'
import { example, waitForCapacity } from './jobs-helpers.ts'

const BYTES = 100 * 1024 * 1024
const WORKER_RSS_BOUND_MIB = 1024
/** VmRSS/VmHWM of a process can be read and its peak reset (Linux). */
const PROC = existsSync('/proc/self/clear_refs')

const procMemMiB = (pid: number, field: 'VmRSS' | 'VmHWM'): number => {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  if (match == null) throw new Error(`no ${field} in /proc/${pid}/status`)
  return Number(match[1]) / 1024
}

describe('a 100 MiB input file through a worker daemon', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>
  let daemon: DaemonProcess | undefined
  let requester: ComputeNode | undefined

  beforeAll(async () => {
    dir = await tempDir('depin-files-memory-')
    const workerDir = join(dir.path, 'worker')
    const init = JSON.parse((await runCli(['init', '--data-dir', workerDir, '--json'])).stdout) as { peerId: string }
    const requesterKey = await generateKeyPair('Ed25519')
    const network = testnetGenesis([requesterKey.publicKey.toString(), init.peerId])
    const config = JSON.parse(await readFile(join(workerDir, 'config.json'), 'utf8')) as Record<string, unknown>
    await writeFile(join(workerDir, 'config.json'), JSON.stringify({
      ...config, network, testnet: true, mdns: false, listen: ['/ip4/127.0.0.1/tcp/0'], api: '127.0.0.1:0', capacity: { slots: 1 }
    }))
    daemon = await startDaemonProcess(workerDir)
    const address = (await readApiInfo(workerDir))?.multiaddrs?.[0]
    if (address == null) throw new Error(`the worker daemon lists no address: ${daemon.output()}`)
    requester = createComputeNode({
      privateKey: requesterKey, network, listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, testnet: true, bootstrap: [address], capacity: { slots: 0 }
    })
    await requester.start()
    await waitForCapacity(requester, 1)
  }, 120_000)

  afterAll(async () => {
    await requester?.stop()
    await daemon?.stop()
    await dir?.remove()
  })

  it('copies it to /out byte for byte, with the local run\'s CID and fuel, the worker\'s RSS bounded', { timeout: 300_000 }, async () => {
    if (requester == null || daemon == null) throw new Error('setup failed')
    const pid = daemon.child.pid as number
    const module = example('copytree')
    const input = randomFillSync(new Uint8Array(BYTES))
    const inputCid = rawCid(input).toString()

    // The same job on a local executor: the CID of its output file and its fuel.
    const executor = createExecutor({ workers: 1 })
    await executor.start()
    let localFuel: bigint | undefined
    try {
      const local = await executor.run({
        moduleCid: rawCid(module), module, stdin: new Uint8Array(0), args: [], env: {}, memoryMiB: 16, timeoutMs: 120_000, seed: new Uint8Array(32),
        files: [{ path: 'input.bin', bytes: input }]
      })
      expect(local.exitCode).toBe(0)
      expect(local.outputs?.files.map((f) => [f.path, f.cid.toString()])).toEqual([['input.bin', inputCid]])
      localFuel = local.fuel
    } finally {
      await executor.stop()
    }
    expect(localFuel).toBeGreaterThan(2n * BigInt(BYTES)) // every byte read and written is charged

    if (PROC) writeFileSync(`/proc/${pid}/clear_refs`, '5') // the worker's peak RSS starts from now
    const idleMiB = PROC ? procMemMiB(pid, 'VmRSS') : NaN
    // a generous wall-time safety net for a loaded machine; the test asserts no time
    const handle = await requester.submitJob({ module, files: [{ path: 'input.bin', bytes: input }], memoryMiB: 16, timeoutMs: 120_000 })
    const result = await handle.result()
    const peakMiB = PROC ? procMemMiB(pid, 'VmHWM') : NaN

    expect(result.error).toBeUndefined()
    expect(result.status).toBe('completed')
    expect(result.verified).toBe(true)
    expect(result.exitCode).toBe(0)
    expect(new TextDecoder().decode(result.stdout)).toBe(`input.bin ${BYTES}\n`)
    expect(result.fuel).toBe(String(localFuel))
    expect(result.workers.filter((w) => w.status === 'done').map((w) => w.fuel)).toEqual([String(localFuel)])
    expect(result.files).toEqual([{ path: 'input.bin', size: BYTES, cid: inputCid }])

    const file = await requester.jobFile(handle.id, 'input.bin')
    expect(file.info).toEqual({ path: 'input.bin', size: BYTES, cid: inputCid })
    expect(file.bytes.byteLength).toBe(BYTES)
    expect(Buffer.from(file.bytes.buffer, file.bytes.byteOffset, file.bytes.byteLength).equals(Buffer.from(input.buffer))).toBe(true)

    // The worker is still there, and its memory stayed bounded.
    expect(daemon.child.exitCode).toBeNull()
    if (PROC) {
      console.log(`worker daemon RSS: ${Math.round(idleMiB)} MiB before the job, peak ${Math.round(peakMiB)} MiB during it`)
      expect(peakMiB).toBeLessThan(WORKER_RSS_BOUND_MIB)
    }
  })
})
