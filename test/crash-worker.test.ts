/**
 * A worker daemon killed with SIGKILL in the middle of a lease, then started again with the same
 * data dir: the requester's tasks that were on the dead lease, and the rest of the batch, run on
 * the restarted worker; and when its requester went down at the same moment (one power cut for
 * both), the worker still records the lease (and its operator log says so) and settles what the
 * requester acknowledged. Real daemon processes on loopback; each kill waits for the state it
 * kills in (tasks of the batch done and more outstanding, an acknowledgement received), not for
 * a time.
 */
import { describe, it, expect } from 'vitest'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { daemonGet, runCli, startDaemonProcess, startRequesterAndWorker, taskInputName, writeTaskInputs, type DaemonProcess } from './cli-helpers.ts'
import { tempDir, waitFor } from './helpers.ts'
import { readApiInfo } from '../src/node/data-dir.ts'

const SPIN = fileURLToPath(new URL('./fixtures/wasm/spin-echo.wasm', import.meta.url))
const TASKS = 60
/** Busy-loop steps of each task: ~50-100 ms on this machine, so the batch lasts a few seconds on 2 slots. */
const STEPS = '20000000'

interface BatchSummary { id: string, status: string, done: number, completed: number }
interface LeaseRow { id: string, status: string, reason?: string, cost: number }

async function batchesOf (dataDir: string): Promise<BatchSummary[]> {
  return (await daemonGet<{ batches: BatchSummary[] }>(dataDir, '/v1/batches')).batches
}

describe('a worker killed with SIGKILL mid-lease', () => {
  it('gets the lost tasks and the rest of the batch again once it is back', { timeout: 180_000 }, async () => {
    const dir = await tempDir()
    const daemons: DaemonProcess[] = []
    try {
      const pair = await startRequesterAndWorker(dir.path)
      daemons.push(pair.requester, pair.worker)
      const inputs = await writeTaskInputs(join(dir.path, 'inputs'), TASKS)
      const out = join(dir.path, 'out')
      const mapped = runCli(['map', SPIN, inputs, '--out', out, '--arg', STEPS, '--json', '--data-dir', pair.requesterDir], { timeoutMs: 120_000 })

      // Kill the worker with tasks done and more of the batch outstanding on its lease.
      const atKill = await waitFor(async () => {
        const batch = (await batchesOf(pair.requesterDir))[0]
        return batch != null && batch.done >= 5 ? batch : undefined
      }, { timeoutMs: 60_000, intervalMs: 20, what: 'the batch to be under way' })
      const workerAddress = (await readApiInfo(pair.workerDir))?.multiaddrs?.[0] as string
      expect(await pair.worker.stop('SIGKILL')).toBeNull()
      expect(atKill.done).toBeLessThan(TASKS)

      // Back on the same address (as a worker with a configured listen port comes back).
      const port = /\/tcp\/(\d+)\//.exec(workerAddress)?.[1] as string
      daemons.push(await startDaemonProcess(pair.workerDir, ['--listen', `/ip4/127.0.0.1/tcp/${port}`, '--api', '127.0.0.1:0']))

      // Before the fix the tasks lost with the lease never went back to that worker, and the
      // queue behind them waited for their deadline: map did not end.
      const result = await mapped
      expect(result.code, result.stderr).toBe(0)
      expect(JSON.parse(result.stdout)).toMatchObject({ tasks: TASKS, completed: TASKS, failed: 0 })
      const lines = (await readFile(join(out, 'results.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { name: string, status: string })
      expect(lines.length).toBe(TASKS)
      expect(new Set(lines.map((l) => l.name)).size).toBe(TASKS)
      for (let i = 0; i < TASKS; i++) {
        const name = taskInputName(i)
        expect(await readFile(join(out, `${name}.out`), 'utf8')).toBe(`task ${i}\n`)
      }
      expect((await batchesOf(pair.requesterDir))[0]).toMatchObject({ id: atKill.id, status: 'done', completed: TASKS })
    } finally {
      for (const d of daemons) await d.stop('SIGKILL')
      await dir.remove()
    }
  })
})

describe('a worker and its requester killed together mid-lease', () => {
  it('the worker records the lease it was serving and settles what was acknowledged; the batch resumes', { timeout: 300_000 }, async () => {
    const dir = await tempDir()
    const daemons: DaemonProcess[] = []
    try {
      // The worker mines: it is the one that must get its settle on the chain.
      const pair = await startRequesterAndWorker(dir.path, { workerArgs: ['--mine'] })
      daemons.push(pair.requester, pair.worker)
      const tasks = 300
      const inputs = await writeTaskInputs(join(dir.path, 'inputs'), tasks)
      const mapped = runCli(['map', SPIN, inputs, '--out', join(dir.path, 'out'), '--arg', STEPS, '--json', '--data-dir', pair.requesterDir], { timeoutMs: 120_000 })

      // Both go down once the worker holds an acknowledgement that pays, with the batch under way.
      const open = await waitFor(async () => {
        const leases = (await daemonGet<{ jobs: LeaseRow[] }>(pair.workerDir, '/v1/jobs?role=worker')).jobs
        return leases.find((l) => l.status === 'running' && l.cost > 0)
      }, { timeoutMs: 60_000, intervalMs: 20, what: 'an acknowledged checkpoint on the worker\'s lease' })
      await Promise.all([pair.worker.stop('SIGKILL'), pair.requester.stop('SIGKILL')])
      const batch = (await mapped)
      expect(batch.code).toBe(1) // the daemon stopped reporting the batch

      const worker = await startDaemonProcess(pair.workerDir, ['--listen', '/ip4/127.0.0.1/tcp/0', '--api', '127.0.0.1:0', '--mine'])
      daemons.push(worker)
      // Its record says the lease was cut by the node going down, with what was acknowledged
      // by then (at least what was seen before the kill). Before the fix it had no record.
      const recorded = await waitFor(async () => (await daemonGet<{ jobs: LeaseRow[] }>(pair.workerDir, '/v1/jobs?role=worker')).jobs.find((l) => l.id === open.id), { what: 'the lease\'s record' })
      expect(recorded).toMatchObject({ status: 'failed', reason: 'the lease ended: ERR_INTERRUPTED' })
      expect(recorded.cost).toBeGreaterThanOrEqual(open.cost)
      // The operator's log says so. Before, that record was written as the node started, before
      // the log listened: the log said nothing of the lease.
      const logged = await waitFor(() => worker.output().split('\n').find((l) => l.includes('lease interrupted')), { what: 'the log line of the interrupted lease' })
      expect(logged).toContain(open.id)
      expect(logged).toContain('ERR_INTERRUPTED')
      // Nobody else will settle it (the requester lost its leases with its process): the worker
      // does, about a minute after its start, paying exactly what was acknowledged.
      const receipt = await waitFor(async () => {
        const { receipts } = await daemonGet<{ receipts: Array<{ leaseId: string, paid: number }> }>(pair.workerDir, `/v1/ledger/receipts?worker=${pair.workerPeer}`)
        return receipts.find((r) => r.leaseId === open.id)
      }, { timeoutMs: 180_000, intervalMs: 500, what: 'the worker\'s settle of the lease on the chain' })
      expect(receipt.paid).toBe(recorded.cost)

      // The requester comes back and finishes its batch (on a new lease).
      const requester = await startDaemonProcess(pair.requesterDir, ['--listen', '/ip4/127.0.0.1/tcp/0', '--api', '127.0.0.1:0', '--slots', '0', '--bootstrap', (await readApiInfo(pair.workerDir))?.multiaddrs?.[0] as string])
      daemons.push(requester)
      const done = await waitFor(async () => {
        const b = (await batchesOf(pair.requesterDir))[0]
        return b?.status === 'done' ? b : undefined
      }, { timeoutMs: 120_000, intervalMs: 200, what: 'the batch to end' })
      expect(done.completed).toBe(tasks)
    } finally {
      for (const d of daemons) await d.stop('SIGKILL')
      await dir.remove()
    }
  })
})
