/**
 * A requester that loses power mid-batch and starts again: its peers learn nothing (no FIN, no
 * reset), so they still hold its old connections when it dials them again. Simulated with real
 * daemons: the requester is frozen (SIGSTOP: its sockets stay open, silent), its data dir is
 * copied, and a new daemon starts from the copy (the same identity). The copy holds every write
 * the process made, synced or not (LevelDB hands each to the OS at once, and the copy reads the
 * OS's cache): the network side of a power cut, not its disk side; what a power cut may lose,
 * and what is synced so it cannot, is checked in durable-answers.test.ts.
 * It must connect to its peers at once and finish its batch; before, every peer refused its new
 * connections as duplicates of the dead ones and it stayed alone, its bootstrap dials spent.
 * And a node that comes back before its bootstrap peer (a site back from a power cut in any
 * order) connects once that peer is up.
 */
import { describe, it, expect } from 'vitest'
import { spawn } from 'node:child_process'
import { cp, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { BIN, daemonGet, initNetwork, startDaemonProcess, startRequesterAndWorker, writeTaskInputs, type DaemonProcess } from './cli-helpers.ts'
import { tempDir, waitFor } from './helpers.ts'
import { readApiInfo } from '../src/node/data-dir.ts'

const SPIN = fileURLToPath(new URL('./fixtures/wasm/spin-echo.wasm', import.meta.url))
const TASKS = 200
const STEPS = '20000000'

describe('a requester that loses power mid-batch', () => {
  it('reconnects to its peers when it starts again and finishes its batch', { timeout: 240_000 }, async () => {
    const dir = await tempDir()
    const daemons: DaemonProcess[] = []
    try {
      const pair = await startRequesterAndWorker(dir.path)
      daemons.push(pair.requester, pair.worker)
      const inputs = await writeTaskInputs(join(dir.path, 'inputs'), TASKS)
      const map = spawn(process.execPath, [BIN, 'map', SPIN, inputs, '--out', join(dir.path, 'out'), '--arg', STEPS, '--data-dir', pair.requesterDir], { stdio: 'ignore' })
      const mapExited = new Promise((resolve) => map.once('exit', resolve))
      const batch = await waitFor(async () => {
        const b = (await daemonGet<{ batches: Array<{ id: string, done: number }> }>(pair.requesterDir, '/v1/batches')).batches[0]
        return b != null && b.done >= 20 ? b : undefined
      }, { timeoutMs: 60_000, intervalMs: 20, what: 'the batch to be under way' })

      // The power cut: the process stops where it is, its connections stay open and silent.
      pair.requester.child.kill('SIGSTOP')
      map.kill('SIGKILL')
      await mapExited
      const copy = join(dir.path, 'requester-after')
      await cp(pair.requesterDir, copy, { recursive: true })
      await rm(join(copy, 'api.json'), { force: true })
      await rm(join(copy, 'db', 'LOCK'), { force: true })

      const worker = (await readApiInfo(pair.workerDir))?.multiaddrs?.[0] as string
      const again = await startDaemonProcess(copy, ['--listen', '/ip4/127.0.0.1/tcp/0', '--api', '127.0.0.1:0', '--slots', '0', '--bootstrap', worker])
      daemons.push(again)
      // Connected to the worker (its bootstrap dial was taken), well before the worker's own
      // keep-alive would have dropped the dead connection.
      await waitFor(async () => (await daemonGet<{ peers: Array<{ peerId: string }> }>(copy, '/v1/peers')).peers.some((p) => p.peerId === pair.workerPeer), { timeoutMs: 20_000, what: 'the restarted requester to connect to the worker' })
      const done = await waitFor(async () => {
        const b = await daemonGet<{ status: string, completed: number }>(copy, `/v1/batches/${batch.id}`)
        return b.status !== 'running' ? b : undefined
      }, { timeoutMs: 120_000, intervalMs: 200, what: 'the batch to end' })
      expect(done).toMatchObject({ status: 'done', completed: TASKS })
    } finally {
      for (const d of daemons) await d.stop('SIGKILL')
      await dir.remove()
    }
  })
})

describe('a node that starts before its bootstrap peer', () => {
  it('connects to it once it is up', { timeout: 120_000 }, async () => {
    const dir = await tempDir()
    const daemons: DaemonProcess[] = []
    try {
      const first = join(dir.path, 'first')
      const second = join(dir.path, 'second')
      const [firstPeer] = await initNetwork([first, second])
      // The bootstrap peer's address, then it goes down (its port stays its own: it comes back on it).
      const up = await startDaemonProcess(first, ['--listen', '/ip4/127.0.0.1/tcp/0', '--api', '127.0.0.1:0'])
      const address = (await readApiInfo(first))?.multiaddrs?.[0] as string
      expect(await up.stop()).toBe(0)
      const late = await startDaemonProcess(second, ['--listen', '/ip4/127.0.0.1/tcp/0', '--api', '127.0.0.1:0', '--bootstrap', address])
      daemons.push(late)
      const port = /\/tcp\/(\d+)\//.exec(address)?.[1] as string
      daemons.push(await startDaemonProcess(first, ['--listen', `/ip4/127.0.0.1/tcp/${port}`, '--api', '127.0.0.1:0']))
      // Before, its one bootstrap dial had failed and it stayed alone.
      await waitFor(async () => (await daemonGet<{ peers: Array<{ peerId: string }> }>(second, '/v1/peers')).peers.some((p) => p.peerId === firstPeer), { timeoutMs: 60_000, intervalMs: 500, what: 'the node to connect to its bootstrap peer' })
    } finally {
      for (const d of daemons) await d.stop('SIGKILL')
      await dir.remove()
    }
  })
})
