/**
 * The words a job's state is shown with, in the API, the CLI and the dashboard. They must not lie:
 * a job that timed out, failed or was not verified never reads as "completed · verified".
 *
 * | state       | meaning                                                                              |
 * |-------------|--------------------------------------------------------------------------------------|
 * | `queued`    | accepted by this node, no worker runs it yet (waiting for a slot, offered, collecting bids) |
 * | `running`   | at least one worker agreed to run it and has not returned its result                |
 * | `completed` | the program exited 0; `verified` says whether `quorum` workers on distinct hosts agreed |
 * | `failed`    | no result (nobody bid, no capable worker known by the deadline, every worker failed) or the program exited non-zero / trapped |
 *
 * A queued or running job that cannot get all its replicas from the workers known says why
 * (`waiting`: no capable worker known, or fewer than its replicas).
 * | `timed-out` | the program hit its wall-time limit, or the job's deadline passed                    |
 * | `cancelled` | cancelled by the user (`depin cancel`, the API, `JobHandle.cancel()`)                |
 *
 * A `completed` job that is not verified is shown as `unverified`.
 *
 * A lease this node served for a peer (role `worker`): `running` while it is open, then
 * `completed` when every result it returned was acknowledged (however it ended) and `failed` when
 * results were left unacknowledged (src/scheduler/served-lease-state.ts).
 *
 * Light on purpose (no imports): the CLI loads it on every run.
 */

export type JobState = 'queued' | 'running' | 'completed' | 'failed' | 'timed-out' | 'cancelled'

export const JOB_STATES: readonly JobState[] = ['queued', 'running', 'completed', 'failed', 'timed-out', 'cancelled']

/** States after which nothing changes any more. */
export function isFinalState (state: JobState): boolean {
  return state === 'completed' || state === 'failed' || state === 'timed-out' || state === 'cancelled'
}

/** The word a job is listed with: its state, with `unverified` for a completed job nobody confirmed. */
export function stateWord (state: JobState, verified: boolean): string {
  if (state === 'completed') return verified ? 'completed' : 'unverified'
  return state
}

/**
 * The one-line description of a job's state: `completed · verified`, `unverified`,
 * `running on 12D3KooW…abc123`, `failed: the program exited with code 3`; a job waiting for
 * workers says why: `queued · waiting: no capable worker known (…)`,
 * `running on 12D3KooW…abc123 · waiting: 1 of 2 replicas placed; no other capable worker known (…)`.
 */
export function describeState (view: { state: JobState, verified: boolean, running?: string[], reason?: string, waiting?: string }, shortPeer: (id: string) => string = (id) => id): string {
  const waiting = view.waiting != null ? ` · waiting: ${view.waiting}` : ''
  switch (view.state) {
    case 'completed':
      return view.verified ? 'completed · verified' : 'unverified'
    case 'running':
      return ((view.running ?? []).length > 0 ? `running on ${(view.running ?? []).map(shortPeer).join(', ')}` : 'running') + waiting
    case 'queued':
      return `queued${waiting}`
    case 'failed':
    case 'timed-out':
    case 'cancelled':
      return view.reason != null ? `${view.state}: ${view.reason}` : view.state
    default:
      return view.state
  }
}
