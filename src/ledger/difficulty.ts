/**
 * The difficulty rule and the timestamp rule, as pure functions over a block's ancestry.
 *
 * Retarget: with N = retargetInterval and T = blockIntervalMs, the block at height h has
 *   - the parent's target, unless h % N == 0 and h - 1 - N >= 1;
 *   - otherwise target(h) = target(h-1) * actual / (N * T), where actual = timestamp(h-1) -
 *     timestamp(h-1-N) (the time the last N blocks took), clamped to [N*T/4, N*T*4] (a retarget
 *     moves the target at most 4x either way), then capped to [1, 2^256 - 1]. Integer arithmetic,
 *     floor division. The genesis timestamp is never part of a window;
 *   - never easier than the genesis target (the network's minimum difficulty, as Bitcoin's pow
 *     limit): a retarget that would raise the target above `initialTarget` gives `initialTarget`.
 *     So every valid block carries at least the work of the genesis target, and a block that
 *     claims an easier target is invalid without looking at its ancestry (an orphan included).
 * Timestamps: a block's timestamp must be greater than the median (element floor(n/2) of the
 * sorted list) of the timestamps of its up to 11 nearest ancestors (genesis included), and at
 * most MAX_FUTURE_BLOCK_MS ahead of the local clock when it arrives.
 */
import { MAX_TARGET } from '../proofs/pow.ts'
import { MEDIAN_TIME_SPAN, RETARGET_CLAMP_FACTOR } from './constants.ts'

export interface DifficultyParams {
  retargetInterval: number
  blockIntervalMs: number
  /** The genesis target: the easiest target any block may carry. */
  initialTarget: bigint
}

/** Looks up the timestamp and target of the ancestor at a height on the branch being validated. */
export type AncestorLookup = (height: number) => Promise<{ timestamp: number, target: bigint }>

/** True when the block at `height` recomputes its target. */
export function isRetargetHeight (height: number, params: Pick<DifficultyParams, 'retargetInterval'>): boolean {
  const n = params.retargetInterval
  return height > 0 && height % n === 0 && height - 1 - n >= 1
}

/** The target a block at `height` must carry, given its parent's target. */
export async function expectedTarget (height: number, parentTarget: bigint, params: DifficultyParams, ancestorAt: AncestorLookup): Promise<bigint> {
  if (!isRetargetHeight(height, params)) return parentTarget
  const n = params.retargetInterval
  const last = (await ancestorAt(height - 1)).timestamp
  const first = (await ancestorAt(height - 1 - n)).timestamp
  const next = retarget(parentTarget, last - first, n * params.blockIntervalMs)
  return next > params.initialTarget ? params.initialTarget : next
}

/** target * actual / expected with actual clamped to [expected/4, expected*4], capped to [1, MAX_TARGET]. */
export function retarget (target: bigint, actualMs: number, expectedMs: number): bigint {
  const k = BigInt(RETARGET_CLAMP_FACTOR)
  const actual = BigInt(Math.trunc(actualMs))
  const expected = BigInt(expectedMs)
  let next: bigint
  if (actual * k < expected) next = target / k
  else if (actual > expected * k) next = target * k
  else next = (target * actual) / expected
  if (next < 1n) next = 1n
  if (next > MAX_TARGET) next = MAX_TARGET
  return next
}

/** Median of the timestamps of the up to 11 ancestors of a block at `height` (heights height-1 down to max(0, height-11)). */
export async function medianTimePast (height: number, ancestorAt: AncestorLookup): Promise<number> {
  const times: number[] = []
  for (let h = height - 1; h >= 0 && h >= height - MEDIAN_TIME_SPAN; h--) times.push((await ancestorAt(h)).timestamp)
  times.sort((a, b) => a - b)
  return times[Math.floor(times.length / 2)]
}
