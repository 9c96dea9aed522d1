/**
 * The operator-surface review's CLI findings through the real `depin` binary: worker-chosen text
 * in progress lines (#2), `map` that prints its batch id, says how to find it on Ctrl-C and when
 * the daemon stops, `depin batches` and `depin cancel BATCH` (#3), option combinations that are
 * command-line mistakes (#11), and `submit --wait` / `job --follow` while the daemon stops (#13).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { BIN, runCli, startDaemonProcess, type DaemonProcess } from './cli-helpers.ts'
import { tempDir, waitFor } from './helpers.ts'
import { startApi, TOKEN } from './api-helpers.ts'
import { waitForCapacity } from './jobs-helpers.ts'
import { describe as describeEvent } from '../src/cli/progress.ts'
import { createTestnet } from '../src/node/testnet.ts'
import { createNodeMetrics } from '../src/node/metrics/index.ts'
import type { Executor } from '../src/scheduler/executor/index.ts'

const EXAMPLES = new URL('../examples/', import.meta.url).pathname
// eslint-disable-next-line no-control-regex
const RAW_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/

/** A `depin` command running in the background: its output so far, and its exit. */
interface Background { child: ChildProcess, stdout: () => string, stderr: () => string, exited: Promise<number | null> }

function background (args: string[], env: Record<string, string> = {}): Background {
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout?.setEncoding('utf8').on('data', (d) => { stdout += d })
  child.stderr?.setEncoding('utf8').on('data', (d) => { stderr += d })
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => { resolve(code) }))
  return { child, stdout: () => stdout, stderr: () => stderr, exited }
}

describe('command-line mistakes in option combinations (exit 2, nothing sent)', () => {
  it('jobs --older-than without --prune, jobs --prune with a listing option, job --wait --follow', async () => {
    const cases: Array<[string[], string]> = [
      [['jobs', '--older-than', '1d'], 'depin: --older-than goes with --prune'],
      [['jobs', '--prune', '--limit', '3'], 'depin: --prune does not take --status, --role or --limit'],
      [['jobs', '--prune', '--status', 'active'], 'depin: --prune does not take --status, --role or --limit'],
      [['jobs', '--prune', '--role', 'worker'], 'depin: --prune does not take --status, --role or --limit'],
      [['job', 'bafyreisomejob', '--wait', '--follow'], 'depin: use --wait or --follow, not both']
    ]
    // (no daemon at that address: a mistake is found before any request)
    for (const [args, message] of cases) {
      const result = await runCli([...args, '--api', '127.0.0.1:9'], { env: { DEPIN_API_TOKEN: 'x' } })
      expect(result.stderr.trim(), args.join(' ')).toBe(message)
      expect(result.code, args.join(' ')).toBe(2)
    }
  })
})

describe('cancel of a lease this node served', () => {
  it('one that ended says it has ended (it said the node serves it and the requester ends it)', async () => {
    const net = await createTestnet({ nodes: 1, transport: 'memory' })
    const { server, port } = await startApi(net.nodes[0], createNodeMetrics({ libp2p: false }))
    try {
      const requester = '12D3KooWBSNUWRbaR7hXC3rVfLGY1z6pD9kNRhyc6gEsnoowTmhc'
      await net.nodes[0].scheduler.records.putLease({ leaseId: 'bafyendedlease', requester, startedAt: Date.now() - 60_000, endedAt: Date.now() - 1000, tasks: 2, refused: 0, fuel: '100', amount: 1, paid: 1, reason: 'closed' })
      const cancel = await runCli(['cancel', 'bafyendedlease', '--api', `127.0.0.1:${port}`], { env: { DEPIN_API_TOKEN: TOKEN } })
      expect(cancel.code).toBe(1)
      expect(cancel.stderr).toBe(`depin: bafyendedlease is a lease this node served for ${requester}; it has already ended: there is nothing to cancel\n`)
    } finally {
      await server.stop()
      await net.stop()
    }
  })
})

describe('progress lines escape what a peer chose', () => {
  it('a waiting reason, a stage word and a detail are printed inert', () => {
    const at = 0
    expect(describeEvent({ jobId: 'j', stage: 'waiting', detail: 'no worker\x1b[2K\rcompleted', at })).toBe('waiting: no worker\\u001b[2K\\rcompleted')
    expect(describeEvent({ jobId: 'j', stage: 'odd\x1b]0;t\x07', at })).not.toMatch(RAW_CONTROL)
    expect(describeEvent({ jobId: 'j', stage: 'retry', peerId: '12D3KooWabc', detail: 'ERR_X: \x1b[1;32mok', at })).toBe('retrying after a failure on 12D3KooWabc (ERR_X: \\u001b[1;32mok)')
  })

  it('submit --wait and job --follow show a worker\'s task-error message escaped (the review\'s evil worker)', async () => {
    const evil = '\x1b]0;PWNED window title\x1b\\\x1b[2K\r\x1b[1;32mcompleted · verified (forged by the worker)\x1b[0m\x1b[8m hidden'
    const executor = { start: async () => {}, stop: async () => {}, run: async () => { throw Object.assign(new Error(evil), { code: 'ERR_X' }) } } as unknown as Executor
    const net = await createTestnet({ nodes: 2, nodeInit: (i) => i === 0 ? { capacity: { slots: 0 } } : { executor } })
    const { server, port } = await startApi(net.nodes[0], createNodeMetrics({ libp2p: false }))
    const env = { DEPIN_API_TOKEN: TOKEN }
    const running: Background[] = []
    try {
      await waitForCapacity(net.nodes[0], 1)
      const wait = background(['submit', join(EXAMPLES, 'primes.wasm'), '--arg', '10', '--wait', '--api', `127.0.0.1:${port}`], env)
      running.push(wait)
      const id = (await waitFor(() => /^job (\S+)/m.exec(wait.stderr()) ?? undefined, { what: 'the job id' }))[1]
      const follow = background(['job', id, '--follow', '--api', `127.0.0.1:${port}`], env)
      running.push(follow)
      await waitFor(() => wait.stderr().includes('retrying after a failure') && follow.stdout().includes('retrying after a failure'), { timeoutMs: 60_000, what: 'the worker\'s failure in both' })
      for (const text of [wait.stderr(), follow.stdout()]) {
        expect(text).not.toMatch(RAW_CONTROL)
        expect(text).toContain('ERR_X: \\u001b]0;PWNED window title\\u001b\\\\u001b[2K\\r\\u001b[1;32mcompleted')
      }
    } finally {
      for (const b of running) { b.child.kill('SIGKILL'); await b.exited }
      await server.stop()
      await net.stop()
    }
  })
})

describe('map, batches, cancel and waiting commands on a daemon that stops', () => {
  let dir: { path: string, remove: () => Promise<void> }
  let dataDir: string
  let inputs: string
  let daemon: DaemonProcess
  const running: Background[] = []

  beforeAll(async () => {
    dir = await tempDir()
    dataDir = join(dir.path, 'node')
    inputs = join(dir.path, 'inputs')
    await mkdir(inputs)
    for (const name of ['a.txt', 'b.txt']) await writeFile(join(inputs, name), `${name}\n`)
    expect((await runCli(['init', '--data-dir', dataDir])).code).toBe(0)
    // No slots and no peers: every job and task waits for workers until it is cancelled.
    daemon = await startDaemonProcess(dataDir, ['--listen', '/ip4/127.0.0.1/tcp/0', '--api', '127.0.0.1:0', '--slots', '0'])
  })

  afterAll(async () => {
    for (const b of running) { b.child.kill('SIGKILL'); await b.exited }
    await daemon?.stop('SIGKILL')
    await dir?.remove()
  })

  const startMap = async (out: string, json = false): Promise<{ map: Background, id: string }> => {
    const map = background(['map', join(EXAMPLES, 'echo.wasm'), inputs, '--out', join(dir.path, out), ...(json ? ['--json'] : []), '--data-dir', dataDir])
    running.push(map)
    const id = (await waitFor(() => /^batch (\S+) \(2 tasks\)$/m.exec(map.stderr()) ?? undefined, { what: 'map to print the batch id' }))[1]
    return { map, id }
  }

  it('map prints the batch id once accepted; Ctrl-C says how to follow and cancel it and exits 130; batches lists it; cancel takes it', async () => {
    const { map, id } = await startMap('out1')
    map.child.kill('SIGINT')
    // (stderr and the signal in the message: a fresh-clone run once saw this exit by the signal, not 130)
    expect(await map.exited, `${map.child.signalCode ?? ''} ${map.stderr()}`).toBe(130)
    expect(map.stdout()).toBe('')
    expect(map.stderr()).toMatch(new RegExp(`^batch ${id} goes on without this command \\(.+ so far\\)\\.\\n  follow it:  depin batch ${id} --out ${join(dir.path, 'out1')}\\n  cancel it:  depin cancel ${id}\\n$`, 'm'))

    const listed = await runCli(['batches', '--data-dir', dataDir])
    expect(listed.code, listed.stderr).toBe(0)
    expect(listed.stdout).toMatch(/^BATCH\s+STATUS\s+DONE\s+COMPLETED\s+NOT COMPLETED\s+VERIFIED\s+COST\s+SUBMITTED$/m)
    expect(listed.stdout).toMatch(new RegExp(`^${id}\\s+running.*\\s+0/2\\s+0\\s+0\\s+0\\s+0\\s+\\S+ s ago$`, 'm'))
    const json = JSON.parse((await runCli(['batches', '--json', '--data-dir', dataDir])).stdout)
    expect(json.batches.map((b: { id: string }) => b.id)).toEqual([id])

    const cancel = await runCli(['cancel', id, '--data-dir', dataDir])
    expect(cancel.code, cancel.stderr).toBe(0)
    expect(cancel.stdout.trim()).toBe(`batch ${id} cancelled (0 of 2 tasks had completed)`)
    await waitFor(async () => JSON.parse((await runCli(['batch', id, '--json', '--data-dir', dataDir])).stdout).status !== 'running', { what: 'the batch to end' })
    const again = await runCli(['cancel', id, '--data-dir', dataDir])
    expect(again.code).toBe(1)
    expect(again.stderr.trim()).toBe(`depin: batch ${id} has already ended`)
    const unknown = await runCli(['cancel', 'bafyreinosuchthing', '--data-dir', dataDir])
    expect(unknown.code).toBe(1)
    expect(unknown.stderr.trim()).toBe('depin: no job or batch bafyreinosuchthing')
  })

  it('map --json: stdout stays one summary object (nothing on Ctrl-C), stderr still says where the batch is', async () => {
    const map = background(['map', join(EXAMPLES, 'echo.wasm'), inputs, '--out', join(dir.path, 'out2'), '--json', '--data-dir', dataDir])
    running.push(map)
    // Quiet progress: the batch shows up on the daemon.
    const id = await waitFor(async () => (JSON.parse((await runCli(['batches', '--json', '--data-dir', dataDir])).stdout).batches as Array<{ id: string, status: string }>).find((b) => b.status === 'running')?.id, { what: 'the second batch' })
    map.child.kill('SIGINT')
    expect(await map.exited).toBe(130)
    expect(map.stdout()).toBe('')
    expect(map.stderr()).toContain(`batch ${id} goes on without this command`)
    expect((await runCli(['cancel', id, '--data-dir', dataDir])).code).toBe(0)
  })

  it('SIGHUP (the terminal closed) ends submit --wait and map as Ctrl-C does: each says where its work goes on and exits 129', async () => {
    const submit = background(['submit', join(EXAMPLES, 'echo.wasm'), '--wait', '--data-dir', dataDir])
    running.push(submit)
    const jobId = (await waitFor(() => /^job (\S+)/m.exec(submit.stderr()) ?? undefined, { what: 'submit to print the job id' }))[1]
    submit.child.kill('SIGHUP')
    expect(await submit.exited, submit.stderr()).toBe(129)
    expect(submit.stderr()).toMatch(new RegExp(`job ${jobId} goes on without this command \\(.+ so far\\)\\.\\n  follow it:  depin job ${jobId} --follow\\n  cancel it:  depin cancel ${jobId}\\n$`))
    const { map, id } = await startMap('out-hup')
    map.child.kill('SIGHUP')
    expect(await map.exited, map.stderr()).toBe(129)
    expect(map.stderr()).toContain(`batch ${id} goes on without this command`)
    // The work went on in the daemon.
    for (const what of [jobId, id]) expect((await runCli(['cancel', what, '--data-dir', dataDir])).code).toBe(0)
  })

  it('submit --wait, job --follow and map say the daemon stopped (and how to go on), exit 1, when it stops under them', async () => {
    const submit = background(['submit', join(EXAMPLES, 'echo.wasm'), '--wait', '--data-dir', dataDir])
    running.push(submit)
    const jobId = (await waitFor(() => /^job (\S+)/m.exec(submit.stderr()) ?? undefined, { what: 'submit to print the job id' }))[1]
    const follow = background(['job', jobId, '--follow', '--data-dir', dataDir])
    running.push(follow)
    await waitFor(() => follow.stdout().includes('queued'), { what: 'job --follow to show the job queued' })
    const { map, id: batchId } = await startMap('out3')

    const stop = await runCli(['stop', '--data-dir', dataDir])
    expect(stop.code, stop.stderr).toBe(0)
    const lastLine = (b: Background): string | undefined => b.stderr().trim().split('\n').at(-1)
    const jobLine = `depin: the daemon stopped while job ${jobId} was running; it resumes when the node starts again (\`depin job ${jobId} --wait\`)`
    expect(await submit.exited, submit.stderr()).toBe(1)
    expect(lastLine(submit)).toBe(jobLine)
    expect(await follow.exited, follow.stderr()).toBe(1)
    expect(follow.stderr().trim()).toBe(jobLine)
    expect(await map.exited, map.stderr()).toBe(1)
    expect(lastLine(map)).toMatch(new RegExp(`^depin: the daemon stopped reporting batch ${batchId} before it ended \\(0 of 2 tasks in .*results\\.jsonl\\); it resumes when the node starts again: follow it with \`depin batch ${batchId} --out ${join(dir.path, 'out3')}\`$`))
  })
})

describe('Ctrl-C while submit or map is still uploading', () => {
  it('says no job or batch starts from an unfinished upload and exits 130 (the daemon never got the whole upload)', async () => {
    const dir = await tempDir()
    // A daemon that reads nothing and never answers: the upload stays in progress.
    const seen: Array<{ url: string, ended: boolean }> = []
    const server = createServer((req) => {
      const entry = { url: req.url ?? '', ended: false }
      seen.push(entry)
      req.on('end', () => { entry.ended = true })
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const api = `127.0.0.1:${(server.address() as AddressInfo).port}`
    try {
      const inputs = join(dir.path, 'inputs')
      await mkdir(inputs)
      // Bigger than the socket buffers, so the upload cannot finish while nobody reads it.
      await writeFile(join(inputs, 'big.bin'), new Uint8Array(16 * 2 ** 20))
      const cases: Array<{ args: string[], what: string, list: string }> = [
        { args: ['map', join(EXAMPLES, 'echo.wasm'), inputs, '--out', join(dir.path, 'out')], what: 'batch', list: 'batches' },
        { args: ['submit', join(EXAMPLES, 'echo.wasm'), '--input', join(inputs, 'big.bin')], what: 'job', list: 'jobs' }
      ]
      for (const [i, c] of cases.entries()) {
        const command = background([...c.args, '--api', api], { DEPIN_API_TOKEN: TOKEN })
        await waitFor(() => seen.length > i, { what: `${c.args[0]} to start uploading` })
        command.child.kill('SIGINT')
        expect(await command.exited, command.stderr()).toBe(130)
        expect(command.stdout()).toBe('')
        expect(command.stderr()).toBe(`depin: interrupted while uploading the ${c.what}; the daemon starts no ${c.what} from an unfinished upload (had the upload just finished, \`depin ${c.list}\` lists it)\n`)
        expect(seen[i].ended).toBe(false)
      }
    } finally {
      server.closeAllConnections()
      server.close()
      await dir.remove()
    }
  })
})
