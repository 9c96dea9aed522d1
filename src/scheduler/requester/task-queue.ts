/**
 * The dispatcher's queue of tasks waiting for a lease, one per class of requirements: a FIFO
 * whose head is removed cheaply (most placements take the head), with room to put a task back
 * in front (a replica to place again) and to take one from the middle (a task that fits a lease
 * the head does not).
 */
export class TaskQueue<T> {
  private items: T[] = []
  private head = 0
  get size (): number { return this.items.length - this.head }
  push (t: T): void { this.items.push(t) }
  unshift (t: T): void {
    if (this.head > 0) this.items[--this.head] = t
    else this.items.unshift(t)
  }

  at (i: number): T | undefined { return this.items[this.head + i] }
  removeAt (i: number): void {
    if (i === 0) {
      this.head++
      if (this.head > 1024 && this.head * 2 > this.items.length) { this.items = this.items.slice(this.head); this.head = 0 }
    } else {
      this.items.splice(this.head + i, 1)
    }
  }

  * values (): Generator<T> { for (let i = this.head; i < this.items.length; i++) yield this.items[i] }
  remove (t: T): void {
    const i = this.items.indexOf(t, this.head)
    if (i >= 0) this.removeAt(i - this.head)
  }
}
