/**
 * Opening a ledger store for a network: an empty store gets the genesis block, the genesis
 * allocations and its meta keys in one batch; a used one must have this build's schema version
 * and this network's genesis, so that a data dir of another network (or an older build) is
 * refused instead of being read as if it were this chain.
 */
import { logger } from '@libp2p/logger'
import { encode, decode } from '../proofs/encoding.ts'
import { workOf } from '../proofs/pow.ts'
import { encodeBlock, headerHash } from './block.ts'
import { GenesisMismatchError, SchemaVersionError } from './errors.ts'
import { genesisHeader, type NetworkParams } from './genesis.ts'
import { toHex } from './hex.ts'
import { BYTES, Overlay, SCHEMA_VERSION, encodeEntry, getBytes, keys, makeEntry, type Entry, type LedgerStore } from './store.ts'

const log = logger('depin:ledger:chain')

/** Initialises or checks the store; returns the genesis block's index entry. */
export async function openLedgerStore (db: LedgerStore, params: NetworkParams): Promise<Entry> {
  const header = genesisHeader(params)
  const genesisBlock = encodeBlock({ header, txs: [] })
  const hash = new Uint8Array(headerHash(header))
  const genesis = makeEntry(hash, header, workOf(params.initialTarget), 0, 0)
  const version = await getBytes(db, keys.meta('version'))
  if (version == null) {
    for await (const _ of db.keys({ ...BYTES, limit: 1 })) {
      throw new SchemaVersionError('the ledger store holds data but no schema version')
    }
    const overlay = new Overlay(db)
    overlay.put(keys.block(hash), genesisBlock)
    overlay.put(keys.entry(hash), encodeEntry(genesis))
    overlay.canonical.set(0, hash)
    for (const [peer, balance] of Object.entries(params.allocations)) {
      if (balance > 0) overlay.setAccount(peer, { balance, nonce: 0 })
    }
    overlay.put(keys.meta('version'), encode(SCHEMA_VERSION))
    overlay.put(keys.meta('genesis'), hash)
    overlay.put(keys.meta('tip'), hash)
    overlay.put(keys.meta('seq'), encode(1))
    await overlay.commit()
    log('initialised ledger store for network %s, genesis %s', params.networkId, genesis.hashHex)
  } else {
    const v = decode(version, 64, 'schema version')
    if (v !== SCHEMA_VERSION) throw new SchemaVersionError(`the ledger store has schema version ${String(v)}, this build reads ${SCHEMA_VERSION}`)
    const stored = await getBytes(db, keys.meta('genesis'))
    if (stored == null || toHex(stored) !== genesis.hashHex) {
      throw new GenesisMismatchError(`the ledger store belongs to genesis ${stored == null ? 'none' : toHex(stored)}, the config gives ${genesis.hashHex} (another network: use another data dir, or move its db/ away to start this network's chain afresh)`)
    }
  }
  return genesis
}
