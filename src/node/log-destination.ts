/**
 * The operator log's stdout, which can go away under a running node: `depin start | head` (the
 * reader exits: EPIPE) or its terminal closing (EIO after SIGHUP). A node must not die or stop
 * for that, and its operator must not lose what it logs next: from the first line stdout refuses,
 * that line included, lines are appended to a fallback file (the data dir's `daemon.log`, the
 * file `depin testnet` writes its nodes' output to), and stderr says so once. Without a fallback
 * file, or when it cannot be opened, later lines are dropped (stderr says that too).
 *
 * Lines are written synchronously, as pino's sync destination writes them: an operator log is a
 * few lines a second, and nothing is lost when the process dies.
 */
import { Writable } from 'node:stream'
import { closeSync, openSync, writeSync } from 'node:fs'
import { dirname } from 'node:path'
import { makeDirSync } from '../shared/make-dir.ts'

/**
 * How long a write waits before trying again when stdout is a full pipe (EAGAIN: Node makes a
 * piped stdout non-blocking). It waits as long as the reader takes, as pino's destination did: a
 * slow reader is still a reader, and its lines are not moved elsewhere.
 */
const EAGAIN_WAIT_MS = 10

export interface StdoutLogDestinationInit {
  /** The descriptor to write to. @default 1 (stdout) */
  fd?: number
  /** Where lines go once `fd` refuses them. */
  fallbackFile?: string
  /** Told once, after the switch (its line already in the file): to log it where the log now goes. */
  onFallback?: (reason: string, file: string | undefined) => void
}

export class StdoutLogDestination extends Writable {
  private readonly fd: number
  private readonly fallbackFile: string | undefined
  private readonly onFallback: StdoutLogDestinationInit['onFallback']
  /** undefined: writing to fd; a number: the fallback file's descriptor; null: dropping lines. */
  private fallbackFd: number | null | undefined

  constructor (init: StdoutLogDestinationInit = {}) {
    super({ decodeStrings: true })
    this.fd = init.fd ?? 1
    this.fallbackFile = init.fallbackFile
    this.onFallback = init.onFallback
  }

  /** Where lines go now: 'stdout', the fallback file's path, or 'nowhere'. */
  get target (): string {
    if (this.fallbackFd === undefined) return 'stdout'
    return this.fallbackFd === null ? 'nowhere' : this.fallbackFile as string
  }

  override _write (chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.fallbackFd === undefined) {
      try {
        writeFully(this.fd, chunk)
      } catch (err) {
        this.switchToFallback((err as NodeJS.ErrnoException).code ?? (err as Error).message)
      }
    }
    if (this.fallbackFd != null) {
      try {
        writeFully(this.fallbackFd, chunk)
      } catch {
        // (the disk is full or the file went away: a log line must not stop the node)
      }
    }
    // Never an error: pino would end the stream, and every later line would be lost.
    callback()
  }

  override _destroy (error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.fallbackFd != null) closeSync(this.fallbackFd)
    this.fallbackFd = null
    callback(error)
  }

  private switchToFallback (reason: string): void {
    let where: string
    if (this.fallbackFile == null) {
      this.fallbackFd = null
      where = 'later lines are dropped'
    } else {
      try {
        makeDirSync(dirname(this.fallbackFile))
        this.fallbackFd = openSync(this.fallbackFile, 'a', 0o600)
        where = `the log goes on in ${this.fallbackFile}`
      } catch (err) {
        this.fallbackFd = null
        where = `${this.fallbackFile} cannot be opened (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}), so later lines are dropped`
      }
    }
    try {
      writeSync(2, `depin: the operator log's stdout went away (${reason}); ${where}\n`)
    } catch {
      // (stderr went with it: `depin start 2>&1 | head`)
    }
    this.onFallback?.(reason, this.fallbackFd != null ? this.fallbackFile : undefined)
  }
}

/** Writes all of `data` to `fd`, waiting while a non-blocking descriptor is full. */
function writeFully (fd: number, data: Uint8Array): void {
  let rest = data
  while (rest.length > 0) {
    try {
      rest = rest.subarray(writeSync(fd, rest))
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err
      Atomics.wait(pause, 0, 0, EAGAIN_WAIT_MS)
    }
  }
}

const pause = new Int32Array(new SharedArrayBuffer(4))
