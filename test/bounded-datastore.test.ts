/**
 * The bounded libp2p datastore: partitions capped in entries and bytes, provider records capped
 * per providing peer, prefix queries that stay inside a partition.
 */
import { describe, it, expect } from 'vitest'
import { Key } from 'interface-datastore'
import { BoundedDatastore } from '../src/node/bounded-datastore.ts'

async function all<T> (source: AsyncIterable<T> | Iterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const item of source) out.push(item)
  return out
}

const bytes = (n: number): Uint8Array => new Uint8Array(n).fill(7)

function store (): BoundedDatastore {
  return new BoundedDatastore([
    { prefix: '/dht/provider/', maxEntries: 50, maxBytes: 1 << 20, maxPerOwner: 5 },
    { prefix: '/dht/record/', maxEntries: 1000, maxBytes: 2000 }
  ], { maxEntries: 10, maxBytes: 1 << 20 })
}

describe('bounded datastore', () => {
  it('keeps at most maxPerOwner provider records of one peer, dropping its oldest', async () => {
    const ds = store()
    for (let i = 0; i < 10_000; i++) await ds.put(new Key(`/dht/provider/cid${i}/attacker`), bytes(4))
    await ds.put(new Key('/dht/provider/cidX/honest'), bytes(4))
    const keys = (await all(ds.queryKeys({ prefix: '/dht/provider/' }))).map((k) => k.toString())
    expect(keys.filter((k) => k.endsWith('/attacker'))).toEqual([9995, 9996, 9997, 9998, 9999].map((i) => `/dht/provider/cid${i}/attacker`))
    expect(keys).toContain('/dht/provider/cidX/honest')
    const stats = ds.stats().find((p) => p.prefix === '/dht/provider/')
    expect(stats?.entries).toBe(6)
    expect(stats?.evicted).toBe(9995)
  })

  it('caps a partition by entries and by bytes, oldest first, and leaves other partitions alone', async () => {
    const ds = store()
    for (let i = 0; i < 60; i++) await ds.put(new Key(`/dht/provider/c${i}/p${i}`), bytes(1))
    expect(ds.stats()[0].entries).toBe(50)
    expect(await ds.has(new Key('/dht/provider/c0/p0'))).toBe(false)
    expect(await ds.has(new Key('/dht/provider/c59/p59'))).toBe(true)
    for (let i = 0; i < 30; i++) await ds.put(new Key(`/dht/record/r${i}`), bytes(100))
    const records = ds.stats()[1]
    expect(records.bytes).toBeLessThanOrEqual(2000)
    expect(await ds.get(new Key('/dht/record/r29'))).toEqual(bytes(100))
    expect(() => ds.get(new Key('/dht/record/r0'))).toThrow(/not found/i)
    expect(ds.stats()[0].entries).toBe(50)
  })

  it('answers prefix queries from the matching partition only', async () => {
    const ds = store()
    await ds.put(new Key('/dht/provider/a/p1'), bytes(1))
    await ds.put(new Key('/dht/provider/b/p1'), bytes(1))
    await ds.put(new Key('/dht/record/x'), bytes(1))
    await ds.put(new Key('/peers/y'), bytes(2))
    expect((await all(ds.query({ prefix: '/dht/provider/a' }))).map((e) => e.key.toString())).toEqual(['/dht/provider/a/p1'])
    expect((await all(ds.query({ prefix: '/dht' }))).length).toBe(3)
    expect((await all(ds.query({}))).length).toBe(4)
    await ds.delete(new Key('/dht/provider/a/p1'))
    expect((await all(ds.queryKeys({ prefix: '/dht/provider/' }))).length).toBe(1)
  })
})
