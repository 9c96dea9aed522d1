/**
 * The clock's bound on the fuel a worker may claim, with made-up results and a controlled clock:
 * per task, from when its task frame was sent; per lease, for all its slots, from when its first
 * task was sent (each plus FUEL_TIME_GRACE_MS). With one replica and no spot check a result's fuel
 * is the worker's word: this is what keeps it from billing a task's whole limit for a run of
 * milliseconds (found by a worker written from protocol.md alone, which did, and was paid). The
 * network test is in fuel-network.test.ts.
 */
import { describe, it, expect, afterEach, vi } from 'vitest'
import { rawCid, valueCid } from '../src/proofs/encoding.ts'
import { FUEL_TIME_GRACE_MS, PLAUSIBLE_FUEL_PER_MS } from '../src/scheduler/constants.ts'
import { BadResultError } from '../src/scheduler/errors.ts'
import type { ResultFrame } from '../src/scheduler/lease-frames.ts'
import { checkResultEntry, plausibleFuel } from '../src/scheduler/requester/lease-results.ts'
import { ResultIntake } from '../src/scheduler/requester/result-intake.ts'
import { OutstandingTasks, WithdrawnTasks } from '../src/scheduler/requester/outstanding-tasks.ts'
import type { LeaseAccount } from '../src/scheduler/requester/accounting.ts'
import type { TaskWork } from '../src/scheduler/requester/types.ts'

const LIMIT = 10n ** 13n
const out = new Uint8Array(0)
/** Task `i` (only what the intake reads of it). */
const task = (i: number): TaskWork => {
  const id = valueCid({ task: i })
  return { id, idText: id.toString(), spec: { fuel: LIMIT } } as unknown as TaskWork
}
const result = (t: TaskWork, fuel: bigint): ResultFrame => ({ task: t.id, exit: 0, out: rawCid(out), outBytes: 0, errBytes: 0, fuel, cpuMs: 1, wallMs: 1, stdout: out, stderr: out, stdoutTruncated: false, stderrTruncated: false } as unknown as ResultFrame)

afterEach(() => { vi.useRealTimers() })

describe('plausibleFuel', () => {
  it('is PLAUSIBLE_FUEL_PER_MS per ms observed, plus the grace, per slot; never below the grace', () => {
    expect(plausibleFuel(0)).toBe(BigInt(FUEL_TIME_GRACE_MS) * PLAUSIBLE_FUEL_PER_MS)
    expect(plausibleFuel(1_000)).toBe(BigInt(1_000 + FUEL_TIME_GRACE_MS) * PLAUSIBLE_FUEL_PER_MS)
    expect(plausibleFuel(1_000, 4)).toBe(4n * plausibleFuel(1_000))
    expect(plausibleFuel(-50)).toBe(plausibleFuel(0)) // a clock that stepped back
    expect(plausibleFuel(0.4)).toBe(BigInt(Math.ceil(0.4 + FUEL_TIME_GRACE_MS)) * PLAUSIBLE_FUEL_PER_MS)
  })

  it('leaves an honest run far inside: 30 gigafuel per second (this machine\'s fastest) for 10 s', () => {
    expect(30n * 10n ** 9n * 10n).toBeLessThan(plausibleFuel(10_000) / 10n)
  })
})

describe('checkResultEntry', () => {
  it('refuses fuel over what the time since the task was sent allows, and nothing at the bound', () => {
    const t = task(1)
    expect(checkResultEntry(result(t, plausibleFuel(500)), t, 500)).toBe(true)
    expect(() => checkResultEntry(result(t, plausibleFuel(500) + 1n), t, 500)).toThrow(BadResultError)
    expect(() => checkResultEntry(result(t, plausibleFuel(500) + 1n), t, 500)).toThrow(/more than any machine runs/)
    // A task withdrawn meanwhile (not charged): only its limit applies.
    expect(checkResultEntry(result(t, LIMIT), t)).toBe(true)
    expect(() => checkResultEntry(result(t, LIMIT + 1n), t)).toThrow(/limited to/)
  })
})

describe('ResultIntake: the bound of the whole lease', () => {
  it('refuses results whose fuel together passes what the lease\'s slots ran since its first task', () => {
    vi.useFakeTimers({ toFake: ['Date', 'performance'] })
    vi.setSystemTime(1_000_000)
    const outstanding = new OutstandingTasks(2, 60_000)
    const account = { add: () => {} } as unknown as LeaseAccount
    const delivered: string[] = []
    const intake = new ResultIntake({ worker: 'W', slots: 2, outstanding, withdrawn: new WithdrawnTasks(16), account, deliver: (t) => { delivered.push(t.idText) } })
    const tasks = [0, 1, 2, 3].map(task)
    // Four tasks sent at once; 1 s later each claims just under its own bound (1 s + grace).
    for (const t of tasks) { outstanding.add(t, Date.now()); intake.sent() }
    vi.advanceTimersByTime(1_000)
    const each = plausibleFuel(1_000) - 1n
    intake.result(result(tasks[0], each))
    intake.result(result(tasks[1], each))
    // Two slots ran at most two such runs in that second: a third is more than the lease could.
    expect(() => { intake.result(result(tasks[2], each)) }).toThrow(/more than 2 slot\(s\) run/)
    expect(delivered).toEqual([tasks[0].idText, tasks[1].idText])
  })

  it('an honest lease: many short runs in sequence, each well within its time, never near the bound', () => {
    vi.useFakeTimers({ toFake: ['Date', 'performance'] })
    vi.setSystemTime(2_000_000)
    const outstanding = new OutstandingTasks(1, 60_000)
    const account = { add: () => {} } as unknown as LeaseAccount
    let delivered = 0
    const intake = new ResultIntake({ worker: 'W', slots: 1, outstanding, withdrawn: new WithdrawnTasks(16), account, deliver: () => { delivered++ } })
    for (let i = 0; i < 1_000; i++) {
      const t = task(100 + i)
      outstanding.add(t, Date.now())
      intake.sent()
      vi.advanceTimersByTime(2) // a 2 ms run at 30 gigafuel per second: 60 megafuel
      intake.result(result(t, 60_000_000n))
      outstanding.forget(t.idText)
    }
    expect(delivered).toBe(1_000)
  })
})
