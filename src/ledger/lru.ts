/** A size-bounded map that forgets the least recently used entry first. */
export class LruMap<K, V> {
  private readonly max: number
  private readonly map = new Map<K, V>()
  constructor (max: number) { this.max = max }

  get (key: K): V | undefined {
    const value = this.map.get(key)
    if (value !== undefined) {
      this.map.delete(key)
      this.map.set(key, value)
    }
    return value
  }

  has (key: K): boolean { return this.map.has(key) }

  set (key: K, value: V): void {
    this.map.delete(key)
    this.map.set(key, value)
    if (this.map.size > this.max) this.map.delete(this.map.keys().next().value as K)
  }

  delete (key: K): void { this.map.delete(key) }
  clear (): void { this.map.clear() }
  get size (): number { return this.map.size }
}
