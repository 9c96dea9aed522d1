/**
 * Base class of every error depin throws on purpose. Callers branch on `name` or `code`
 * (or `instanceof`), never on the message text, which is for humans.
 */
export class DepinError extends Error {
  /** Stable machine-readable code, e.g. `ERR_INVALID_SIGNATURE`. */
  readonly code: string

  constructor (message: string, code: string, options?: ErrorOptions) {
    super(message, options)
    this.code = code
    this.name = new.target.name
  }
}

/** Bytes that arrived from outside (peer, file, API) failed to decode or to match the schema. */
export class InvalidMessageError extends DepinError {
  constructor (message: string, options?: ErrorOptions) {
    super(message, 'ERR_INVALID_MESSAGE', options)
  }
}

/** A frame, file or message is over the size bound of the place it arrived at. */
export class MessageTooLargeError extends DepinError {
  readonly limit: number
  constructor (message: string, limit: number) {
    super(message, 'ERR_MESSAGE_TOO_LARGE')
    this.limit = limit
  }
}

/** A signature did not verify against the public key of the peer id that claims it. */
export class InvalidSignatureError extends DepinError {
  constructor (message = 'signature does not verify', options?: ErrorOptions) {
    super(message, 'ERR_INVALID_SIGNATURE', options)
  }
}

/** A network wait ran past its deadline. */
export class DeadlineExceededError extends DepinError {
  constructor (message: string, options?: ErrorOptions) {
    super(message, 'ERR_DEADLINE_EXCEEDED', options)
  }
}

/** A configuration file or option is wrong; the message says which and why. */
export class ConfigError extends DepinError {
  constructor (message: string, options?: ErrorOptions) {
    super(message, 'ERR_CONFIG', options)
  }
}

/** A library call's argument is out of its range or of the wrong type (the message names it). */
export class InvalidArgumentError extends DepinError {
  constructor (message: string) {
    super(message, 'ERR_INVALID_ARGUMENT')
  }
}

/** A node method was called while the node is not running. */
export class NotStartedError extends DepinError {
  constructor (message = 'the node is not started') {
    super(message, 'ERR_NOT_STARTED')
  }
}
