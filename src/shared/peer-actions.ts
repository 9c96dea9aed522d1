/**
 * The misbehaviours other layers report about a peer. The node's peer score (src/node/peer-score.ts)
 * gives each a score delta and decides disconnects and bans; reporters only name what they saw.
 */
export type PeerActionName =
  /** Undecodable, schema-invalid or oversized message. */
  | 'MalformedMessage'
  /** A signature that does not verify. */
  | 'InvalidSignature'
  /** A block or transaction that fails validation. */
  | 'InvalidBlock'
  /** Served invalid data over the sync protocol. */
  | 'InvalidSyncData'
  /** A result that disagreed with the quorum, or a checkpoint that does not check out. */
  | 'WrongResult'
  /** Missed a deadline (negotiation, task, sync request). */
  | 'Timeout'
  /** Agreed to run work, then did not start it. */
  | 'NoShow'
  /** Broke a lease: let several of its tasks run past their time, or went silent on it. */
  | 'BrokeLease'
  /** Bid a price above the one its own capacity record advertises. */
  | 'BidOverAdvert'
  /** Sent something an honest peer may send but we did not want (duplicate, stale). */
  | 'Ignored'
