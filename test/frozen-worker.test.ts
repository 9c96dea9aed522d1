/**
 * A worker whose host freezes (SIGSTOP: a paused VM, a laptop gone to sleep) while it holds a
 * warm lease. Its TCP connections stay open, so its lease looked alive until the stream's 30 s
 * idle deadline, and every job placed on it waited that long. Now the requester pings a worker
 * that holds its tasks and has gone silent, ends the lease when the ping goes unanswered
 * (`ERR_WORKER_UNRESPONSIVE`), and the job runs elsewhere. Real daemon processes for the
 * workers (a process can be frozen), the requester in this process (to see its leases).
 */
import { describe, it, expect } from 'vitest'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromString } from '@libp2p/peer-id'
import { createComputeNode, type ComputeNode } from '../src/node/compute-node.ts'
import { testnetGenesis } from '../src/node/testnet.ts'
import { readApiInfo } from '../src/node/data-dir.ts'
import { startDaemonProcess, type DaemonProcess } from './cli-helpers.ts'
import { tempDir, waitFor } from './helpers.ts'
import { example, utf8 } from './jobs-helpers.ts'

describe('a worker frozen while it holds a warm lease', () => {
  it('the job placed on that lease goes elsewhere once the worker does not answer a ping (not at the 30 s idle deadline), its connections are dropped, and it works again once it wakes', { timeout: 180_000 }, async () => {
    const dir = await tempDir()
    const daemons: DaemonProcess[] = []
    let requester: ComputeNode | undefined
    try {
      const [requesterKey, keyA, keyB] = await Promise.all([0, 1, 2].map(async () => await generateKeyPair('Ed25519')))
      const network = testnetGenesis([requesterKey, keyA, keyB].map((k) => k.publicKey.toString()))
      // A is cheaper: a job that pays at most 1 credit per gigafuel can only go to A.
      const workers = [{ key: keyA, price: 1 }, { key: keyB, price: 2 }]
      const addresses: string[] = []
      for (const [i, w] of workers.entries()) {
        const dataDir = join(dir.path, `worker-${i}`)
        await mkdir(dataDir)
        await writeFile(join(dataDir, 'identity.key'), privateKeyToProtobuf(w.key), { mode: 0o600 })
        await writeFile(join(dataDir, 'config.json'), JSON.stringify({
          listen: ['/ip4/127.0.0.1/tcp/0'], api: '127.0.0.1:0', mdns: false, testnet: true, network, capacity: { slots: 2, pricePerGigafuel: w.price }
        }))
        daemons.push(await startDaemonProcess(dataDir))
        addresses.push((await readApiInfo(dataDir))?.multiaddrs?.[0] as string)
      }
      const [peerA, peerB] = [keyA, keyB].map((k) => k.publicKey.toString())
      const node = requester = createComputeNode({
        privateKey: requesterKey, network, listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, testnet: true, bootstrap: addresses, capacity: { slots: 0 }
      })
      await node.start()
      await waitFor(async () => {
        const peers = (await node.findCapacity()).map((a) => a.peerId)
        return peers.includes(peerA) && peers.includes(peerB)
      }, { timeoutMs: 60_000, what: 'the requester to find both workers' })

      // A warm lease with A.
      const module = example('echo')
      const first = await (await node.submitJob({ module, input: utf8('first'), maxPrice: 1 })).result()
      expect(first.status).toBe('completed')
      expect(first.workers.map((w) => w.peerId)).toEqual([peerA])
      expect(node.scheduler.leases().some((l) => l.worker === peerA)).toBe(true)

      // A freezes; the next job fits A's warm lease and goes there first.
      daemons[0].child.kill('SIGSTOP')
      const ended: Array<{ worker: string, reason: string }> = []
      node.scheduler.addEventListener('lease:closed', (evt) => { ended.push({ worker: evt.detail.worker, reason: evt.detail.reason }) })
      const second = await (await node.submitJob({ module, input: utf8('second') })).result()
      expect(second.status).toBe('completed')
      expect(new TextDecoder().decode(second.stdout)).toBe('second')
      const ranOn = second.workers.filter((w) => w.status === 'done').map((w) => w.peerId)
      expect(ranOn).toEqual([peerB])
      // A's lease ended because A did not answer a ping; before, at the stream's idle deadline
      // ("sent nothing for 30000 ms").
      expect(ended).toContainEqual({ worker: peerA, reason: 'ERR_WORKER_UNRESPONSIVE' })
      const onA = second.workers.find((w) => w.peerId === peerA)
      if (onA != null) expect(onA.error).toMatch(/did not answer a ping/)
      // Its connections went with it (before, they stayed open until libp2p's own liveness
      // pings gave up, minutes later).
      expect(node.host.getConnections(peerIdFromString(peerA))).toEqual([])

      // Awake again, A connects as any peer does and takes work again.
      daemons[0].child.kill('SIGCONT')
      const third = await (await node.submitJob({ module, input: utf8('third'), maxPrice: 1 })).result()
      expect(third.status).toBe('completed')
      expect(new TextDecoder().decode(third.stdout)).toBe('third')
      expect(third.workers.filter((w) => w.status === 'done').map((w) => w.peerId)).toEqual([peerA])
    } finally {
      await requester?.stop()
      for (const d of daemons) await d.stop('SIGKILL')
      await dir.remove()
    }
  })
})
