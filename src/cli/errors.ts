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

/** The data dir's node is not running (no live api.json), and its configured API address did not help. */
export class NodeNotRunningError extends DepinError {
  constructor (dataDir: string, detail: string, options?: ErrorOptions) {
    super(`the depin node of ${dataDir} is not running (${detail}); start it with \`depin start --data-dir ${dataDir}\`, or point at another node with --api HOST:PORT`, 'ERR_NODE_NOT_RUNNING', options)
  }
}

/** A local check refused something before it was sent (e.g. a module that is not WebAssembly). */
export class LocalCheckError extends DepinError {
  constructor (message: string) {
    super(message, 'ERR_LOCAL_CHECK')
  }
}

/**
 * Why a local file could not be read, in words (`no such file`, not `ENOENT`): the line a user
 * sees for a mistyped path.
 */
export function fileErrorText (err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code
  switch (code) {
    case 'ENOENT': return 'no such file'
    case 'EACCES':
    case 'EPERM': return 'permission denied'
    case 'EISDIR': return 'it is a directory'
    case 'ENOTDIR': return 'a part of its path is a file, not a directory'
    case 'ELOOP': return 'too many symbolic links'
    default: return code ?? (err as Error).message
  }
}
