/**
 * Is a silent worker's node there at all? A lease's worker sends a frame at least every 15 s
 * (a `ping` when it has nothing else), and the lease's stream gives up after 30 s of nothing. A
 * frozen host (a paused VM, a stopped process, a machine gone to sleep) keeps its TCP
 * connections open, so until then every task placed on its lease waits those 30 s. When the
 * lease holds tasks and the worker has said nothing for `LEASE_PROBE_AFTER_MS` (since its last
 * frame, or since the oldest of those tasks went), the requester pings the worker's node: a
 * worker busy with other work answers at once (its node's network code does not wait for its
 * executor), a frozen host does not, and the lease ends after `LEASE_PROBE_TIMEOUT_MS` instead.
 */
import { LEASE_PROBE_AFTER_MS, LEASE_PROBE_TIMEOUT_MS } from '../constants.ts'
import { WorkerUnresponsiveError } from '../errors.ts'

/**
 * Whether the peer's node answers now (false when it does not before the signal aborts). The
 * signal aborts with a `TimeoutError` at the probe's deadline (the peer did not answer: the hook
 * may act on that), and with another reason when the probe is dropped (its lease ended).
 */
export type ProbeHook = (peerId: string, signal: AbortSignal) => Promise<boolean>

export interface ProbeState {
  now: number
  /** When the worker's last frame arrived (the lease's start before any). */
  lastHeardAt: number
  /** When the oldest task still outstanding was sent (Infinity: none outstanding). */
  oldestSentAt: number
  /** When the last probe went (0: never). */
  lastProbeAt: number
  /** A probe is out. */
  probing: boolean
}

/** Whether to ping the worker now: tasks out, nothing heard for a while since, no ping out or just sent. */
export function shouldProbe (s: ProbeState): boolean {
  return !s.probing &&
    s.now - Math.max(s.lastHeardAt, s.oldestSentAt) >= LEASE_PROBE_AFTER_MS &&
    s.now - s.lastProbeAt >= LEASE_PROBE_AFTER_MS
}

export class SilenceProbe {
  private readonly worker: string
  private readonly probe: ProbeHook
  private readonly onUnresponsive: (err: WorkerUnresponsiveError) => void
  private lastHeardAt = Date.now()
  private lastProbeAt = 0
  private probing?: AbortController

  /** `onUnresponsive`: the worker did not answer (called at most once per probe, never after `stop`). */
  constructor (worker: string, probe: ProbeHook, onUnresponsive: (err: WorkerUnresponsiveError) => void) {
    this.worker = worker
    this.probe = probe
    this.onUnresponsive = onUnresponsive
  }

  /** A frame arrived from the worker. */
  heard (now = Date.now()): void {
    this.lastHeardAt = now
  }

  /** The lease's sweep: pings the worker when `shouldProbe` says so. */
  check (now: number, oldestSentAt: number): void {
    if (!shouldProbe({ now, lastHeardAt: this.lastHeardAt, oldestSentAt, lastProbeAt: this.lastProbeAt, probing: this.probing != null })) return
    this.lastProbeAt = now
    const controller = this.probing = new AbortController()
    const signal = AbortSignal.any([controller.signal, AbortSignal.timeout(LEASE_PROBE_TIMEOUT_MS)])
    void this.probe(this.worker, signal).catch(() => false).then((answered) => {
      const stopped = this.probing !== controller
      this.probing = undefined
      // (a frame that came meanwhile answers for the worker)
      if (answered || stopped || this.lastHeardAt >= now) return
      this.onUnresponsive(new WorkerUnresponsiveError(`${this.worker} sent nothing for ${Date.now() - this.lastHeardAt} ms while it held tasks, and did not answer a ping within ${LEASE_PROBE_TIMEOUT_MS} ms`))
    })
  }

  /** The lease ended: a probe still out is dropped. */
  stop (): void {
    const controller = this.probing
    this.probing = undefined
    controller?.abort()
  }
}
