/**
 * What a command that follows work the daemon goes on with (`submit --wait`, `job --wait`,
 * `map`) does when it is interrupted or loses its daemon: the work is not lost, so it says where
 * it is and how to find it again.
 */
import { DepinError } from '../errors.ts'
import { DaemonUnreachableError, NodeNotRunningError } from './errors.ts'
import { errorText, watchProcessErrors } from './process-errors.ts'

/**
 * The signals that stop a daemon or a testnet cleanly, and end a command that follows work with a
 * word on where the work is: Ctrl-C, a supervisor's SIGTERM, and SIGHUP, the terminal closing
 * (its default, dying at once, left a daemon's api.json and a testnet's lock behind).
 */
export const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const

/** 128 + the signal's number, as shells report a command a signal ended. */
const SIGNAL_EXIT_CODES: Record<typeof STOP_SIGNALS[number], number> = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 }

let terminalLost = false

/**
 * After SIGHUP the terminal is gone: writing to it fails (EIO, or EPIPE for a pipe whose reader
 * went with it), and a stream error would end the process before its clean stop (a testnet died
 * of EIO saying `stopping the testnet…`, its lock left behind). From then on what is written is
 * lost and its errors are ignored (see `stdoutErrorAction`); the stop goes on.
 */
export function ignoreLostTerminal (signal: NodeJS.Signals): void {
  if (signal !== 'SIGHUP' || terminalLost) return
  terminalLost = true
  for (const stream of [process.stdout, process.stderr]) {
    if (stream.listenerCount('error') === 0) stream.on('error', () => {})
  }
}

/** What runs until stopped (`the node`, `the testnet`), if this command is one; and whether its stdout went away. */
let runsUntilStopped: string | undefined
let stdoutGone = false

/**
 * For a command that runs until stopped (`depin start`, `depin testnet`): stdout going away
 * (`depin testnet | head`, once head exits: EPIPE) does not end it. Other commands end quietly
 * then, as command-line tools do; this one said so once on stderr and went on, its output lost
 * (the node's log goes on in daemon.log: node/log-destination.ts). Ending it there would skip its
 * clean stop: a testnet left its nodes running and its lock and testnet.json behind.
 */
export function goOnWithoutStdout (what: string): void {
  runsUntilStopped = what
  // (its stderr may have gone with it: `2>&1 | head`)
  if (process.stderr.listenerCount('error') === 0) process.stderr.on('error', () => {})
}

/** What an error on stdout does: `ignore` it, `exit` quietly (a reader that stopped early), or `throw` it. */
export function stdoutErrorAction (err: NodeJS.ErrnoException): 'ignore' | 'exit' | 'throw' {
  // (after SIGHUP: the terminal is gone, and a daemon or testnet is stopping cleanly)
  if (terminalLost || stdoutGone) return 'ignore'
  if (err.code !== 'EPIPE') return 'throw'
  if (runsUntilStopped == null) return 'exit'
  stdoutGone = true
  try {
    process.stderr.write(`depin: stdout went away (EPIPE); ${runsUntilStopped} goes on without it\n`)
  } catch {
    // (stderr went too)
  }
  return 'ignore'
}

/** What the newest holder of the signals says (see `onInterrupt`); older ones wait under it. */
const interruptSays: Array<{ say: () => void }> = []

function interrupted (signal: typeof STOP_SIGNALS[number]): void {
  ignoreLostTerminal(signal)
  try {
    interruptSays.at(-1)?.say()
  } catch {
    // (a terminal that went away: nothing to say it on)
  }
  process.exit(SIGNAL_EXIT_CODES[signal])
}

/**
 * Until the returned function is called, Ctrl-C (SIGINT), SIGTERM or SIGHUP runs `say` (which
 * prints how to follow and cancel what goes on) and exits 130, 143 or 129, as shells report a
 * command a signal ended.
 *
 * Holders stack: the newest one's `say` is the one that runs, and releasing it hands the signals
 * back to the one under it. So a command hands over from one stage to the next (an upload, then
 * following what it started) by taking the signals for the next stage before it releases them for
 * the last: with no holder between, a signal in that gap took Node's default and killed the
 * command without a word (a `map` interrupted right after it printed its batch id ended by SIGINT,
 * not with 130 and where its batch went on).
 */
export function onInterrupt (say: () => void): () => void {
  const holder = { say }
  interruptSays.push(holder)
  if (interruptSays.length === 1) for (const signal of STOP_SIGNALS) process.on(signal, interrupted)
  return () => {
    const index = interruptSays.indexOf(holder)
    if (index < 0) return
    interruptSays.splice(index, 1)
    if (interruptSays.length === 0) for (const signal of STOP_SIGNALS) process.off(signal, interrupted)
  }
}

/**
 * Starts `upload` (a job's or a batch's submission) so that Ctrl-C, SIGTERM or SIGHUP during it
 * says what became of the work before exiting 130, 143 or 129: the daemon starts nothing from an
 * upload it did not receive whole, and only an upload that had just finished (the daemon's
 * answer, with the id, still on its way) can have started something, which the listing then shows.
 * The signals stay held after the upload ends, until `release` is called: the caller takes them
 * for what follows (printing the id, following the work) first, then releases these.
 */
export async function interruptibleUpload<T> (what: 'job' | 'batch', upload: () => Promise<T>): Promise<{ value: T, release: () => void }> {
  const release = onInterrupt(() => {
    process.stderr.write(`depin: interrupted while uploading the ${what}; the daemon starts no ${what} from an unfinished upload (had the upload just finished, \`depin ${what === 'job' ? 'jobs' : 'batches'}\` lists it)\n`)
  })
  try {
    return { value: await upload(), release }
  } catch (err) {
    release()
    throw err
  }
}

/**
 * Whether `err` means the daemon went away: it could not be reached, or a response it was
 * sending (an event stream, a download) was cut (`aborted`, ECONNRESET), as when it stops.
 */
export function connectionLost (err: unknown): boolean {
  if (err instanceof DaemonUnreachableError || err instanceof NodeNotRunningError) return true
  if (err instanceof DepinError || !(err instanceof Error)) return false
  const code = (err as NodeJS.ErrnoException).code
  return code === 'ECONNRESET' || code === 'ECONNREFUSED' || code === 'EPIPE' || code === 'ERR_STREAM_PREMATURE_CLOSE' || err.message === 'aborted'
}

/** A job's daemon stopped while this command followed the job. */
export class DaemonStoppedError extends DepinError {
  constructor (message: string, options?: ErrorOptions) {
    super(message, 'ERR_DAEMON_STOPPED', options)
  }
}

/** The line for a job whose daemon stopped while this command waited on it. */
export function jobDaemonStopped (id: string, cause?: unknown): DaemonStoppedError {
  return new DaemonStoppedError(`the daemon stopped while job ${id} was running; it resumes when the node starts again (\`depin job ${id} --wait\`)`, { cause })
}

/** What a testnet's first SIGINT, SIGTERM or SIGHUP aborts its start-up with. */
export class TestnetInterruptedError extends DepinError {
  /** `by`: the signal, or what else stopped it. */
  constructor (by: NodeJS.Signals | 'an uncaught exception') {
    super(`the testnet was stopped (${by})`, 'ERR_TESTNET_INTERRUPTED')
  }
}

export interface TestnetSignals {
  /** Aborted (with a TestnetInterruptedError) by the first SIGINT, SIGTERM or SIGHUP. */
  readonly signal: AbortSignal
  /** Resolves at the first SIGINT, SIGTERM or SIGHUP. */
  readonly signalled: Promise<void>
  /** Removes the handlers. */
  release(): void
}

/**
 * A testnet's stop signals, watched from before it starts anything: a Ctrl-C or SIGTERM while
 * its nodes start must stop the nodes already started (before, the process died of the signal
 * and left them running: the tcp testnet's child processes as orphans). The first SIGINT,
 * SIGTERM or SIGHUP (the terminal closed) says `stopping the testnet…` and aborts `signal`; later
 * ones (Ctrl-C pressed again, or a terminal's SIGINT and a supervisor's SIGTERM together) are
 * ignored with one line, so they cannot kill the process while its nodes stop.
 */
export function watchTestnetSignals (say: (text: string) => void): TestnetSignals {
  goOnWithoutStdout('the testnet')
  const controller = new AbortController()
  const signalled = Promise.withResolvers<void>()
  const onSignal = (signal: NodeJS.Signals): void => {
    ignoreLostTerminal(signal)
    if (controller.signal.aborted) {
      process.stderr.write(`depin: ${signal} ignored: the testnet is already stopping\n`)
      return
    }
    say('stopping the testnet…')
    controller.abort(new TestnetInterruptedError(signal))
    signalled.resolve()
  }
  for (const signal of STOP_SIGNALS) process.on(signal, onSignal)
  // A bug's error that nothing caught, as in `depin start` (process-errors.ts): a rejection is
  // said and the testnet goes on; an uncaught exception stops it as a signal does, exiting 1.
  const unwatchErrors = watchProcessErrors({
    rejection: (reason) => { process.stderr.write(`depin: unhandled promise rejection (a bug; the testnet goes on): ${errorText(reason)}\n`) },
    uncaught: (err) => {
      process.stderr.write(`depin: uncaught exception (a bug; the testnet stops): ${errorText(err)}\n`)
      process.exitCode = 1
      if (controller.signal.aborted) return
      say('stopping the testnet…')
      controller.abort(new TestnetInterruptedError('an uncaught exception'))
      signalled.resolve()
    }
  })
  return {
    signal: controller.signal,
    signalled: signalled.promise,
    release: () => {
      for (const signal of STOP_SIGNALS) process.off(signal, onSignal)
      unwatchErrors()
    }
  }
}
