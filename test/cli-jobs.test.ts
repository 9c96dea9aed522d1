/**
 * Jobs through the real CLI and API: two daemons (separate processes, real TCP on loopback),
 * one submits, the other runs.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { runCli, startRequesterAndWorker, type DaemonProcess } from './cli-helpers.ts'
import { tempDir, waitFor } from './helpers.ts'

const EXAMPLES = new URL('../examples/', import.meta.url).pathname

describe('depin submit / jobs / job against real daemons', () => {
  let dir: { path: string, remove: () => Promise<void> }
  let requester: DaemonProcess
  let worker: DaemonProcess
  let requesterDir: string
  let workerDir: string
  let workerPeer: string

  beforeAll(async () => {
    dir = await tempDir()
    ;({ requesterDir, workerDir, workerPeer, requester, worker } = await startRequesterAndWorker(dir.path))
  })

  afterAll(async () => {
    await requester?.stop('SIGKILL')
    await worker?.stop('SIGKILL')
    await dir?.remove()
  })

  it('submit --wait prints the output; progress goes to stderr as plain lines off a terminal', async () => {
    const input = join(dir.path, 'text.txt')
    await writeFile(input, 'one two three\nfour five\n')
    const result = await runCli(['submit', join(EXAMPLES, 'wordcount.wasm'), '--input', input, '--wait', '--data-dir', requesterDir])
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout.trim().split(/\s+/).map(Number)).toEqual([2, 5, 24])
    // A quick task is answered before its worker would report it running.
    expect(result.stderr).toMatch(/(accepted by|running on) 12D3KooW/)
    expect(result.stderr).toMatch(/verified/)
  })

  it('submit --wait --json -o writes the output file and prints the result object', async () => {
    const out = join(dir.path, 'mandel.pgm')
    const result = await runCli(['submit', join(EXAMPLES, 'mandelbrot.wasm'), '--arg', '40', '--arg', '20', '--arg', '50', '--wait', '--json', '-o', out, '--data-dir', requesterDir])
    expect(result.code, result.stderr).toBe(0)
    const job = JSON.parse(result.stdout)
    expect(job).toMatchObject({ status: 'completed', exitCode: 0, verified: true, outputBytes: 40 * 20 + 'P5\n40 20\n255\n'.length })
    expect(job.workers.map((w: { peerId: string }) => w.peerId)).toEqual([workerPeer])
    const pgm = await readFile(out)
    expect(pgm.subarray(0, 12).toString('latin1')).toBe('P5\n40 20\n255\n'.slice(0, 12))
    expect(pgm.byteLength).toBe(job.outputBytes)

    const listed = JSON.parse((await runCli(['jobs', '--data-dir', requesterDir, '--json'])).stdout)
    expect(listed.jobs.some((j: { id: string, role: string }) => j.id === job.id && j.role === 'requester')).toBe(true)
    const shown = JSON.parse((await runCli(['job', job.id, '--data-dir', requesterDir, '--json'])).stdout)
    expect(shown.outputCid).toBe(job.outputCid)
  })

  it('jobs shows the cost on the worker\'s side too (what it earned), as --json has it', async () => {
    expect((await runCli(['submit', join(EXAMPLES, 'primes.wasm'), '--arg', '2000', '--wait', '--data-dir', requesterDir])).code).toBe(0)
    const leases = await waitFor(async () => {
      const listed = JSON.parse((await runCli(['jobs', '--role', 'worker', '--json', '--data-dir', workerDir])).stdout) as { jobs: Array<{ id: string, cost?: number }> }
      const paid = listed.jobs.filter((j) => (j.cost ?? 0) > 0)
      return paid.length > 0 ? paid : undefined
    }, { what: 'a lease the worker was paid for' })
    const table = (await runCli(['jobs', '--role', 'worker', '--data-dir', workerDir])).stdout
    const row = table.split('\n').find((l) => l.startsWith(leases[0].id)) as string
    const cost = row.split(/\s{2,}/)[6]
    expect(Number(cost)).toBeCloseTo(leases[0].cost as number, 12)
    // `depin job ID` says the same: its state as the table words it, and what it earned.
    const shown = (await runCli(['job', leases[0].id, '--data-dir', workerDir])).stdout
    expect(shown).toContain(`status:    ${row.split(/\s{2,}/)[3]}`)
    expect(shown).toMatch(new RegExp(`^earned: +${cost} credits?$`, 'm'))
  })

  it('a lease the worker served: job --wait/--follow/-o/--out and cancel say it ran here for the requester', async () => {
    expect((await runCli(['submit', join(EXAMPLES, 'echo.wasm'), '--wait', '--data-dir', requesterDir])).code).toBe(0)
    const listed = JSON.parse((await runCli(['jobs', '--role', 'worker', '--json', '--data-dir', workerDir])).stdout) as { jobs: Array<{ id: string, requester: string }> }
    const lease = listed.jobs[0]
    expect(lease).toBeDefined()
    const ran = `depin: ${lease.id} ran here for a peer: its output went back to ${lease.requester}`
    const at = ['--data-dir', workerDir]
    for (const [flag, word] of [['--wait', 'wait for'], ['--follow', 'follow']]) {
      const result = await runCli(['job', lease.id, flag, ...at])
      expect(result.code, result.stderr).toBe(1)
      expect(result.stdout).toBe('')
      expect(result.stderr.trim()).toMatch(new RegExp(`^${ran.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}; there is nothing to ${word} here \\(it is .+; \`depin job ${lease.id}\` shows it\\)$`))
    }
    const out = join(dir.path, 'lease.out')
    const o = await runCli(['job', lease.id, '-o', out, ...at])
    expect(o.code).toBe(1)
    expect(o.stderr.trim()).toBe(`${ran}; nothing was written to ${out}`)
    const files = await runCli(['job', lease.id, '--out', join(dir.path, 'lease-files'), ...at])
    expect(files.stderr.trim()).toBe(`${ran}; nothing was written to ${join(dir.path, 'lease-files')}`)
    const cancel = await runCli(['cancel', lease.id, ...at])
    expect(cancel.code).toBe(1)
    // (open still, as a lease is for 30 s after its last task; or ended already on a loaded machine)
    expect([
      `depin: ${lease.id} is a lease this node serves for ${lease.requester}: only that requester can cancel its work (\`depin cancel\` on its node); the lease ends when the requester closes it`,
      `depin: ${lease.id} is a lease this node served for ${lease.requester}; it has already ended: there is nothing to cancel`
    ]).toContain(cancel.stderr.trim())
  })

  it('submit without --wait prints the id; job ID shows it once done', async () => {
    const result = await runCli(['submit', join(EXAMPLES, 'primes.wasm'), '--arg', '1000', '--data-dir', requesterDir])
    expect(result.code).toBe(0)
    const id = result.stdout.trim()
    expect(id).toMatch(/^bafy/)
    const shown = await waitFor(async () => {
      const job = JSON.parse((await runCli(['job', id, '--json', '--data-dir', requesterDir])).stdout)
      return job.status === 'completed' ? job : undefined
    }, { what: 'the job to complete' })
    expect(shown.exitCode).toBe(0)
    const out = join(dir.path, 'primes.txt')
    expect((await runCli(['job', id, '-o', out, '--data-dir', requesterDir])).code).toBe(0)
    expect((await readFile(out, 'utf8')).trim()).toBe('168')
  })

  it('a program that exits non-zero: output shown, one error line, non-zero exit', async () => {
    const result = await runCli(['submit', new URL('./fixtures/wasm/exit3.wasm', import.meta.url).pathname, '--wait', '--data-dir', requesterDir])
    expect(result.code).toBe(1)
    expect(result.stderr.trim().split('\n').at(-1)).toMatch(/^depin: job \S+: the program exited with code 3$/)
  })

  it('a job that failed or timed out is never shown as verified, though its replicas agree', async () => {
    const failed = await runCli(['submit', new URL('./fixtures/wasm/exit3.wasm', import.meta.url).pathname, '--wait', '--data-dir', requesterDir])
    expect(failed.code).toBe(1)
    expect(failed.stderr, failed.stderr).toMatch(/Z failed \(the program exited with code 3\)$/m)
    expect(failed.stderr).not.toMatch(/verified/)
    const failedId = failed.stderr.split('\n')[0].replace(/^job /, '')
    expect(JSON.parse((await runCli(['job', failedId, '--json', '--data-dir', requesterDir])).stdout)).toMatchObject({ status: 'failed', verified: true })
    expect((await runCli(['job', failedId, '--data-dir', requesterDir])).stdout).toMatch(/^verified:\s+no \(the job failed; its replicas agree on that\)/m)

    const timedOut = await runCli(['submit', new URL('./fixtures/wasm/loop.wasm', import.meta.url).pathname, '--timeout', '1', '--wait', '--data-dir', requesterDir])
    expect(timedOut.code).toBe(1)
    expect(timedOut.stderr).toMatch(/timed-out/)
    expect(timedOut.stderr).not.toMatch(/verified/)
    const timedOutId = timedOut.stderr.split('\n')[0].replace(/^job /, '')
    expect((await runCli(['job', timedOutId, '--data-dir', requesterDir])).stdout).toMatch(/^verified:\s+no \(the job timed out[;)]/m)
  })

  it('a job nobody can run fails fast with the decline reasons', async () => {
    const result = await runCli(['submit', join(EXAMPLES, 'echo.wasm'), '--max-price', '0', '--wait', '--data-dir', requesterDir])
    expect(result.code).toBe(1)
    const last = result.stderr.trim().split('\n').at(-1) as string
    expect(last).toMatch(/^depin: job \S+ failed: no peer bid/)
    expect(last).toMatch(/price: 1/)
  })

  it('user mistakes: missing module file, bad --env, unknown job', async () => {
    const missing = await runCli(['submit', join(dir.path, 'nope.wasm'), '--data-dir', requesterDir])
    expect(missing.code).toBe(1)
    expect(missing.stderr.trim()).toMatch(/^depin: cannot read module .*nope\.wasm: no such file$/)
    const env = await runCli(['submit', join(EXAMPLES, 'echo.wasm'), '--env', 'NOEQUALS', '--data-dir', requesterDir])
    expect(env.stderr.trim()).toMatch(/^depin: --env takes NAME=VALUE/)
    const unknown = await runCli(['job', 'bafyreidoesnotexist', '--data-dir', requesterDir])
    expect(unknown.code).toBe(1)
    expect(unknown.stderr.trim()).toMatch(/^depin: no job bafyreidoesnotexist$/)
  })

  it('the API refuses uploads without a module and with a malformed spec', async () => {
    const token = (await readFile(join(requesterDir, 'api-token'), 'utf8')).trim()
    const post = async (form: FormData) => await fetch(`http://${requester.api}/v1/jobs`, { method: 'POST', body: form, headers: { authorization: `Bearer ${token}` } })
    const noModule = new FormData()
    noModule.set('spec', '{}')
    const a = await post(noModule)
    expect(a.status).toBe(400)
    expect(((await a.json()) as { error: { code: string } }).error.code).toBe('ERR_MISSING_MODULE')
    const badSpec = new FormData()
    badSpec.set('module', new Blob([new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0])]), 'm.wasm')
    badSpec.set('spec', '{"replicas": ')
    const b = await post(badSpec)
    expect(b.status).toBe(400)
    expect(((await b.json()) as { error: { code: string } }).error.code).toBe('ERR_MALFORMED_JSON')
    const wrongSpec = new FormData()
    wrongSpec.set('module', new Blob([new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0])]), 'm.wasm')
    wrongSpec.set('spec', '{"replicas": 99}')
    const c = await post(wrongSpec)
    expect(c.status).toBe(400)
    const json = await fetch(`http://${requester.api}/v1/jobs`, { method: 'POST', body: '{}', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } })
    expect(json.status).toBe(415)
  })

  it('map runs one task per input file (files and directories), writes each output and results.jsonl, prints a JSON summary', async () => {
    const inputs = join(dir.path, 'map-in')
    await mkdir(inputs)
    for (let i = 0; i < 6; i++) await writeFile(join(inputs, `part-${i}.txt`), `part ${i}\n`)
    const extra = join(dir.path, 'extra.txt')
    await writeFile(extra, 'extra\n')
    const out = join(dir.path, 'map-out')
    const result = await runCli(['map', join(EXAMPLES, 'echo.wasm'), inputs, extra, '--out', out, '--json', '--data-dir', requesterDir])
    expect(result.code, result.stderr).toBe(0)
    const summary = JSON.parse(result.stdout)
    expect(summary).toMatchObject({ tasks: 7, completed: 7, failed: 0, verified: 7 })
    expect(Object.keys(summary).sort()).toEqual(['batchId', 'completed', 'cost', 'failed', 'files', 'fuel', 'seconds', 'tasks', 'tasksPerSecond', 'verified'])
    // The fuel the tasks used, in decimal (it may pass 2^53); echo leaves no output files.
    expect(summary.fuel).toMatch(/^[1-9][0-9]*$/)
    expect(summary.files).toBe(0)
    for (let i = 0; i < 6; i++) expect(await readFile(join(out, `part-${i}.txt.out`), 'utf8')).toBe(`part ${i}\n`)
    expect(await readFile(join(out, 'extra.txt.out'), 'utf8')).toBe('extra\n')
    const lines = (await readFile(join(out, 'results.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l))
    expect(lines.map((l) => l.name).sort()).toEqual(['extra.txt', ...Array.from({ length: 6 }, (_, i) => `part-${i}.txt`)].sort())
    for (const l of lines) expect(l).toMatchObject({ status: 'completed', exitCode: 0, verified: true, workers: [workerPeer] })
    // Off a terminal, progress goes to stderr as plain lines.
    const plain = await runCli(['map', join(EXAMPLES, 'echo.wasm'), extra, '--out', join(dir.path, 'map-out-2'), '--data-dir', requesterDir])
    expect(plain.code, plain.stderr).toBe(0)
    expect(plain.stderr).toMatch(/1\/1 done · 0 failed/)
    expect(plain.stderr).toMatch(/1\/1 completed, 1 verified/)
  })

  it('map: a task that does not complete makes the exit status non-zero, and results.jsonl says why', async () => {
    const input = join(dir.path, 'loop-in.txt')
    await writeFile(input, 'x')
    const out = join(dir.path, 'map-loop')
    const result = await runCli(['map', new URL('./fixtures/wasm/loop.wasm', import.meta.url).pathname, input, '--timeout', '1', '--out', out, '--data-dir', requesterDir])
    expect(result.code).toBe(1)
    expect(result.stderr.trim().split('\n').at(-1)).toMatch(/^depin: 1 of 1 tasks did not complete; see .*results\.jsonl$/)
    const [line] = (await readFile(join(out, 'results.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l))
    expect(line).toMatchObject({ name: 'loop-in.txt', status: 'timed-out', exitCode: -1 })
  })

  it('map: user mistakes get one clear line (missing path, empty directory, --out that is a file, no --out)', async () => {
    const echo = join(EXAMPLES, 'echo.wasm')
    const missing = await runCli(['map', echo, join(dir.path, 'nope'), '--out', join(dir.path, 'o1'), '--data-dir', requesterDir])
    expect(missing.code).toBe(1)
    expect(missing.stderr.trim()).toMatch(/^depin: no such file or directory: .*nope$/)
    const empty = join(dir.path, 'empty-dir')
    await mkdir(empty)
    const none = await runCli(['map', echo, empty, '--out', join(dir.path, 'o2'), '--data-dir', requesterDir])
    expect(none.code).toBe(1)
    expect(none.stderr.trim()).toMatch(/^depin: .*empty-dir has no files in it$/)
    const file = join(dir.path, 'a-file')
    await writeFile(file, 'x')
    const notDir = await runCli(['map', echo, file, '--out', file, '--data-dir', requesterDir])
    expect(notDir.code).toBe(1)
    expect(notDir.stderr.trim()).toMatch(/^depin: --out .*a-file exists and is not a directory$/)
    const noOut = await runCli(['map', echo, file, '--data-dir', requesterDir])
    expect(noOut.code).not.toBe(0)
    expect(noOut.stderr).toMatch(/--out/)
  })
})
