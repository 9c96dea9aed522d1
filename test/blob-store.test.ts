/**
 * The blob store on disk (LevelDB and the blob directory): large pinned blobs are files named by
 * CID, small ones store values; both read back, list and delete alike; a crash's temporary files
 * are cleaned at start; a node without a blob directory keeps everything in the store.
 */
import { describe, it, expect, beforeEach, afterEach } from 'vitest'
import { existsSync } from 'node:fs'
import { readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { openStore, type Store } from '../src/node/storage.ts'
import { BlobStore, LARGE_BLOB_BYTES } from '../src/scheduler/blob-store.ts'
import { rawCid } from '../src/proofs/encoding.ts'
import { TurnBatch } from '../src/shared/turn-batch.ts'
import { tempDir } from './helpers.ts'

const bytesOf = (size: number, seed: number): Uint8Array => new Uint8Array(size).map((_, i) => (i * 31 + seed) & 0xff)

describe('blob store', () => {
  let dir: { path: string, remove: () => Promise<void> }
  let store: Store
  beforeEach(async () => {
    dir = await tempDir()
    store = await openStore(join(dir.path, 'db'))
  })
  afterEach(async () => {
    await store.close()
    await dir.remove()
  })

  it('small blobs pinned together (pin and pinMany in one turn) are all on disk once their pins settle, each once', async () => {
    const blobs = new BlobStore(store)
    await blobs.start()
    const many = Array.from({ length: 40 }, (_, i) => bytesOf(100 + i, i))
    const pins = await Promise.all([
      ...many.slice(0, 20).map(async (b) => await blobs.pin(b)),
      blobs.pinMany(many.slice(20).map((bytes) => ({ bytes }))),
      blobs.pin(many[0]) // the same blob twice in one batch
    ])
    const cids = [...pins.slice(0, 20), ...(pins[20] as Awaited<ReturnType<BlobStore['pinMany']>>)].map((c) => c as ReturnType<typeof rawCid>)
    expect(cids.map(String)).toEqual(many.map((b) => rawCid(b).toString()))
    // A fresh store (nothing in memory) reads every one from disk.
    const fresh = new BlobStore(store)
    await fresh.start()
    for (const [i, cid] of cids.entries()) expect(Buffer.from((await fresh.get(cid)) as Uint8Array).equals(Buffer.from(many[i]))).toBe(true)
    const keys = new Set<string>()
    for await (const key of fresh.pinnedKeys()) keys.add(Buffer.from(key).toString('hex'))
    expect(keys.size).toBe(40)
  })

  it('a blob pinned again counts as pinned at its latest pin, however often (deletePinned spares it, pinnedSince says so)', async () => {
    const blobs = new BlobStore(store)
    await blobs.start()
    const again = bytesOf(10, 1)
    const once = bytesOf(11, 2)
    const againCid = await blobs.pin(again)
    const onceCid = await blobs.pin(once)
    const before = Date.now()
    while (Date.now() === before) await new Promise((resolve) => setImmediate(resolve))
    const mark = Date.now()
    for (let i = 0; i < 500; i++) await blobs.pinMany([{ bytes: again }, { bytes: bytesOf(20, i + 10) }])
    expect(blobs.pinnedSince(againCid.bytes, mark)).toBe(true)
    expect(blobs.pinnedSince(onceCid.bytes, mark)).toBe(false)
    expect(await blobs.deletePinned([againCid.bytes, onceCid.bytes], mark)).toEqual({ blobs: 1, bytes: once.byteLength })
    expect(await blobs.get(againCid)).toBeDefined()
  })

  it('keeps a large pinned blob as a file named by its CID, and a small one in the store; both read back, list and delete', async () => {
    const blobDir = join(dir.path, 'blobs')
    const blobs = new BlobStore(store, { blobDir })
    await blobs.start()
    const large = bytesOf(LARGE_BLOB_BYTES + 1, 1)
    const small = bytesOf(1000, 2)
    const [largeCid, smallCid] = await blobs.pinMany([{ bytes: large }, { bytes: small }])
    expect(await readdir(blobDir)).toEqual([largeCid.toString()])
    // A fresh store (nothing in memory) reads both from disk.
    const reopened = new BlobStore(store, { blobDir })
    await reopened.start()
    expect(Buffer.compare(Buffer.from((await reopened.get(largeCid)) as Uint8Array), Buffer.from(large))).toBe(0)
    expect(Buffer.compare(Buffer.from((await reopened.get(smallCid)) as Uint8Array), Buffer.from(small))).toBe(0)
    expect(await reopened.has(largeCid)).toBe(true)
    const keys: string[] = []
    for await (const key of reopened.pinnedKeys()) keys.push(Buffer.from(key).toString('hex'))
    expect(keys.sort()).toEqual([Buffer.from(largeCid.bytes).toString('hex'), Buffer.from(smallCid.bytes).toString('hex')].sort())
    // Deleting (as retention does) removes the key and the file, and reports the bytes freed.
    const freed = await reopened.deletePinned([largeCid.bytes, smallCid.bytes], Date.now() + 1)
    expect(freed).toEqual({ blobs: 2, bytes: large.byteLength + small.byteLength })
    expect(await readdir(blobDir)).toEqual([])
    expect(await reopened.get(largeCid)).toBeUndefined()
    expect(await reopened.get(smallCid)).toBeUndefined()
  })

  it('pins the same large blob twice as one file; removes temporary files and keyless blob files a crash left', async () => {
    const blobDir = join(dir.path, 'blobs')
    const blobs = new BlobStore(store, { blobDir })
    await blobs.start()
    const large = bytesOf(LARGE_BLOB_BYTES + 10, 3)
    const cid = await blobs.pin(large)
    await blobs.pin(large, cid)
    expect(await readdir(blobDir)).toEqual([cid.toString()])
    await writeFile(join(blobDir, `${cid.toString()}.123.abc.tmp`), 'partial')
    // A blob file whose key a crash left unwritten (or already deleted): nothing refers to it.
    const orphan = bytesOf(LARGE_BLOB_BYTES + 20, 5)
    await writeFile(join(blobDir, rawCid(orphan).toString()), orphan)
    await writeFile(join(blobDir, 'README'), 'not a blob')
    await new BlobStore(store, { blobDir }).start()
    expect((await readdir(blobDir)).sort()).toEqual(['README', cid.toString()].sort())
  })

  it('a blob file a power cut left short or zeroed reads as missing, not as wrong bytes', async () => {
    const blobDir = join(dir.path, 'blobs')
    const blobs = new BlobStore(store, { blobDir })
    await blobs.start()
    const short = bytesOf(LARGE_BLOB_BYTES + 30, 6)
    const zeroed = bytesOf(LARGE_BLOB_BYTES + 40, 7)
    const [shortCid, zeroedCid] = await blobs.pinMany([{ bytes: short }, { bytes: zeroed }])
    // What a file system can leave of a file renamed before its data reached the disk.
    await writeFile(join(blobDir, shortCid.toString()), short.subarray(0, 1000))
    await writeFile(join(blobDir, zeroedCid.toString()), new Uint8Array(zeroed.byteLength))
    const reopened = new BlobStore(store, { blobDir })
    await reopened.start()
    expect(await reopened.get(shortCid)).toBeUndefined()
    expect(await reopened.get(zeroedCid)).toBeUndefined()
  })

  it('without a blob directory, a large blob is a value in the store', async () => {
    const blobs = new BlobStore(store)
    await blobs.start()
    const large = bytesOf(LARGE_BLOB_BYTES + 1, 4)
    const cid = await blobs.pin(large)
    expect(existsSync(join(dir.path, 'blobs'))).toBe(false)
    const fresh = new BlobStore(store)
    expect(rawCid((await fresh.get(cid)) as Uint8Array).equals(cid)).toBe(true)
  })
})

describe('TurnBatch (writes of one event-loop turn in one batch)', () => {
  it('one batch per turn, in order, the last entry of a key wins; a failed write fails its writers only', async () => {
    const written: Array<Array<[string, number]>> = []
    let fail = false
    const batch = new TurnBatch<string, number>(async (entries) => {
      if (fail) throw new Error('disk full')
      await new Promise((resolve) => setTimeout(resolve, 5)) // a write that takes a while
      written.push(entries)
    })
    const first = [batch.put([['a', 1], ['b', 1]]), batch.put([['a', 2]])]
    expect(batch.waiting('a')).toBe(2)
    await Promise.all(first)
    expect(batch.waiting('a')).toBeUndefined()
    // Started while the previous batch is written: the next batch, written after it.
    const second = batch.put([['c', 3]])
    const third = (async () => { await Promise.resolve(); await batch.put([['d', 4]]) })()
    await Promise.all([second, third])
    expect(written).toEqual([[['a', 2], ['b', 1]], [['c', 3], ['d', 4]]])
    // A dropped entry is not written.
    const dropped = batch.put([['e', 5], ['f', 6]])
    batch.drop('e')
    await dropped
    expect(written.at(-1)).toEqual([['f', 6]])
    fail = true
    await expect(batch.put([['g', 7]])).rejects.toThrow('disk full')
    fail = false
    await batch.put([['h', 8]])
    expect(written.at(-1)).toEqual([['h', 8]])
  })
})
