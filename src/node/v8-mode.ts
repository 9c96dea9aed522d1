/**
 * V8 tuned for memory while the daemon is idle, V8's defaults while it works.
 *
 * Why: an idle daemon runs little JavaScript (DHT upkeep, gossip heartbeats, the odd API call),
 * none of it hot enough to be worth optimised machine code. In size mode V8 favours memory
 * (`--optimize-for-size`, about 30 MB less in an idle daemon) and does not start its optimising
 * compilers (`--no-turbofan`, and Maglev given a filter no function passes: the compilers' own
 * code in the node binary is not paged in and no optimised code is kept, about 6 MiB less,
 * bench/idle). Maglev is kept out by its filter, not turned off: code that ran while Maglev was
 * off (`--no-maglev`) was not tiered up again after the switch back (V8 had set its next tier-up
 * check far off: a perf profile of a worker daemon found ~8% of its main thread's samples in
 * interpreted or baseline code against ~2% without the switch; 0.31-0.33 against 0.27-0.29 ms of
 * worker CPU per trivial task in bench/throughput), while a function the filter turns away is
 * checked again soon and tiers up once the filter lets it. Size mode costs a working node dearly:
 * a worker under `--optimize-for-size` alone spends about 60% more CPU on each small task (bench/throughput:
 * 0.51 against 0.31 ms of worker CPU per trivial task, 2,300 against 3,300 tasks/s). V8 reads
 * these flags as it runs, so they are switched: size mode when the daemon starts, speed mode as
 * soon as work begins (a lease offered as requester, a lease accepted as worker, any lease open, a
 * miner running), and size mode again once the daemon has had no work for `idleMs`. Code
 * optimised in speed mode stays optimised after the switch back.
 *
 * Besides the modes, a daemon drops the bytecode and baseline code of functions that did not
 * run since the last full GC, always (`V8_DAEMON_FLAGS`: most of a daemon's code runs once, at
 * start; about 3 MiB less; a function that runs again is compiled again, lazily).
 */
import { setFlagsFromString } from 'node:v8'
import { logger } from '@libp2p/logger'

const log = logger('depin:daemon:v8')

export type V8Mode = 'size' | 'speed'

/**
 * The V8 flags each mode sets (process-wide: worker threads included). Speed mode is V8's
 * defaults (a unit test checks them against this Node's `--v8-options`).
 */
export const V8_MODE_FLAGS: Readonly<Record<V8Mode, string>> = {
  size: '--optimize-for-size --no-turbofan --maglev-filter=depin-size-mode',
  speed: '--no-optimize-for-size --turbofan --maglev-filter=*'
}

/**
 * Flags a daemon sets once, as it starts, and never switches: code that did not run since the
 * last full GC is dropped. Not part of the modes: switched at run time together with
 * `--optimize-for-size`, they crashed V8 (a lazy deoptimisation reading flushed bytecode, in
 * `TieringManager::InterruptBudgetFor`, in 3 of 6 runs of a stress test switching every flag
 * ~100 times in three busy threads, 2 of 6 with only these and `--optimize-for-size`); set once,
 * with the modes switched as a daemon switches them, never (0 of 31 runs).
 */
export const V8_DAEMON_FLAGS = '--bytecode-old-age=1 --flush-baseline-code --memory-reducer-gc-count=4'

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

/**
 * Size mode at once, before a `V8ModeSwitch` exists: for a process that is about to load and
 * start a daemon (`depin start`), so that start-up itself runs unoptimised.
 */
export function enterSizeMode (setFlags: (flags: string) => void = setFlagsFromString): void {
  setFlags(`${V8_DAEMON_FLAGS} ${V8_MODE_FLAGS.size}`)
}

export interface V8ModeSwitchInit {
  /** Whether the node works now (holds or serves a lease, mines). */
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

  /** The daemon's flags and size mode now; looks at the leases every `checkMs`. */
  start (): void {
    this.init.setFlags(V8_DAEMON_FLAGS)
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
    // A node between stopping and stopped answers `busy` by throwing (its parts are gone): the
    // timer fires on, and an exception here would end the daemon mid-stop. Not busy, then.
    let busy: boolean
    try {
      busy = this.init.busy()
    } catch {
      busy = false
    }
    if (busy) this.lastActiveAt = now
    this.set(nextV8Mode({ current: this.mode ?? 'size', busy, lastActiveAt: this.lastActiveAt, now, idleMs: this.init.idleMs }))
  }

  private set (mode: V8Mode): void {
    if (mode === this.mode) return
    this.mode = mode
    log('%s mode', mode)
    this.init.setFlags(V8_MODE_FLAGS[mode])
  }
}
