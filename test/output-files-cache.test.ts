/**
 * Serving a job's output files one by one (GET …/files/<path>, what `depin job --out` does) decodes
 * the tree's manifest once, not once per file (review finding 4: every request decoded the whole
 * manifest, so downloading a tree was quadratic). The cache is bounded, and a tree deleted from
 * the store is gone even while its manifest is cached.
 */
import { describe, it, expect, afterEach } from 'vitest'
import { openStore, type Store } from '../src/node/storage.ts'
import { BlobStore } from '../src/scheduler/blob-store.ts'
import { encodeManifest, manifestCid, manifestOf, type TreeFile } from '../src/scheduler/files/index.ts'
import { OUTPUT_MANIFEST_CACHE, outputFile, outputFileList, outputManifestDecodes, pinOutputTree } from '../src/scheduler/requester/trees.ts'
import { LruMap } from '../src/ledger/lru.ts'

const stores: Store[] = []
afterEach(async () => { for (const s of stores.splice(0)) await s.close() })

async function blobStore (): Promise<BlobStore> {
  const store = await openStore()
  stores.push(store)
  const blobs = new BlobStore(store)
  await blobs.start()
  return blobs
}

async function pinTree (blobs: BlobStore, files: TreeFile[]): Promise<string> {
  const manifest = manifestOf(files)
  const cid = manifestCid(manifest)
  const byPath = new Map(files.map((f) => [f.path, f]))
  await pinOutputTree(blobs, { cid, manifest, manifestBytes: encodeManifest(manifest), files: manifest.files.map((e) => byPath.get(e.path) as TreeFile) })
  return cid.toString()
}

describe('output files are served from a cached, indexed manifest', () => {
  it('every file of a 3,000-file tree, and its list, cost one decode of the manifest', async () => {
    const blobs = await blobStore()
    const files = Array.from({ length: 3000 }, (_, i) => ({ path: `d${i % 30}/f${i}`, bytes: new TextEncoder().encode(`file ${i}`) }))
    files.push({ path: 'empty', bytes: new Uint8Array(0) })
    const cid = await pinTree(blobs, files)
    const before = outputManifestDecodes
    for (const f of files) {
      const got = await outputFile(blobs, cid, f.path)
      expect(got?.bytes).toEqual(f.bytes)
      expect(got?.info.path).toBe(f.path)
    }
    expect(await outputFile(blobs, cid, 'd0/none')).toBeUndefined()
    expect((await outputFileList(blobs, cid))?.map((f) => f.path)).toEqual(manifestOf(files).files.map((e) => e.path))
    expect(outputManifestDecodes - before).toBe(1)
  })

  it('a tree deleted from the store is gone, its empty files too, though its manifest was cached', async () => {
    const blobs = await blobStore()
    const files = [{ path: 'a', bytes: new Uint8Array([1]) }, { path: 'b/empty', bytes: new Uint8Array(0) }]
    const cid = await pinTree(blobs, files)
    expect((await outputFile(blobs, cid, 'b/empty'))?.bytes).toEqual(new Uint8Array(0))
    const manifest = manifestOf(files)
    await blobs.deletePinned([manifestCid(manifest).bytes, ...manifest.files.map((e) => e.cid.bytes)], Date.now() + 1)
    expect(await outputFile(blobs, cid, 'b/empty')).toBeUndefined()
    expect(await outputFile(blobs, cid, 'a')).toBeUndefined()
    expect(await outputFileList(blobs, cid)).toBeUndefined()
  })

  it('keeps at most a few manifests, and a bounded number of entries in all (always the last one)', async () => {
    const blobs = await blobStore()
    const cids: string[] = []
    for (let t = 0; t < OUTPUT_MANIFEST_CACHE.manifests + 1; t++) cids.push(await pinTree(blobs, [{ path: `t${t}`, bytes: new Uint8Array([t]) }]))
    for (const cid of cids) await outputFileList(blobs, cid)
    // The first one was forgotten: reading it again decodes it again; the last one is still cached.
    const before = outputManifestDecodes
    await outputFileList(blobs, cids.at(-1) as string)
    expect(outputManifestDecodes).toBe(before)
    await outputFileList(blobs, cids[0])
    expect(outputManifestDecodes).toBe(before + 1)

    const lru = new LruMap<string, number>(10, { max: 100, of: (n) => n })
    lru.set('a', 60)
    lru.set('b', 30)
    lru.set('c', 20) // 110 > 100: the oldest goes
    expect([lru.has('a'), lru.has('b'), lru.has('c')]).toEqual([false, true, true])
    lru.set('huge', 500) // over the bound alone: kept, the others go
    expect([lru.size, lru.has('huge')]).toEqual([1, true])
    lru.delete('huge')
    lru.set('d', 100)
    expect(lru.size).toBe(1)
  })
})
