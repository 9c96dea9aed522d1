import { DepinError } from '../../errors.ts'

/** An API error with its HTTP status; the body is `{ "error": { "code", "message" } }`. */
export class ApiError extends DepinError {
  readonly status: number
  constructor (status: number, code: string, message: string) {
    super(message, code)
    this.status = status
  }
}
