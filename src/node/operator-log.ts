/**
 * The operator's log on pino: `--log-level`, `--log-format text|json`, `--log-file`. Text is
 * pino-pretty on one line per event (`[2025-05-01 12:00:00.000] INFO: job finished {"job":…}`),
 * JSON is pino's own (one object per line, `time` in ISO 8601). Lines are written synchronously:
 * an operator log is a few lines a second, and nothing is lost when the process dies. When stdout
 * goes away under a running node (`depin start | head`), the log goes on in `fallbackFile`
 * (log-destination.ts).
 */
import { pino, type Logger, type DestinationStream } from 'pino'
import pretty from 'pino-pretty'
import { dirname } from 'node:path'
import { makeDirSync, MakeDirError } from '../shared/make-dir.ts'
import { ConfigError } from '../errors.ts'
import { LOG_LEVELS, type LogLevel, type OperatorLog } from '../shared/log.ts'
import { StdoutLogDestination, type StdoutLogDestinationInit } from './log-destination.ts'

export type LogFormat = 'text' | 'json'
export const LOG_FORMATS: readonly LogFormat[] = ['text', 'json']

export interface OperatorLogInit {
  /** @default 'info' */
  level?: LogLevel
  /** @default 'text' */
  format?: LogFormat
  /** Append to this file instead of writing to stdout. */
  file?: string
  /**
   * Writing to stdout: where the log goes on if stdout goes away (its reader exited, its terminal
   * closed); the daemon gives its data dir's `daemon.log`. Without it those lines are dropped.
   */
  fallbackFile?: string
  /** Write here instead (tests). */
  destination?: DestinationStream
}

export interface OperatorLogHandle {
  log: OperatorLog & Logger
  /** Flushes buffered lines (a no-op for the synchronous destinations used here). */
  flush(): void
}

export function createOperatorLog (init: OperatorLogInit = {}): OperatorLogHandle {
  const level = init.level ?? 'info'
  if (!LOG_LEVELS.includes(level)) throw new ConfigError(`log level must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(level)}`)
  const format = init.format ?? 'text'
  if (!LOG_FORMATS.includes(format)) throw new ConfigError(`log format must be text or json, got ${JSON.stringify(format)}`)
  let log: Logger | undefined
  const onFallback = (reason: string, file: string | undefined): void => {
    // After the line that failed (this runs inside its write); in the file, if there is one.
    if (file != null) process.nextTick(() => { log?.warn({ reason }, 'stdout went away: the log goes on in this file') })
  }
  const raw = init.destination ?? openDestination(init.file, init.fallbackFile, onFallback)
  const destination = format === 'text'
    ? pretty({
      destination: raw,
      sync: true,
      singleLine: true,
      colorize: init.file == null && init.destination == null && process.stdout.isTTY === true,
      translateTime: 'SYS:yyyy-mm-dd HH:MM:ss.l',
      ignore: 'pid,hostname'
    })
    : raw
  const logger = pino({
    level,
    // No pid/hostname on every line: the log belongs to one node on one machine.
    base: undefined,
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) }
  }, destination)
  log = logger
  return {
    log: logger as OperatorLog & Logger,
    flush: () => { logger.flush() }
  }
}

/**
 * stdout, or the log file (its directory made first). A path that cannot be a log file is a
 * configuration error naming it: the raw errno named a parent (`EEXIST … mkdir config.json`).
 */
function openDestination (file: string | undefined, fallbackFile: string | undefined, onFallback: StdoutLogDestinationInit['onFallback']): DestinationStream {
  // stdout can go away under a running node: its terminal closed (EIO after SIGHUP) or its reader
  // exited (EPIPE). A log call must not throw then (it threw out of `depin start`'s clean stop),
  // and the lines go on in the fallback file.
  if (file == null) return new StdoutLogDestination({ fallbackFile, onFallback })
  try {
    makeDirSync(dirname(file))
    return pino.destination({ dest: file, sync: true, append: true })
  } catch (err) {
    const code = err instanceof MakeDirError ? err.errno : (err as NodeJS.ErrnoException).code
    const why = code === 'EISDIR'
      ? 'it is a directory'
      : code === 'EEXIST' || code === 'ENOTDIR'
        ? 'a part of its path is a file, not a directory'
        : err instanceof MakeDirError
          ? err.reason
          : code === 'EROFS'
            ? 'read-only file system'
            : code === 'EACCES' || code === 'EPERM'
              ? 'permission denied'
              : (err as Error).message
    throw new ConfigError(`log file ${JSON.stringify(file)} (--log-file, DEPIN_LOG_FILE or config.json's log.file) cannot be written: ${why}`, { cause: err })
  }
}
