/**
 * The operator's log: lines with a timestamp and a level that a node operator reads (jobs run and
 * earned, jobs submitted and their outcome, leases, blocks mined, peers banned). Components
 * outside `src/node` take this interface; `src/node/operator-log.ts` implements it with pino
 * (`--log-level`, `--log-format text|json`, `--log-file`).
 *
 * Internals (protocol steps, retries, decode failures) stay on `@libp2p/logger` (`DEBUG=depin:*`).
 *
 * Call it as pino is called: `log.info({ job, worker, credits }, 'job finished')`: the message is
 * a short fixed phrase and the details are fields, so the JSON format stays queryable. Never put
 * peer payloads in a log line.
 */

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent'

export const LOG_LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']

export type LogFields = Record<string, unknown>

export interface LogFn {
  (message: string): void
  (fields: LogFields, message: string): void
}

export interface OperatorLog {
  trace: LogFn
  debug: LogFn
  info: LogFn
  warn: LogFn
  error: LogFn
  /** A logger whose lines all carry `bindings` (e.g. `{ component: 'worker' }`). */
  child(bindings: LogFields): OperatorLog
  /** Whether lines of `level` are written (pino's); a log without it is taken to write every level. */
  isLevelEnabled?(level: LogLevel): boolean
}

const nothing: LogFn = () => {}

/** A log that drops everything: the default for embedders who did not ask for one, and for tests. */
export const silentLog: OperatorLog = {
  trace: nothing,
  debug: nothing,
  info: nothing,
  warn: nothing,
  error: nothing,
  child: () => silentLog,
  isLevelEnabled: () => false
}
