/**
 * The blobs (modules, inputs, file manifests, files) a worker needs for the tasks of one lease:
 * looked up locally first, otherwise asked of the requester with a `want` frame and received in
 * `chunk` frames into one buffer of the declared size, then checked against the CID before
 * anything uses them. Wants of one moment go out together; a blob wanted by several tasks is
 * fetched once, and one still in use by a task (held by it) is not fetched again.
 *
 * Where blobs are kept: modules in the node's blob cache (run again and again); manifests and
 * files up to `CACHED_FILE_BYTES` in the cache too (a batch's shared input tree), larger files
 * in memory only, in a `SharedArrayBuffer` the executor's thread reads without a copy; task
 * inputs (stdin) in memory only.
 */
import type { CID } from 'multiformats/cid'
import { bytesMatchCid, cidText } from '../../proofs/encoding.ts'
import type { BlobStore } from '../blob-store.ts'
import { MAX_INPUT_BYTES, MAX_MODULE_BYTES } from '../constants.ts'
import { BadInputTreeError, BlobMismatchError, ProtocolViolationError } from '../errors.ts'
import type { InputFile } from '../executor/index.ts'
import { decodeManifest } from '../files/index.ts'
import { MAX_INPUT_FILES_BYTES, type TaskFiles } from '../task.ts'

/** Most bytes of blobs one lease receives at once (a module, an input and a task's files at their caps). */
const MAX_INCOMING_BYTES = MAX_MODULE_BYTES + MAX_INPUT_BYTES + MAX_INPUT_FILES_BYTES
/** Files up to this size go to the blob cache on disk; larger ones are held in memory while used. */
export const CACHED_FILE_BYTES = 16 * 1024 * 1024

export type BlobKind = 'module' | 'input' | 'manifest' | 'file'

interface Wanted {
  cid: CID
  size: number
  kind: BlobKind
  buffer?: Uint8Array
  offset: number
  resolve: (bytes: Uint8Array) => void
  reject: (err: Error) => void
  promise: Promise<Uint8Array>
}

export class BlobFetch {
  private readonly blobs: BlobStore
  private readonly sendWant: (cids: CID[]) => void
  private readonly onBytes?: (kind: BlobKind, bytes: number) => void
  private readonly wanted = new Map<string, Wanted>()
  private readonly unsent: CID[] = []
  private incomingBytes = 0
  private flushScheduled = false
  /** Blobs fetched on this lease that some task may still hold (reused instead of fetched again). */
  private readonly recent = new Map<string, WeakRef<Uint8Array>>()

  /** `onBytes`: every chunk received (for the payload metrics). */
  constructor (blobs: BlobStore, sendWant: (cids: CID[]) => void, onBytes?: (kind: BlobKind, bytes: number) => void) {
    this.blobs = blobs
    this.sendWant = sendWant
    this.onBytes = onBytes
  }

  /**
   * The blob's bytes, from here or from the requester. `signal`: the task that waits gives up (a
   * cancel, the lease ending); the blob's fetch goes on (its chunks are still taken).
   */
  async get (cid: CID, size: number, kind: BlobKind, signal?: AbortSignal): Promise<Uint8Array> {
    const key = cidText(cid)
    if (size === 0) {
      if (bytesMatchCid(EMPTY, cid)) return EMPTY
      // Only the empty blob has 0 bytes: the spec contradicts itself (whatever the requester sends).
      throw new BlobMismatchError(`${kind} ${cid.toString()} is declared 0 bytes long, and 0 bytes have another CID`)
    }
    // Bytes held here match their CID; a task that declares another size for them contradicts
    // itself, and is refused as a worker without them refuses it (not run on some workers only).
    const held = this.recent.get(key)?.deref()
    if (held != null) return sized(held, size, kind, cid)
    const local = kind === 'input' ? this.blobs.getHot(cid) ?? await this.blobs.get(cid) : await this.blobs.get(cid)
    if (local != null) return sized(local, size, kind, cid)
    signal?.throwIfAborted()
    const existing = this.wanted.get(key)
    if (existing != null) return await waitFor(existing.promise, signal)
    if (this.incomingBytes + size > MAX_INCOMING_BYTES) throw new ProtocolViolationError(`over ${MAX_INCOMING_BYTES} bytes of blobs in flight on one lease`, 'ERR_TOO_LARGE')
    const entry = { cid, size, kind, offset: 0 } as Wanted
    entry.promise = new Promise<Uint8Array>((resolve, reject) => { entry.resolve = resolve; entry.reject = reject })
    entry.promise.catch(() => {})
    this.wanted.set(key, entry)
    this.incomingBytes += size
    this.unsent.push(cid)
    if (!this.flushScheduled) {
      this.flushScheduled = true
      queueMicrotask(() => {
        this.flushScheduled = false
        if (this.unsent.length > 0) this.sendWant(this.unsent.splice(0))
      })
    }
    return await waitFor(entry.promise, signal)
  }

  /** A `chunk` frame. Throws `ProtocolViolationError` for bytes not asked for or past the declared size. */
  chunk (cid: CID, data: Uint8Array): void {
    const entry = this.wanted.get(cidText(cid))
    if (entry == null) throw new ProtocolViolationError(`chunk of ${cid.toString()}, which was not asked for`)
    // A file is read by the executor's thread: in shared memory it is not copied there.
    entry.buffer ??= entry.kind === 'file' && entry.size > CACHED_FILE_BYTES ? new Uint8Array(new SharedArrayBuffer(entry.size)) : new Uint8Array(entry.size)
    if (entry.offset + data.byteLength > entry.size) {
      this.fail(entry, new BlobMismatchError(`${entry.kind} ${cid.toString()} is longer than the ${entry.size} bytes the task declares`))
      throw new ProtocolViolationError(`${entry.kind} bytes past the declared size`, 'ERR_BLOB_MISMATCH')
    }
    entry.buffer.set(data, entry.offset)
    entry.offset += data.byteLength
    this.onBytes?.(entry.kind, data.byteLength)
  }

  /** An `end` frame: checks the blob and hands it to the tasks waiting for it. */
  async end (cid: CID): Promise<void> {
    const entry = this.wanted.get(cidText(cid))
    if (entry == null) throw new ProtocolViolationError(`end of ${cid.toString()}, which was not asked for`)
    const bytes = entry.buffer ?? new Uint8Array(0)
    if (entry.offset !== entry.size || !bytesMatchCid(bytes, cid)) {
      this.fail(entry, new BlobMismatchError(`${entry.kind} bytes do not match ${cid.toString()}`))
      throw new ProtocolViolationError(`${entry.kind} bytes do not match their CID`, 'ERR_BLOB_MISMATCH')
    }
    this.done(entry)
    // Modules are run again and again, a batch's files by many tasks: kept in the cache (small
    // files only: a large one would sit in the store's write buffer). Inputs are one-off: memory.
    if (entry.kind === 'module' || (entry.kind !== 'input' && bytes.byteLength <= CACHED_FILE_BYTES)) await this.blobs.cacheVerified(cid, bytes)
    else this.blobs.holdVerified(cid, bytes)
    this.recent.set(cidText(cid), new WeakRef(bytes))
    if (this.recent.size > 4096) this.pruneRecent()
    entry.resolve(bytes)
  }

  /** Fails every wait (the lease ended). */
  abort (err: Error): void {
    for (const entry of [...this.wanted.values()]) this.fail(entry, err)
  }

  private pruneRecent (): void {
    for (const [key, ref] of this.recent) if (ref.deref() == null) this.recent.delete(key)
  }

  private done (entry: Wanted): void {
    this.wanted.delete(cidText(entry.cid))
    this.incomingBytes -= entry.size
  }

  private fail (entry: Wanted, err: Error): void {
    if (this.wanted.get(cidText(entry.cid)) !== entry) return
    this.done(entry)
    entry.reject(err)
  }
}

const EMPTY = new Uint8Array(0)

/** `promise`, or the abort of `signal` if that comes first. */
/** `bytes` (which match `cid`) when they are the size the task declares; else BlobMismatchError. */
function sized (bytes: Uint8Array, size: number, kind: BlobKind, cid: CID): Uint8Array {
  if (bytes.byteLength !== size) throw new BlobMismatchError(`${kind} ${cid.toString()} is ${bytes.byteLength} bytes long, the task declares ${size}`)
  return bytes
}

async function waitFor<T> (promise: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (signal == null) return await promise
  signal.throwIfAborted()
  return await new Promise<T>((resolve, reject) => {
    const onAbort = (): void => { reject(signal.reason instanceof Error ? signal.reason : new Error('aborted')) }
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(resolve, reject).finally(() => { signal.removeEventListener('abort', onAbort) })
  })
}

/**
 * The input files of a task: the manifest (checked strictly: limits, order, paths), then every
 * file it lists (each checked against its CID as it arrives). Throws `BadInputTreeError` for a
 * manifest that is not what the task declared; fetch errors as they are.
 */
export async function fetchInputTree (fetch: BlobFetch, files: TaskFiles, signal?: AbortSignal): Promise<InputFile[]> {
  const bytes = await fetch.get(files.cid, files.manifestBytes, 'manifest', signal)
  let manifest
  try {
    manifest = decodeManifest(bytes)
  } catch (err) {
    throw new BadInputTreeError(`the input manifest is invalid: ${(err as Error).message}`, (err as { code?: string }).code)
  }
  const size = manifest.files.reduce((sum, f) => sum + f.size, 0)
  if (size !== files.size) throw new BadInputTreeError(`the input manifest lists ${size} bytes of files, the task declares ${files.size}`)
  return await Promise.all(manifest.files.map(async (f) => ({ path: f.path, bytes: await fetch.get(f.cid, f.size, 'file', signal) })))
}
