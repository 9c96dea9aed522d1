/**
 * A large result on a lease whose output is still arriving in `data` frames after its `results`
 * entry: stdout, then stderr, then (for a result with files) the output manifest and files. Each
 * part must arrive in that order and no longer than announced; the caller checks the bytes
 * against the committed CIDs once `complete`.
 */
import type { CID } from 'multiformats/cid'
import { BadResultError, ProtocolViolationError } from '../errors.ts'
import type { ResultFrame } from '../lease-frames.ts'
import { OutputTreeReceiver } from './output-tree.ts'
import type { TaskWork } from './types.ts'

export type DataKind = 'stdout' | 'stderr' | 'manifest' | 'file'

export class IncomingResult {
  readonly task: TaskWork
  readonly frame: ResultFrame
  readonly stdout: Uint8Array
  readonly stderr: Uint8Array
  readonly tree?: OutputTreeReceiver
  private outAt = 0
  private errAt = 0

  constructor (task: TaskWork, frame: ResultFrame) {
    this.task = task
    this.frame = frame
    this.stdout = new Uint8Array(frame.outBytes)
    this.stderr = new Uint8Array(frame.errBytes)
    if (frame.files != null && frame.filesBytes != null) this.tree = new OutputTreeReceiver(frame.files, frame.filesBytes)
  }

  /** Takes one `data` frame. Throws (the worker's fault) for data out of order or over its length. */
  data (task: CID, which: DataKind, data: Uint8Array): void {
    if (!this.task.id.equals(task)) throw new ProtocolViolationError('output data for no announced result')
    const streamsDone = this.outAt >= this.stdout.byteLength && this.errAt >= this.stderr.byteLength
    if (which === 'manifest' || which === 'file') {
      if (this.tree == null) throw new ProtocolViolationError(`${which} data for a result without files`)
      if (!streamsDone) throw new ProtocolViolationError(`${which} data before the whole stdout and stderr`)
      this.tree.data(which, data)
      return
    }
    if (which === 'stderr' && this.outAt < this.stdout.byteLength) throw new ProtocolViolationError('stderr before the whole stdout')
    const buffer = which === 'stdout' ? this.stdout : this.stderr
    const at = which === 'stdout' ? this.outAt : this.errAt
    if (at + data.byteLength > buffer.byteLength) throw new BadResultError(`${which} longer than announced`)
    buffer.set(data, at)
    if (which === 'stdout') this.outAt += data.byteLength
    else this.errAt += data.byteLength
  }

  /** Every announced byte has arrived. */
  get complete (): boolean {
    return this.outAt >= this.stdout.byteLength && this.errAt >= this.stderr.byteLength && (this.tree == null || this.tree.complete)
  }
}
