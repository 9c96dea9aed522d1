/**
 * What does a page of the jobs list (`GET /v1/jobs?limit=30`, what `depin jobs` and the dashboard
 * ask for) cost a worker that keeps thousands of served-lease records?
 *
 * One node on LevelDB on disk (its API on loopback), holding LEASES served-lease records and
 * JOBS requested jobs with their creation times interleaved. Each listing is timed (median of
 * RUNS) with the records it decoded (the store's `recordsDecoded`). Baseline, in the same run:
 * the requester's page alone (`role=requester`), which reads its records through their time index.
 *
 *   node bench/jobs-list.ts [leases] [jobs]
 *
 * Latest figures: see the end of this comment (filled in by the last run).
 */
import { join } from 'node:path'
import { createTestnet } from '../src/node/testnet.ts'
import { ApiServer } from '../src/node/api/server.ts'
import { jobsRoutes } from '../src/node/api/jobs-routes.ts'
import { createJob } from '../src/scheduler/job.ts'
import type { LeaseRecord, RequestedJob } from '../src/scheduler/job-store.ts'
import { AUTH, TOKEN, call } from '../test/api-helpers.ts'
import { tempDir } from '../test/helpers.ts'
import { formatMs, machine, median, printTable, sample } from './lib.ts'

const LEASES = Number(process.argv[2] ?? 5000)
const JOBS = Number(process.argv[3] ?? 2000)
const RUNS = 7

const dir = await tempDir('depin-bench-jobs-list-')
try {
  // No automatic prune: it reads every record, and the figures are the listing's alone.
  const net = await createTestnet({ nodes: 1, dir: join(dir.path, 'net'), nodeInit: () => ({ retention: { intervalMs: 0 } }) })
  const node = net.nodes[0]
  const server = new ApiServer({ host: '127.0.0.1', port: 0, token: TOKEN }, [jobsRoutes(node)])
  const { port } = await server.start()
  try {
    const records = node.scheduler.records
    const base = Date.now() - (LEASES + JOBS) * 1000
    const { body } = createJob(node.peerId, { module: new TextEncoder().encode('\0asm bench module') })
    const total = LEASES + JOBS
    // Every (total / JOBS)-th record a requested job, the others served leases: both roles on every page.
    const jobEvery = JOBS > 0 ? Math.max(1, Math.floor(total / JOBS)) : Infinity
    let jobs = 0
    let leases = 0
    const writes: Array<Promise<void>> = []
    for (let i = 0; i < total; i++) {
      const at = base + i * 1000
      if ((i % jobEvery === 0 && jobs < JOBS) || leases >= LEASES) {
        const record: RequestedJob = { id: `job-${String(i).padStart(6, '0')}`, body, status: 'completed', createdAt: at, updatedAt: at + 500, replicas: [], exitCode: 0, verified: true }
        writes.push(records.putRequested(record))
        jobs++
      } else {
        const record: LeaseRecord = {
          leaseId: `lease-${String(i).padStart(6, '0')}`, requester: node.peerId, startedAt: at, endedAt: at + 900,
          tasks: 40, refused: 0, fuel: '123456789', amount: 40, paid: 40, reason: i % 10 === 0 ? 'ERR_ACK_TIMEOUT' : 'closed'
        }
        await records.putLease(record)
        leases++
      }
      if (writes.length >= 1000) await Promise.all(writes.splice(0))
    }
    await Promise.all(writes)

    const rows: Array<Array<string | number>> = []
    for (const [what, query] of [
      ['requester page alone (baseline)', '?role=requester&limit=30'],
      ['both roles, newest 30', '?limit=30'],
      ['worker only, newest 30', '?role=worker&limit=30'],
      ['worker only, failed, newest 30', '?role=worker&status=failed&limit=30'],
      ['both roles, newest 1000', '?limit=1000']
    ] as const) {
      let decoded = 0
      let shown = 0
      let matched = 0
      const times = await sample(RUNS, async () => {
        records.recordsDecoded = 0
        const answer = await call(port, `/v1/jobs${query}`, { headers: AUTH })
        if (answer.status !== 200) throw new Error(`GET /v1/jobs${query}: ${answer.status} ${answer.text}`)
        decoded = records.recordsDecoded
        shown = answer.json.jobs.length
        matched = answer.json.total
      })
      rows.push([what, `${shown} of ${matched}`, decoded, formatMs(median(times))])
    }
    console.log(`${await machine()}`)
    console.log(`${leases.toLocaleString('en-US')} served-lease records, ${jobs.toLocaleString('en-US')} requested jobs, LevelDB on disk; median of ${RUNS}`)
    printTable(['GET /v1/jobs', 'shown', 'records decoded', 'time'], rows)
  } finally {
    await server.stop()
    await net.stop()
  }
} finally {
  await dir.remove()
}
