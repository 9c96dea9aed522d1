/**
 * A size-bounded map that forgets the least recently used entry first: past `max` entries, and
 * (given `weight`) past `weight.max` in all as `weight.of` weighs the values, though never the
 * entry just set.
 */
export class LruMap<K, V> {
  private readonly max: number
  private readonly weight?: { max: number, of: (value: V) => number }
  private readonly map = new Map<K, V>()
  private total = 0
  constructor (max: number, weight?: { max: number, of: (value: V) => number }) {
    this.max = max
    this.weight = weight
  }

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
    this.delete(key)
    this.map.set(key, value)
    if (this.weight != null) this.total += this.weight.of(value)
    while (this.map.size > this.max || (this.weight != null && this.total > this.weight.max && this.map.size > 1)) {
      this.delete(this.map.keys().next().value as K)
    }
  }

  delete (key: K): void {
    const value = this.map.get(key)
    if (value === undefined) return
    this.map.delete(key)
    if (this.weight != null) this.total -= this.weight.of(value)
  }

  clear (): void {
    this.map.clear()
    this.total = 0
  }

  get size (): number { return this.map.size }
}
