/**
 * The real `depin` command in child processes: every user mistake is one clear line and a
 * non-zero exit without a stack trace; client commands talk to a real daemon.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { createServer } from 'node:net'
import { readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { runCli, startDaemonProcess, startTestnetProcess, type DaemonProcess } from './cli-helpers.ts'
import { tempDir, waitFor } from './helpers.ts'
import { call } from './api-helpers.ts'
import { checkExposition } from './prom-format.ts'

const EXAMPLES = new URL('../examples/', import.meta.url).pathname

function expectOneCleanErrorLine (result: { code: number | null, stderr: string }, pattern: RegExp): void {
  expect(result.code).not.toBe(0)
  // Commander may add a suggestion line ("(Did you mean start?)"); that is still one error.
  const lines = result.stderr.trim().split('\n').filter((l) => l.length > 0 && !l.startsWith('(Did you mean'))
  expect(lines, result.stderr).toHaveLength(1)
  expect(lines[0]).toMatch(pattern)
  expect(result.stderr).not.toMatch(/\n\s+at /)
}

describe('depin CLI: user mistakes', () => {
  let dir: { path: string, remove: () => Promise<void> }
  beforeAll(async () => { dir = await tempDir() })
  afterAll(async () => { await dir?.remove() })

  it('an unknown flag', async () => {
    expectOneCleanErrorLine(await runCli(['start', '--bogus']), /^depin: unknown option '--bogus'/)
  })

  it('an unknown command', async () => {
    expectOneCleanErrorLine(await runCli(['strat']), /^depin: unknown command 'strat'/)
  })

  it('a bootstrap address without /p2p/<peer id>, from the flag, the environment or config.json', async () => {
    const flag = await runCli(['start', '--bootstrap', '/ip4/127.0.0.1/tcp/4001', '--data-dir', join(dir.path, 'missing')])
    expectOneCleanErrorLine(flag, /^depin: bootstrap address "\/ip4\/127\.0\.0\.1\/tcp\/4001" has no \/p2p\/<peer id>; add the peer's id/)
    expect(flag.code).toBe(2)
    const dataDir = join(dir.path, 'bootstrap')
    expect((await runCli(['init', '--data-dir', dataDir])).code).toBe(0)
    const env = await runCli(['start', '--data-dir', dataDir, '--no-mdns'], { env: { DEPIN_BOOTSTRAP: '/ip4/127.0.0.1/tcp/4001' } })
    expectOneCleanErrorLine(env, /^depin: DEPIN_BOOTSTRAP: bootstrap address "\/ip4\/127\.0\.0\.1\/tcp\/4001" has no \/p2p\/<peer id>/)
    expectOneCleanErrorLine(await runCli(['start', '--data-dir', dataDir, '--no-mdns'], { env: { DEPIN_LISTEN: 'garbage' } }), /^depin: DEPIN_LISTEN: not a valid multiaddr: "garbage"$/)
    expectOneCleanErrorLine(await runCli(['config', 'set', 'bootstrap', '/ip4/127.0.0.1/tcp/4001', '--data-dir', dataDir]), /bootstrap\.0: a bootstrap address needs \/p2p\/<peer id>/)
    await expect(stat(join(dataDir, 'api.json'))).rejects.toThrow()
  })

  it('a data dir or testnet --dir that is (or is under) a file names the file', async () => {
    const file = join(dir.path, 'plain-file')
    await writeFile(file, 'x')
    expectOneCleanErrorLine(await runCli(['init', '--data-dir', join(file, 'sub')]), new RegExp(`^depin: cannot create the data directory: .*sub: its parent ${file} is not a directory$`))
    expectOneCleanErrorLine(await runCli(['init', '--data-dir', file]), new RegExp(`^depin: cannot create the data directory: ${file} is a file, not a directory$`))
    expectOneCleanErrorLine(await runCli(['testnet', '--dir', file]), new RegExp(`^depin: --dir ${file} is a file, not a directory$`))
    expectOneCleanErrorLine(await runCli(['testnet', '--dir', join(file, 'sub')]), new RegExp(`^depin: --dir .*sub: its parent ${file} is not a directory$`))
    expect(await readFile(file, 'utf8')).toBe('x')
  })

  it('a directory that cannot be created (under /proc: Node\'s recursive mkdir never settled there) is one line naming where', async () => {
    // /proc takes no new directories; the recursive mkdir retried it forever (the command hung).
    const proc = `/proc/depin-test-${process.pid}`
    expectOneCleanErrorLine(await runCli(['testnet', '--dir', proc], { timeoutMs: 30_000 }), new RegExp(`^depin: cannot create the testnet directory ${proc}: /proc does not take new directories$`))
    expectOneCleanErrorLine(await runCli(['testnet', '--dir', join(proc, 'sub')], { timeoutMs: 30_000 }), new RegExp(`^depin: cannot create the testnet directory ${proc}/sub: /proc does not take new directories$`))
    expectOneCleanErrorLine(await runCli(['init', '--data-dir', join(proc, 'node')], { timeoutMs: 30_000 }), new RegExp(`^depin: cannot create the data directory ${proc}/node: /proc does not take new directories$`))
    // The synchronous one blocked `depin start` entirely, signals included.
    const dataDir = join(dir.path, 'log-under-proc')
    expect((await runCli(['init', '--data-dir', dataDir])).code).toBe(0)
    expectOneCleanErrorLine(await runCli(['start', '--data-dir', dataDir, '--no-mdns', '--log-file', join(proc, 'daemon.log')], { timeoutMs: 30_000 }),
      /^depin: log file ".*daemon\.log" \(--log-file, DEPIN_LOG_FILE or config\.json's log\.file\) cannot be written: \/proc does not take new directories$/)
  })

  it('a testnet\'s directory given as a node\'s data dir names a node of it', async () => {
    // What `depin testnet --dir T` leaves: T/api-token and T/node-i, no node of its own in T.
    const testnet = join(dir.path, 'a-testnet')
    expect((await runCli(['init', '--data-dir', join(testnet, 'node-0')])).code).toBe(0)
    await writeFile(join(testnet, 'api-token'), 'x'.repeat(43) + '\n')
    for (const command of [['status'], ['peers'], ['capacity'], ['dashboard']]) {
      expectOneCleanErrorLine(await runCli([...command, '--data-dir', testnet]), new RegExp(`^depin: ${testnet} is a testnet's directory, not a node's: pass the data dir of one of its nodes, e\\.g\\. --data-dir ${join(testnet, 'node-0')}$`))
    }
  })

  it('an empty runtime or path is a usage error (exit 2) before anything is read or created', async () => {
    const capacity = await runCli(['capacity', '--runtime', '', '--data-dir', join(dir.path, 'no-node')])
    expectOneCleanErrorLine(capacity, /^depin: option '--runtime <name>' argument '' is invalid\. expected a runtime name of 1 to 32 characters \(e\.g\. wasi-p1\), got ""$/)
    expect(capacity.code).toBe(2)
    // An empty --dir was the working directory: the testnet's nodes went there.
    const testnet = await runCli(['testnet', '--dir', ''], { cwd: dir.path })
    expectOneCleanErrorLine(testnet, /^depin: option '--dir <dir>' argument '' is invalid\. expected a path, got ""$/)
    expect(testnet.code).toBe(2)
    await expect(stat(join(dir.path, 'node-0'))).rejects.toThrow()
  })

  it('a missing data dir', async () => {
    expectOneCleanErrorLine(await runCli(['start', '--data-dir', join(dir.path, 'missing')]), /does not exist; run `depin init/)
    // A client command says the same of a mistyped data dir (it said "no API token: …/api-token does not exist").
    for (const command of [['jobs'], ['status', '--json'], ['submit', join(EXAMPLES, 'echo.wasm')]]) {
      const result = await runCli([...command, '--data-dir', join(dir.path, 'missing')], { env: { DEPIN_API_TOKEN: '' } })
      expectOneCleanErrorLine(result, /^depin: data directory .*missing does not exist; pass the data dir of a node \(`depin init --data-dir .*missing` makes one\)$/)
      expect(result.code).toBe(1)
    }
  })

  it('a corrupt key file', async () => {
    const dataDir = join(dir.path, 'corrupt')
    expect((await runCli(['init', '--data-dir', dataDir])).code).toBe(0)
    await writeFile(join(dataDir, 'identity.key'), 'garbage, not a key')
    expectOneCleanErrorLine(await runCli(['start', '--data-dir', dataDir, '--no-mdns', '--listen', '/ip4/127.0.0.1/tcp/0', '--api', '127.0.0.1:0']), /identity key file .* is corrupt/)
    // init never overwrites an identity, even a corrupt one.
    expectOneCleanErrorLine(await runCli(['init', '--data-dir', dataDir]), /is corrupt/)
  })

  it('an API port in use', async () => {
    const dataDir = join(dir.path, 'busy')
    await runCli(['init', '--data-dir', dataDir])
    const blocker = createServer()
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve))
    const port = (blocker.address() as { port: number }).port
    try {
      expectOneCleanErrorLine(await runCli(['start', '--data-dir', dataDir, '--no-mdns', '--listen', '/ip4/127.0.0.1/tcp/0', '--api', `127.0.0.1:${port}`]), /already in use/)
    } finally {
      blocker.close()
    }
  })

  it('a libp2p port in use', async () => {
    const dataDir = join(dir.path, 'busy-tcp')
    await runCli(['init', '--data-dir', dataDir])
    const blocker = createServer()
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve))
    const port = (blocker.address() as { port: number }).port
    try {
      expectOneCleanErrorLine(await runCli(['start', '--data-dir', dataDir, '--no-mdns', '--listen', `/ip4/127.0.0.1/tcp/${port}`, '--api', '127.0.0.1:0']), /in use/)
    } finally {
      blocker.close()
    }
  })

  it('no daemon running', async () => {
    const dataDir = join(dir.path, 'idle')
    await runCli(['init', '--data-dir', dataDir, '--api', '127.0.0.1:1'])
    expectOneCleanErrorLine(await runCli(['status', '--data-dir', dataDir]), /the depin node of .*idle is not running \(nothing answers at 127\.0\.0\.1:1\); start it with `depin start/)
    expectOneCleanErrorLine(await runCli(['status', '--api', '127.0.0.1:1'], { env: { DEPIN_API_TOKEN: 'x'.repeat(20) } }), /cannot reach the depin daemon at 127\.0\.0\.1:1/)
  })

  it('a client without a token', async () => {
    expectOneCleanErrorLine(await runCli(['status', '--data-dir', join(dir.path, 'nothing-here'), '--api', '127.0.0.1:4101'], { env: { DEPIN_API_TOKEN: '' } }), /no API token|cannot reach/)
  })
})

describe('depin CLI against a real daemon', () => {
  let dir: { path: string, remove: () => Promise<void> }
  let dataDir: string
  let daemon: DaemonProcess

  beforeAll(async () => {
    dir = await tempDir()
    dataDir = join(dir.path, 'node')
    const init = await runCli(['init', '--data-dir', dataDir, '--json'])
    expect(init.code).toBe(0)
    daemon = await startDaemonProcess(dataDir, ['--listen', '/ip4/127.0.0.1/tcp/0', '--api', '127.0.0.1:0', '--cores', '3', '--price', '7'])
  })

  afterAll(async () => {
    await daemon?.stop('SIGKILL')
    await dir?.remove()
  })

  it('init wrote a 0600 key and token and printed the peer id', async () => {
    expect((await stat(join(dataDir, 'identity.key'))).mode & 0o777).toBe(0o600)
    expect((await stat(join(dataDir, 'api-token'))).mode & 0o777).toBe(0o600)
    const again = JSON.parse((await runCli(['init', '--data-dir', dataDir, '--json'])).stdout)
    expect(again.identityCreated).toBe(false)
  })

  it('status, peers and capacity answer as JSON', async () => {
    const status = JSON.parse((await runCli(['status', '--data-dir', dataDir, '--json'])).stdout)
    const info = JSON.parse(await readFile(join(dataDir, 'api.json'), 'utf8'))
    expect(status.peerId).toBe(info.peerId)
    expect(status.capacity).toMatchObject({ cores: 3, pricePerGigafuel: 7, runtimes: ['wasi-p1'] })
    const peers = JSON.parse((await runCli(['peers', '--data-dir', dataDir, '--json'])).stdout)
    expect(peers).toEqual({ peers: [] })
    const capacity = JSON.parse((await runCli(['capacity', '--data-dir', dataDir, '--json'])).stdout)
    expect(capacity.self.peerId).toBe(status.peerId)
    expect(capacity.peers).toEqual([])
  })

  it('--api with DEPIN_API_TOKEN works from anywhere; a wrong token is refused', async () => {
    const token = (await readFile(join(dataDir, 'api-token'), 'utf8')).trim()
    const ok = await runCli(['status', '--api', daemon.api, '--json', '--data-dir', join(dir.path, 'elsewhere')], { env: { DEPIN_API_TOKEN: token } })
    expect(ok.code).toBe(0)
    const wrong = await runCli(['status', '--api', daemon.api], { env: { DEPIN_API_TOKEN: 'nope' } })
    expectOneCleanErrorLine(wrong, /wrong API token/)
  })

  it('SIGTERM stops the daemon cleanly and removes api.json', async () => {
    const code = await daemon.stop('SIGTERM')
    expect(code).toBe(0)
    expect(daemon.output()).toMatch(/stopped/)
    await expect(stat(join(dataDir, 'api.json'))).rejects.toThrow()
  })
})

describe('depin testnet', () => {
  it('starts N daemons, writes testnet.json, serves every node\'s API, and stops them all on SIGINT', async () => {
    const dir = await tempDir()
    const { child, output, exited, nodes, killAll } = await startTestnetProcess(dir.path, 3)
    const testnet = { nodes }
    try {
      expect(testnet.nodes).toHaveLength(3)
      for (const node of testnet.nodes) {
        expect(node.api).toMatch(/^127\.0\.0\.1:\d+$/)
        expect(node.multiaddrs[0]).toContain(node.peerId)
        const status = JSON.parse((await runCli(['status', '--data-dir', node.dataDir, '--json'])).stdout)
        expect(status.peerId).toBe(node.peerId)
      }
      // The shared testnet token works with --api for any node.
      const token = (await readFile(join(dir.path, 'api-token'), 'utf8')).trim()
      const viaApi = await runCli(['peers', '--api', testnet.nodes[2].api, '--json'], { env: { DEPIN_API_TOKEN: token } })
      expect(viaApi.code).toBe(0)
      // Node 2 finds the other two through the DHT.
      await waitFor(async () => {
        const capacity = JSON.parse((await runCli(['capacity', '--data-dir', testnet.nodes[2].dataDir, '--json'])).stdout)
        return capacity.peers.length === 2
      }, { timeoutMs: 60_000, what: 'node 2 to find the others' })
      // Every peer shows the addresses it listens on (testnet.json), not the source port of an
      // inbound connection (the testnet has inbound connections: the case that showed a source port).
      const listening = new Map(testnet.nodes.map((n) => [n.peerId, n.multiaddrs]))
      for (const node of testnet.nodes) {
        let peers: Array<{ peerId: string, addresses: string[], connections: Array<{ direction: string }> }> = []
        await waitFor(async () => {
          peers = JSON.parse((await runCli(['peers', '--data-dir', node.dataDir, '--json'])).stdout).peers
          return peers.length === 2 && peers.every((p) => p.addresses.length > 0)
        }, { timeoutMs: 30_000, what: `node ${node.peerId} to know its peers' addresses` })
        for (const peer of peers) expect(peer.addresses, node.peerId).toEqual(listening.get(peer.peerId))
        const table = (await runCli(['peers', '--data-dir', node.dataDir])).stdout
        expect(table).toMatch(/^PEER\s+SCORE\s+RTT\s+DIR\s+ADDRESS\n/)
        for (const peer of peers) expect(table).toMatch(new RegExp(`${peer.peerId} .* (in|out|in\\+out) +${listening.get(peer.peerId)?.[0]}\\n`))
      }
      const inbound = await Promise.all(testnet.nodes.map(async (node) =>
        JSON.parse((await runCli(['peers', '--data-dir', node.dataDir, '--json'])).stdout).peers
          .flatMap((p: { connections: Array<{ direction: string }> }) => p.connections).filter((c: { direction: string }) => c.direction === 'inbound').length))
      expect(inbound.reduce((a, b) => a + b, 0)).toBeGreaterThan(0)
      expect(output()).toMatch(/testnet of 3 node\(s\) running/)
      child.kill('SIGINT')
      expect(await exited).toBe(0)
      expect(output()).toMatch(/all nodes stopped/)
      for (const node of testnet.nodes) await expect(stat(join(node.dataDir, 'api.json'))).rejects.toThrow()
    } finally {
      killAll()
      await dir.remove()
    }
  })
})

describe('a second `depin testnet` on a running testnet\'s --dir', () => {
  it('is refused with one line and changes nothing, whatever --nodes it asks for', async () => {
    const dir = await tempDir()
    const { child, exited, nodes, killAll } = await startTestnetProcess(dir.path, 2)
    const testnet = { nodes }
    try {
      const genesis = await readFile(join(dir.path, 'genesis.json'), 'utf8')
      const apiInfos = await Promise.all(testnet.nodes.map(async (n) => await readFile(join(n.dataDir, 'api.json'), 'utf8')))
      for (const nodes of ['3', '2']) {
        const second = await runCli(['testnet', '--nodes', nodes, '--dir', dir.path])
        expectOneCleanErrorLine(second, /^depin: testnet .* is in use: its node .*node-0 is running \(pid \d+, API 127\.0\.0\.1:\d+\); stop that testnet first/)
        expect(second.code).toBe(1)
      }
      await expect(stat(join(dir.path, 'node-2'))).rejects.toThrow()
      expect(await readFile(join(dir.path, 'genesis.json'), 'utf8')).toBe(genesis)
      for (const [i, node] of testnet.nodes.entries()) {
        expect(await readFile(join(node.dataDir, 'api.json'), 'utf8')).toBe(apiInfos[i])
        await stat(join(node.dataDir, 'db', 'CURRENT'))
        const status = await runCli(['status', '--data-dir', node.dataDir, '--json'])
        expect(JSON.parse(status.stdout).peerId).toBe(node.peerId)
      }
      expect(child.exitCode).toBe(null)
      child.kill('SIGINT')
      expect(await exited).toBe(0)
    } finally {
      killAll()
      await dir.remove()
    }
  })

  it('is refused when a node\'s database is locked though it has no api.json yet', async () => {
    const dir = await tempDir()
    const { Level } = await import('level')
    const db = new Level(join(dir.path, 'node-1', 'db'))
    await db.open()
    try {
      const result = await runCli(['testnet', '--nodes', '2', '--dir', dir.path])
      expectOneCleanErrorLine(result, /^depin: testnet .* is in use: its node .*node-1 is running \(its database is locked by another process\)/)
      await expect(stat(join(dir.path, 'node-0'))).rejects.toThrow()
      await expect(stat(join(dir.path, 'genesis.json'))).rejects.toThrow()
    } finally {
      await db.close()
      await dir.remove()
    }
  })
})

describe('depin testnet --transport memory', () => {
  it('runs every node in one process, serves each node\'s API, and stops them on SIGINT', async () => {
    const dir = await tempDir()
    // Above 16 nodes the in-process memory transport is the default; 20 keeps the test light.
    const { child, output, exited, nodes, killAll } = await startTestnetProcess(dir.path, 20, { timeoutMs: 120_000 })
    try {
      const testnet = { nodes }
      expect(testnet.nodes).toHaveLength(20)
      expect(testnet.nodes.every((n) => n.multiaddrs[0].startsWith('/memory/'))).toBe(true)
      // The file is written before the table is printed: wait for the line, do not race it.
      await waitFor(() => /testnet of 20 node\(s\) running in this process on libp2p's memory transport/.test(output()), { timeoutMs: 30_000, what: 'the testnet\'s summary line' })
      const last = testnet.nodes[19]
      const status = JSON.parse((await runCli(['status', '--data-dir', last.dataDir, '--json'])).stdout)
      expect(status.peerId).toBe(last.peerId)
      await waitFor(async () => {
        const capacity = JSON.parse((await runCli(['capacity', '--data-dir', last.dataDir, '--limit', '3', '--json'])).stdout)
        return capacity.peers.length === 3
      }, { timeoutMs: 60_000, what: 'the last node to find 3 capable peers' })
      // Each node's GET /metrics is valid and its own: depin's metrics only, none of libp2p's
      // (kept per process: every node turned them on, and one node's counters could land in
      // another's registry), and the peers it scores are the peers it has.
      const token = (await readFile(join(dir.path, 'api-token'), 'utf8')).trim()
      for (const node of [testnet.nodes[0], testnet.nodes[1], last]) {
        const port = Number(node.api.split(':')[1])
        const headers = { authorization: `Bearer ${token}` }
        await waitFor(async () => {
          const report = checkExposition((await call(port, '/metrics', { headers })).text)
          expect(report.problems).toEqual([])
          expect([...report.families.keys()].filter((name) => !name.startsWith('depin_'))).toEqual([])
          const scored = report.families.get('depin_peer_score')?.samples.map((s) => s.labels.peer).sort()
          const peers = (await call(port, '/v1/peers', { headers })).json.peers.map((p: { peerId: string }) => p.peerId).sort()
          return scored != null && scored.length > 0 && !scored.includes(node.peerId) && JSON.stringify(scored) === JSON.stringify(peers)
        }, { timeoutMs: 30_000, what: `node ${node.dataDir}'s metrics to score its own peers` })
      }
      child.kill('SIGINT')
      // Ctrl-C pressed again while the nodes stop is ignored (it used to kill the process: 130)
      await waitFor(() => output().includes('stopping the testnet'), { timeoutMs: 30_000, what: 'the stop to begin' })
      child.kill('SIGINT')
      expect(await exited).toBe(0)
      expect(output()).toMatch(/all nodes stopped/)
      for (const node of testnet.nodes) await expect(stat(join(node.dataDir, 'api.json'))).rejects.toThrow()
    } finally {
      killAll()
      await dir.remove()
    }
  }, 240_000)
})
