/**
 * When a worker sends the results it holds. A frame per result costs more than a short task
 * (encoding, the muxer, encryption, a write and a wake-up on each side), so results travel in
 * batches, without holding back one that somebody waits for.
 */

export interface ResultsState {
  /** Results ready and not sent yet. */
  waiting: number
  /** Tasks of the lease given and not answered, those results aside. */
  outstanding: number
  /** Of those, the ones that have their slot. */
  running: number
}

/**
 * Whether to send now (else within `RESULT_BATCH_MS`, with the results that follow): when
 * nothing else is outstanding (the requester waits for these), when the results held are as
 * many as the tasks still outstanding (half of what the requester counts as outstanding is
 * answered: time for it to send more), or when no task waits for a slot (the lease is about to
 * run dry).
 */
export function resultsDue (s: ResultsState): boolean {
  return s.waiting > 0 && (s.waiting >= s.outstanding || s.outstanding === s.running)
}
