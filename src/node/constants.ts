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
/** Shards of each runtime's provider key (see `shardOf`): up to about 20 × 16 providers are visible through the DHT. */
export const CAPABILITY_SHARDS = 16
/** How many capacity queries `findCapacity` has in flight at once. */
export const FIND_CAPACITY_CONCURRENCY = 8
/** Stream protocol of direct capacity queries (a peer's own record plus a sample of records it knows). */
export const CAPACITY_PROTOCOL = '/depin/capacity/1.0.0'
/** Largest capacity query frame. */
export const MAX_CAPACITY_QUERY_BYTES = 256
/** Most records of other peers in one capacity answer. */
export const CAPACITY_SAMPLE_MAX = 16
/** Largest capacity answer frame: the peer's record and a full sample, with room for the envelope. */
export const MAX_CAPACITY_ANSWER_BYTES = (CAPACITY_SAMPLE_MAX + 1) * (4096 + 8) + 1024
/** Records of other peers asked for when a peer connects. */
export const CAPACITY_SAMPLE_ON_CONNECT = 8
/** Deadline of one capacity query (opening the stream, dial included, and the answer). */
export const CAPACITY_QUERY_TIMEOUT_MS = 5_000
/** Verified adverts a node keeps (reachable peers and candidates together). */
export const CAPACITY_VIEW_MAX = 512
/** Of those, adverts learnt second-hand (samples, provider records) not yet confirmed by the peer itself. */
export const CAPACITY_CANDIDATES_MAX = 256
/** A peer that answered (or was connected) within this long is listed as reachable. */
export const CAPACITY_REACHABLE_MS = 5 * 60 * 1000
/** A peer that did not answer is not tried again (nor taken from samples) for this long. */
export const CAPACITY_UNREACHABLE_MS = 10 * 60 * 1000
/** Peers remembered as unreachable. */
export const CAPACITY_UNREACHABLE_MAX = 1024
/** A connected peer is asked again when the record held for it has less than this left to live. */
export const CAPACITY_REQUERY_MARGIN_MS = 15 * 60 * 1000
/** Capacity queries to newly connected peers in flight at once, and waiting at most. */
export const CONNECT_QUERY_CONCURRENCY = 4
export const CONNECT_QUERY_QUEUE_MAX = 128
/** Direct capacity queries one `findCapacity` call makes at most (whatever the size of the network). */
export const FIND_QUERY_BUDGET = 24
/** Connected peers one `findCapacity` round asks for samples. */
export const FIND_SAMPLE_PEERS = 3
/** Provider-key shards one `findCapacity` round reads from the DHT (rotating, so all are read over time). */
export const FIND_SHARDS_PER_ROUND = 2
/** Providers taken from one shard read (kad-dht's k). */
export const MAX_PROVIDERS_PER_SHARD = 20
/** After an answer from the view alone, a background discovery round runs at most this often. */
export const EXPLORE_MIN_INTERVAL_MS = 10_000
/** The first publish waits for a peer and this long more (other connections arrive in a burst). */
export const FIRST_PUBLISH_DELAY_MS = 1_000
/** One more publish this long after the first, once the neighbourhood has settled. */
export const SETTLE_PUBLISH_DELAY_MS = 60_000
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

// Gossip validation: bounded per peer, fair across peers (see gossip.ts and docs/protocol.md).

/** Messages in the costly validation stage (signatures, ledger) at once, across all peers. */
export const GOSSIP_VALIDATION_CONCURRENCY = 4
/** Most messages of one peer waiting for validation; more are ignored on arrival. */
export const GOSSIP_PEER_QUEUE_MAX = 32
/** Most bytes of one peer's messages waiting for validation. */
export const GOSSIP_PEER_QUEUE_MAX_BYTES = 2 * 1024 * 1024
/** Most bytes waiting for validation, all peers together. */
export const GOSSIP_QUEUE_MAX_BYTES = 64 * 1024 * 1024
/** Validation allowance of a peer not heard from before: a burst of this many messages ... */
export const GOSSIP_ALLOWANCE_BURST = 50
/** ... refilled at this many per second. */
export const GOSSIP_ALLOWANCE_PER_SECOND = 5
/** Each accepted message raises the peer's burst by 1 and its rate by this much per second ... */
export const GOSSIP_ALLOWANCE_GROWTH_PER_SECOND = 0.5
/** ... up to this burst ... */
export const GOSSIP_ALLOWANCE_MAX_BURST = 1000
/** ... and this rate. */
export const GOSSIP_ALLOWANCE_MAX_PER_SECOND = 500
/** Peers whose allowance is remembered; the least recently heard are forgotten (they start afresh). */
export const GOSSIP_ALLOWANCE_MAX_PEERS = 10_000
/** A message published to nobody is kept and published again when a peer subscribes, for this long. */
export const PUBLISH_RETRY_MAX_AGE_MS = 60_000
/** While messages wait for subscribers, publishing them is retried this often (and on every new subscription). */
export const PUBLISH_RETRY_INTERVAL_MS = 500
/** Most messages per topic waiting for subscribers; over it the oldest is given up. */
export const PUBLISH_RETRY_MAX_MESSAGES = 64
/** Most nodes `depin testnet` runs. */
export const TESTNET_MAX_NODES = 200
/**
 * Above this many nodes `depin testnet` runs them in its own process on libp2p's memory
 * transport instead of one daemon process each (see the README: 100 processes of an idle
 * daemon's RSS and start-up CPU do not fit a 2-core machine well).
 */
export const TESTNET_PROCESS_NODES_MAX = 16
/** Most nodes `createTestnet` starts (in one process, on the memory transport). */
export const TESTNET_LIBRARY_MAX_NODES = 1_000
/** Credits each testnet node starts with. */
export const TESTNET_ALLOCATION = 1_000_000
/** Testnet blocks: about two seconds apart, cheap to mine. */
export const TESTNET_BLOCK_INTERVAL_MS = 2_000
export const TESTNET_HASHES_PER_BLOCK = 2 ** 19

/**
 * Connections a node keeps: above it, depin's trimmer closes newcomers past it and the least
 * valuable idle established peers past 80 % of it (see connection-trimmer.ts), and libp2p
 * refuses inbound connections above 1.5 times it. Enough for kad-dht's 20 closest peers, a
 * gossip mesh (D = 6, at most 12) and the peers a node is trading with; not a full mesh,
 * whatever the size of the network.
 */
export const MAX_CONNECTIONS = 48
/** Production: open connections one remote IP address may hold to this node (loopback testnets: no limit). */
export const MAX_CONNECTIONS_PER_HOST = 8
/** Production: new inbound connections per second from one remote IP address (libp2p's inbound threshold). */
export const INBOUND_CONNECTIONS_PER_HOST_PER_SECOND = 5
/** Inbound connections still in their upgrade (Noise, Yamux) at once; a testnet starting many nodes gets more. */
export const MAX_PENDING_INBOUND = 10
export const TESTNET_MAX_PENDING_INBOUND = 128
/**
 * Liveness pings (see keepalive.ts): a node pings at most one connection per tick, none more
 * often than the minimum interval, and aborts a connection whose ping times out. Idle pings per
 * node: at most one per 3 s whatever the number of connections.
 */
export const KEEPALIVE_TICK_MS = 3_000
export const KEEPALIVE_MIN_INTERVAL_MS = 30_000
export const KEEPALIVE_TIMEOUT_MS = 10_000
/**
 * A connection's first round trip, measured once identify has run on it so that `depin peers`
 * shows a latency within seconds, not after the first liveness ping (30 s): at most this many at
 * once per node, this many waiting (more are left to the liveness pings: a node that connects to
 * a hundred peers at once sends a few pings at a time, not a hundred), each within this time.
 */
export const FIRST_PING_CONCURRENCY = 2
export const FIRST_PING_QUEUE = 64
export const FIRST_PING_TIMEOUT_MS = 5_000
/** How long after identify a connection's first ping waits (see keepalive.ts). */
export const FIRST_PING_DELAY_MS = 2_000
/**
 * How long a connection may take to answer the ping that checks it when its peer dials again
 * (the new connection waits for the answer, inside libp2p's 10 s inbound upgrade): no answer, and
 * the old connection is taken for dead (its peer restarted) and the new one is kept.
 */
export const STALE_CONNECTION_PING_MS = 5_000
/** A connection younger than this is never taken for dead when its peer dials again (a simultaneous dial). */
export const STALE_CONNECTION_MIN_AGE_MS = 2_000
/** Bootstrap redials while nothing is connected (see bootstrap-redial.ts): the first wait, the longest, one round's deadline. */
export const BOOTSTRAP_REDIAL_MIN_MS = 5_000
export const BOOTSTRAP_REDIAL_MAX_MS = 60_000
export const BOOTSTRAP_REDIAL_TIMEOUT_MS = 10_000
/**
 * kad-dht query concurrency per path and number of disjoint paths. kad-dht's defaults (10 and
 * 10: up to 100 requests in flight per query, each to a peer that may need a dial) made every
 * lookup touch most of a 100-node network; Kademlia's alpha is 3, and 3 disjoint paths keep
 * S/Kademlia's protection against a single poisoned path.
 */
export const DHT_ALPHA = 3
export const DHT_DISJOINT_PATHS = 3
/**
 * kad-dht pings (dialling if need be) every peer it hears of in a lookup's answers before it
 * enters the routing table. Unthrottled, a node starting in a network of N dials nearly all N
 * of them; these bound the pings in flight and waiting (a peer whose ping does not fit waits to
 * be heard of again).
 */
export const DHT_NEW_CONTACT_PINGS = 2
export const DHT_NEW_CONTACT_QUEUE = 16
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
