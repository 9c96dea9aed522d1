/**
 * The job market's metrics seam. The scheduler (and anything else outside `src/node`) reports
 * what happened through this small interface and never imports prom-client; `src/node/metrics`
 * implements it with Prometheus metrics (names in the README's "Metrics" section).
 *
 * Every method is cheap and synchronous (a counter increment or a gauge set), safe to call on
 * hot paths. Labels take only the fixed words below, so series stay bounded.
 */

/** Final state of a job this node requested (the words the CLI and API show). */
export type JobOutcome = 'completed' | 'unverified' | 'failed' | 'timed-out' | 'cancelled'

/** How one task (one replica of a job on one worker, or one item of a batch) ended. */
export type TaskOutcome = 'completed' | 'failed' | 'timed-out' | 'cancelled' | 'rejected'

/** Which side of the market this node was on. */
export type MarketRole = 'requester' | 'worker'

/**
 * Queues whose length is worth watching; a new name is a new series. `requester-placement`: jobs
 * this node requested that no worker runs yet; `requester-tasks`: tasks (jobs' and batches')
 * waiting for a lease; `worker-execution`: tasks agreed here waiting for a slot.
 */
export type QueueName = 'requester-placement' | 'requester-tasks' | 'worker-execution'

export interface MarketMetrics {
  /** A job this node requested reached a final state, `seconds` after it was submitted. */
  jobFinished(outcome: JobOutcome, seconds: number): void
  /**
   * A task ended. `executionSeconds`: how long the program ran (wall time on the worker), when
   * known; it feeds the execution time histogram.
   */
  taskFinished(role: MarketRole, outcome: TaskOutcome, executionSeconds?: number): void
  /** A lease (a standing agreement for many tasks) opened with a peer. */
  leaseOpened(role: MarketRole): void
  /** A lease closed; `reason` is a short fixed word (`done`, `expired`, `cancelled`, `fault`, …). */
  leaseClosed(role: MarketRole, reason: string): void
  /** The current length of a queue. */
  queueLength(queue: QueueName, length: number): void
  /**
   * Job payload bytes moved on lease streams: as requester, modules and inputs sent to workers
   * and outputs received; as worker, modules and inputs received and outputs sent. `input`: stdin,
   * input manifests and files; `output`: stdout, stderr, output manifests and files.
   */
  bytesTransferred(direction: 'sent' | 'received', kind: PayloadKind, bytes: number): void
}

export type PayloadKind = 'module' | 'input' | 'output'

/** A lease's end reason as one of a few fixed label values (`done`, `expired`, `stopped`, `fault`). */
export function leaseEndWord (reason: string): string {
  if (reason === 'closed' || reason === 'idle' || reason === 'exhausted') return 'done'
  if (reason === 'ERR_LEASE_EXPIRED') return 'expired'
  if (reason === 'ERR_STOPPING' || reason === 'ERR_LEASE_ABORTED') return 'stopped'
  return 'fault'
}

/** Metrics that go nowhere: the default when a component is built without a node (unit tests). */
export const noopMarketMetrics: MarketMetrics = {
  jobFinished: () => {},
  taskFinished: () => {},
  leaseOpened: () => {},
  leaseClosed: () => {},
  queueLength: () => {},
  bytesTransferred: () => {}
}
