/**
 * Verification of a task's replicas, as a pure decision. Results are grouped by what they
 * produced (output CID and exit code); a group's workers vote once per host, so several peer ids
 * on one machine are one vote. A group with at least `quorum` votes, and no other group as
 * large, verifies the task. A tie, or no group reaching the quorum, gets `TIE_BREAK_REPLICAS`
 * more replicas before the task is declared unverified; an unverified task has no answer (neither
 * side's output is presented as the result).
 */

export interface Vote {
  worker: string
  /** The worker's network host, when hosts are compared (undefined: counts alone). */
  host?: string
  /** What the replica produced: equal keys agree. */
  key: string
}

export type Verdict =
  /** Not all the replicas asked for are in yet. */
  | { kind: 'wait' }
  /** Place this many more replicas, then decide again. */
  | { kind: 'more', replicas: number }
  | { kind: 'verified', key: string, agreeing: string[], outvoted: string[] }
  | { kind: 'unverified', keys: string[] }

export interface QuorumInput {
  replicas: number
  quorum: number
  votes: Vote[]
  /** Replicas placed and not yet answered. */
  outstanding: number
  /** Tie-break replicas already added, and how many may be. */
  extra: number
  maxExtra: number
}

/** Votes per key, counting each host once. */
export function tally (votes: Vote[]): Map<string, { votes: number, workers: string[] }> {
  const groups = new Map<string, { votes: number, workers: string[], hosts: Set<string> }>()
  for (const vote of votes) {
    const group = groups.get(vote.key) ?? { votes: 0, workers: [], hosts: new Set<string>() }
    group.workers.push(vote.worker)
    if (vote.host == null || !group.hosts.has(vote.host)) {
      group.votes++
      if (vote.host != null) group.hosts.add(vote.host)
    }
    groups.set(vote.key, group)
  }
  return groups
}

export function decide (input: QuorumInput): Verdict {
  if (input.outstanding > 0 || input.votes.length < input.replicas + input.extra) return { kind: 'wait' }
  const groups = [...tally(input.votes)].sort((a, b) => b[1].votes - a[1].votes)
  const [bestKey, best] = groups[0]
  const tied = groups.length > 1 && groups[1][1].votes === best.votes
  if (best.votes >= input.quorum && !tied) {
    return { kind: 'verified', key: bestKey, agreeing: best.workers, outvoted: groups.slice(1).flatMap(([, g]) => g.workers) }
  }
  if (input.extra < input.maxExtra) return { kind: 'more', replicas: 1 }
  return { kind: 'unverified', keys: groups.map(([key]) => key) }
}
