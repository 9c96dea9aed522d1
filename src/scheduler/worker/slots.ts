/**
 * A worker's execution slots, shared fairly by its leases. Each lease may run at most its own
 * slots at once; when slots are scarce, waiting leases take turns (round robin), so one
 * requester's deep queue cannot starve another's. It also keeps a moving average of run times,
 * from which admission estimates when a newly arrived task could start.
 */

interface Waiter {
  lease: string
  resolve: (release: () => void) => void
  reject: (err: Error) => void
}

/** Weight of the newest run in the moving average of run times. */
const EWMA_WEIGHT = 0.1

export class SlotScheduler {
  private readonly slots: () => number
  private running = 0
  private readonly runningBy = new Map<string, number>()
  private readonly limits = new Map<string, number>()
  /** Leases known (their slot limits): for tests of what is kept. */
  get leasesKnown (): number { return this.limits.size }
  /** Waiting tasks per lease, and the leases with waiters in turn order. */
  private readonly waiting = new Map<string, Waiter[]>()
  private readonly turn: string[] = []
  private averageRunMs = 0

  constructor (slots: () => number) {
    this.slots = slots
  }

  /** Tasks running now. */
  get active (): number { return this.running }

  /** Tasks waiting for a slot. */
  get queued (): number {
    let n = 0
    for (const list of this.waiting.values()) n += list.length
    return n
  }

  /** How long a run takes, on average lately (0 before the first one). */
  get typicalRunMs (): number { return this.averageRunMs }

  /**
   * When a task that arrives now could start, roughly: the work queued ahead of it spread over
   * the slots, at the typical run time.
   */
  estimateStart (now: number): number {
    const slots = Math.max(1, this.slots())
    const ahead = this.queued + Math.max(0, this.running - slots + 1)
    return now + Math.ceil(ahead / slots) * this.averageRunMs
  }

  /** Waits for a slot for `lease` (which may use at most `leaseSlots`); resolves with its release. */
  async acquire (lease: string, leaseSlots: number, signal: AbortSignal): Promise<() => void> {
    signal.throwIfAborted()
    this.limits.set(lease, leaseSlots)
    if (this.canRun(lease)) return this.take(lease)
    return await new Promise<() => void>((resolve, reject) => {
      const waiter: Waiter = { lease, resolve, reject }
      const list = this.waiting.get(lease) ?? []
      if (list.length === 0) this.turn.push(lease)
      list.push(waiter)
      this.waiting.set(lease, list)
      signal.addEventListener('abort', () => {
        if (!this.removeWaiter(waiter)) return
        reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'))
      }, { once: true })
    })
  }

  /** Records how long a run took (for start estimates). */
  observe (runMs: number): void {
    this.averageRunMs = this.averageRunMs === 0 ? runMs : this.averageRunMs * (1 - EWMA_WEIGHT) + runMs * EWMA_WEIGHT
  }

  /** Fails every waiter (the node is stopping). */
  clear (err: Error): void {
    for (const list of this.waiting.values()) for (const w of list) w.reject(err)
    this.waiting.clear()
    this.turn.length = 0
    for (const lease of [...this.limits.keys()]) if (!this.runningBy.has(lease)) this.limits.delete(lease)
  }

  private canRun (lease: string): boolean {
    return this.running < Math.max(1, this.slots()) && (this.runningBy.get(lease) ?? 0) < (this.limits.get(lease) ?? 1)
  }

  private take (lease: string): () => void {
    this.running++
    this.runningBy.set(lease, (this.runningBy.get(lease) ?? 0) + 1)
    let released = false
    return () => {
      if (released) return
      released = true
      this.running--
      const left = (this.runningBy.get(lease) ?? 1) - 1
      if (left <= 0) {
        this.runningBy.delete(lease)
        if (!this.waiting.has(lease)) this.limits.delete(lease)
      } else {
        this.runningBy.set(lease, left)
      }
      this.dispatch()
    }
  }

  /** Starts waiters while slots are free, one lease at a time in turn. */
  private dispatch (): void {
    let scanned = 0
    while (this.turn.length > 0 && this.running < Math.max(1, this.slots()) && scanned < this.turn.length) {
      const lease = this.turn.shift() as string
      const list = this.waiting.get(lease)
      if (list == null || list.length === 0) { this.waiting.delete(lease); continue }
      if (!this.canRun(lease)) {
        this.turn.push(lease)
        scanned++
        continue
      }
      scanned = 0
      const waiter = list.shift() as Waiter
      if (list.length === 0) this.waiting.delete(lease)
      else this.turn.push(lease)
      waiter.resolve(this.take(lease))
    }
  }

  private removeWaiter (waiter: Waiter): boolean {
    const list = this.waiting.get(waiter.lease)
    const i = list?.indexOf(waiter) ?? -1
    if (list == null || i < 0) return false
    list.splice(i, 1)
    if (list.length === 0) {
      this.waiting.delete(waiter.lease)
      const t = this.turn.indexOf(waiter.lease)
      if (t >= 0) this.turn.splice(t, 1)
      // (a lease with nothing waiting and nothing running is forgotten)
      if (!this.runningBy.has(waiter.lease)) this.limits.delete(waiter.lease)
    }
    return true
  }
}
