/**
 * V8's `--optimize-for-size` while the daemon is idle, V8's defaults while it works.
 *
 * Why: `--optimize-for-size` keeps an idle daemon about 30 MB smaller (bench/idle), but a worker
 * under it spends about 60% more CPU on each small task (bench/throughput: 0.51 against 0.31 ms
 * of worker CPU per trivial task, 2,300 against 3,300 tasks/s). The flag is read by V8 as it
 * runs, so it can be switched: on when the daemon starts, off as soon as work begins (a lease
 * offered as requester, a task started as worker, or any lease open), and on again once the
 * daemon has had no lease for `idleMs`.
 */
import { setFlagsFromString } from 'node:v8'
import { logger } from '@libp2p/logger'

const log = logger('depin:daemon:v8')

export type V8Mode = 'size' | 'speed'

/** Default: back to size mode after 5 minutes with no lease (warm leases close after 30 s idle). */
export const V8_IDLE_MS = 5 * 60 * 1000
/** How often the daemon's leases are looked at. */
export const V8_CHECK_MS = 15_000

/** The mode a daemon should be in: pure, for tests. */
export function nextV8Mode (input: { current: V8Mode, busy: boolean, lastActiveAt: number, now: number, idleMs: number }): V8Mode {
  if (input.busy) return 'speed'
  if (input.current === 'speed' && input.now - input.lastActiveAt < input.idleMs) return 'speed'
  return 'size'
}

export interface V8ModeSwitchInit {
  /** Whether the node holds or serves any lease now. */
  busy: () => boolean
  idleMs?: number
  checkMs?: number
  /** Sets a V8 flag (tests pass a recorder). @default v8.setFlagsFromString */
  setFlags?: (flags: string) => void
}

export class V8ModeSwitch {
  private readonly init: Required<V8ModeSwitchInit>
  private mode?: V8Mode
  private lastActiveAt = 0
  private timer?: ReturnType<typeof setInterval>

  constructor (init: V8ModeSwitchInit) {
    this.init = { idleMs: V8_IDLE_MS, checkMs: V8_CHECK_MS, setFlags: setFlagsFromString, ...init }
  }

  get current (): V8Mode | undefined { return this.mode }

  /** Size mode now; looks at the leases every `checkMs`. */
  start (): void {
    this.set('size')
    this.timer = setInterval(() => { this.check() }, this.init.checkMs)
    this.timer.unref?.()
  }

  stop (): void {
    clearInterval(this.timer)
    this.timer = undefined
  }

  /** Work is starting or going on: speed mode at once. Cheap enough to call for every task. */
  activity (): void {
    this.lastActiveAt = Date.now()
    if (this.mode !== 'speed') this.set('speed')
  }

  /** Looks at the leases: busy keeps speed mode, a long quiet goes back to size mode. */
  check (now = Date.now()): void {
    const busy = this.init.busy()
    if (busy) this.lastActiveAt = now
    this.set(nextV8Mode({ current: this.mode ?? 'size', busy, lastActiveAt: this.lastActiveAt, now, idleMs: this.init.idleMs }))
  }

  private set (mode: V8Mode): void {
    if (mode === this.mode) return
    this.mode = mode
    log('%s mode', mode)
    this.init.setFlags(mode === 'size' ? '--optimize-for-size' : '--no-optimize-for-size')
  }
}
