/**
 * Capacity as the job market sees it: what this node offers, and what another peer advertised.
 * `src/node` measures, signs, publishes and finds these; the scheduler only reads them.
 */

/** What a node offers now. */
export interface Capacity {
  cores: number
  memoryMiB: number
  /** Tasks run at once (0: takes no work). */
  slots: number
  /** Credits per gigafuel (10^9 fuel). */
  pricePerGigafuel: number
  /**
   * This node's speed: fuel per second of CPU time, measured at start-up with a fixed module
   * (`measureFuelRate`), so a requester can estimate a task's time from its fuel and rank workers
   * by speed. 0: not measured.
   */
  fuelPerSecond: number
  runtimes: string[]
}

/** A verified capacity advertisement of another peer. */
export interface CapacityAdvert extends Capacity {
  peerId: string
  multiaddrs: string[]
  /** Sequence number of the record this came from. */
  seq: number
  /** When the record expires (ms since the epoch). */
  expiresAt: number
}

export interface FindCapacityQuery {
  /** Runtime the peer must offer. @default 'wasi-p1' */
  runtime?: string
  minCores?: number
  minMemoryMiB?: number
  /** Highest acceptable price in credits per gigafuel. */
  maxPrice?: number
  /** Stop after this many matching peers. @default unlimited */
  limit?: number
  /** Include this node's own record. @default false */
  includeSelf?: boolean
  signal?: AbortSignal
  /** Overall deadline; what was found by then is returned. @default 15 s */
  timeoutMs?: number
}
