/**
 * The fetching side of `/depin/sync/2.0.0`, independent of the network: it talks through an
 * injected `SyncTransport` (the node implements it over libp2p streams; tests over an in-process
 * call).
 *
 * syncWith(peer):
 *   1. `status`: same genesis? more work than our tip? Otherwise nothing to do.
 *   2. `ancestor` with a locator (our canonical hashes at tip, tip-1, tip-2, tip-4, ... genesis):
 *      the fork point. It must be one of the (height, hash) pairs we sent; our chain may have
 *      reorged since, so it is checked against the locator, not against our chain now. Below
 *      the reorg window it only bounds the fork point: our block at the window's floor decides.
 *   3. Repeat: `headers` from the fork point in batches of MAX_SYNC_HEADERS; check each header
 *      (linkage, height, network, minimum difficulty, PoW, target rule, timestamp rule) and add
 *      up their work. No body is asked for until the checked headers carry more work than our
 *      tip: the work claimed in `status` is only a claim, the headers prove it. A peer whose
 *      headers have not shown that after MAX_UNPROVEN_SYNC_HEADERS is left ('not-heavier').
 *      Then `blocksByHash` for the headers we lack in batches of MAX_SYNC_BLOCKS; each body must
 *      hash to the header asked for and pass full validation as it is applied.
 * Every request has a deadline (`requestTimeoutMs`). A peer that serves undecodable or invalid
 * data is reported as `InvalidSyncData`, one that misses a deadline as `Timeout`; either way it
 * is dropped (not synced from again for `dropMs`).
 *
 * trigger(peer): a sync that a peer's gossip asked for (it sent a block whose parent we lack).
 * At most one per peer per `triggerIntervalMs`, unless the last one from that peer applied
 * blocks (the peer proved a heavier chain, so its next orphan is likely honest too): an orphan
 * costs its sender little to make, so it must not buy more than a `status` request now and
 * then. An explicit `syncWith` (the node calls it once per new connection) is not limited.
 */
import { logger } from '@libp2p/logger'
import { InvalidMessageError, MessageTooLargeError, InvalidSignatureError } from '../errors.ts'
import { bytesToBigint, targetFromBytes, workOf } from '../proofs/pow.ts'
import { decodeBlock, headerHash, type BlockHeader, type DecodedBlock } from './block.ts'
import { checkHeaderContext, checkHeaderSelf } from './chain.ts'
import { MAX_FUTURE_BLOCK_MS, MAX_SYNC_BLOCKS, MAX_SYNC_HEADERS, MAX_UNPROVEN_SYNC_HEADERS, MEDIAN_TIME_SPAN } from './constants.ts'
import type { AncestorLookup } from './difficulty.ts'
import { DuplicateError, FutureBlockError, LedgerError, UnknownParentError, BelowFinalityError } from './errors.ts'
import type { NetworkParams } from './genesis.ts'
import { bytesEqual, toHex } from './hex.ts'
import type { Entry } from './store.ts'
import type { SyncRequest, SyncResponse } from './sync-messages.ts'
import { expectType, PeerFault, SyncStop, syncRequest } from './sync-request.ts'

const log = logger('depin:ledger:sync')
/** Most dropped (or recently triggered) peers remembered at once. */
const MAX_DROPPED_PEERS = 10_000

/** Sends one request to a peer and resolves with its decoded (not yet validated) response. */
export interface SyncTransport {
  request(peerId: string, request: SyncRequest, options: { signal: AbortSignal }): Promise<unknown>
}

/** Named like the node's peer-score actions, so `reportPeer` can be wired straight to it. */
export type SyncPeerAction = 'InvalidSyncData' | 'Timeout'

/** What the client syncs into; the Ledger implements it. */
export interface SyncTarget {
  readonly params: NetworkParams
  readonly genesisHashHex: string
  readonly maxReorgDepth: number
  tipEntry(): Entry
  /** Our canonical entries the `ancestor` request names (their hashes), tip first, genesis last. */
  locator(): Promise<Entry[]>
  canonicalEntry(height: number): Promise<Entry | undefined>
  hasBlock(hashHex: string): Promise<boolean>
  ancestry(start: Entry): AncestorLookup
  /**
   * Fully validates and applies a block of a branch whose checked headers carry more work than
   * our tip (so it is stored even past the side-block cap). Throws LedgerErrors.
   */
  applyBlock(block: DecodedBlock): Promise<void>
  now(): number
}

export interface SyncClientComponents {
  transport: SyncTransport
  target: SyncTarget
  reportPeer?: (peerId: string, action: SyncPeerAction) => void
}

export interface SyncClientInit {
  /** Deadline of each request. */
  requestTimeoutMs: number
  /** How long a dropped peer is not synced from. */
  dropMs: number
  /** Least time between two triggered syncs from one peer. @default SYNC_TRIGGER_INTERVAL_MS */
  triggerIntervalMs: number
}

export interface SyncResult {
  peer: string
  /**
   * `not-heavier`: the peer claimed more work than its headers carry (nothing was fetched);
   * `throttled`: a triggered sync within `triggerIntervalMs` of the last one from this peer.
   */
  status: 'synced' | 'up-to-date' | 'not-heavier' | 'different-network' | 'fork-below-finality' | 'dropped' | 'throttled' | 'failed'
  /** Blocks applied from this peer. */
  applied: number
  /** Our tip height afterwards. */
  height: number
  error?: string
}

interface HeaderLike { height: number, timestamp: number, target: bigint }

export class SyncClient {
  private readonly components: SyncClientComponents
  private readonly init: SyncClientInit
  private readonly dropped = new Map<string, number>()
  private readonly triggered = new Map<string, { at: number, useful: boolean }>()
  private readonly inflight = new Map<string, Promise<SyncResult>>()
  private readonly controller = new AbortController()

  constructor (components: SyncClientComponents, init: SyncClientInit) {
    this.components = components
    this.init = init
  }

  /** Aborts every sync in progress. */
  stop (): void {
    this.controller.abort(new Error('sync stopped'))
  }

  private drop (peer: string): void {
    const now = Date.now()
    if (this.dropped.size >= MAX_DROPPED_PEERS) {
      for (const [p, until] of this.dropped) if (until <= now) this.dropped.delete(p)
      if (this.dropped.size >= MAX_DROPPED_PEERS) this.dropped.delete(this.dropped.keys().next().value as string)
    }
    this.dropped.set(peer, now + this.init.dropMs)
  }

  isDropped (peer: string): boolean {
    const until = this.dropped.get(peer)
    if (until == null) return false
    if (until > Date.now()) return true
    this.dropped.delete(peer)
    return false
  }

  /**
   * A sync a peer's gossip asked for (an orphan block): runs at most once per peer per
   * `triggerIntervalMs`; otherwise resolves at once with status `throttled`.
   */
  async trigger (peer: string): Promise<SyncResult> {
    const now = Date.now()
    const last = this.triggered.get(peer)
    // A peer whose last triggered sync brought blocks has just proved a heavier chain by headers
    // and bodies: it may trigger the next one at once (a node that fell behind catches up).
    if (last != null && !last.useful && now - last.at < this.init.triggerIntervalMs) {
      return { peer, status: 'throttled', applied: 0, height: this.components.target.tipEntry().height }
    }
    const entry = { at: now, useful: false }
    this.triggered.delete(peer)
    this.triggered.set(peer, entry)
    if (this.triggered.size > MAX_DROPPED_PEERS) this.triggered.delete(this.triggered.keys().next().value as string)
    const result = await this.syncWith(peer)
    entry.useful = result.status === 'synced' && result.applied > 0
    return result
  }

  /** Syncs from `peer` if it has a heavier chain. One sync per peer at a time. */
  async syncWith (peer: string): Promise<SyncResult> {
    const running = this.inflight.get(peer)
    if (running != null) return await running
    const p = this.run(peer).finally(() => this.inflight.delete(peer))
    this.inflight.set(peer, p)
    return await p
  }

  private async run (peer: string): Promise<SyncResult> {
    const target = this.components.target
    const result = (status: SyncResult['status'], applied: number, error?: string): SyncResult =>
      ({ peer, status, applied, height: target.tipEntry().height, ...(error != null ? { error } : {}) })
    if (this.isDropped(peer)) return result('dropped', 0)
    const counter = { applied: 0 }
    try {
      const status = await this.sync(peer, counter)
      log('sync from %s: %s, %d blocks applied', peer, status, counter.applied)
      return result(status, counter.applied)
    } catch (err) {
      if (err instanceof PeerFault) {
        log('dropping %s: %s', peer, err.message)
        this.drop(peer)
        this.components.reportPeer?.(peer, err.action)
        return result('dropped', counter.applied, err.message)
      }
      if (err instanceof SyncStop) {
        log('sync from %s stopped: %s', peer, err.message)
        return result(err.status, counter.applied, err.message)
      }
      log('sync from %s failed: %e', peer, err)
      return result('failed', counter.applied, (err as Error).message)
    }
  }

  private async request (peer: string, request: SyncRequest): Promise<SyncResponse> {
    return await syncRequest(this.components.transport, peer, request, this.init.requestTimeoutMs, this.controller.signal)
  }

  private async sync (peer: string, counter: { applied: number }): Promise<SyncResult['status']> {
    const target = this.components.target
    const status = expectType(await this.request(peer, { t: 'status' }), 'status')
    if (toHex(status.genesis) !== target.genesisHashHex) throw new SyncStop('different-network', 'peer has another genesis')
    const ourTip = target.tipEntry()
    if (bytesToBigint(status.work) <= ourTip.chainWork) return 'up-to-date'

    // Fork point: the highest of our locator hashes on the peer's chain.
    const locator = await target.locator()
    const ancestor = expectType(await this.request(peer, { t: 'ancestor', locator: locator.map((e) => e.hash) }), 'ancestor')
    if (!ancestor.found) throw new SyncStop('different-network', 'peer knows none of our blocks, not even genesis')
    // [REJECT] the peer must answer with one of the (height, hash) pairs we sent. Checked against
    // the locator, not against our chain now: a reorg here while the answer was in flight is no
    // fault of the peer's. The block stays a valid place to continue from, canonical or not:
    // header checks follow its own ancestry, and the chain places each fetched block itself.
    const match = locator.find((e) => e.height === ancestor.height && bytesEqual(e.hash, ancestor.hash))
    if (match == null) throw new PeerFault('InvalidSyncData', 'ancestor answer is not one of the locator hashes')
    const floor = target.tipEntry().height - target.maxReorgDepth
    const forkEntry = match.height < floor ? await this.forkInWindow(peer, floor) : match

    // Headers on the peer's branch above the fork point, kept as far back as the rules look.
    const branch = new Map<number, HeaderLike>()
    const keep = target.params.retargetInterval + MEDIAN_TIME_SPAN + 2
    const baseAncestry = target.ancestry(forkEntry)
    const ancestry: AncestorLookup = async (height) => {
      if (height <= forkEntry.height) return await baseAncestry(height)
      const h = branch.get(height)
      if (h == null) throw new Error(`sync branch is missing height ${height}`)
      return h
    }
    let prev: { hash: Uint8Array, height: number, target: bigint } = { hash: forkEntry.hash, height: forkEntry.height, target: forkEntry.target }
    // Work of the checked headers; bodies are fetched only once it exceeds our tip's work.
    let provenWork = forkEntry.chainWork
    const ourWork = ourTip.chainWork
    // Checked headers whose bodies are not asked for yet (bounded by MAX_UNPROVEN_SYNC_HEADERS).
    let unfetched: Uint8Array[] = []
    for (;;) {
      const from = prev.height + 1
      const { headers } = expectType(await this.request(peer, { t: 'headers', from, count: MAX_SYNC_HEADERS }), 'headers')
      for (const header of headers) {
        const hash = headerHash(header)
        await this.checkHeader(header, hash, prev, ancestry)
        branch.set(header.height, { height: header.height, timestamp: header.timestamp, target: targetFromBytes(header.target) })
        branch.delete(header.height - keep)
        prev = { hash, height: header.height, target: targetFromBytes(header.target) }
        provenWork += workOf(prev.target)
        unfetched.push(hash)
      }
      if (provenWork > ourWork) {
        await this.fetchBodies(peer, unfetched, counter)
        unfetched = []
      } else if (unfetched.length >= MAX_UNPROVEN_SYNC_HEADERS) {
        break
      }
      if (headers.length < MAX_SYNC_HEADERS) break
    }
    if (provenWork <= ourWork) {
      // The status claimed more work than the headers carry: a liar, or a peer that reorged
      // meanwhile. Nothing was fetched; `trigger` keeps it from asking again soon.
      log('%s claimed more work than its headers carry', peer)
      return 'not-heavier'
    }
    return 'synced'
  }

  /**
   * The fork point when the locator's match is below the reorg window. The locator thins out
   * with depth (its steps double), so its highest block on the peer's chain can lie far below the
   * real fork point (a fork at tip - 80 matches at about tip - 133): the match alone cannot tell
   * whether the fork is inside the window. Our block at the window's floor can: if the peer's
   * header at that height is it, the fork is inside the window, and it is our highest block among
   * the headers that follow and match our chain. Otherwise the fork is below the floor.
   */
  private async forkInWindow (peer: string, floor: number): Promise<Entry> {
    const target = this.components.target
    let fork = await target.canonicalEntry(floor)
    if (fork == null) throw new SyncStop('failed', `our chain has no block at height ${floor}`)
    const { headers } = expectType(await this.request(peer, { t: 'headers', from: floor, count: MAX_SYNC_HEADERS }), 'headers')
    // A hash equal to ours is our own block, checked when we stored it; anything else (a shorter
    // chain, another block, a peer that reorged or lies) puts the fork below the floor.
    if (headers.length === 0 || !bytesEqual(headerHash(headers[0]), fork.hash)) {
      throw new SyncStop('fork-below-finality', `peer's chain does not hold our block at height ${floor}, the bottom of the reorg window`)
    }
    for (const header of headers.slice(1)) {
      const ours = await target.canonicalEntry(header.height)
      if (ours == null || !bytesEqual(headerHash(header), ours.hash)) break
      fork = ours
    }
    return fork
  }

  /** Bodies for checked headers we lack, in bounded batches, each applied as it arrives. */
  private async fetchBodies (peer: string, hashes: Uint8Array[], counter: { applied: number }): Promise<void> {
    const target = this.components.target
    const missing: Uint8Array[] = []
    for (const h of hashes) if (!(await target.hasBlock(toHex(h)))) missing.push(h)
    let i = 0
    while (i < missing.length) {
      const want = missing.slice(i, i + MAX_SYNC_BLOCKS)
      const { blocks } = expectType(await this.request(peer, { t: 'blocksByHash', hashes: want }), 'blocks')
      if (blocks.length === 0) throw new SyncStop('failed', 'peer no longer has the blocks it announced')
      if (blocks.length > want.length) throw new PeerFault('InvalidSyncData', 'more blocks than asked for')
      for (let j = 0; j < blocks.length; j++) {
        await this.applyBlock(peer, blocks[j], want[j], counter)
      }
      i += blocks.length
    }
  }

  /** Header checks before any body is fetched. */
  private async checkHeader (header: BlockHeader, hash: Uint8Array, prev: { hash: Uint8Array, height: number, target: bigint }, ancestry: AncestorLookup): Promise<void> {
    const target = this.components.target
    if (header.height !== prev.height + 1) throw new PeerFault('InvalidSyncData', `header at height ${header.height}, expected ${prev.height + 1}`)
    if (!bytesEqual(header.parent, prev.hash)) throw new PeerFault('InvalidSyncData', `header at height ${header.height} does not link to the previous one`)
    if (header.timestamp > target.now() + MAX_FUTURE_BLOCK_MS) throw new SyncStop('failed', `header at height ${header.height} is too far in the future`)
    try {
      checkHeaderSelf(header, hash, target.params)
      await checkHeaderContext(header, { height: prev.height, target: prev.target }, target.params, ancestry)
    } catch (err) {
      throw new PeerFault('InvalidSyncData', `invalid header at height ${header.height}: ${(err as Error).message}`, { cause: err })
    }
  }

  private async applyBlock (peer: string, bytes: Uint8Array, expected: Uint8Array, counter: { applied: number }): Promise<void> {
    let decoded: DecodedBlock
    try {
      decoded = decodeBlock(bytes)
    } catch (err) {
      throw new PeerFault('InvalidSyncData', `undecodable block: ${(err as Error).message}`, { cause: err })
    }
    if (!bytesEqual(decoded.hash, expected)) throw new PeerFault('InvalidSyncData', 'block does not match the header asked for')
    try {
      await this.components.target.applyBlock(decoded)
      counter.applied++
    } catch (err) {
      if (err instanceof DuplicateError) return
      if (err instanceof FutureBlockError || err instanceof BelowFinalityError) throw new SyncStop('failed', err.message)
      if (err instanceof UnknownParentError) throw new SyncStop('failed', err.message)
      if ((err instanceof LedgerError && err.action === 'reject') || err instanceof InvalidMessageError || err instanceof InvalidSignatureError || err instanceof MessageTooLargeError) {
        throw new PeerFault('InvalidSyncData', `invalid block ${decoded.hashHex} from ${peer}: ${(err as Error).message}`, { cause: err })
      }
      throw err
    }
  }
}
