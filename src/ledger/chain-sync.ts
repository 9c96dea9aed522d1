/**
 * The chain as both sides of sync see it: what a peer's requests are answered from (SyncSource:
 * locating a common ancestor, canonical headers and blocks by range, stored blocks by hash) and
 * what this node's SyncClient reads and applies (SyncTarget). Reads only; applying goes through
 * the ledger, so a synced block takes the same queue and events as a gossiped one.
 */
import type { BlockHeader, DecodedBlock } from './block.ts'
import type { ChainIndex } from './chain-index.ts'
import { MAX_SYNC_LOCATOR } from './constants.ts'
import type { AncestorLookup } from './difficulty.ts'
import type { NetworkParams } from './genesis.ts'
import { bigintToMinBytes, type Entry } from './store.ts'
import type { SyncTarget } from './sync-client.ts'
import type { SyncStatus } from './sync-messages.ts'
import type { SyncSource } from './sync-server.ts'

export interface SyncTargetInit {
  params: NetworkParams
  maxReorgDepth: number
  applyBlock: (block: DecodedBlock) => Promise<void>
  now: () => number
}

export class ChainSync implements SyncSource {
  private readonly chain: ChainIndex

  constructor (chain: ChainIndex) {
    this.chain = chain
  }

  syncStatus (): SyncStatus {
    const tip = this.chain.tip
    return { t: 'status', genesis: this.chain.genesis.hash, tip: tip.hash, height: tip.height, work: bigintToMinBytes(tip.chainWork) }
  }

  /** Canonical entries at tip, tip-1, ..., tip-7, then doubling steps, always ending with genesis. */
  async locator (): Promise<Entry[]> {
    const out: Entry[] = []
    let step = 1
    let h = this.chain.tip.height
    while (h > 0 && out.length < MAX_SYNC_LOCATOR - 1) {
      const e = await this.chain.canonicalEntry(h)
      if (e != null) out.push(e)
      if (out.length >= 8) step *= 2
      h -= step
    }
    out.push(this.chain.genesis)
    return out
  }

  async locate (hashes: Uint8Array[]): Promise<{ height: number, hash: Uint8Array } | undefined> {
    for (const hash of hashes) {
      const entry = await this.chain.getEntry(hash)
      if (entry != null && await this.chain.isCanonical(entry)) return { height: entry.height, hash: entry.hash }
    }
    return undefined
  }

  async headersByRange (from: number, count: number): Promise<BlockHeader[]> {
    return (await this.canonicalRange(from, count)).map((e) => e.header)
  }

  async blocksByRange (from: number, count: number, maxBytes: number): Promise<Uint8Array[]> {
    return await this.blocksByHash((await this.canonicalRange(from, count)).map((e) => e.hash), maxBytes)
  }

  /** Canonical entries from `from`, at most `count`, stopping at the tip or at the first gap. */
  private async canonicalRange (from: number, count: number): Promise<Entry[]> {
    const out: Entry[] = []
    const end = Math.min(from + count - 1, this.chain.tip.height)
    for (let h = from; h <= end; h++) {
      const e = await this.chain.canonicalEntry(h)
      if (e == null) break
      out.push(e)
    }
    return out
  }

  async blocksByHash (hashes: Uint8Array[], maxBytes: number): Promise<Uint8Array[]> {
    const out: Uint8Array[] = []
    let size = 0
    for (const hash of hashes) {
      const bytes = await this.chain.blockBytes(hash)
      if (bytes == null) break
      if (out.length > 0 && size + bytes.byteLength > maxBytes) break
      out.push(bytes)
      size += bytes.byteLength
    }
    return out
  }

  /** What the SyncClient reads from this chain and hands its fetched blocks to. Call once the chain is open. */
  target (init: SyncTargetInit): SyncTarget {
    const chain = this.chain
    return {
      params: init.params,
      genesisHashHex: chain.genesis.hashHex,
      maxReorgDepth: init.maxReorgDepth,
      tipEntry: () => chain.tip,
      locator: async () => await this.locator(),
      canonicalEntry: async (h) => await chain.canonicalEntry(h),
      hasBlock: async (hex) => (await chain.getEntry(hex)) != null,
      ancestry: (start: Entry): AncestorLookup => chain.ancestry(start),
      applyBlock: init.applyBlock,
      now: init.now
    }
  }
}
