/**
 * File trees on the requester's side, in its blob store: pinning a job's input tree and a run's
 * output tree (the manifest and every file, by CID), loading them back (to serve a lease, to
 * spot-check a task, to list or download a job's output files).
 */
import { CID } from 'multiformats/cid'
import { LruMap } from '../../ledger/lru.ts'
import type { BlobStore } from '../blob-store.ts'
import { decodeManifest, type FileManifest, type ManifestEntry, type TreeFile } from '../files/index.ts'
import type { InputTree } from '../job.ts'
import type { TaskFiles } from '../task.ts'
import type { InputTreeRef, OutputTree } from './types.ts'

/** One output file, as results list it. */
export interface OutputFileInfo {
  /** Path under /out (and under `--out DIR`). */
  path: string
  size: number
  /** CIDv1 raw sha2-256 of its bytes. */
  cid: string
}

/** What a lease may serve of a tree: its manifest and files, by CID. */
export function treeRef (cid: CID, manifest: FileManifest): InputTreeRef {
  const blobs = new Set<string>([cid.toString()])
  for (const f of manifest.files) blobs.add(f.cid.toString())
  return { cid: cid.toString(), blobs }
}

/** Pins an input tree (manifest and files) in one write; returns what a lease may serve of it. */
export async function pinInputTree (blobs: BlobStore, tree: InputTree): Promise<InputTreeRef> {
  const cids = new Map(tree.manifest.files.map((e) => [e.path, e.cid]))
  await blobs.pinMany([{ bytes: tree.manifestBytes, cid: tree.spec.cid }, ...tree.files.map((f) => ({ bytes: f.bytes, cid: cids.get(f.path) }))])
  return treeRef(tree.spec.cid, tree.manifest)
}

/** Pins the output files of a run, with their manifest. */
export async function pinOutputTree (blobs: BlobStore, tree: OutputTree): Promise<void> {
  const cids = new Map(tree.manifest.files.map((e) => [e.path, e.cid]))
  await blobs.pinMany([{ bytes: tree.manifestBytes, cid: tree.cid }, ...tree.files.map((f) => ({ bytes: f.bytes, cid: cids.get(f.path) }))])
}

/** The manifest of a pinned tree; undefined when it is not here (deleted, pruned). */
export async function loadManifest (blobs: BlobStore, cid: CID): Promise<FileManifest | undefined> {
  const bytes = await blobs.get(cid)
  return bytes == null ? undefined : decodeManifest(bytes)
}

/** The serve set of a task's input tree, from the store (a resumed job or batch). */
export async function loadInputTreeRef (blobs: BlobStore, files: TaskFiles): Promise<InputTreeRef | undefined> {
  const manifest = await loadManifest(blobs, files.cid)
  return manifest == null ? undefined : treeRef(files.cid, manifest)
}

/** Every file of a pinned tree with its bytes; undefined when the manifest or a file is missing. */
export async function loadTreeFiles (blobs: BlobStore, cid: CID): Promise<TreeFile[] | undefined> {
  const manifest = await loadManifest(blobs, cid)
  if (manifest == null) return undefined
  const files: TreeFile[] = []
  for (const entry of manifest.files) {
    const bytes = entry.size === 0 ? new Uint8Array(0) : await blobs.get(entry.cid)
    if (bytes == null) return undefined
    files.push({ path: entry.path, bytes })
  }
  return files
}

/**
 * Output manifests decoded for the API, by CID, with an index by path: a client downloads a tree
 * one file per request, and a manifest of 100,000 entries takes about half a second to decode, so
 * each is decoded once while it is in use, not once per file. The bytes behind a CID never
 * change; a hit still asks the store whether the manifest is kept (a deleted tree is gone). Per
 * store, at most `OUTPUT_MANIFEST_CACHE.manifests` manifests and `.entries` entries in all (an
 * indexed entry costs about 240 bytes of heap: 200,000 are about 50 MB), though always the last one.
 */
export const OUTPUT_MANIFEST_CACHE = { manifests: 8, entries: 200_000 }
const outputManifests = new WeakMap<BlobStore, LruMap<string, Map<string, ManifestEntry>>>()
/** How many output manifests were decoded for `outputFileList` and `outputFile` (the cache's misses); for tests. */
export let outputManifestDecodes = 0

/** A pinned output manifest's entries by path, in manifest order; undefined when it is gone. */
async function outputIndex (blobs: BlobStore, cidText: string): Promise<Map<string, ManifestEntry> | undefined> {
  let cache = outputManifests.get(blobs)
  if (cache == null) {
    cache = new LruMap(OUTPUT_MANIFEST_CACHE.manifests, { max: OUTPUT_MANIFEST_CACHE.entries, of: (index) => index.size })
    outputManifests.set(blobs, cache)
  }
  const cid = CID.parse(cidText)
  const cached = cache.get(cidText)
  if (cached != null) {
    if (await blobs.has(cid)) return cached
    cache.delete(cidText)
    return undefined
  }
  const manifest = await loadManifest(blobs, cid)
  if (manifest == null) return undefined
  outputManifestDecodes++
  const index = new Map(manifest.files.map((f) => [f.path, f]))
  cache.set(cidText, index)
  return index
}

/** The files listed by a pinned output manifest (by its CID as text); undefined when it is gone. */
export async function outputFileList (blobs: BlobStore, cidText: string): Promise<OutputFileInfo[] | undefined> {
  const index = await outputIndex(blobs, cidText)
  return index == null ? undefined : [...index.values()].map((f) => ({ path: f.path, size: f.size, cid: f.cid.toString() }))
}

/** One file of a pinned output tree by path: its entry and bytes; undefined when not listed or gone. */
export async function outputFile (blobs: BlobStore, cidText: string, path: string): Promise<{ info: OutputFileInfo, bytes: Uint8Array } | undefined> {
  const entry = (await outputIndex(blobs, cidText))?.get(path)
  if (entry == null) return undefined
  const bytes = entry.size === 0 ? new Uint8Array(0) : await blobs.get(entry.cid)
  if (bytes == null) return undefined
  return { info: { path: entry.path, size: entry.size, cid: entry.cid.toString() }, bytes }
}
