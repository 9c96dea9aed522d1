/** Stream protocol of negotiation: offer → bid/decline, bid → ack, accept → agreement. */
export const NEGOTIATE_PROTOCOL = '/depin/negotiate/1.0.0'
/** Stream protocol of task transfer and results. */
export const TASK_PROTOCOL = '/depin/task/1.0.0'

/** Signing domains. */
export const JOB_DOMAIN = 'job/1'
export const BID_DOMAIN = 'bid/1'
export const DECLINE_DOMAIN = 'decline/1'

/** Largest negotiation frame (a signed job spec plus envelope). */
export const MAX_NEGOTIATE_FRAME_BYTES = 64 * 1024
/** Deadline for each negotiation message. */
export const NEGOTIATE_IDLE_TIMEOUT_MS = 5_000
/** Concurrent inbound negotiation streams per connection. */
export const NEGOTIATE_MAX_INBOUND_STREAMS = 64

/** Largest task frame: one data chunk plus envelope. */
export const MAX_TASK_FRAME_BYTES = 1024 * 1024 + 4096
/** Size of the data chunks that carry modules, inputs and outputs. */
export const CHUNK_BYTES = 256 * 1024
/** Deadline for each task message; a running task sends heartbeats well inside it. */
export const TASK_IDLE_TIMEOUT_MS = 20_000
/** How often a worker tells the requester that a task is still running. */
export const TASK_HEARTBEAT_MS = 5_000
/** Concurrent inbound task streams per connection. */
export const TASK_MAX_INBOUND_STREAMS = 64

/** Largest module and input a job may carry. */
export const MAX_MODULE_BYTES = 64 * 1024 * 1024
export const MAX_INPUT_BYTES = 256 * 1024 * 1024
/** Largest output a worker returns (the executor's stdout cap is the same). */
export const MAX_OUTPUT_BYTES = 16 * 1024 * 1024
export const MAX_STDERR_BYTES = 1024 * 1024

/** How long the requester collects bids before choosing (it stops earlier once it has enough). */
export const BID_WINDOW_MS = 300
/** How long a bid stays valid; the worker holds a slot for it meanwhile. */
export const BID_TTL_MS = 10_000
/** Default job deadline: the wall-time limit plus this much for placement and transfer. */
export const DEFAULT_DEADLINE_SLACK_MS = 60_000
/** Default per-job wall-time limit. */
export const DEFAULT_TIMEOUT_MS = 30_000
/** Default memory limit. */
export const DEFAULT_MEMORY_MIB = 256
/** Re-offer back-off when nobody bid (doubles up to the max). */
export const REOFFER_MIN_MS = 50
export const REOFFER_MAX_MS = 2_000
/**
 * A round of direct offers goes to the replicas still needed plus this many spare peers (the
 * least loaded known capable peers), so a refusal does not cost a whole new round.
 */
export const DIRECT_OFFER_SPARE = 2
/** At most this many direct offers per round. */
export const DIRECT_OFFER_MAX = 8
/** A worker accepts at most this many queued tasks beyond its slots (0 = only free slots). */
export const DEFAULT_QUEUE_PER_SLOT = 8
/** Offers remembered to drop replays. */
export const SEEN_OFFERS_MAX = 10_000
/** Blob cache of a worker (modules, inputs it fetched), bytes. */
export const DEFAULT_BLOB_CACHE_BYTES = 512 * 1024 * 1024
