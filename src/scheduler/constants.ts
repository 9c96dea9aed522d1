/** Stream protocol of negotiation: lease offer → bid/decline, bid → ack, accept → lease. */
export const NEGOTIATE_PROTOCOL = '/depin/negotiate/2.0.0'
/** Stream protocol of a lease: tasks in, results and checkpoints out. */
export const LEASE_PROTOCOL = '/depin/lease/1.0.0'

/** Signing domains of the negotiation objects (leases, checkpoints and acks: src/proofs/lease.ts). */
export const OFFER_DOMAIN = 'lease-offer/1'
export const BID_DOMAIN = 'lease-bid/1'
export const DECLINE_DOMAIN = 'lease-decline/1'

/** Largest negotiation frame (a signed lease offer plus envelope). */
export const MAX_NEGOTIATE_FRAME_BYTES = 64 * 1024
/** Deadline for each negotiation message. */
export const NEGOTIATE_IDLE_TIMEOUT_MS = 5_000
/** Concurrent inbound negotiation streams per connection. */
export const NEGOTIATE_MAX_INBOUND_STREAMS = 64

/** Largest lease frame: one data chunk, or a batch of tasks or results, plus envelope. */
export const MAX_LEASE_FRAME_BYTES = 1024 * 1024 + 4096
/** Size of the data chunks that carry modules, inputs and outputs. */
export const CHUNK_BYTES = 256 * 1024
/** Inputs and outputs up to this size travel inside the task or result frame. */
export const INLINE_BYTES = 64 * 1024
/** A frame of tasks or results is flushed once it holds this many bytes of inline data. */
export const BATCH_FRAME_BYTES = 512 * 1024
/** Deadline for each lease frame; both sides send a ping after half of it without another frame. */
export const LEASE_IDLE_TIMEOUT_MS = 30_000
/** Concurrent inbound lease streams per connection. */
export const LEASE_MAX_INBOUND_STREAMS = 32

/** Largest module and input a task may carry. */
export const MAX_MODULE_BYTES = 64 * 1024 * 1024
export const MAX_INPUT_BYTES = 256 * 1024 * 1024
/** Largest output a worker returns (the executor's stdout cap is the same). */
export const MAX_OUTPUT_BYTES = 16 * 1024 * 1024
export const MAX_STDERR_BYTES = 1024 * 1024
/** Largest tree of output files a requester accepts from one run (the executor's default /out cap). */
export const MAX_OUTPUT_TREE_BYTES = 1024 * 1024 * 1024

/** How long the requester collects bids before choosing (it stops earlier once it has enough). */
export const BID_WINDOW_MS = 300
/** How long a bid stays valid. */
export const BID_TTL_MS = 10_000
/** How long a lease offer may be answered. */
export const OFFER_TTL_MS = 30_000
/** Default job deadline: the wall-time limit plus this much for placement and transfer. */
export const DEFAULT_DEADLINE_SLACK_MS = 60_000
/** Default per-task wall-time limit. */
export const DEFAULT_TIMEOUT_MS = 30_000
/** Default memory limit. */
export const DEFAULT_MEMORY_MIB = 256
/** Re-offer back-off when nobody bid (doubles up to the max). */
export const REOFFER_MIN_MS = 50
export const REOFFER_MAX_MS = 2_000
/** A round of direct offers goes to the leases needed plus this many spare peers. */
export const DIRECT_OFFER_SPARE = 2
/** At most this many direct offers per round. */
export const DIRECT_OFFER_MAX = 8
/** Offers remembered to drop replays. */
export const SEEN_OFFERS_MAX = 10_000
/** Blob cache of a worker (modules, inputs it fetched), bytes. */
export const DEFAULT_BLOB_CACHE_BYTES = 512 * 1024 * 1024
/**
 * A blob pinned this recently is never deleted by retention, referenced or not: a submission pins
 * its blobs before it writes the record that references them, and an upload may pin a file tree
 * a while before its job is submitted.
 */
export const PIN_PROTECT_MS = 10 * 60 * 1000

// Leases

/** How long a lease lives (the requester asks for this; workers grant at most `MAX_LEASE_DURATION_MS`). */
export const LEASE_DURATION_MS = 10 * 60 * 1000
export const MAX_LEASE_DURATION_MS = 60 * 60 * 1000
/** Most tasks outstanding on a lease (sent, not yet answered) per slot: what a worker accepts. */
export const LEASE_WINDOW_PER_SLOT = 128
/**
 * Inline input (task stdin carried in `tasks` frames) a requester keeps outstanding on one lease
 * at most (whatever the window), so a worker holds a bounded amount of it; a worker refuses tasks
 * past twice this (ERR_LEASE_FULL).
 */
export const LEASE_INLINE_BYTES = 16 * 1024 * 1024
/**
 * Output a worker holds queued on one lease (results and data frames the stream has not taken)
 * before it starts no more of that lease's tasks: a requester that reads slowly, or not at all,
 * cannot make a worker keep its whole window's outputs in memory. Tasks wait, they are not
 * refused; a requester that stops reading loses the lease (ERR_ACK_TIMEOUT).
 */
export const LEASE_OUTBOX_HOLD_BYTES = 64 * 1024 * 1024
/**
 * Tasks a requester keeps outstanding per slot at least (one running, three waiting), and the
 * work per slot it keeps there while tasks are short, up to `LEASE_WINDOW_PER_SLOT` (see
 * `leaseWindow`): a worker has its next tasks at hand while results and new tasks cross the
 * network in batches, and long tasks do not pile up on one worker.
 */
export const LEASE_MIN_WINDOW_PER_SLOT = 4
export const LEASE_PIPELINE_MS = 30
/** A result a worker does not send at once (see `resultsDue`) waits at most this long for others to share its frame. */
export const RESULT_BATCH_MS = 4
/** A lease's credit cap covers this many full-length tasks per slot at the lease's price. */
export const LEASE_BUDGET_TASKS_PER_SLOT = 64
/**
 * A requester whose lease holds tasks and has heard nothing from the worker for this long (since
 * the task went out, or since the worker's last frame) asks the worker's node for a ping: a
 * worker busy with other work answers at once; a frozen or hung host does not. At most one such
 * ping per lease per this long.
 */
export const LEASE_PROBE_AFTER_MS = 3_000
/**
 * A ping that long unanswered (as the node's keepalive judges a connection dead) ends the lease
 * (`ERR_WORKER_UNRESPONSIVE`) well before its 30 s idle deadline; its tasks go elsewhere.
 */
export const LEASE_PROBE_TIMEOUT_MS = 10_000
/** A requester closes a lease that carried no task for this long. */
export const LEASE_IDLE_MS = 30_000
/** Most leases a requester holds at once, and with one worker. */
export const MAX_LEASES = 32
export const MAX_LEASES_PER_WORKER = 4
/** Most leases a worker serves at once. */
export const MAX_WORKER_LEASES = 64
/**
 * A worker holds at most this many leases (open, or accepted and waiting to be opened) of one
 * requester: twice what requesters open with one worker (MAX_LEASES_PER_WORKER), since leases
 * that are ending still count here. One requester cannot take every lease a worker has.
 */
export const MAX_LEASES_PER_REQUESTER = 2 * MAX_LEASES_PER_WORKER
/** An accepted lease whose stream is not opened within this long lapses. */
export const LEASE_OPEN_TIMEOUT_MS = 30_000
/**
 * How long a stopping requester waits for its leases to end after closing them (the worker's final
 * checkpoint and this node's acknowledgement): one round trip on a healthy lease, so a stop rarely
 * waits long; 5 s leaves room for a loaded machine (2 s ran out under two busy loops, and the
 * worker went unpaid for its last results). A worker that does not answer in time has its lease
 * aborted, as before.
 */
export const STOP_LEASE_CLOSE_MS = 5_000
/** A worker sends a checkpoint after this many new results, or this long after the first uncommitted one. */
export const CHECKPOINT_EVERY_RESULTS = 256
export const CHECKPOINT_EVERY_MS = 2_000
/** A worker stops taking tasks while a checkpoint waits longer than this for its acknowledgement, and ends the lease after 3×. */
export const ACK_TIMEOUT_MS = 10_000
/** A task that started is late this long after its timeout (plus a tenth of the timeout). */
export const TASK_RUN_GRACE_MS = 2_000
/** A task sent on a lease must start (or finish) within its share of the work ahead of it plus this long. */
export const TASK_START_GRACE_MS = 5_000
/**
 * Bulk data moving on a lease pauses its tasks' deadlines (see OutstandingTasks.transferMs); a
 * pause longer than this between two chunks or data frames is the link being idle, not busy.
 */
export const TRANSFER_GAP_MS = 1_000
/**
 * The most fuel a requester believes one slot can run per ms of the time it observed: 4× the
 * default fuel limit's rate (10^8 per ms), about 13–28× what the reference machine runs (and the
 * costliest calls earn at most ~3× the fuel per CPU-second of ordinary code). With one replica and
 * no spot check a result's fuel is the worker's word; this bounds what a worker can claim by
 * time: per task, from when its task frame was sent, and per lease, for all its slots, from when
 * its first task was sent (each plus FUEL_TIME_GRACE_MS). Docs: protocol.md, "Fuel within what the
 * clock allows" (under leases).
 */
export const PLAUSIBLE_FUEL_PER_MS = 400_000_000n
/** Added to the observed time before the fuel bound above applies (timers, the network). */
export const FUEL_TIME_GRACE_MS = 250
/** A worker announces a running task only when its result is not out this soon after it started. */
export const RUNNING_NOTICE_MS = 50
/** Timeouts on one lease after which the requester ends it (and does not lease that worker for a while). */
export const LEASE_STRIKES = 3
/** How long a worker that broke a lease is not leased again. */
export const WORKER_BENCH_MS = 10 * 60 * 1000
/** A requester settles a long lease's acknowledged work at least this often. */
export const SETTLE_PERIOD_MS = 5 * 60 * 1000
/** A worker settles a finished lease itself (with the requester's last acknowledgement) if the chain has not seen it settled this long after it ended. */
export const WORKER_SETTLE_DELAY_MS = 60_000
/**
 * When a worker settles a lease itself (after WORKER_SETTLE_DELAY_MS), and again after each failed
 * attempt (its ledger refused the settle for now), while the chain has not paid it: ms after the
 * lease ended. Well inside the day the chain accepts a lease's settles.
 */
export const WORKER_SETTLE_DELAYS_MS = [WORKER_SETTLE_DELAY_MS, 3 * 60_000, 10 * 60_000, 30 * 60_000, 2 * 60 * 60_000]
/** Extra replicas a task gets to break a tie before it is declared unverified. */
export const TIE_BREAK_REPLICAS = 1
/** Most tasks in one batch. */
export const MAX_BATCH_TASKS = 100_000
/**
 * A worker declines new leases (`busy`) while this many tasks per slot wait for a slot, once they
 * are at least `WORKER_QUEUE_MIN_MS` of work per slot at the recent average run time.
 */
export const WORKER_QUEUE_PER_SLOT = 8
export const WORKER_QUEUE_MIN_MS = 100

// Lease tails (lease-tail-frames.ts): results a lease's stream carried after its last acknowledged checkpoint

/** Stream protocol on which a worker settles the tail of a lease whose stream died while both sides ran. */
export const LEASE_TAIL_PROTOCOL = '/depin/lease-tail/1.0.0'
/** Largest lease-tail frame (a signed checkpoint or acknowledgement plus envelope). */
export const MAX_TAIL_FRAME_BYTES = 4096
/** Deadline for each lease-tail frame (the acknowledgement may wait for verdict records: a batch's every 100 ms). */
export const TAIL_IDLE_TIMEOUT_MS = 10_000
/** Concurrent inbound lease-tail streams per connection. */
export const TAIL_MAX_INBOUND_STREAMS = 4
/**
 * How long a requester keeps the account of a lease whose stream died with results after its last
 * acknowledged checkpoint, and how many such accounts at most (the oldest dropped first).
 */
export const TAIL_RETAIN_MS = 10 * 60 * 1000
export const TAIL_RETAIN_MAX = 1024
/**
 * And how many bytes of them at most, as estimated below (the oldest dropped first; an account
 * larger than this alone is not kept). A kept account holds what its tail's acknowledgement
 * needs (`LeaseAccount.compact`: the results since the last acknowledged checkpoint and those
 * still undecided, usually a few hundred), so this bounds the unusual ones: results held back by
 * a verdict that never came.
 */
export const TAIL_RETAIN_BYTES = 128 * 1024 * 1024
/**
 * A lease's book (`LeaseAccount`) drops what an acknowledgement settled once it holds more
 * results than this (see `LeaseAccount.compact`): its memory stays about this many results
 * (~1 KB each, TAIL_RESULT_BYTES) plus those since the last acknowledgement, however long the
 * lease runs; the work of dropping is spread over as many results.
 */
export const ACCOUNT_COMPACT_AFTER = 1024
/**
 * The estimate of a kept account's bytes: per result of the lease (its task id, fuel, verdict
 * and index entries; measured at 860 to 1,050 bytes on Node 24 with 10^5 results), per chain
 * state since its last accepted checkpoint (measured at 185), and per lease (the lease, its
 * client's structures).
 */
export const TAIL_RESULT_BYTES = 1024
export const TAIL_POINT_BYTES = 256
export const TAIL_ACCOUNT_BYTES = 16 * 1024
/**
 * When a worker asks for the tail of such a lease, ms after the lease ended (one attempt each,
 * until one succeeds or the requester's answer is final): well inside TAIL_RETAIN_MS.
 */
export const TAIL_CLAIM_DELAYS_MS = [1_500, 5_000, 15_000, 45_000, 120_000, 300_000]
/** One attempt's deadline, dial included. */
export const TAIL_CLAIM_TIMEOUT_MS = 30_000
/**
 * Chain states (count, root, fuel) a worker keeps per lease since its last acknowledged
 * checkpoint, to sign a tail checkpoint at the count its requester received (the oldest dropped first).
 */
export const TAIL_POINTS_MAX = 16_384
