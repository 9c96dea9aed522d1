/**
 * Writes collected during one turn of the event loop, handed to the store together as one batch.
 * Why: a requester of thousands of independent jobs writes a record and pins blobs per job, and
 * one store write each cost more than the rest of a job's bookkeeping; a batch of them costs
 * little more than one. A writer's promise settles once the batch holding its entry is written
 * (so "written before the record that references it" still holds), batches are written one after
 * the other in the order they began (two in flight could land in either order), and a later
 * entry for the same key replaces an earlier one still waiting.
 */
export class TurnBatch<K, V> {
  private readonly pending = new Map<K, V>()
  private readonly write: (entries: Array<[K, V]>) => Promise<void>
  private next?: Promise<void>
  private chain: Promise<void> = Promise.resolve()

  /** `write` stores a batch (called with at least one entry). */
  constructor (write: (entries: Array<[K, V]>) => Promise<void>) {
    this.write = write
  }

  /** Adds entries to the next batch; resolves once it is written (rejects if that write fails). */
  async put (entries: Iterable<[K, V]>): Promise<void> {
    for (const [key, value] of entries) this.pending.set(key, value)
    if (this.next == null) {
      const batch = this.chain.then(async () => {
        await new Promise<void>((resolve) => { setImmediate(resolve) })
        const taken = [...this.pending]
        this.pending.clear()
        this.next = undefined
        if (taken.length > 0) await this.write(taken)
      })
      this.next = batch
      this.chain = batch.catch(() => {})
    }
    await this.next
  }

  /** An entry waiting for its batch, if any (readers look here before the store). */
  waiting (key: K): V | undefined {
    return this.pending.get(key)
  }

  /** Drops an entry still waiting (it is deleted from the store by the caller). */
  drop (key: K): void {
    this.pending.delete(key)
  }
}
