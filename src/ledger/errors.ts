/**
 * Ledger errors. Every validation failure is its own class with a stable `code` and carries an
 * `action` telling the network layer what to do with the sender:
 *
 * - `reject`: only a faulty or malicious peer sends this (bad PoW, bad signature, overdraft in a
 *   block...). The gossip validator rejects the message and the sender loses score.
 * - `ignore`: an honest peer might send this (duplicate, unknown parent, too far in the future,
 *   a transaction a block just made stale...). Dropped, no penalty.
 *
 * Conditions that are a fault inside a block but may be honest in the mempool (a stale nonce,
 * an overdraft after a competing spend, an agreement settled meanwhile) take the action as a
 * constructor argument: blocks raise them with `reject`, the mempool with `ignore`.
 */
import { DepinError, InvalidMessageError, InvalidSignatureError, MessageTooLargeError } from '../errors.ts'

export type LedgerAction = 'reject' | 'ignore'

/** Base of the ledger's validation errors. */
export class LedgerError extends DepinError {
  readonly action: LedgerAction
  constructor (message: string, code: string, action: LedgerAction, options?: ErrorOptions) {
    super(message, code, options)
    this.action = action
  }
}

/** [REJECT] Bytes that do not decode or do not match the block/transaction schema. */
export class MalformedError extends InvalidMessageError {
  readonly action: LedgerAction = 'reject'
}

/** [REJECT] A block or transaction over its size bound. */
export class OversizeError extends MessageTooLargeError {
  readonly action: LedgerAction = 'reject'
}

/** [REJECT] A transaction signature (outer, agreement or result) does not verify. */
export class TxSignatureError extends InvalidSignatureError {
  readonly action: LedgerAction = 'reject'
}

/** [REJECT] The header's hash is above its target. */
export class InvalidPowError extends LedgerError {
  constructor (message = 'block hash does not meet its target') { super(message, 'ERR_BAD_POW', 'reject') }
}

/** [REJECT] The header's target is not the one the difficulty rule gives for its height. */
export class BadTargetError extends LedgerError {
  constructor (message: string) { super(message, 'ERR_BAD_TARGET', 'reject') }
}

/**
 * [REJECT] The header's target is easier than the genesis target (the network's minimum
 * difficulty): no valid block has so little work, whatever its ancestry, so this is decided
 * without the parent (an orphan with an all-ones target is refused here, not synced from).
 */
export class TargetTooEasyError extends LedgerError {
  constructor (message: string) { super(message, 'ERR_TARGET_TOO_EASY', 'reject') }
}

/** [REJECT] The timestamp is not greater than the median of its ancestors' timestamps. */
export class BadTimestampError extends LedgerError {
  constructor (message: string) { super(message, 'ERR_BAD_TIMESTAMP', 'reject') }
}

/** [IGNORE] The timestamp is too far ahead of the local clock (may become valid later). */
export class FutureBlockError extends LedgerError {
  constructor (message: string) { super(message, 'ERR_FUTURE_BLOCK', 'ignore') }
}

/** [IGNORE] The parent is not known here: an orphan, fetch the chain from the sender. */
export class UnknownParentError extends LedgerError {
  /** Hex hash of the missing parent. */
  readonly parent: string
  readonly height: number
  constructor (parent: string, height: number) {
    super(`unknown parent ${parent} of block at height ${height}`, 'ERR_UNKNOWN_PARENT', 'ignore')
    this.parent = parent
    this.height = height
  }
}

/** [IGNORE] Already have it (block or transaction). */
export class DuplicateError extends LedgerError {
  constructor (message: string) { super(message, 'ERR_DUPLICATE', 'ignore') }
}

/** [IGNORE] The block forks from below the finality window (deeper than the max reorg depth). */
export class BelowFinalityError extends LedgerError {
  constructor (message: string) { super(message, 'ERR_BELOW_FINALITY', 'ignore') }
}

/**
 * [IGNORE] A side block that would leave no other block to evict: the side set is at
 * `maxSideBlocks` and every stored side block is an ancestor of this one. Not stored (a sync
 * that has proved the branch heavier by its headers still stores it).
 */
export class SideChainFullError extends LedgerError {
  constructor (message: string) { super(message, 'ERR_SIDE_CHAIN_FULL', 'ignore') }
}

/** [REJECT] The header's txRoot does not commit to the transactions that came with it. */
export class TxRootMismatchError extends LedgerError {
  constructor (message = 'txRoot does not match the transactions') { super(message, 'ERR_TX_ROOT', 'reject') }
}

/** [REJECT] A known header arrived with a different body. */
export class BodyMismatchError extends LedgerError {
  constructor (message = 'a known block header arrived with a different body') { super(message, 'ERR_BODY_MISMATCH', 'reject') }
}

/** [REJECT] More transactions than a block may hold. */
export class TooManyTransactionsError extends LedgerError {
  constructor (message: string) { super(message, 'ERR_TOO_MANY_TXS', 'reject') }
}

/** [REJECT] The block or transaction is for another network. */
export class WrongNetworkError extends LedgerError {
  constructor (message: string) { super(message, 'ERR_WRONG_NETWORK', 'reject') }
}

/** [REJECT] The height is not parent height + 1. */
export class BadHeightError extends LedgerError {
  constructor (message: string) { super(message, 'ERR_BAD_HEIGHT', 'reject') }
}

/** [REJECT] The coinbase is missing, not first, repeated, or mints the wrong amount or to the wrong miner. */
export class BadCoinbaseError extends LedgerError {
  constructor (message: string) { super(message, 'ERR_BAD_COINBASE', 'reject') }
}

/** A transfer's nonce is not the sender's next nonce (replay or gap). Reject in a block, ignore in the mempool. */
export class BadNonceError extends LedgerError {
  constructor (message: string, action: LedgerAction) { super(message, 'ERR_BAD_NONCE', action) }
}

/** The payer's balance does not cover the amount. Reject in a block, ignore in the mempool. */
export class OverdraftError extends LedgerError {
  constructor (message: string, action: LedgerAction) { super(message, 'ERR_OVERDRAFT', action) }
}

/**
 * The lease is already settled through this acknowledgement or a larger one (a settle must pay
 * more than the lease's earlier settles did). Reject in a block, ignore in the mempool.
 */
export class AlreadySettledError extends LedgerError {
  constructor (message: string, action: LedgerAction) { super(message, 'ERR_ALREADY_SETTLED', action) }
}

/** [REJECT] A balance would exceed Number.MAX_SAFE_INTEGER. */
export class BalanceOverflowError extends LedgerError {
  constructor (message: string) { super(message, 'ERR_BALANCE_OVERFLOW', 'reject') }
}

/**
 * [REJECT] The parts of a settle do not belong together: the checkpoint or the acknowledgement is
 * for another lease, signed for someone other than the lease's parties, or the acknowledgement is
 * of another checkpoint.
 */
export class SettleMismatchError extends LedgerError {
  constructor (message: string) { super(message, 'ERR_SETTLE_MISMATCH', 'reject') }
}

/** [REJECT] A settle pays more than the lease's cap (`maxCredits`). */
export class AmountOverMaxCostError extends LedgerError {
  constructor (message: string) { super(message, 'ERR_AMOUNT_OVER_MAX_COST', 'reject') }
}

/** [REJECT] An acknowledgement pays more than the checkpoint it acknowledges claims. */
export class AmountOverCheckpointError extends LedgerError {
  constructor (message: string) { super(message, 'ERR_AMOUNT_OVER_CHECKPOINT', 'reject') }
}

/**
 * A settle arrived after its lease's settlement window (lease expiry + SETTLE_WINDOW_MS) by the
 * block's timestamp. Reject in a block, ignore in the mempool.
 */
export class LeaseExpiredError extends LedgerError {
  constructor (message: string, action: LedgerAction) { super(message, 'ERR_LEASE_EXPIRED', action) }
}

/** [REJECT] A transaction that is well-formed but not allowed (e.g. a transfer to oneself, a coinbase outside a block). */
export class InvalidTransactionError extends LedgerError {
  constructor (message: string) { super(message, 'ERR_INVALID_TX', 'reject') }
}

/** [IGNORE] The mempool (or the sender's share of it) is full. */
export class MempoolFullError extends LedgerError {
  constructor (message: string) { super(message, 'ERR_MEMPOOL_FULL', 'ignore') }
}

/** [REJECT] The block was already found invalid here. */
export class KnownInvalidError extends LedgerError {
  constructor (message = 'block is known to be invalid') { super(message, 'ERR_KNOWN_INVALID', 'reject') }
}

/** The store was written by another schema version. */
export class SchemaVersionError extends DepinError {
  constructor (message: string) { super(message, 'ERR_LEDGER_SCHEMA_VERSION') }
}

/** The store holds the chain of another genesis (another network or other genesis parameters). */
export class GenesisMismatchError extends DepinError {
  constructor (message: string) { super(message, 'ERR_GENESIS_MISMATCH') }
}

/** A genesis config is invalid. */
export class GenesisConfigError extends DepinError {
  constructor (message: string) { super(message, 'ERR_GENESIS_CONFIG') }
}

/** A local call was refused (e.g. transfer more than spendable, settle as someone who is not the requester). */
export class LedgerUsageError extends DepinError {
  constructor (message: string, code = 'ERR_LEDGER_USAGE') { super(message, code) }
}

/** The ledger is not started. */
export class LedgerNotStartedError extends DepinError {
  constructor () { super('the ledger is not started', 'ERR_LEDGER_NOT_STARTED') }
}

/** Reads the penalty decision of any error: ledger errors carry it, anything else is not the sender's fault. */
export function actionOf (err: unknown): LedgerAction {
  const action = (err as { action?: unknown } | null)?.action
  if (action === 'reject' || action === 'ignore') return action
  if (err instanceof InvalidSignatureError || err instanceof InvalidMessageError || err instanceof MessageTooLargeError) return 'reject'
  return 'ignore'
}
