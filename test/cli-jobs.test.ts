/**
 * Jobs through the real CLI and API: two daemons (separate processes, real TCP on loopback),
 * one submits, the other runs.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { runCli, startDaemonProcess, type DaemonProcess } from './cli-helpers.ts'
import { tempDir, waitFor } from './helpers.ts'
import { testnetGenesis } from '../src/node/testnet.ts'

const EXAMPLES = new URL('../examples/', import.meta.url).pathname

describe('depin submit / jobs / job against real daemons', () => {
  let dir: { path: string, remove: () => Promise<void> }
  let requester: DaemonProcess
  let worker: DaemonProcess
  let requesterDir: string
  let workerPeer: string

  beforeAll(async () => {
    dir = await tempDir()
    requesterDir = join(dir.path, 'requester')
    const workerDir = join(dir.path, 'worker')
    const peers: string[] = []
    for (const d of [requesterDir, workerDir]) {
      const init = await runCli(['init', '--data-dir', d, '--json'])
      expect(init.code).toBe(0)
      peers.push(JSON.parse(init.stdout).peerId)
    }
    // Both on one network whose genesis gives them credits (as `depin testnet` does).
    const network = testnetGenesis(peers)
    for (const d of [requesterDir, workerDir]) {
      const config = JSON.parse(await readFile(join(d, 'config.json'), 'utf8'))
      await writeFile(join(d, 'config.json'), JSON.stringify({ ...config, network }))
    }
    worker = await startDaemonProcess(workerDir, ['--listen', '/ip4/127.0.0.1/tcp/0', '--api', '127.0.0.1:0'])
    const info = JSON.parse(await readFile(join(workerDir, 'api.json'), 'utf8'))
    workerPeer = info.peerId
    requester = await startDaemonProcess(requesterDir, ['--listen', '/ip4/127.0.0.1/tcp/0', '--api', '127.0.0.1:0', '--bootstrap', info.multiaddrs[0], '--slots', '0'])
    await waitFor(async () => {
      const capacity = JSON.parse((await runCli(['capacity', '--data-dir', requesterDir, '--json'])).stdout)
      return capacity.peers.some((p: { peerId: string }) => p.peerId === workerPeer)
    }, { timeoutMs: 60_000, what: 'the requester to find the worker' })
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
    expect(result.stderr).toMatch(/running on 12D3KooW/)
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
    expect(missing.stderr.trim()).toMatch(/^depin: cannot read module .*nope\.wasm: ENOENT$/)
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
})
