/**
 * A queue that runs async jobs one at a time, in order. The ledger runs every change to chain or
 * mempool through one, so state reads inside a job see no half-applied block.
 */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve()
  async run<T> (fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn)
    this.tail = result.then(() => {}, () => {})
    return await result
  }

  async drain (): Promise<void> {
    await this.tail
  }
}
