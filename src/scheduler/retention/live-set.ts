/**
 * The blobs kept records reference, built while the records stream past (the mark of mark and
 * sweep). Entries are the CIDs' bytes as latin1 strings: a CIDv1 sha2-256 is 36 bytes, 77 bytes
 * of heap with the Set's own entry (bench/prune.ts). Records themselves are never held, so a
 * prune's memory is this set: proportional to the number of distinct blobs kept on disk, a small
 * fraction of what they take there (a million kept blobs: 77 MB here, for the length of one
 * prune). A Bloom filter would bound it further at the price of some garbage surviving a prune;
 * not worth it at these figures.
 *
 * A referenced CID with the dag-cbor codec is a file manifest: the files it names are referenced
 * too (each manifest is read and expanded once per prune).
 */
import { logger } from '@libp2p/logger'
import type { CID } from 'multiformats/cid'
import { DAG_CBOR_CODE } from '../../proofs/encoding.ts'
import { decodeManifest } from '../files/index.ts'

const log = logger('depin:retention')

/** The key of a blob in the live set and in the pinned key space (its CID's bytes). */
export function blobKey (cidBytes: Uint8Array): string {
  return Buffer.from(cidBytes.buffer, cidBytes.byteOffset, cidBytes.byteLength).toString('latin1')
}

export class LiveSet {
  private readonly keys = new Set<string>()
  private readonly expanded = new Set<string>()
  private readonly readBlob: (cid: CID) => Promise<Uint8Array | undefined>
  private readonly only?: ReadonlySet<string>

  /**
   * `readBlob` reads a manifest's bytes. With `only`, the set keeps just those keys (deleting one
   * record asks only about the blobs that record referenced).
   */
  constructor (readBlob: (cid: CID) => Promise<Uint8Array | undefined>, only?: ReadonlySet<string>) {
    this.readBlob = readBlob
    this.only = only
  }

  get size (): number {
    return this.keys.size
  }

  /** The keys held (see `blobKey`). */
  keySet (): ReadonlySet<string> {
    return this.keys
  }

  has (cidBytes: Uint8Array): boolean {
    return this.keys.has(blobKey(cidBytes))
  }

  async add (cids: Iterable<CID>): Promise<void> {
    for (const cid of cids) {
      const key = blobKey(cid.bytes)
      if (this.only == null || this.only.has(key)) this.keys.add(key)
      if (cid.code === DAG_CBOR_CODE && !this.expanded.has(key)) {
        this.expanded.add(key)
        await this.add(await this.manifestFiles(cid))
      }
    }
  }

  private async manifestFiles (cid: CID): Promise<CID[]> {
    const bytes = await this.readBlob(cid)
    if (bytes == null) {
      // Without its manifest a tree cannot be served any more; its files go with the next sweep.
      log('manifest %s is not here; its files are not marked', cid)
      return []
    }
    try {
      return decodeManifest(bytes).files.map((f) => f.cid)
    } catch (err) {
      log('manifest %s does not decode: %e', cid, err)
      return []
    }
  }
}
