/**
 * The operator surface's pure parts: status words, job states from records, table fitting, the
 * progress display, start options from the environment, config editing, the Origin check, credit
 * flows, the live job tracker, the daemon's V8 memory/speed mode.
 */
import { describe, it, expect } from 'vitest'
import { PassThrough } from 'node:stream'
import { execFileSync } from 'node:child_process'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createSigner } from '../src/proofs/signing.ts'
import { createJob } from '../src/scheduler/job.ts'
import { OPEN_LEASE, type RequestedJob } from '../src/scheduler/job-store.ts'
import { describeState, stateWord } from '../src/job-status.ts'
import { leaseSummaryView, requestedState } from '../src/node/api/job-view.ts'
import { JobActivity } from '../src/node/job-activity.ts'
import { count, creditAmount, fitWidths, renderTable } from '../src/cli/output.ts'
import { ProgressView, VerifiedWording } from '../src/cli/progress.ts'
import { assertSucceeded, stateText } from '../src/cli/job-format.ts'
import { applyStartEnv } from '../src/cli/start-env.ts'
import { setConfigValue, unsetConfigValue, validateConfig } from '../src/node/config-edit.ts'
import { originAllowed } from '../src/node/api/server.ts'
import { blockFlows, netFlow } from '../src/node/credit-flows.ts'
import { cleanModuleName } from '../src/node/job-labels.ts'
import { ConfigError } from '../src/errors.ts'
import { UsageError } from '../src/cli/errors.ts'
import { enterSizeMode, nextV8Mode, V8_DAEMON_FLAGS, V8_MODE_FLAGS, V8ModeSwitch } from '../src/node/v8-mode.ts'

describe('status words', () => {
  it('never say completed · verified for a job that was not verified, timed out or failed', () => {
    expect(describeState({ state: 'completed', verified: true })).toBe('completed · verified')
    expect(describeState({ state: 'completed', verified: false })).toBe('unverified')
    expect(stateWord('completed', false)).toBe('unverified')
    expect(describeState({ state: 'timed-out', verified: true, reason: 'the program ran past its time limit of 1 s' })).toBe('timed-out: the program ran past its time limit of 1 s')
    expect(describeState({ state: 'running', verified: false, running: ['12D3KooWabc', '12D3KooWdef'] })).toBe('running on 12D3KooWabc, 12D3KooWdef')
    expect(describeState({ state: 'cancelled', verified: false })).toBe('cancelled')
    // A task run here for a peer: the requester verifies, not the worker.
    expect(stateText({ role: 'worker', status: 'completed', verified: false, running: [] })).toBe('completed (ran here)')
    expect(stateText({ role: 'requester', status: 'completed', verified: false, running: [] })).toBe('unverified')
    // A lease served now, one that ended normally, one that broke.
    const lease = { leaseId: 'bafylease', requester: '12D3KooWRequester', startedAt: 1, endedAt: 2, tasks: 3, refused: 0, fuel: '900', amount: 3, paid: 2 }
    expect(leaseSummaryView({ ...lease, reason: OPEN_LEASE })).toMatchObject({ status: 'running', cost: 2, module: 'lease (3 tasks)' })
    expect(stateText(leaseSummaryView({ ...lease, reason: OPEN_LEASE }))).toBe('serving (lease open)')
    expect(stateText(leaseSummaryView({ ...lease, reason: 'closed' }))).toBe('completed (ran here)')
    expect(leaseSummaryView({ ...lease, reason: 'ERR_LEASE_ACK_MISSING' })).toMatchObject({ status: 'failed', reason: 'the lease ended: ERR_LEASE_ACK_MISSING' })
  })

  it('the last line of `submit --wait` / `job --wait` for a cancelled job says it once, with a reason given at cancel', () => {
    const job = { id: 'bafyjob', role: 'requester', status: 'cancelled', verified: false, running: [], error: { code: 'ERR_JOB_CANCELLED', message: 'the job was cancelled' } } as any
    expect(() => { assertSucceeded(job) }).toThrow(/^job bafyjob was cancelled$/)
    expect(() => { assertSucceeded({ ...job, reason: 'the job was cancelled: user pressed stop', error: { ...job.error, message: 'the job was cancelled: user pressed stop' } }) }).toThrow(/^job bafyjob was cancelled: user pressed stop$/)
    expect(() => { assertSucceeded({ ...job, status: 'timed-out', reason: 'no result before the deadline' }) }).toThrow(/^job bafyjob timed-out: no result before the deadline$/)
  })

  it('a job waiting for workers says why, queued or running', () => {
    const waiting = { code: 'ERR_NOT_ENOUGH_WORKERS' as const, message: '2 of 3 replicas placed; no other capable worker known (2 known workers already have a replica)', placed: 2, replicas: 3, reasons: { placed: 2 } }
    expect(describeState({ state: 'queued', verified: false, waiting: 'no capable worker known (no other peer\'s capacity is known)' }))
      .toBe('queued · waiting: no capable worker known (no other peer\'s capacity is known)')
    expect(stateText({ role: 'requester', status: 'running', verified: false, running: ['12D3KooWabc'], waiting }))
      .toBe(`running on 12D3KooWabc · waiting: ${waiting.message}`)
    // A job that ended says how it ended, not why it waited.
    expect(describeState({ state: 'failed', verified: false, reason: 'the deadline passed', waiting: waiting.message })).toBe('failed: the deadline passed')
  })

  it('read the records: timed-out, failed and cancelled as recorded, a trap or an exit code is failed, unverified is completed without verification, unfinished with a worker is running', async () => {
    const signer = createSigner(await generateKeyPair('Ed25519'))
    const { body, id } = createJob(signer.peerId, { module: new Uint8Array([0, 97, 115, 109]), timeoutMs: 2000 })
    const base: RequestedJob = { id: id.toString(), body, status: 'completed', createdAt: 1, updatedAt: 2, replicas: [], exitCode: 0, verified: true }
    expect(requestedState(base).status).toBe('completed')
    expect(requestedState({ ...base, status: 'timed-out', trap: 'timeout', exitCode: -1, error: { code: 'ERR_TASK_TIMEOUT', message: 'the program ran past its time limit of 2000 ms' } })).toMatchObject({ status: 'timed-out', reason: 'the program ran past its time limit of 2000 ms' })
    expect(requestedState({ ...base, trap: 'unreachable', exitCode: -1 })).toMatchObject({ status: 'failed', reason: 'the program stopped: unreachable' })
    expect(requestedState({ ...base, status: 'failed', trap: 'InvalidModuleError: module does not compile', exitCode: -1, error: { code: 'ERR_INVALID_MODULE', message: 'InvalidModuleError: module does not compile' } })).toMatchObject({ status: 'failed', reason: 'InvalidModuleError: module does not compile' })
    expect(requestedState({ ...base, exitCode: 3 })).toMatchObject({ status: 'failed', reason: 'the program exited with code 3' })
    expect(requestedState({ ...base, status: 'unverified', verified: false, error: { code: 'ERR_NO_QUORUM', message: 'the replicas did not agree' } })).toMatchObject({ status: 'completed', reason: 'the replicas did not agree' })
    expect(requestedState({ ...base, status: 'cancelled', error: { code: 'ERR_JOB_CANCELLED', message: 'the job was cancelled' } })).toEqual({ status: 'cancelled', running: [] })
    expect(requestedState({ ...base, status: 'timed-out', error: { code: 'ERR_JOB_TIMEOUT', message: 'deadline passed' } }).status).toBe('timed-out')
    expect(requestedState({ ...base, status: 'failed', error: { code: 'ERR_NO_BIDS', message: 'no peer bid' } }).status).toBe('failed')
    expect(requestedState({ ...base, status: 'running', replicas: [{ worker: 'W2', status: 'running' }] })).toEqual({ status: 'running', running: ['W2'] })
    const activity = new JobActivity()
    activity.add({ jobId: base.id, stage: 'queued', at: 1 })
    expect(requestedState({ ...base, status: 'queued' }, activity.get(base.id))).toEqual({ status: 'queued', running: [] })
    activity.add({ jobId: base.id, stage: 'accepted', peerId: 'W1', at: 2 })
    expect(requestedState({ ...base, status: 'queued' }, activity.get(base.id))).toEqual({ status: 'running', running: ['W1'] })
    activity.add({ jobId: base.id, stage: 'result', peerId: 'W1', detail: 'exit 0', at: 3 })
    expect(requestedState({ ...base, status: 'queued' }, activity.get(base.id)).status).toBe('queued')
  })
})

describe('JobActivity', () => {
  it('is bounded and keeps the final event of a chatty job', () => {
    const activity = new JobActivity()
    for (let i = 0; i < 100; i++) activity.add({ jobId: 'j', stage: 'retry', peerId: `p${i}`, at: i })
    activity.add({ jobId: 'j', stage: 'completed', at: 200 })
    const events = activity.events('j')
    expect(events).toHaveLength(64)
    expect(events.at(-1)?.stage).toBe('completed')
    // Jobs still going are all kept (depin_jobs_active counts every job in flight): 1,100 of them
    // do not push out anything, not even the ended one.
    for (let i = 0; i < 1100; i++) activity.add({ jobId: `x${i}`, stage: 'queued', at: i })
    expect(activity.unfinished()).toHaveLength(1100)
    expect(activity.get('j')?.finished).toBe(true)
    // Ended jobs are kept for the last 1,024 of them, oldest ended first out.
    for (let i = 0; i < 1100; i++) activity.add({ jobId: `x${i}`, stage: 'completed', at: 1000 + i })
    expect(activity.unfinished()).toHaveLength(0)
    expect(activity.get('j')).toBeUndefined()
    expect(activity.get('x75')).toBeUndefined()
    expect(activity.get('x76')?.finished).toBe(true)
    expect(activity.get('x1099')?.events.at(-1)?.stage).toBe('completed')
  })
})

describe('tables', () => {
  it('keep natural widths when they fit and cut the widest shrinkable columns when not', () => {
    expect(fitWidths([10, 5, 40], undefined)).toEqual([10, 5, 40])
    expect(fitWidths([10, 5, 40], 100)).toEqual([10, 5, 40])
    const fitted = fitWidths([10, 5, 40], 40)
    expect(fitted.reduce((a, b) => a + b, 0) + 2 * 2).toBeLessThanOrEqual(40)
    expect(fitted[1]).toBe(5)
    // Only the listed columns give up room, in the order listed.
    expect(fitWidths([30, 30], 40, [1])).toEqual([30, 8])
    expect(fitWidths([20, 20, 20], 50, [2, 1])).toEqual([20, 20, 6])
    expect(fitWidths([20, 20, 20], 40, [2, 1])).toEqual([20, 10, 6])
    // When even that cannot fit, nothing is cut (the terminal wraps whole cells).
    expect(fitWidths([59, 20], 40, [1])).toEqual([59, 20])
  })

  it('render every line within the width, cut cells ending in …', () => {
    const peer = '12D3KooWBSNUWRbaR7hXC3rVfLGY1z6pD9kNRhyc6gEsnoowTmhc'
    const text = renderTable(['PEER', 'SCORE', 'ADDRESS'], [[peer, '0.0', `/ip4/127.0.0.1/tcp/4001/p2p/${peer}`], ['short', '-3.5', undefined]], { width: 70, shrink: [2] })
    const lines = text.split('\n')
    expect(lines).toHaveLength(3)
    for (const l of lines) expect([...l].length).toBeLessThanOrEqual(70)
    expect(lines[0]).toMatch(/^PEER\s+SCORE\s+ADDRESS$/)
    // The peer id stays whole; the address gives up the room.
    expect(lines[1]).toMatch(new RegExp(`^${peer}\\s+0\\.0\\s+/ip4/127…$`))
    expect(lines[2]).toMatch(/^short\s+-3\.5\s+-$/)
    const wide = renderTable(['A', 'B'], [['x'.repeat(50), 'y']])
    expect(wide.split('\n')[1]).toBe(`${'x'.repeat(50)}  y`)
  })
})

describe('progress display', () => {
  const fakeTty = (): { stream: NodeJS.WriteStream, text: () => string } => {
    const stream = new PassThrough() as unknown as NodeJS.WriteStream & { isTTY: boolean, columns: number }
    stream.isTTY = true
    stream.columns = 120
    // What ora needs of a terminal: cursor movement as ANSI escapes.
    const s = stream as unknown as Record<string, unknown>
    s.cursorTo = (x: number) => stream.write(`\x1b[${x + 1}G`)
    s.clearLine = () => stream.write('\x1b[2K')
    s.moveCursor = (dx: number, dy: number) => stream.write(dy < 0 ? `\x1b[${-dy}A` : '')
    let out = ''
    ;(stream as unknown as PassThrough).on('data', (d: Buffer) => { out += d.toString() })
    return { stream, text: () => out }
  }

  it('keeps every stage on screen with its time, shows the job id and replicas, and says how to follow on Ctrl-C', async () => {
    const { stream, text } = fakeTty()
    const view = new ProgressView({ jobId: 'bafyreiexamplejobid0000000000000000000001', replicas: 2, tty: true, stream })
    await view.start(Date.now())
    const stages = ['queued', 'accepted', 'running', 'result', 'accepted', 'running']
    for (const [i, stage] of stages.entries()) view.update({ jobId: 'x', stage, peerId: stage === 'queued' || stage === 'offered' ? undefined : `12D3KooWworker${i % 2}abcdefghijkl`, at: Date.now() })
    view.interrupt()
    const out = text()
    expect(out).toContain('job bafyreiexamplejobid0000000000000000000001 (2 replicas)')
    for (const words of ['queued on this node', 'accepted by', 'running on', 'result from']) expect(out).toContain(words)
    // Every stage was persisted (a tick per stage), not overwritten.
    expect(out.match(/✔/g)?.length).toBe(stages.length)
    expect(out).toMatch(/1\/2 replicas done/)
    expect(out).toContain('depin job bafyreiexamplejobid0000000000000000000001 --follow')
    expect(out).toContain('depin cancel bafyreiexamplejobid0000000000000000000001')
  })

  it('shows `verified` only for a completed, verified job, and the final stage as the job\'s record has it', () => {
    const stages = (events: Array<[string, string?]>, job?: { status: string, verified: boolean, reason?: string }): string[] => {
      const wording = new VerifiedWording()
      const shown = events.flatMap(([stage, detail]) => wording.push({ jobId: 'J', stage, ...(detail != null ? { detail } : {}), at: 0 }))
      return [...shown, ...wording.settle(job)].map((e) => `${e.stage}${e.detail != null ? ` (${e.detail})` : ''}`)
    }
    expect(stages([['result', 'exit 0'], ['verified', '1/1 agree'], ['completed', 'exit 0']])).toEqual(['result (exit 0)', 'verified (1/1 agree)', 'completed (exit 0)'])
    expect(stages([['verified', '1/1 agree'], ['completed', 'exit 0']], { status: 'completed', verified: true })).toEqual(['verified (1/1 agree)', 'completed (exit 0)'])
    const timedOut = 'the program ran past its time limit of 1 s'
    expect(stages([['verified', '1/1 agree'], ['timed-out', timedOut]], { status: 'timed-out', verified: true, reason: timedOut })).toEqual([`timed-out (${timedOut})`])
    expect(stages([['verified', '1/1 agree'], ['timed-out', timedOut]])).toEqual([`timed-out (${timedOut})`])
    const exited = 'the program exited with code 3'
    expect(stages([['verified', '1/1 agree'], ['completed', 'exit 3']], { status: 'failed', verified: true, reason: exited })).toEqual([`failed (${exited})`])
    expect(stages([['verified', '1/1 agree'], ['completed', 'exit 3']])).toEqual(['failed (exit 3)'])
    // A stream opened as the job ended carries the record's bare status: the record decides.
    expect(stages([['completed']], { status: 'failed', verified: true, reason: exited })).toEqual([`failed (${exited})`])
    expect(stages([['completed']], { status: 'completed', verified: false, reason: 'too few replicas' })).toEqual(['unverified (too few replicas)'])
  })

  it('writes plain timestamped lines off a terminal', async () => {
    const stream = new PassThrough() as unknown as NodeJS.WriteStream
    let out = ''
    ;(stream as unknown as PassThrough).on('data', (d: Buffer) => { out += d.toString() })
    const view = new ProgressView({ jobId: 'J', tty: false, stream })
    await view.start()
    view.update({ jobId: 'J', stage: 'running', peerId: '12D3KooWBSNUWRbaR7hXC3rVfLGY1z6pD9kNRhyc6gEsnoowTmhc', at: Date.UTC(2025, 0, 1) })
    expect(out).toBe('job J\n2025-01-01T00:00:00.000Z running on 12D3KooWBSNU…owTmhc\n')
    view.update({ jobId: 'J', stage: 'waiting', detail: 'no capable worker known (no other peer\'s capacity is known)', at: Date.UTC(2025, 0, 1) })
    expect(out.split('\n').at(-2)).toBe('2025-01-01T00:00:00.000Z waiting: no capable worker known (no other peer\'s capacity is known)')
  })
})

describe('start options from the environment', () => {
  it('fills what the command line left out; a flag wins; bad values are one-line errors', () => {
    const opts = applyStartEnv({ cores: 2 }, {
      DEPIN_CORES: '8', DEPIN_PRICE: '5', DEPIN_MINE: 'true', DEPIN_MDNS: 'false', DEPIN_LISTEN: '/ip4/127.0.0.1/tcp/1, /ip4/127.0.0.1/tcp/2',
      DEPIN_METRICS: '127.0.0.1:9464', DEPIN_LOG_LEVEL: 'debug', DEPIN_LOG_FORMAT: 'json', DEPIN_LOG_FILE: '/tmp/x.log', DEPIN_SPOT_CHECK: '0.5'
    })
    expect(opts).toEqual({
      cores: 2, price: 5, mine: true, mdns: false, listen: ['/ip4/127.0.0.1/tcp/1', '/ip4/127.0.0.1/tcp/2'],
      metrics: '127.0.0.1:9464', logLevel: 'debug', logFormat: 'json', logFile: '/tmp/x.log', spotCheck: 0.5
    })
    expect(() => applyStartEnv({}, { DEPIN_CORES: 'many' })).toThrow(UsageError)
    expect(() => applyStartEnv({}, { DEPIN_MINE: 'maybe' })).toThrow(/DEPIN_MINE: expected true or false/)
    expect(() => applyStartEnv({}, { DEPIN_API: '10.0.0.1:4101' })).toThrow(/DEPIN_API: .*not a loopback/)
    expect(() => applyStartEnv({}, { DEPIN_LOG_LEVEL: 'loud' })).toThrow(/DEPIN_LOG_LEVEL/)
    expect(() => applyStartEnv({}, { DEPIN_METRICS: '0.0.0.0:9464' })).toThrow(/^DEPIN_METRICS: metrics listen on loopback only/)
  })
})

describe('counts in words', () => {
  it('say one thing in the singular (`depin status` said "1 cores")', () => {
    expect([count(1, 'core'), count(2, 'core'), count(0, 'slot')]).toEqual(['1 core', '2 cores', '0 slots'])
  })
})

describe('credit amounts', () => {
  it('lose the float noise of sums of fractions', () => {
    expect(creditAmount(0.0027290409999999998)).toBe(0.002729041)
    expect(creditAmount(0.1 + 0.2)).toBe(0.3)
    expect(creditAmount(384000)).toBe(384000)
  })
})

describe('config set', () => {
  it('sets typed values at dotted keys and validates the whole file as the loader does', () => {
    let raw: Record<string, unknown> = {}
    raw = setConfigValue(raw, 'capacity.cores', '4')
    raw = setConfigValue(raw, 'mine', 'yes')
    raw = setConfigValue(raw, 'listen', '/ip4/0.0.0.0/tcp/4001,/ip4/0.0.0.0/tcp/4002')
    raw = setConfigValue(raw, 'log.format', 'json')
    raw = setConfigValue(raw, 'metrics', '127.0.0.1:9464')
    expect(raw).toEqual({ capacity: { cores: 4 }, mine: true, listen: ['/ip4/0.0.0.0/tcp/4001', '/ip4/0.0.0.0/tcp/4002'], log: { format: 'json' }, metrics: '127.0.0.1:9464' })
    expect(validateConfig(raw).log).toEqual({ level: 'info', format: 'json' })
    expect(unsetConfigValue(raw, 'metrics')).not.toHaveProperty('metrics')
  })

  it('refuses unknown keys and bad values without changing anything', () => {
    const raw = { capacity: { cores: 2 } }
    expect(() => setConfigValue(raw, 'capacity.gpus', '1')).toThrow(/unknown config key "capacity.gpus"/)
    expect(() => setConfigValue(raw, 'capacity.cores', '0')).toThrow(ConfigError)
    expect(() => setConfigValue(raw, 'capacity.cores', 'four')).toThrow(/takes an integer/)
    expect(() => setConfigValue(raw, 'listen', 'not-a-multiaddr')).toThrow(/listen\.0: not a valid multiaddr/)
    expect(() => setConfigValue(raw, 'api', '10.1.2.3:4101')).toThrow(/api: must be HOST:PORT on a loopback host/)
    expect(() => setConfigValue(raw, 'log.level', 'loud')).toThrow(/log\.level/)
    expect(() => setConfigValue(raw, 'spotCheckRate', '2')).toThrow(/spotCheckRate/)
    expect(raw).toEqual({ capacity: { cores: 2 } })
  })
})

describe('the API\'s Origin check', () => {
  it('lets command-line clients and the page itself through, and nothing cross-site', () => {
    expect(originAllowed({ host: '127.0.0.1:4101' })).toBe(true)
    expect(originAllowed({ host: '127.0.0.1:4101', origin: 'http://127.0.0.1:4101', 'sec-fetch-site': 'same-origin' })).toBe(true)
    expect(originAllowed({ host: '127.0.0.1:4101', 'sec-fetch-site': 'none' })).toBe(true)
    expect(originAllowed({ host: '127.0.0.1:4101', origin: 'http://evil.example' })).toBe(false)
    expect(originAllowed({ host: '127.0.0.1:4101', origin: 'http://127.0.0.1:9999' })).toBe(false)
    expect(originAllowed({ host: '127.0.0.1:4101', origin: 'null' })).toBe(false)
    expect(originAllowed({ host: '127.0.0.1:4101', 'sec-fetch-site': 'cross-site' })).toBe(false)
    expect(originAllowed({ host: '127.0.0.1:4101', 'sec-fetch-site': 'same-site' })).toBe(false)
  })
})

describe('credit flows and module names', () => {
  it('split a block\'s transactions into earned and paid for one account', () => {
    const me = 'me'
    const flows = blockFlows([
      { hash: 'a', type: 'coinbase', to: me, amount: 50 },
      { hash: 'b', type: 'settle', from: 'r', to: me, amount: 17, moved: 7, leaseId: 'j' },
      { hash: 'c', type: 'settle', from: me, to: 'w', amount: 3, leaseId: 'k' },
      { hash: 'd', type: 'transfer', from: 'x', to: me, amount: 10, nonce: 0 },
      { hash: 'e', type: 'transfer', from: me, to: 'y', amount: 4, nonce: 0 },
      { hash: 'f', type: 'settle', from: 'r', to: 'w', amount: 99, leaseId: 'l' }
    ], me)
    expect(flows).toEqual({ work: 7, mining: 50, transfersIn: 10, paidForWork: 3, transfersOut: 4 })
    expect(netFlow(flows)).toBe(60)
  })

  it('keep file names only, printable and bounded', () => {
    expect(cleanModuleName('/home/me/primes.wasm')).toBe('primes.wasm')
    expect(cleanModuleName('..\\evil\u001b[31m.wasm')).toBe('evil[31m.wasm')
    expect(cleanModuleName('x'.repeat(500))?.length).toBe(200)
    expect(cleanModuleName('')).toBeUndefined()
  })
})

describe("the daemon's V8 mode (nextV8Mode, V8ModeSwitch)", () => {
  it('speed while busy or recently active; size after the idle time', () => {
    const base = { idleMs: 1000, lastActiveAt: 10_000 }
    expect(nextV8Mode({ ...base, current: 'size', busy: true, now: 99_999 })).toBe('speed')
    expect(nextV8Mode({ ...base, current: 'speed', busy: false, now: 10_999 })).toBe('speed')
    expect(nextV8Mode({ ...base, current: 'speed', busy: false, now: 11_000 })).toBe('size')
    // Quiet and in size mode: stays there (activity() is what switches to speed at once).
    expect(nextV8Mode({ ...base, current: 'size', busy: false, now: 10_001 })).toBe('size')
  })

  it('sets the flag once per change: size at start, speed on work, size again after a quiet spell', () => {
    const flags: string[] = []
    let busy = false
    const mode = new V8ModeSwitch({ busy: () => busy, idleMs: 1000, checkMs: 60_000, setFlags: (f) => { flags.push(f) } })
    mode.start()
    const { size, speed } = V8_MODE_FLAGS
    expect(flags).toEqual([V8_DAEMON_FLAGS, size])
    mode.activity()
    mode.activity()
    expect(flags).toEqual([V8_DAEMON_FLAGS, size, speed])
    expect(mode.current).toBe('speed')
    // A lease stays open long after the last event: still busy, still speed.
    const t0 = Date.now()
    busy = true
    mode.check(t0 + 10_000)
    expect(mode.current).toBe('speed')
    busy = false
    mode.check(t0 + 10_500)
    expect(mode.current).toBe('speed')
    mode.check(t0 + 11_001)
    expect(mode.current).toBe('size')
    expect(flags).toEqual([V8_DAEMON_FLAGS, size, speed, size])
    mode.stop()
  })

  it('a node that throws when asked whether it is busy (it is stopping: its parts are gone) counts as not busy, and the check does not throw', () => {
    const flags: string[] = []
    const mode = new V8ModeSwitch({ busy: () => { throw new Error('the node is not started') }, idleMs: 1000, checkMs: 60_000, setFlags: (f) => { flags.push(f) } })
    mode.start()
    mode.activity()
    expect(() => { mode.check(Date.now() + 5_000) }).not.toThrow()
    expect(mode.current).toBe('size')
    mode.stop()
  })

  it('a node busy from its start (a miner started with it) goes to speed mode on the first check; enterSizeMode sets size mode alone', () => {
    const flags: string[] = []
    const mode = new V8ModeSwitch({ busy: () => true, checkMs: 60_000, setFlags: (f) => { flags.push(f) } })
    mode.start()
    mode.check()
    expect(flags).toEqual([V8_DAEMON_FLAGS, V8_MODE_FLAGS.size, V8_MODE_FLAGS.speed])
    mode.stop()
    const early: string[] = []
    enterSizeMode((f) => { early.push(f) })
    expect(early).toEqual([`${V8_DAEMON_FLAGS} ${V8_MODE_FLAGS.size}`])
    // The code-flushing flags are never switched (switched with --optimize-for-size, they crashed V8).
    for (const flag of V8_DAEMON_FLAGS.split(' ')) {
      const name = flag.replace(/^--(no-)?/, '').replace(/=.*$/, '')
      expect(`${V8_MODE_FLAGS.size} ${V8_MODE_FLAGS.speed}`).not.toContain(name)
    }
    // Speed mode is this Node's V8 defaults, flag by flag.
    const options = execFileSync(process.execPath, ['--v8-options'], { encoding: 'utf8' })
    for (const flag of V8_MODE_FLAGS.speed.split(' ')) {
      const name = flag.replace(/^--(no-)?/, '').replace(/=.*$/, '')
      const fallback = new RegExp(`^\\s+--${name} \\(.*\\n\\s+type: \\w+\\s+default: (\\S+)`, 'm').exec(options)?.[1]
      expect(fallback?.replace(/="(.*)"$/, '=$1'), name).toBe(flag) // (string defaults are shown quoted)
    }
    // Each mode undoes the other's flags, whatever was set before.
    for (const flag of V8_MODE_FLAGS.size.split(' ')) {
      const name = flag.replace(/^--(no-)?/, '').replace(/=.*$/, '')
      expect(V8_MODE_FLAGS.speed.split(' ').some((f) => f.replace(/^--(no-)?/, '').replace(/=.*$/, '') === name)).toBe(true)
    }
  })
})
