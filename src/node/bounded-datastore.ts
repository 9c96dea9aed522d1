/**
 * The libp2p datastore of a depin node: in memory, like libp2p's default, but bounded.
 *
 * libp2p keeps its peer store and kad-dht keeps the records and provider records other peers
 * send it in this datastore. libp2p's default `MemoryDatastore` grows without limit, so a peer
 * that sends 10,000 provider records (or addresses for thousands of made-up peers) grows the
 * node's memory by as much. Here each key space is a partition with a cap on entries and bytes;
 * past a cap the oldest entries of that partition go first (an honest record is re-provided or
 * re-published, a flood is not). Provider records are also capped per providing peer, so one
 * peer cannot push out everyone else's.
 *
 * Queries by prefix scan only the partition the prefix falls in (libp2p's MemoryDatastore scans
 * everything on every provider lookup).
 */
import { BaseDatastore } from 'datastore-core/base'
import { Key, type Pair, type Query, type KeyQuery } from 'interface-datastore'
import { NotFoundError, type AbortOptions } from '@libp2p/interface'

export interface PartitionLimit {
  /** Key prefix of the partition, e.g. `/dht/provider/`. */
  prefix: string
  maxEntries: number
  maxBytes: number
  /**
   * Entries one owner may hold, the owner being the last path segment of the key (kad-dht
   * provider keys end in the provider's peer id). Past it the owner's oldest entry goes.
   */
  maxPerOwner?: number
}

export interface PartitionStats {
  prefix: string
  entries: number
  bytes: number
  evicted: number
}

class Partition {
  readonly limit: PartitionLimit
  readonly data = new Map<string, Uint8Array>()
  bytes = 0
  evicted = 0
  private readonly owners = new Map<string, Set<string>>()

  constructor (limit: PartitionLimit) {
    this.limit = limit
  }

  put (key: string, value: Uint8Array): void {
    this.remove(key)
    this.data.set(key, value)
    this.bytes += key.length + value.byteLength
    if (this.limit.maxPerOwner != null) {
      const owner = ownerOf(key)
      let keys = this.owners.get(owner)
      if (keys == null) {
        keys = new Set()
        this.owners.set(owner, keys)
      }
      keys.add(key)
      while (keys.size > this.limit.maxPerOwner) this.evict(keys.values().next().value as string)
    }
    while (this.data.size > this.limit.maxEntries || (this.bytes > this.limit.maxBytes && this.data.size > 1)) {
      this.evict(this.data.keys().next().value as string)
    }
  }

  remove (key: string): boolean {
    const value = this.data.get(key)
    if (value == null) return false
    this.data.delete(key)
    this.bytes -= key.length + value.byteLength
    if (this.limit.maxPerOwner != null) {
      const owner = ownerOf(key)
      const keys = this.owners.get(owner)
      keys?.delete(key)
      if (keys?.size === 0) this.owners.delete(owner)
    }
    return true
  }

  stats (): PartitionStats {
    return { prefix: this.limit.prefix, entries: this.data.size, bytes: this.bytes, evicted: this.evicted }
  }

  private evict (key: string): void {
    if (this.remove(key)) this.evicted++
  }
}

function ownerOf (key: string): string {
  return key.slice(key.lastIndexOf('/') + 1)
}

export class BoundedDatastore extends BaseDatastore {
  private readonly partitions: Partition[]
  private readonly rest: Partition

  /** `limits` are matched by prefix in order; keys in none of them go to `rest`. */
  constructor (limits: PartitionLimit[], rest: Omit<PartitionLimit, 'prefix'>) {
    super()
    this.partitions = limits.map((limit) => new Partition(limit))
    this.rest = new Partition({ ...rest, prefix: '/' })
  }

  override put (key: Key, value: Uint8Array, options?: AbortOptions): Key {
    options?.signal?.throwIfAborted()
    const text = key.toString()
    this.partitionOf(text).put(text, value)
    return key
  }

  override get (key: Key, options?: AbortOptions): Uint8Array {
    options?.signal?.throwIfAborted()
    const text = key.toString()
    const value = this.partitionOf(text).data.get(text)
    if (value == null) throw new NotFoundError()
    return value
  }

  override has (key: Key, options?: AbortOptions): boolean {
    options?.signal?.throwIfAborted()
    const text = key.toString()
    return this.partitionOf(text).data.has(text)
  }

  override delete (key: Key, options?: AbortOptions): void {
    options?.signal?.throwIfAborted()
    const text = key.toString()
    this.partitionOf(text).remove(text)
  }

  override * _all (q: Query, options?: AbortOptions): Generator<Pair> {
    for (const partition of this.scanned(q.prefix)) {
      // A copy: kad-dht deletes expired entries while it iterates a query.
      for (const [key, value] of [...partition.data]) {
        options?.signal?.throwIfAborted()
        yield { key: new Key(key), value }
      }
    }
  }

  override * _allKeys (q: KeyQuery, options?: AbortOptions): Generator<Key> {
    for (const partition of this.scanned(q.prefix)) {
      for (const key of [...partition.data.keys()]) {
        options?.signal?.throwIfAborted()
        yield new Key(key)
      }
    }
  }

  /** Entries, bytes and evictions per partition (the last one is everything else). */
  stats (): PartitionStats[] {
    return [...this.partitions, this.rest].map((p) => p.stats())
  }

  private partitionOf (key: string): Partition {
    return this.partitions.find((p) => key.startsWith(p.limit.prefix)) ?? this.rest
  }

  /** The partitions a prefix query can match. */
  private scanned (prefix?: string): Partition[] {
    if (prefix == null) return [...this.partitions, this.rest]
    const inside = this.partitions.find((p) => prefix.startsWith(p.limit.prefix))
    if (inside != null) return [inside]
    return [...this.partitions.filter((p) => p.limit.prefix.startsWith(prefix)), this.rest]
  }
}
