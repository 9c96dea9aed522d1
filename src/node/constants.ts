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
  return `/depin/jobs/${networkId}/offers/1`
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

/**
 * Connections a node keeps (libp2p's connection manager prunes the least valuable above it).
 * Enough for kad-dht's 20 closest peers (kept alive), a gossip mesh (D = 6, at most 12) and the
 * peers a node is trading with; not a full mesh, whatever the size of the network.
 */
export const MAX_CONNECTIONS = 48
/** Production: open connections one remote IP address may hold to this node (loopback testnets: no limit). */
export const MAX_CONNECTIONS_PER_HOST = 8
/** Production: new inbound connections per second from one remote IP address (libp2p's inbound threshold). */
export const INBOUND_CONNECTIONS_PER_HOST_PER_SECOND = 5
/** Inbound connections still in their upgrade (Noise, Yamux) at once; a testnet starting many nodes gets more. */
export const MAX_PENDING_INBOUND = 10
export const TESTNET_MAX_PENDING_INBOUND = 128
/** libp2p's connection monitor pings each connection this often (its default is 10 s); idle traffic per connection. */
export const CONNECTION_PING_INTERVAL_MS = 30_000
/** kad-dht looks up its own id (refreshing its closest peers) this often; the table refresh is kad-dht's fixed 5 min. */
export const DHT_QUERY_SELF_INTERVAL_MS = 10 * 60 * 1000

/**
 * Bounds of the libp2p datastore (peer store, kad-dht records and provider records), so what
 * other peers send cannot grow a node's memory without limit.
 */
export const DATASTORE_LIMITS = {
  providers: { prefix: '/dht/provider/', maxEntries: 8192, maxBytes: 2 * 1024 * 1024, maxPerOwner: 64 },
  records: { prefix: '/dht/record/', maxEntries: 4096, maxBytes: 8 * 1024 * 1024 },
  peers: { prefix: '/peers/', maxEntries: 4096, maxBytes: 16 * 1024 * 1024 },
  rest: { maxEntries: 4096, maxBytes: 4 * 1024 * 1024 }
} as const
