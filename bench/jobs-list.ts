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
 * 2026-11-28 (2 cores (AMD EPYC), Node 24.21, load average 9-10 from other work: the times are
 * rough, the records decoded are exact). Before: main at f8c0129, where a page read and decoded
 * every served-lease record (its `recordsDecoded` counted job records only: the leases' decodes,
 * all of them, are not in the column); after: the served leases' time index (lease-store.ts).
 *
 *   5,000 leases, 2,000 jobs              before: decoded  time      after: decoded  time
 *   requester page alone (baseline)       30 (+0)      14.5-27 ms          30       15-17 ms
 *   both roles, newest 30                 30 (+5,000)  78-85 ms            30       30-50 ms
 *   worker only, newest 30                 0 (+5,000)  58-110 ms           30       21-29 ms
 *   worker only, failed, newest 30         0 (+5,000)  54-104 ms           30       19-24 ms
 *   both roles, newest 1000             1000 (+5,000)  247-250 ms        1000       50-71 ms
 *
 *   20,000 leases, 2,000 jobs
 *   both roles, newest 30                 30 (+20,000) 262-354 ms          30       112-167 ms
 *   worker only, newest 30                 0 (+20,000) 172-326 ms          30       72-107 ms
 *
 * What remained grew with the records kept: `total` counted every match, from the index entries
 * alone. Since: entries older than 10 minutes are counted once (node/api/jobs-count.ts) and again
 * only after a write changed one of them; a page reads the recent entries and its own. The
 * bench's records are one a second, so "recent" is ~600 of them. Index entries read per listing
 * (the most, the first listing's walk, / the median of 7) and the median time:
 *
 *   2026-11-28, 20,000 leases, 2,000 jobs   before: entries read   time        after: entries read  time
 *   requester page alone (baseline)         2,000 / 2,000    13-18 ms       22,055 / 55       3.7-6.5 ms
 *   both roles, newest 30                  22,000 / 22,000   93-97 ms          601 / 601      8.2 ms
 *   worker only, newest 30                 20,000 / 20,000   74-83 ms          546 / 546      4.5-5.3 ms
 *   worker only, failed, newest 30         20,000 / 20,000   75-94 ms          546 / 546      4.4-5.1 ms
 *   both roles, newest 1000                22,000 / 22,000   117-137 ms      1,002 / 1,002    39-69 ms
 *
 * (the after column's first listing, the baseline row, walks both roles' entries once: 22,055.)
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
      const read: number[] = []
      const times = await sample(RUNS, async () => {
        records.recordsDecoded = 0
        records.indexEntriesRead = 0
        const answer = await call(port, `/v1/jobs${query}`, { headers: AUTH })
        if (answer.status !== 200) throw new Error(`GET /v1/jobs${query}: ${answer.status} ${answer.text}`)
        decoded = records.recordsDecoded
        read.push(records.indexEntriesRead)
        shown = answer.json.jobs.length
        matched = answer.json.total
      })
      rows.push([what, `${shown} of ${matched}`, decoded, `${Math.max(...read)} / ${median(read)}`, formatMs(median(times))])
    }
    console.log(`${await machine()}`)
    console.log(`${leases.toLocaleString('en-US')} served-lease records, ${jobs.toLocaleString('en-US')} requested jobs, LevelDB on disk; median of ${RUNS}`)
    printTable(['GET /v1/jobs', 'shown', 'records decoded', 'index entries read (most / median)', 'time'], rows)
  } finally {
    await server.stop()
    await net.stop()
  }
} finally {
  await dir.remove()
}
