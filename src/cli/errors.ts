import { DepinError } from '../errors.ts'

/** A command-line argument is wrong; the message names it. */
export class UsageError extends DepinError {
  constructor (message: string) {
    super(message, 'ERR_USAGE')
  }
}

/** The daemon could not be reached. */
export class DaemonUnreachableError extends DepinError {
  constructor (api: string, options?: ErrorOptions) {
    super(`cannot reach the depin daemon at ${api} (is \`depin start\` running? use --api HOST:PORT or --data-dir DIR to point at it)`, 'ERR_DAEMON_UNREACHABLE', options)
  }
}

/** The daemon answered with an error. */
export class ApiResponseError extends DepinError {
  readonly status: number
  constructor (status: number, code: string, message: string) {
    super(message, code)
    this.status = status
  }
}
