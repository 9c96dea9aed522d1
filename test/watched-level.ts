/**
 * LevelDB on disk that logs each write (`sync` or `write`, with what it was) and holds synced
 * ones while `held`: tests of "written (synced) before answered" watch the order of writes and
 * answers with it (a power cut cannot be shown by killing a process: the page cache keeps writes).
 */
import { Level } from 'level'

export class WatchedLevel extends Level<Uint8Array, Uint8Array> {
  readonly log: string[] = []
  held = false
  private gate = Promise.withResolvers<void>()

  release (): void {
    this.held = false
    this.gate.resolve()
    this.gate = Promise.withResolvers<void>()
  }

  private async watch (options: { sync?: boolean } | undefined, what: string): Promise<void> {
    this.log.push(`${options?.sync === true ? 'sync' : 'write'} ${what}`)
    if (options?.sync === true && this.held) await this.gate.promise
  }

  async _put (key: Uint8Array, value: Uint8Array, options: { sync?: boolean }): Promise<void> {
    await this.watch(options, 'put')
    await (Level.prototype as any)._put.call(this, key, value, options)
  }

  async _batch (operations: unknown[], options: { sync?: boolean }): Promise<void> {
    await this.watch(options, `batch of ${operations.length}`)
    await (Level.prototype as any)._batch.call(this, operations, options)
  }
}

/** 'pending' when `p` has not settled after two turns of the event loop (a held write is certainly waiting by then). */
export async function stateOf (p: Promise<unknown>): Promise<'settled' | 'pending'> {
  return await Promise.race([p.then(() => 'settled' as const), new Promise<'pending'>((resolve) => { setImmediate(() => { setImmediate(() => { resolve('pending') }) }) })])
}
