/**
 * `depin start`: runs the daemon in the foreground until SIGINT/SIGTERM/SIGHUP or `depin stop`.
 *
 * Signals: the first SIGINT, SIGTERM or SIGHUP (its terminal closed) starts a clean stop; later
 * ones are noted and ignored, so that a terminal's Ctrl-C and a supervisor's SIGTERM arriving
 * together (as under `depin testnet`) cannot kill the node halfway through its stop. A stop that
 * takes longer than DAEMON_STOP_TIMEOUT_MS ends the process with an error.
 *
 * A bug's error that nothing caught (process-errors.ts): an unhandled rejection is logged and the
 * node goes on; an uncaught exception is logged and stops the node cleanly, exiting 1.
 */
import { defaultDataDir } from '../../node/paths.ts'
import { DAEMON_STOP_TIMEOUT_MS, startDaemon } from '../../node/daemon.ts'
import type { LogFormat } from '../../node/operator-log.ts'
import type { LogLevel } from '../../shared/log.ts'
import { VERSION } from '../../version.ts'
import type { StartOptions } from '../program.ts'
import { applyStartEnv, START_ENV } from '../start-env.ts'
import { checkMultiaddrs } from '../parse.ts'
import { UsageError } from '../errors.ts'
import { goOnWithoutStdout, ignoreLostTerminal, STOP_SIGNALS } from '../interrupt.ts'
import { errorFields, errorText, watchProcessErrors } from '../process-errors.ts'

export async function startCommand (cliOptions: StartOptions): Promise<void> {
  const opts = applyStartEnv(cliOptions)
  // The flags' addresses were checked as they were parsed; these name their variable.
  for (const option of ['listen', 'announce', 'bootstrap'] as const) {
    try {
      await checkMultiaddrs(opts[option] ?? [], { peerId: option === 'bootstrap' })
    } catch (err) {
      const from = cliOptions[option] !== undefined ? `--${option}` : START_ENV[option][0]
      throw new UsageError(`${from}: ${(err as Error).message}`)
    }
  }
  const dataDir = opts.dataDir ?? defaultDataDir()
  // Its log does not go through process.stdout (it goes on in daemon.log: log-destination.ts); nothing else ends the node on EPIPE.
  goOnWithoutStdout('the node')

  // Signals (and uncaught exceptions) that arrive while the node is still starting stop it as
  // soon as it has started.
  let stopFor: string | undefined
  let onStop = (reason: string): void => { stopFor ??= reason }
  const handler = (signal: NodeJS.Signals): void => { ignoreLostTerminal(signal); onStop(`received ${signal}`) }
  for (const signal of STOP_SIGNALS) process.on(signal, handler)
  // Until the node's log exists, on stderr.
  let reportBug = (what: string, err: unknown): void => { process.stderr.write(`depin: ${what}: ${errorText(err)}\n`) }
  const unwatchErrors = watchProcessErrors({
    rejection: (reason) => { reportBug('unhandled promise rejection (a bug; the node goes on)', reason) },
    uncaught: (err) => {
      reportBug('uncaught exception (a bug; the node stops)', err)
      process.exitCode = 1
      onStop(`uncaught exception: ${errorFields(err).message}`)
    }
  })
  try {
    const daemon = await startDaemon({
      dataDir,
      listen: opts.listen,
      announce: opts.announce,
      bootstrap: opts.bootstrap,
      api: opts.api,
      mdns: opts.mdns,
      mine: opts.mine,
      spotCheckRate: opts.spotCheck,
      capacity: { cores: opts.cores, memoryMiB: opts.memory, pricePerGigafuel: opts.price, slots: opts.slots },
      metrics: opts.metrics,
      logLevel: opts.logLevel as LogLevel | undefined,
      logFormat: opts.logFormat as LogFormat | undefined,
      logFile: opts.logFile
    })
    const { node, log } = daemon
    // (flat fields: pino-pretty prints an `err` object over several lines, and the text log is one line per event)
    reportBug = (what, err) => { const { message, code, stack } = errorFields(err); log.error({ reason: message, ...(code != null ? { code } : {}), ...(stack != null ? { stack } : {}) }, what) }
    const capacity = node.status().capacity
    log.info({ version: VERSION, dataDir }, `depin node ${node.peerId} started`)
    for (const address of node.multiaddrs) log.info({ address }, 'listening')
    log.info({ api: `http://${daemon.api}/v1`, token: `${dataDir}/api-token` }, 'local API (and dashboard: `depin dashboard`)')
    if (daemon.metricsAddress != null) log.info({ url: `http://${daemon.metricsAddress}/metrics` }, 'metrics for Prometheus (no token)')
    log.info({ cores: capacity.cores, memoryMiB: capacity.memoryMiB, slots: capacity.slots, price: capacity.pricePerGigafuel }, 'offering capacity')

    const reason = await new Promise<string>((resolve) => {
      onStop = resolve
      if (stopFor != null) resolve(stopFor)
      void daemon.stopRequested.then((by) => { resolve(`stop requested through the API (${by})`) })
    })
    log.info({ reason }, 'stopping')
    onStop = (reason) => { log.warn({ reason }, 'already stopping; ignored') }
    const deadline = setTimeout(() => {
      log.error({ timeoutMs: DAEMON_STOP_TIMEOUT_MS }, 'stop did not finish in time; exiting')
      process.exit(1)
    }, DAEMON_STOP_TIMEOUT_MS)
    deadline.unref()
    try {
      await daemon.stop()
      log.info('stopped')
    } catch (err) {
      log.error({ err: (err as Error).message }, 'error while stopping')
      process.exitCode = 1
    } finally {
      clearTimeout(deadline)
    }
    // Stopped: the process ends when its last handles close; a signal now just ends it.
    onStop = () => { process.exit() }
  } catch (err) {
    for (const signal of STOP_SIGNALS) process.off(signal, handler)
    unwatchErrors()
    throw err
  }
}
