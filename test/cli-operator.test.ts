/**
 * The operator's commands through the real `depin` binary against real daemon processes:
 * version, config show/set, start from environment variables with metrics and a JSON log file,
 * stop, two starts on one data dir, a data dir whose default API port belongs to another node,
 * local module checks, cancel, `job -o` on a job without output, the dashboard's address.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { spawn } from 'node:child_process'
import { readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { BIN, runCli, startDaemonProcess, type DaemonProcess } from './cli-helpers.ts'
import { tempDir, waitFor } from './helpers.ts'
import { readApiInfo } from '../src/node/data-dir.ts'

const EXAMPLES = new URL('../examples/', import.meta.url).pathname
const PKG = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }

function oneLine (result: { code: number | null, stderr: string }, pattern: RegExp): void {
  expect(result.code, result.stderr).not.toBe(0)
  const lines = result.stderr.trim().split('\n')
  expect(lines, result.stderr).toHaveLength(1)
  expect(lines[0]).toMatch(pattern)
}

describe('depin version', () => {
  it('prints package.json\'s version with `version` and `--version`', async () => {
    expect((await runCli(['version'])).stdout.trim()).toBe(PKG.version)
    expect((await runCli(['--version'])).stdout.trim()).toBe(PKG.version)
    expect(JSON.parse((await runCli(['version', '--json'])).stdout)).toMatchObject({ version: PKG.version, node: process.version })
  })
})

describe('depin config', () => {
  let dir: { path: string, remove: () => Promise<void> }
  beforeAll(async () => { dir = await tempDir() })
  afterAll(async () => { await dir?.remove() })

  it('shows the configuration and sets keys, validated as the node reads them', async () => {
    const dataDir = join(dir.path, 'cfg')
    expect((await runCli(['init', '--data-dir', dataDir])).code).toBe(0)
    const set = await runCli(['config', 'set', 'capacity.cores', '3', '--data-dir', dataDir])
    expect(set.code, set.stderr).toBe(0)
    expect(set.stdout).toMatch(/set capacity\.cores/)
    expect((await runCli(['config', 'set', 'log.format', 'json', '--data-dir', dataDir])).code).toBe(0)
    const shown = JSON.parse((await runCli(['config', 'show', '--json', '--data-dir', dataDir])).stdout)
    expect(shown.capacity.cores).toBe(3)
    expect(shown.log).toEqual({ level: 'info', format: 'json' })
    const table = (await runCli(['config', 'show', '--data-dir', dataDir])).stdout
    expect(table).toMatch(/capacity\.cores\s+3\s+config\.json/)
    // Slots default to the cores set, not to the machine's (the node starts with 3 slots).
    expect(table).toMatch(/^capacity\.slots\s+3 \(= cores\)\s+default$/m)
    expect(table).toMatch(/metrics\s+-\s+default/)
    expect((await runCli(['config', 'unset', 'log.format', '--data-dir', dataDir])).code).toBe(0)
    expect(JSON.parse((await runCli(['config', 'show', '--json', '--data-dir', dataDir])).stdout).log.format).toBe('text')
  })

  it('show fills in the capacity the node would use, and shows a legacy price key as set in config.json', async () => {
    const dataDir = join(dir.path, 'cfg-defaults')
    expect((await runCli(['init', '--data-dir', dataDir])).code).toBe(0)
    const table = (await runCli(['config', 'show', '--data-dir', dataDir])).stdout
    expect(table).toMatch(/^capacity\.cores\s+\d+ \(all cores\)\s+default$/m)
    expect(table).toMatch(/^capacity\.memoryMiB\s+\d+ \(half of total memory, at most what is free at start\)\s+default$/m)
    expect(table).toMatch(/^capacity\.pricePerGigafuel\s+1\s+default$/m)
    expect(table).toMatch(/^capacity\.slots\s+\d+ \(= cores\)\s+default$/m)
    const config = JSON.parse(await readFile(join(dataDir, 'config.json'), 'utf8'))
    await writeFile(join(dataDir, 'config.json'), JSON.stringify({ ...config, capacity: { pricePerCpuSecond: 3 } }))
    expect((await runCli(['config', 'show', '--data-dir', dataDir])).stdout).toMatch(/^capacity\.pricePerGigafuel\s+3\s+config\.json \(as pricePerCpuSecond\)$/m)
  })

  it('refuses an unknown key or a bad value with one line, and leaves config.json as it was', async () => {
    const dataDir = join(dir.path, 'cfg2')
    await runCli(['init', '--data-dir', dataDir])
    const before = await readFile(join(dataDir, 'config.json'), 'utf8')
    oneLine(await runCli(['config', 'set', 'capacity.gpus', '1', '--data-dir', dataDir]), /^depin: unknown config key "capacity\.gpus"; keys: listen, /)
    oneLine(await runCli(['config', 'set', 'capacity.cores', 'lots', '--data-dir', dataDir]), /^depin: capacity\.cores takes an integer, got "lots"$/)
    oneLine(await runCli(['config', 'set', 'capacity.cores', '0', '--data-dir', dataDir]), /^depin: config value capacity\.cores: capacity\.cores: /)
    oneLine(await runCli(['config', 'set', 'api', '192.168.1.2:4101', '--data-dir', dataDir]), /api: must be HOST:PORT on a loopback host/)
    oneLine(await runCli(['config', 'set', 'listen', 'nonsense', '--data-dir', dataDir]), /listen\.0: not a valid multiaddr/)
    oneLine(await runCli(['config', 'set', 'mine', '1', '--data-dir', join(dir.path, 'absent')]), /^depin: data directory .*absent does not exist; run `depin init/)
    expect(await readFile(join(dataDir, 'config.json'), 'utf8')).toBe(before)
  })
})

describe('a daemon started from the environment', () => {
  let dir: { path: string, remove: () => Promise<void> }
  let dataDir: string
  let daemon: DaemonProcess
  let logFile: string

  beforeAll(async () => {
    dir = await tempDir()
    dataDir = join(dir.path, 'node')
    logFile = join(dir.path, 'logs', 'node.log')
    await runCli(['init', '--data-dir', dataDir])
    const child = spawn(process.execPath, [BIN, 'start', '--data-dir', dataDir], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        DEPIN_LISTEN: '/ip4/127.0.0.1/tcp/0',
        DEPIN_API: '127.0.0.1:0',
        DEPIN_MDNS: 'false',
        DEPIN_CORES: '3',
        DEPIN_PRICE: '4',
        DEPIN_SLOTS: '0',
        DEPIN_METRICS: '127.0.0.1:0',
        DEPIN_LOG_FORMAT: 'json',
        DEPIN_LOG_FILE: logFile
      }
    })
    let output = ''
    child.stdout.setEncoding('utf8').on('data', (d) => { output += d })
    child.stderr.setEncoding('utf8').on('data', (d) => { output += d })
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => { resolve(code) }))
    const info = await waitFor(async () => {
      if (child.exitCode != null) throw new Error(output)
      const i = await readApiInfo(dataDir)
      return i?.pid === child.pid ? i : undefined
    }, { what: 'the daemon to start' })
    daemon = { child, api: info.api, output: () => output, stop: async (signal = 'SIGTERM') => { if (child.exitCode == null) child.kill(signal); return await exited } }
  })

  afterAll(async () => {
    await daemon?.stop('SIGKILL')
    await dir?.remove()
  })

  it('took its options from DEPIN_* variables', async () => {
    const status = JSON.parse((await runCli(['status', '--json', '--data-dir', dataDir])).stdout)
    expect(status.capacity).toMatchObject({ cores: 3, pricePerGigafuel: 4, slots: 0 })
    expect(status.version).toBe(PKG.version)
  })

  it('serves /metrics without a token on the --metrics listener, and only there', async () => {
    const info = await readApiInfo(dataDir)
    expect(info?.metrics).toMatch(/^127\.0\.0\.1:\d+$/)
    const open = await fetch(`http://${info?.metrics}/metrics`)
    expect(open.status).toBe(200)
    const text = await open.text()
    expect(text).toMatch(/^depin_capacity_cores 3$/m)
    expect(text).toMatch(/^# TYPE libp2p_/m)
    expect((await fetch(`http://${info?.metrics}/v1/status`)).status).toBe(404)
    // The API's own /metrics wants the token.
    expect((await fetch(`http://${daemon.api}/metrics`)).status).toBe(401)
  })

  it('writes its operator log as JSON lines with time and level into --log-file', async () => {
    const lines = (await readFile(logFile, 'utf8')).trim().split('\n').map((l) => JSON.parse(l))
    expect(lines[0]).toMatchObject({ level: 'info', msg: expect.stringMatching(/^depin node 12D3KooW\S+ started$/) })
    expect(new Date(lines[0].time).getTime()).toBeGreaterThan(Date.now() - 600_000)
    expect(lines.some((l) => l.msg === 'metrics for Prometheus (no token)')).toBe(true)
    expect(daemon.output()).toBe('')
  })

  it('refuses a second start on the same data dir with a clear error', async () => {
    oneLine(await runCli(['start', '--data-dir', dataDir, '--no-mdns', '--listen', '/ip4/127.0.0.1/tcp/0', '--api', '127.0.0.1:0']),
      /^depin: data directory .*node is in use by another running depin node \(pid \d+, API 127\.0\.0\.1:\d+\); stop it first/)
  })

  it('checks a module locally: not WebAssembly, or too big, is refused without uploading', async () => {
    const text = join(dir.path, 'notes.txt')
    await writeFile(text, 'just some text\n')
    // A mistyped path says so in words, not as an errno code.
    oneLine(await runCli(['submit', join(dir.path, 'nope.wasm'), '--data-dir', dataDir]), /^depin: cannot read module .*nope\.wasm: no such file$/)
    oneLine(await runCli(['submit', join(EXAMPLES, 'echo.wasm'), '--input', join(dir.path, 'nope.txt'), '--data-dir', dataDir]), /^depin: cannot read input .*nope\.txt: no such file$/)
    oneLine(await runCli(['submit', text, '--data-dir', dataDir]), /^depin: module .*notes\.txt is not a WebAssembly binary; nothing was uploaded$/)
    const big = join(dir.path, 'big.wasm')
    await writeFile(big, Buffer.concat([Buffer.from([0, 97, 115, 109, 1, 0, 0, 0]), Buffer.alloc(64 * 1024 * 1024 + 1)]))
    oneLine(await runCli(['submit', big, '--data-dir', dataDir]), /^depin: module .*big\.wasm is 67108873 bytes; the limit is 67108864 \(64 MiB\); nothing was uploaded$/)
    const garbage = join(dir.path, 'garbage.wasm')
    await writeFile(garbage, Buffer.concat([Buffer.from([0, 97, 115, 109, 1, 0, 0, 0]), Buffer.from('this is no section at all')]))
    oneLine(await runCli(['submit', garbage, '--data-dir', dataDir]), /^depin: module .*garbage\.wasm is not a valid WebAssembly module \(.+\); nothing was uploaded$/)
    oneLine(await runCli(['map', garbage, text, '--out', join(dir.path, 'map-out'), '--data-dir', dataDir]), /^depin: module .*garbage\.wasm is not a valid WebAssembly module \(.+\); nothing was uploaded$/)
    const metrics = await (await fetch(`http://${(await readApiInfo(dataDir))?.metrics}/metrics`)).text()
    expect(metrics).not.toMatch(/depin_api_uploads_refused_total\{/)
    expect(metrics).not.toMatch(/depin_job_bytes_total\{direction="received",kind="module"\} [1-9]/)
  })

  it('submit -o: alone it is a usage error (exit 2); a path that cannot be a file is refused before anything is uploaded', async () => {
    const echo = join(EXAMPLES, 'echo.wasm')
    const alone = await runCli(['submit', echo, '-o', join(dir.path, 'alone.out'), '--data-dir', dataDir])
    oneLine(alone, /^depin: -o\/--output needs --wait or --out \(without them submit prints the job id and returns; later: depin job ID -o FILE\)$/)
    expect(alone.code).toBe(2)
    await writeFile(join(dir.path, 'a-file'), 'x')
    oneLine(await runCli(['submit', echo, '--wait', '-o', join(dir.path, 'no-such-dir', 'out.bin'), '--data-dir', dataDir]), /^depin: -o .*out\.bin: its directory .*no-such-dir does not exist$/)
    oneLine(await runCli(['submit', echo, '--wait', '-o', join(dir.path, 'a-file', 'out.bin'), '--data-dir', dataDir]), /^depin: -o .*out\.bin: its parent .*a-file is not a directory$/)
    oneLine(await runCli(['submit', echo, '--wait', '-o', dir.path, '--data-dir', dataDir]), /^depin: -o .* is a directory; give a file path$/)
    oneLine(await runCli(['job', 'bafyreinosuchjob', '-o', dir.path, '--data-dir', dataDir]), /^depin: -o .* is a directory; give a file path$/)
    const metrics = await (await fetch(`http://${(await readApiInfo(dataDir))?.metrics}/metrics`)).text()
    expect(metrics).not.toMatch(/depin_job_bytes_total\{direction="received",kind="module"\} [1-9]/)
    expect(JSON.parse((await runCli(['jobs', '--json', '--data-dir', dataDir])).stdout).jobs).toEqual([])
  })

  it('cancel: a queued job is cancelled; unknown and finished jobs are one-line errors; job -o says there is no output', async () => {
    // This node offers no slots and has no peers: its job stays queued.
    const id = (await runCli(['submit', join(EXAMPLES, 'echo.wasm'), '--data-dir', dataDir])).stdout.trim()
    const listed = JSON.parse((await runCli(['jobs', '--status', 'queued', '--json', '--data-dir', dataDir])).stdout)
    expect(listed.jobs.map((j: { id: string }) => j.id)).toEqual([id])
    expect(listed.jobs[0].module).toBe('echo.wasm')
    const table = (await runCli(['jobs', '--data-dir', dataDir])).stdout
    expect(table).toMatch(/^JOB\s+MODULE\s+ROLE\s+STATUS/)
    expect(table).toMatch(/echo\.wasm\s+requester\s+queued/)
    oneLine(await runCli(['job', id, '-o', join(dir.path, 'out.bin'), '--data-dir', dataDir]), /^depin: job \S+ is queued; it has no output yet, nothing was written to .*out\.bin \(wait for it: depin job \S+ --wait -o /)
    await expect(stat(join(dir.path, 'out.bin'))).rejects.toThrow()
    const cancel = await runCli(['cancel', id, '--data-dir', dataDir])
    expect(cancel.code, cancel.stderr).toBe(0)
    expect(cancel.stdout.trim()).toBe(`job ${id} cancelled`)
    expect((await runCli(['job', id, '--data-dir', dataDir])).stdout).toMatch(/^status:\s+cancelled/m)
    oneLine(await runCli(['cancel', id, '--data-dir', dataDir]), /^depin: job \S+ has already ended; there is nothing to cancel$/)
    oneLine(await runCli(['cancel', 'bafyreinosuchjob', '--data-dir', dataDir]), /^depin: no job or batch bafyreinosuchjob$/)
    oneLine(await runCli(['job', id, '-o', join(dir.path, 'out.bin'), '--data-dir', dataDir]), /was cancelled before it produced output/)
    expect((await runCli(['jobs', '--status', 'cancelled', '--limit', '1', '--json', '--data-dir', dataDir])).stdout).toContain(id)
  })

  it('prints the dashboard\'s address with the token in the fragment only', async () => {
    const token = (await readFile(join(dataDir, 'api-token'), 'utf8')).trim()
    const url = (await runCli(['dashboard', '--data-dir', dataDir])).stdout.trim()
    expect(url).toBe(`http://${daemon.api}/dashboard/#token=${token}`)
    const page = await fetch(url.split('#')[0])
    expect(page.status).toBe(200)
  })

  it('stops through the API: the daemon logs a clean stop and removes api.json', async () => {
    const result = await runCli(['stop', '--data-dir', dataDir])
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout).toMatch(/^stopped 12D3KooW/)
    expect(await daemon.stop()).toBe(0)
    await expect(stat(join(dataDir, 'api.json'))).rejects.toThrow()
    const lines = (await readFile(logFile, 'utf8')).trim().split('\n').map((l) => JSON.parse(l))
    expect(lines.at(-2)).toMatchObject({ msg: 'stopping', reason: expect.stringMatching(/stop requested through the API/) })
    expect(lines.at(-1)).toMatchObject({ msg: 'stopped' })
  })

  it('stop against a node that is not running is a clear error', async () => {
    // Its config names the default port; whatever answers there (nothing, or another node) is not this node.
    oneLine(await runCli(['stop', '--data-dir', dataDir]), /^depin: the depin node of .*node is not running \((nothing answers at|the API at) 127\.0\.0\.1:4101.*\); start it with `depin start/)
  })
})

describe('two data dirs and one default API port', () => {
  it('says the other data dir\'s node is not running (not "wrong token") when its API port belongs to another node', async () => {
    const dir = await tempDir()
    const first = join(dir.path, 'first')
    const second = join(dir.path, 'second')
    await runCli(['init', '--data-dir', first])
    await runCli(['init', '--data-dir', second])
    const daemon = await startDaemonProcess(first, ['--listen', '/ip4/127.0.0.1/tcp/0', '--api', '127.0.0.1:0'])
    try {
      // The second data dir is configured for the port the first node holds, as two data dirs on the default port are.
      const config = JSON.parse(await readFile(join(second, 'config.json'), 'utf8'))
      await writeFile(join(second, 'config.json'), JSON.stringify({ ...config, api: daemon.api }))
      oneLine(await runCli(['status', '--data-dir', second]),
        new RegExp(`^depin: the depin node of .*second is not running \\(the API at ${daemon.api.replace(/\./g, '\\.')} belongs to another node \\(it refused this data dir's token\\)\\); start it with`))
      oneLine(await runCli(['stop', '--data-dir', second]), /is not running/)
      // And starting it says whose port that is.
      oneLine(await runCli(['start', '--data-dir', second, '--no-mdns', '--listen', '/ip4/127.0.0.1/tcp/0']), new RegExp(`address ${daemon.api.replace(/\./g, '\\.')} is already in use`))
    } finally {
      await daemon.stop('SIGKILL')
      await dir.remove()
    }
  })
})
