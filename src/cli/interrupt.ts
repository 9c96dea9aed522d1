/**
 * What a command that follows work the daemon goes on with (`submit --wait`, `job --wait`,
 * `map`) does when it is interrupted or loses its daemon: the work is not lost, so it says where
 * it is and how to find it again.
 */
import { DepinError } from '../errors.ts'
import { DaemonUnreachableError, NodeNotRunningError } from './errors.ts'

/**
 * Until the returned function is called, Ctrl-C (SIGINT) or SIGTERM runs `say` (which prints how
 * to follow and cancel what goes on) and exits 130 (SIGINT) or 143 (SIGTERM), as shells report a
 * command a signal ended.
 */
export function onInterrupt (say: () => void): () => void {
  const handler = (signal: NodeJS.Signals): void => {
    say()
    process.exit(signal === 'SIGTERM' ? 143 : 130)
  }
  process.once('SIGINT', handler)
  process.once('SIGTERM', handler)
  return () => {
    process.off('SIGINT', handler)
    process.off('SIGTERM', handler)
  }
}

/**
 * Runs `upload` (a job's or a batch's submission) so that Ctrl-C or SIGTERM during it says what
 * became of the work before exiting 130 or 143: the daemon starts nothing from an upload it did
 * not receive whole, and only an upload that had just finished (the daemon's answer, with the id,
 * still on its way) can have started something, which the listing then shows.
 */
export async function interruptibleUpload<T> (what: 'job' | 'batch', upload: () => Promise<T>): Promise<T> {
  const release = onInterrupt(() => {
    process.stderr.write(`depin: interrupted while uploading the ${what}; the daemon starts no ${what} from an unfinished upload (had the upload just finished, \`depin ${what === 'job' ? 'jobs' : 'batches'}\` lists it)\n`)
  })
  try {
    return await upload()
  } finally {
    release()
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

/** What a testnet's first SIGINT or SIGTERM aborts its start-up with. */
export class TestnetInterruptedError extends DepinError {
  constructor (signal: NodeJS.Signals) {
    super(`the testnet was stopped (${signal})`, 'ERR_TESTNET_INTERRUPTED')
  }
}

export interface TestnetSignals {
  /** Aborted (with a TestnetInterruptedError) by the first SIGINT or SIGTERM. */
  readonly signal: AbortSignal
  /** Resolves at the first SIGINT or SIGTERM. */
  readonly signalled: Promise<void>
  /** Removes the handlers. */
  release(): void
}

/**
 * A testnet's stop signals, watched from before it starts anything: a Ctrl-C or SIGTERM while
 * its nodes start must stop the nodes already started (before, the process died of the signal
 * and left them running: the tcp testnet's child processes as orphans). The first SIGINT or
 * SIGTERM says `stopping the testnet…` and aborts `signal`; later ones (Ctrl-C pressed again,
 * or a terminal's SIGINT and a supervisor's SIGTERM together) are ignored with one line, so they
 * cannot kill the process while its nodes stop.
 */
export function watchTestnetSignals (say: (text: string) => void): TestnetSignals {
  const controller = new AbortController()
  const signalled = Promise.withResolvers<void>()
  const onSignal = (signal: NodeJS.Signals): void => {
    if (controller.signal.aborted) {
      process.stderr.write(`depin: ${signal} ignored: the testnet is already stopping\n`)
      return
    }
    say('stopping the testnet…')
    controller.abort(new TestnetInterruptedError(signal))
    signalled.resolve()
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  return {
    signal: controller.signal,
    signalled: signalled.promise,
    release: () => {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
    }
  }
}
