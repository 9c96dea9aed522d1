import { DepinError } from '../../errors.ts'

/** A job or batch that has not ended cannot be deleted (cancel it first). */
export class JobRunningError extends DepinError {
  constructor (kind: 'job' | 'batch', id: string, status: string) {
    super(`${kind} ${id} is ${status === 'queued' ? 'queued' : 'still running'}; cancel it first, or wait until it ends`, 'ERR_JOB_RUNNING')
  }
}
