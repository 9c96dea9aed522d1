/**
 * A worker's blobs against the sizes a task declares: bytes it holds (pinned, cached, or fetched
 * on the lease before) are checked against the declared size as bytes it fetches are, so a task
 * that contradicts itself is refused on every worker, whatever each holds (before, a worker with
 * the blob cached ran it; one without refused it). Only the empty blob is 0 bytes long. Found by
 * a requester written from protocol.md alone. A real BlobStore on memory-level.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { openStore, type Store } from '../src/node/storage.ts'
import { rawCid } from '../src/proofs/encoding.ts'
import { BlobStore } from '../src/scheduler/blob-store.ts'
import { BlobMismatchError } from '../src/scheduler/errors.ts'
import { BlobFetch } from '../src/scheduler/worker/blob-fetch.ts'
import type { CID } from 'multiformats/cid'

const bytes = new TextEncoder().encode('four')

describe('BlobFetch: declared sizes', () => {
  let store: Store
  let blobs: BlobStore
  const wanted: CID[][] = []
  let fetch: BlobFetch

  beforeAll(async () => {
    store = await openStore()
    blobs = new BlobStore(store)
    await blobs.start()
    await blobs.pin(bytes)
    fetch = new BlobFetch(blobs, (cids) => { wanted.push(cids) })
  })

  afterAll(async () => { await store?.close() })

  it('a blob held here is returned at its declared size, refused at any other (module, input, manifest, file alike), and never asked for', async () => {
    const cid = rawCid(bytes)
    expect(await fetch.get(cid, 4, 'input')).toEqual(bytes)
    for (const kind of ['module', 'input', 'manifest', 'file'] as const) {
      await expect(fetch.get(cid, 5, kind)).rejects.toBeInstanceOf(BlobMismatchError)
      await expect(fetch.get(cid, 3, kind)).rejects.toThrow(/is 4 bytes long, the task declares 3/)
    }
    expect(wanted).toEqual([])
  })

  it('0 bytes: the empty blob at once; any other CID declared 0 bytes long is refused, not asked for', async () => {
    expect((await fetch.get(rawCid(new Uint8Array(0)), 0, 'file')).byteLength).toBe(0)
    await expect(fetch.get(rawCid(bytes), 0, 'file')).rejects.toThrow(/declared 0 bytes long/)
    await expect(fetch.get(rawCid(new TextEncoder().encode('not held')), 0, 'file')).rejects.toBeInstanceOf(BlobMismatchError)
    expect(wanted).toEqual([])
  })
})
