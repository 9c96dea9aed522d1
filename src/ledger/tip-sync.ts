/**
 * This node's side of sync: runs the SyncClient against a peer, and when a sync moved this node
 * to another tip, announces the new tip block on gossip. Blocks learnt by sync are not relayed by
 * gossip, so without the announcement a neighbour that mines nothing (or the miner of a lighter
 * branch, after a healed partition) would hear of the heavier chain only when somebody mines on
 * it; with it, the tip block reaches the neighbours, whose unknown parent makes them sync from
 * this node.
 *
 * One announcement per tip, and none of a block this node relayed: syncs run concurrently (one
 * per peer whose gossip or connection asked for one), and each that ended on a tip other than
 * the one it started from announced it, even when another sync had announced it already or the
 * tip had come by gossip meanwhile (and gone on to the neighbours from here). So a lagging node
 * that heard one block from k peers (each an orphan, each a sync) published it k times, each copy
 * a new gossip message that every neighbour validates and ignores as a duplicate at its sender's
 * expense. After many nodes restarted at once these copies used up the senders' gossip
 * allowances, so new blocks were dropped, became orphans elsewhere, and caused more syncs and
 * copies (bench/churn.ts).
 */
import { logger } from '@libp2p/logger'
import type { ChainIndex } from './chain-index.ts'
import { SyncClient, type SyncClientComponents, type SyncClientInit, type SyncResult } from './sync-client.ts'
import type { LedgerInit } from './types.ts'

const log = logger('depin:ledger')

export interface TipSyncInit {
  chain: Pick<ChainIndex, 'tip' | 'blockBytes'>
  publishBlock?: LedgerInit['publishBlock']
  /** A ledger stopped while a sync ran announces nothing. */
  isStarted: () => boolean
}

export class TipSync {
  private readonly client: SyncClient
  private readonly init: TipSyncInit
  /** The block this node last sent on gossip (announced, or relayed): not announced again. */
  private announced?: string

  constructor (init: TipSyncInit, components: SyncClientComponents, options: SyncClientInit) {
    this.init = init
    this.client = new SyncClient(components, options)
  }

  /** Syncs from a peer with a heavier chain. */
  async syncWith (peerId: string): Promise<SyncResult> {
    return await this.announcingNewTip(async () => await this.client.syncWith(peerId))
  }

  /** A sync a peer's gossip asks for: at most once per peer per trigger interval. */
  async trigger (peerId: string): Promise<SyncResult> {
    return await this.announcingNewTip(async () => await this.client.trigger(peerId))
  }

  /**
   * A block from gossip joined the canonical chain, so gossip relays it: the neighbours have it
   * from this node, and a sync that ends on it need not announce it.
   */
  relayed (hashHex: string): void {
    this.announced = hashHex
  }

  stop (): void {
    this.client.stop()
  }

  private async announcingNewTip (sync: () => Promise<SyncResult>): Promise<SyncResult> {
    const { chain } = this.init
    const before = chain.tip.hashHex
    const result = await sync()
    const tip = chain.tip
    if (tip.hashHex !== before && tip.hashHex !== this.announced && this.init.isStarted()) {
      // Set before the read below: a sync ending meanwhile on the same tip sees it.
      this.announced = tip.hashHex
      const bytes = await chain.blockBytes(tip.hash)
      if (bytes != null) {
        try {
          await this.init.publishBlock?.(bytes)
        } catch (err) {
          log('could not announce the new tip %s after a sync: %e', tip.hashHex, err)
        }
      }
    }
    return result
  }
}
