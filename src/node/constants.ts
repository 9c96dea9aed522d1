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
