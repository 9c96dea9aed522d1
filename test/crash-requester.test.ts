/**
 * A requester daemon killed with SIGKILL with a batch (`depin map`) and independent jobs
 * (`depin submit`) under way, then started again on the same data dir: the batch and the jobs
 * resume and end completed, every task's output its own and readable; `map` says the daemon
 * stopped, and `depin batch ID --out DIR` writes the rest of its outputs into map's directory;
 * the worker's record of the lease says its requester went away, not that it closed the lease.
 * Real daemon processes on loopback; the kill waits for the state it kills in.
 */
import { describe, it, expect } from 'vitest'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { daemonGet, runCli, startDaemonProcess, startRequesterAndWorker, taskInputName, writeTaskInputs, type DaemonProcess } from './cli-helpers.ts'
import { tempDir, waitFor } from './helpers.ts'
import { readApiInfo } from '../src/node/data-dir.ts'

const SPIN = fileURLToPath(new URL('./fixtures/wasm/spin-echo.wasm', import.meta.url))
const TASKS = 200
const JOBS = 3
const STEPS = '20000000'

interface LeaseRow { id: string, status: string, reason?: string, cost: number }

describe('a requester killed with SIGKILL mid-batch', () => {
  it('resumes its batch and jobs at its next start; its worker records that its requester went away', { timeout: 240_000 }, async () => {
    const dir = await tempDir()
    const daemons: DaemonProcess[] = []
    try {
      const pair = await startRequesterAndWorker(dir.path)
      daemons.push(pair.requester, pair.worker)
      const inputs = await writeTaskInputs(join(dir.path, 'inputs'), TASKS)
      const jobs: string[] = []
      for (let i = 0; i < JOBS; i++) {
        const input = join(dir.path, `job-${i}.txt`)
        await writeFile(input, `job ${i}\n`)
        const submitted = await runCli(['submit', SPIN, '--input', input, '--arg', STEPS, '--json', '--data-dir', pair.requesterDir])
        expect(submitted.code, submitted.stderr).toBe(0)
        jobs.push(JSON.parse(submitted.stdout).id)
      }
      const mapped = runCli(['map', SPIN, inputs, '--out', join(dir.path, 'out'), '--arg', STEPS, '--data-dir', pair.requesterDir], { timeoutMs: 120_000 })

      // Killed with results in and tasks outstanding on the worker's lease.
      const batch = await waitFor(async () => {
        const b = (await daemonGet<{ batches: Array<{ id: string, done: number }> }>(pair.requesterDir, '/v1/batches')).batches[0]
        return b != null && b.done >= 20 ? b : undefined
      }, { timeoutMs: 60_000, intervalMs: 20, what: 'the batch to be under way' })
      const lease = (await daemonGet<{ jobs: LeaseRow[] }>(pair.workerDir, '/v1/jobs?role=worker')).jobs.find((l) => l.status === 'running')
      expect(lease).toBeDefined()
      expect(await pair.requester.stop('SIGKILL')).toBeNull()
      const map = await mapped
      expect(map.code).toBe(1)
      expect(map.stderr).toMatch(/the daemon stopped reporting batch .* before it ended .*follow it with `depin batch \S+ --out \S+`/)

      // The worker's record: its requester went away (once, it read `completed (ran here)`, as if
      // the requester had closed it). With results it returned unacknowledged (a killed requester
      // answers no lease-tail claim): failed, saying how many; with every one acknowledged (killed
      // between an acknowledgement and the next result): completed, the early end noted.
      const ended = await waitFor(async () => {
        const row = (await daemonGet<{ jobs: LeaseRow[] }>(pair.workerDir, '/v1/jobs?role=worker')).jobs.find((l) => l.id === lease?.id)
        return row != null && row.status !== 'running' ? row : undefined
      }, { timeoutMs: 60_000, what: 'the worker to end the lease' })
      if (ended.status === 'failed') expect(ended.reason).toMatch(/^the lease ended: ERR_\w+, with \d+ results? unacknowledged/)
      else expect(ended).toMatchObject({ status: 'completed', reason: expect.stringMatching(/^the lease ended early: ERR_/) })

      const out = join(dir.path, 'out')
      const listedBefore = (await readFile(join(out, 'results.jsonl'), 'utf8')).trim().split('\n').length
      expect(listedBefore).toBeGreaterThanOrEqual(20)
      expect(listedBefore).toBeLessThan(TASKS)
      const requester = await startDaemonProcess(pair.requesterDir, ['--listen', '/ip4/127.0.0.1/tcp/0', '--api', '127.0.0.1:0', '--slots', '0', '--bootstrap', (await readApiInfo(pair.workerDir))?.multiaddrs?.[0] as string])
      daemons.push(requester)
      // What map said to do: the rest of the outputs go into its directory, each task once.
      const rest = await runCli(['batch', batch.id, '--out', out, '--data-dir', pair.requesterDir], { timeoutMs: 120_000 })
      expect(rest.code, rest.stderr).toBe(0)
      const lines = (await readFile(join(out, 'results.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { name: string, status: string })
      expect(lines.map((l) => l.name).sort()).toEqual([...Array(TASKS).keys()].map((i) => taskInputName(i)))
      expect(lines.every((l) => l.status === 'completed')).toBe(true)
      for (let i = 0; i < TASKS; i++) expect(await readFile(join(out, `${taskInputName(i)}.out`), 'utf8')).toBe(`task ${i}\n`)
      const done = await waitFor(async () => {
        const b = await daemonGet<{ status: string, completed: number, tasks: number }>(pair.requesterDir, `/v1/batches/${batch.id}`)
        return b.status !== 'running' ? b : undefined
      }, { timeoutMs: 120_000, intervalMs: 200, what: 'the batch to end' })
      expect(done).toMatchObject({ status: 'done', completed: TASKS, tasks: TASKS })
      const { tasks } = await daemonGet<{ tasks: Array<{ index: number, status: string }> }>(pair.requesterDir, `/v1/batches/${batch.id}/tasks?limit=1000`)
      expect(tasks.map((t) => t.index)).toEqual([...Array(TASKS).keys()])
      const info = await readApiInfo(pair.requesterDir)
      const token = (await readFile(join(pair.requesterDir, 'api-token'), 'utf8')).trim()
      const output = async (path: string): Promise<string> => await (await fetch(`http://${info?.api}${path}`, { headers: { authorization: `Bearer ${token}` } })).text()
      for (const t of tasks) expect(await output(`/v1/batches/${batch.id}/tasks/${t.index}/output`)).toBe(`task ${t.index}\n`)
      for (const [i, id] of jobs.entries()) {
        const job = await waitFor(async () => {
          const j = await daemonGet<{ status: string }>(pair.requesterDir, `/v1/jobs/${id}`)
          return j.status !== 'queued' && j.status !== 'running' ? j : undefined
        }, { timeoutMs: 60_000, what: `job ${i} to end` })
        expect(job.status).toBe('completed')
        expect(await output(`/v1/jobs/${id}/output`)).toBe(`job ${i}\n`)
      }
    } finally {
      for (const d of daemons) await d.stop('SIGKILL')
      await dir.remove()
    }
  })
})
