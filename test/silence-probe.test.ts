/**
 * The requester's check of a silent worker (src/scheduler/requester/silence-probe.ts): when to
 * ping, and what an answer, a silence or a frame that arrives meanwhile makes of the lease.
 */
import { describe, it, expect } from 'vitest'
import { shouldProbe, SilenceProbe } from '../src/scheduler/requester/silence-probe.ts'
import { LEASE_PROBE_AFTER_MS } from '../src/scheduler/constants.ts'
import { WorkerUnresponsiveError } from '../src/scheduler/errors.ts'

const AFTER = LEASE_PROBE_AFTER_MS

describe('shouldProbe', () => {
  const base = { now: 100_000, lastHeardAt: 0, oldestSentAt: 0, lastProbeAt: 0, probing: false }

  it('pings once tasks are out and nothing was heard for a while since', () => {
    expect(shouldProbe({ ...base, lastHeardAt: base.now - AFTER, oldestSentAt: base.now - AFTER })).toBe(true)
    // (heard from it recently, or the task only just went)
    expect(shouldProbe({ ...base, lastHeardAt: base.now - AFTER + 1, oldestSentAt: base.now - 60_000 })).toBe(false)
    expect(shouldProbe({ ...base, lastHeardAt: base.now - 60_000, oldestSentAt: base.now - AFTER + 1 })).toBe(false)
  })

  it('never with no task out, with a ping out, or right after the last one', () => {
    expect(shouldProbe({ ...base, oldestSentAt: Infinity })).toBe(false)
    expect(shouldProbe({ ...base, probing: true })).toBe(false)
    expect(shouldProbe({ ...base, lastProbeAt: base.now - AFTER + 1 })).toBe(false)
    expect(shouldProbe({ ...base, lastProbeAt: base.now - AFTER })).toBe(true)
  })
})

/** A probe hook the test answers: `answer(true|false)` settles the ping asked for. */
function hook (): { probe: (peer: string, signal: AbortSignal) => Promise<boolean>, asked: string[], signals: AbortSignal[], answer: (v: boolean) => void } {
  const asked: string[] = []
  const signals: AbortSignal[] = []
  let pending: ((v: boolean) => void) | undefined
  return {
    asked,
    signals,
    probe: async (peer, signal) => {
      asked.push(peer)
      signals.push(signal)
      return await new Promise<boolean>((resolve) => { pending = resolve })
    },
    answer: (v) => { pending?.(v) }
  }
}

const settle = async (): Promise<void> => { await new Promise((resolve) => { setImmediate(resolve) }) }

describe('SilenceProbe', () => {
  it('a worker that does not answer: the lease is told, with a specific error', async () => {
    const h = hook()
    const failures: Error[] = []
    const probe = new SilenceProbe('worker-a', h.probe, (err) => { failures.push(err) })
    const now = Date.now()
    probe.heard(now - 10_000)
    probe.check(now, now - 5_000)
    expect(h.asked).toEqual(['worker-a'])
    // (no second ping while one is out)
    probe.check(now + AFTER, now - 5_000)
    expect(h.asked.length).toBe(1)
    h.answer(false)
    await settle()
    expect(failures.length).toBe(1)
    expect(failures[0]).toBeInstanceOf(WorkerUnresponsiveError)
    expect((failures[0] as WorkerUnresponsiveError).code).toBe('ERR_WORKER_UNRESPONSIVE')
    expect(failures[0].message).toMatch(/worker-a sent nothing for \d+ ms while it held tasks, and did not answer a ping/)
    probe.stop()
  })

  it('a worker that answers, or sends a frame while the ping is out, keeps its lease; a later silence asks again', async () => {
    const h = hook()
    const failures: Error[] = []
    const probe = new SilenceProbe('worker-b', h.probe, (err) => { failures.push(err) })
    const now = Date.now()
    probe.heard(now - 10_000)
    probe.check(now, now - 5_000)
    h.answer(true)
    await settle()
    expect(failures).toEqual([])

    probe.check(now + AFTER, now - 5_000)
    expect(h.asked.length).toBe(2)
    probe.heard(now + AFTER + 1)
    h.answer(false)
    await settle()
    expect(failures).toEqual([])
    probe.stop()
  })

  it('stop drops a ping that is out: aborted, and no failure after', async () => {
    const h = hook()
    const failures: Error[] = []
    const probe = new SilenceProbe('worker-c', h.probe, (err) => { failures.push(err) })
    const now = Date.now()
    probe.heard(now - 10_000)
    probe.check(now, now - 5_000)
    probe.stop()
    expect(h.signals[0].aborted).toBe(true)
    // (not the deadline's TimeoutError: the hook drops a peer's connections only for that)
    expect((h.signals[0].reason as Error).name).not.toBe('TimeoutError')
    h.answer(false)
    await settle()
    expect(failures).toEqual([])
  })

  it('a hook that throws counts as no answer', async () => {
    const failures: Error[] = []
    const probe = new SilenceProbe('worker-d', async () => { throw new Error('boom') }, (err) => { failures.push(err) })
    const now = Date.now()
    probe.heard(now - 10_000)
    probe.check(now, now - 5_000)
    await settle()
    expect(failures.length).toBe(1)
    probe.stop()
  })
})
