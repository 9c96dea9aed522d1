/**
 * A worker daemon killed with SIGKILL in the middle of a lease, then started again with the same
 * data dir: the requester's tasks that were on the dead lease, and the rest of the batch, run on
 * the restarted worker. Real daemon processes on loopback; the kill waits for the state it kills
 * in (tasks of the batch done and more outstanding), not for a time.
 */
import { describe, it, expect } from 'vitest'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { daemonGet, runCli, startDaemonProcess, startRequesterAndWorker, type DaemonProcess } from './cli-helpers.ts'
import { tempDir, waitFor } from './helpers.ts'
import { readApiInfo } from '../src/node/data-dir.ts'

const SPIN = fileURLToPath(new URL('./fixtures/wasm/spin-echo.wasm', import.meta.url))
const TASKS = 60
/** Busy-loop steps of each task: ~50-100 ms on this machine, so the batch lasts a few seconds on 2 slots. */
const STEPS = '20000000'

interface BatchSummary { id: string, status: string, done: number, completed: number }

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
      const inputs = join(dir.path, 'inputs')
      await mkdir(inputs)
      for (let i = 0; i < TASKS; i++) await writeFile(join(inputs, `t${String(i).padStart(3, '0')}`), `task ${i}\n`)
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
        const name = `t${String(i).padStart(3, '0')}`
        expect(await readFile(join(out, `${name}.out`), 'utf8')).toBe(`task ${i}\n`)
      }
      expect((await batchesOf(pair.requesterDir))[0]).toMatchObject({ id: atKill.id, status: 'done', completed: TASKS })
    } finally {
      for (const d of daemons) await d.stop('SIGKILL')
      await dir.remove()
    }
  })
})
