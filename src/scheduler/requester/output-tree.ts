/**
 * Receiving the files a run left in /out, as they follow a result on a lease stream: first the
 * output manifest (exactly the announced length, checked against the committed CID, decoded
 * strictly), then each listed file's bytes in the manifest's order, each into a buffer of its
 * listed size and checked against its CID the moment it is complete. A worker that sends more,
 * less, other bytes or a manifest over the limits gets `BadResultError` (it signed the CID);
 * framing out of order is `ProtocolViolationError`.
 */
import type { CID } from 'multiformats/cid'
import { cidOf, DAG_CBOR_CODE } from '../../proofs/encoding.ts'
import { BadResultError, ProtocolViolationError } from '../errors.ts'
import { decodeManifest, verifyFile, type FileManifest, type TreeFile } from '../files/index.ts'
import { MAX_OUTPUT_TREE_BYTES } from '../constants.ts'
import type { OutputTree } from './types.ts'

export class OutputTreeReceiver {
  private readonly cid: CID
  private readonly manifestBytes: Uint8Array
  private manifestAt = 0
  private manifest?: FileManifest
  private readonly files: TreeFile[] = []
  /** The file being received (index into the manifest), and bytes of it so far. */
  private current = 0
  private buffer?: Uint8Array
  private at = 0

  constructor (cid: CID, manifestLength: number) {
    this.cid = cid
    this.manifestBytes = new Uint8Array(manifestLength)
  }

  /** Every file is in. */
  get complete (): boolean {
    return this.manifest != null && this.current >= this.manifest.files.length
  }

  /** A `data` frame of the manifest or of a file. */
  data (which: 'manifest' | 'file', data: Uint8Array): void {
    if (which === 'manifest') {
      if (this.manifest != null) throw new ProtocolViolationError('manifest data after the whole manifest')
      if (this.manifestAt + data.byteLength > this.manifestBytes.byteLength) throw new BadResultError('output manifest longer than announced')
      this.manifestBytes.set(data, this.manifestAt)
      this.manifestAt += data.byteLength
      if (this.manifestAt === this.manifestBytes.byteLength) this.openManifest()
      return
    }
    const manifest = this.manifest
    if (manifest == null) throw new ProtocolViolationError('file data before the whole output manifest')
    const entry = manifest.files[this.current]
    if (entry == null) throw new BadResultError('file data past the last file of the output manifest')
    this.buffer ??= new Uint8Array(entry.size)
    if (this.at + data.byteLength > entry.size) throw new BadResultError(`file ${JSON.stringify(entry.path)} is longer than its manifest says`)
    this.buffer.set(data, this.at)
    this.at += data.byteLength
    if (this.at === entry.size) this.finishFile()
  }

  /** The received tree (call once `complete`). */
  result (): OutputTree {
    if (this.manifest == null || !this.complete) throw new ProtocolViolationError('output files incomplete')
    return { cid: this.cid, manifest: this.manifest, manifestBytes: this.manifestBytes, files: this.files }
  }

  private openManifest (): void {
    const committed = this.cid.toString()
    if (cidOf(this.manifestBytes, DAG_CBOR_CODE).toString() !== committed) throw new BadResultError(`output manifest does not match the committed ${committed}`)
    let manifest: FileManifest
    try {
      manifest = decodeManifest(this.manifestBytes)
    } catch (err) {
      throw new BadResultError(`output manifest is invalid: ${(err as Error).message}`)
    }
    let total = 0
    for (const f of manifest.files) total += f.size
    if (total > MAX_OUTPUT_TREE_BYTES) throw new BadResultError(`output files hold ${total} bytes, over the limit of ${MAX_OUTPUT_TREE_BYTES}`)
    this.manifest = manifest
    this.skipEmpty()
  }

  private finishFile (): void {
    const manifest = this.manifest as FileManifest
    const entry = manifest.files[this.current]
    const bytes = this.buffer ?? new Uint8Array(0)
    try {
      verifyFile(entry, bytes)
    } catch (err) {
      throw new BadResultError(`output ${(err as Error).message}`)
    }
    this.files.push({ path: entry.path, bytes })
    this.current++
    this.buffer = undefined
    this.at = 0
    this.skipEmpty()
  }

  /** Empty files have no data frames: they are complete as soon as they are next. */
  private skipEmpty (): void {
    const manifest = this.manifest as FileManifest
    while (this.current < manifest.files.length && manifest.files[this.current].size === 0) this.finishFile()
  }
}
