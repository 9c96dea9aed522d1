/**
 * The files a job left in /out, on their way out of the worker: collected, hashed and put in a
 * manifest inside the worker (off the main thread), each file's bytes on a buffer of its own
 * that is transferred, not copied, and rebuilt into `ExecOutputs` on the main thread.
 */
import { CID } from 'multiformats/cid'
import { rawCid } from '../../proofs/encoding.ts'
import { MAX_MANIFEST_BYTES } from '../files/constants.ts'
import { createManifest, EMPTY_MANIFEST, encodedManifestBytes, encodeManifest, manifestCid } from '../files/manifest.ts'
import type { FileManifest } from '../files/manifest.ts'
import type { MemFs } from './memfs.ts'
import type { WireOutputs } from './protocol.ts'

/** One file the job left in /out. */
export interface OutputFile {
  /** Path under /out, e.g. `frames/0001.pgm`. */
  path: string
  size: number
  /** CIDv1 raw sha2-256 of `bytes`. */
  cid: CID
  bytes: Uint8Array
}

/** Everything the job left in /out, content-addressed. */
export interface ExecOutputs {
  /** Sorted bytewise by path (the manifest's order). Empty directories are not listed. */
  files: OutputFile[]
  /** `{ v: 1, files: [{ path, size, cid }] }` (see docs/protocol.md, "File manifests"). */
  manifest: FileManifest
  /** The manifest's canonical DAG-CBOR encoding. */
  manifestBytes: Uint8Array
  /** CIDv1 dag-cbor sha2-256 of `manifestBytes`: what replicas are compared by. */
  manifestCid: CID
}

/**
 * A job left a tree in /out whose manifest would be over `MAX_MANIFEST_BYTES` (so long paths in
 * so many files that no peer would accept the manifest); the run ends with this as its trap.
 */
export class OutputManifestTooLarge extends Error {
  constructor (bytes: number) {
    super(`output manifest too large (${bytes} bytes, over ${MAX_MANIFEST_BYTES})`)
    this.name = 'OutputManifestTooLarge'
  }
}

/**
 * Worker side: reads /out out of the file system, which must not be used afterwards. Throws
 * `OutputManifestTooLarge` (checked first, before any path or bytes are built).
 */
export function collectOutputs (fs: MemFs): { outputs: WireOutputs | undefined, transfer: ArrayBuffer[] } {
  const manifestBytesNeeded = encodedManifestBytes(fs.outFileSizes())
  if (manifestBytesNeeded > MAX_MANIFEST_BYTES) throw new OutputManifestTooLarge(manifestBytesNeeded)
  const files: WireOutputs['files'] = []
  const transfer: ArrayBuffer[] = []
  const entries = []
  for (const { path, node } of fs.outFilesSorted()) {
    const bytes = node.data.detach()
    const cid = rawCid(bytes)
    files.push({ path, cid: cid.bytes, bytes })
    entries.push({ path, size: bytes.byteLength, cid })
    transfer.push(bytes.buffer as ArrayBuffer)
  }
  // An empty /out (most jobs) has the same outputs every time: nothing crosses, the main thread
  // has them made once (`outputsFromWire`).
  if (entries.length === 0) return { outputs: undefined, transfer }
  return { outputs: { files, ...manifestWire(entries) }, transfer }
}

function manifestWire (entries: Array<{ path: string, size: number, cid: CID }>): Pick<WireOutputs, 'manifestBytes' | 'manifestCid'> {
  // out paths follow the manifest rules by construction (memfs.ts); createManifest checks anyway
  const manifestBytes = encodeManifest(createManifest(entries, { maxEntries: Number.MAX_SAFE_INTEGER }))
  return { manifestBytes, manifestCid: manifestCid(manifestBytes).bytes }
}

/**
 * Main side: rebuilds CIDs and the manifest from what the worker sent (no re-hashing); nothing
 * sent: the job left nothing.
 */
export function outputsFromWire (wire: WireOutputs | undefined): ExecOutputs {
  if (wire === undefined) return emptyOutputs()
  const files = wire.files.map(f => ({ path: f.path, size: f.bytes.byteLength, cid: CID.decode(f.cid), bytes: f.bytes }))
  return {
    files,
    manifest: { v: 1, files: files.map(f => ({ path: f.path, size: f.size, cid: f.cid })) },
    manifestBytes: wire.manifestBytes,
    manifestCid: CID.decode(wire.manifestCid)
  }
}

let empty: ExecOutputs | undefined

/**
 * The outputs of a job that left nothing (or was killed before it could report): the same
 * object every time (frozen; its bytes are never written), as most jobs leave nothing.
 */
export function emptyOutputs (): ExecOutputs {
  if (empty === undefined) {
    const manifestBytes = encodeManifest(EMPTY_MANIFEST)
    empty = Object.freeze({
      files: Object.freeze([]) as unknown as OutputFile[],
      manifest: Object.freeze({ v: 1, files: Object.freeze([]) }) as unknown as FileManifest,
      manifestBytes,
      manifestCid: manifestCid(manifestBytes)
    })
  }
  return empty
}
