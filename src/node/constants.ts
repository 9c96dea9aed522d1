import { MAX_BLOCK_BYTES } from '../ledger/constants.ts'

/** DHT protocol id: depin's own Kademlia network, separate from the public IPFS DHT. */
export const DHT_PROTOCOL = '/depin/kad/1.0.0'
/** Key namespace of signed capacity records in the DHT: `/depin-capacity/<peer id>`. */
export const CAPACITY_NAMESPACE = 'depin-capacity'
/** Signing domain of capacity records. */
export const CAPACITY_DOMAIN = 'capacity/1'
/** Largest capacity record accepted from the DHT. */
export const MAX_CAPACITY_RECORD_BYTES = 4096
/** How long a published capacity record stays valid. */
export const CAPACITY_RECORD_TTL_MS = 60 * 60 * 1000
/** Capacity records are re-published this long before they expire (and whenever capacity changes). */
export const CAPACITY_REFRESH_MARGIN_MS = 20 * 60 * 1000
/** How many capacity records `findCapacity` fetches at once. */
export const FIND_CAPACITY_CONCURRENCY = 8
/** Default overall deadline of `findCapacity`. */
export const FIND_CAPACITY_TIMEOUT_MS = 15_000
/** A capacity lookup stops once this many holders answered with a valid record (or the owner did). */
export const CAPACITY_GET_QUORUM = 3
/** Deadline of one DHT lookup of one peer's capacity record. */
export const CAPACITY_GET_TIMEOUT_MS = 5_000

/**
 * Gossip topic of job offers. Like the ledger's block and transaction topics it carries the
 * network id: offers are paid in that network's credits, so networks never hear each other.
 */
export function offersTopic (networkId: string): string {
  return `/depin/jobs/${networkId}/offers/2`
}

/** Largest offer on gossip, checked before decoding (blocks and transactions: see the ledger's constants). */
export const MAX_OFFER_BYTES = 16 * 1024
/** Gossipsub's own frame bound: the largest message (a block) plus room for the RPC envelope. */
export const MAX_GOSSIP_RPC_BYTES = MAX_BLOCK_BYTES + 64 * 1024

/** Default local API address (loopback only). */
export const DEFAULT_API_HOST = '127.0.0.1'
export const DEFAULT_API_PORT = 4101
/** Default libp2p listen address. */
export const DEFAULT_LISTEN = '/ip4/0.0.0.0/tcp/4001'

/** Maximum connections the node keeps. */
export const MAX_CONNECTIONS = 300
