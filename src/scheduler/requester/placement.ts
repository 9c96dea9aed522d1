/**
 * Why a task waits for workers, as pure functions of what this node knows: the capacity records
 * of the workers it can reach, the permanent refusals its lease offers met, and where the task's
 * replicas run already. `knownWorkers` sorts the known workers of a class of tasks into those
 * that could take its tasks and those that cannot (and why); `placementWait` says whether one
 * task can get all its replicas from them, and if not, in words: `2 of 3 replicas placed; no
 * other capable worker known (2 known workers already have a replica, 1 has 256 MiB of memory
 * but 512 MiB is needed)`.
 *
 * It never decides to give up (workers may join at any time: a testnet starts its workers
 * after its requester): the dispatcher shows the wait while the task waits, and the error a task
 * ends with at its deadline carries it.
 */
import type { DeclineReason } from '../errors.ts'
import type { Requirements } from '../task.ts'

/** The task could be placed on no worker known: none can take it. */
export const NO_CAPABLE_WORKERS = 'ERR_NO_CAPABLE_WORKERS'
/** Some replicas are (or could be) placed, but fewer distinct capable workers are known than it has replicas. */
export const NOT_ENOUGH_WORKERS = 'ERR_NOT_ENOUGH_WORKERS'

/** What a known worker advertised (its capacity record), and the host it connects from when hosts are compared. */
export interface KnownWorker {
  peerId: string
  memoryMiB: number
  pricePerGigafuel: number
  runtimes: string[]
  slots: number
  host?: string
}

/**
 * Why a known worker cannot take (another replica of) a task: it lacks the memory, charges more
 * than the maximum price, lacks the runtime, has no slots, declined for the requester's funds;
 * already has a replica of it, failed it, is on a host that already has a replica; a peer the
 * task names is not known at all.
 */
export type UnableReason = 'memory' | 'price' | 'runtime' | 'slots' | 'funds' | 'placed' | 'failed' | 'host' | 'unknown'

/** The known workers of a class of tasks (`knownWorkers`). */
export interface ClassWorkers {
  requirements: Pick<Requirements, 'memoryMiB' | 'maxPrice' | 'peers'>
  runtime: string
  capable: Array<{ peerId: string, host?: string }>
  /** Known workers that cannot take the class's tasks, by why. */
  unable: Partial<Record<UnableReason, number>>
  /** The most memory among those short of it, and the lowest price among those over the maximum (from their records). */
  mostMemoryMiB?: number
  lowestPrice?: number
}

/** Refusals that say a worker cannot take a class's tasks (the others clear up by themselves). */
const PERMANENT: ReadonlySet<string> = new Set(['memory', 'price', 'runtime', 'funds'])

/**
 * Sorts the known workers (not this node) for a class of tasks. A worker's own permanent refusal
 * (`declines`, from this class's offers) outweighs its record; a worker known only by a refusal
 * counts with it. With `requirements.peers`, only those peers count; named peers known neither
 * way count as `unknown`.
 */
export function knownWorkers (requirements: ClassWorkers['requirements'], workers: KnownWorker[], declines: ReadonlyMap<string, DeclineReason> = new Map(), self?: string, runtime = 'wasi-p1'): ClassWorkers {
  const out: ClassWorkers = { requirements, runtime, capable: [], unable: {} }
  const named = requirements.peers != null ? new Set(requirements.peers.filter((p) => p !== self)) : undefined
  const count = (why: UnableReason): void => { out.unable[why] = (out.unable[why] ?? 0) + 1 }
  const seen = new Set<string>()
  for (const w of workers) {
    if (w.peerId === self || seen.has(w.peerId) || (named != null && !named.has(w.peerId))) continue
    seen.add(w.peerId)
    const declined = declines.get(w.peerId)
    const why: UnableReason | undefined = declined != null && PERMANENT.has(declined)
      ? declined as UnableReason
      : !w.runtimes.includes(runtime) ? 'runtime' : w.memoryMiB < requirements.memoryMiB ? 'memory' : w.pricePerGigafuel > requirements.maxPrice ? 'price' : w.slots <= 0 ? 'slots' : undefined
    if (why == null) {
      out.capable.push({ peerId: w.peerId, ...(w.host != null ? { host: w.host } : {}) })
      continue
    }
    count(why)
    if (why === 'memory' && w.memoryMiB < requirements.memoryMiB) out.mostMemoryMiB = Math.max(out.mostMemoryMiB ?? 0, w.memoryMiB)
    if (why === 'price' && w.pricePerGigafuel > requirements.maxPrice) out.lowestPrice = Math.min(out.lowestPrice ?? Infinity, w.pricePerGigafuel)
  }
  for (const [peer, reason] of declines) {
    if (seen.has(peer) || peer === self || !PERMANENT.has(reason) || (named != null && !named.has(peer))) continue
    seen.add(peer)
    count(reason as UnableReason)
  }
  if (named != null) for (const peer of named) if (!seen.has(peer)) count('unknown')
  return out
}

/** One task's replicas: how many it wants, where they run (or ran), who failed it. */
export interface TaskReplicas {
  /** Replicas wanted (with tie-break replicas added). */
  replicas: number
  /** Workers running or having returned a replica, with their hosts when compared. */
  placed: Array<{ peerId: string, host?: string }>
  /** Workers that failed it (not to be asked again). */
  failed: string[]
}

/** Why a task is waiting for workers. */
export interface PlacementWait {
  /** `ERR_NO_CAPABLE_WORKERS` (no worker known can run it) or `ERR_NOT_ENOUGH_WORKERS` (fewer than its replicas). */
  code: typeof NO_CAPABLE_WORKERS | typeof NOT_ENOUGH_WORKERS
  /** The reason in words (see the file's comment). */
  message: string
  /** Replicas placed (running or returned) and wanted. */
  placed: number
  replicas: number
  /** Known workers that cannot take another replica, by why. */
  reasons: Partial<Record<UnableReason, number>>
  /** Since when the task has waited for workers (ms since the epoch; set by the task's owner). */
  since?: number
}

/** Why `task` cannot get all its replicas from the workers known (`known`); undefined when it can. */
export function placementWait (known: ClassWorkers, task: TaskReplicas): PlacementWait | undefined {
  const placed = task.placed.length
  const needed = task.replicas - placed
  if (needed <= 0) return undefined
  const hosts = new Set(task.placed.map((p) => p.host).filter((h) => h != null))
  // Cheap answer first (most tasks): enough capable workers whatever this task's replicas exclude.
  if (hosts.size === 0 && known.capable.length - placed - task.failed.length >= needed) return undefined
  const placedPeers = new Set(task.placed.map((p) => p.peerId))
  const failedPeers = new Set(task.failed)
  let free = 0
  let sameHost = 0
  for (const w of known.capable) {
    if (placedPeers.has(w.peerId) || failedPeers.has(w.peerId)) continue
    if (w.host != null && hosts.has(w.host)) sameHost++
    else free++
  }
  if (free >= needed) return undefined
  const reasons: Partial<Record<UnableReason, number>> = {}
  if (placed > 0) reasons.placed = placed
  if (failedPeers.size > 0) reasons.failed = failedPeers.size
  if (sameHost > 0) reasons.host = sameHost
  Object.assign(reasons, known.unable)
  const head = task.replicas > 1 || placed > 0 ? `${placed} of ${task.replicas} replicas placed; ` : ''
  const core = free === 0
    ? (placed > 0 ? 'no other capable worker known' : 'no capable worker known')
    : `only ${free} ${placed > 0 ? 'other ' : ''}capable worker${free === 1 ? ' is' : 's are'} known`
  const why = details(known, reasons) ?? (known.capable.length === 0 ? 'no other peer\'s capacity is known' : undefined)
  return {
    code: placed + free === 0 ? NO_CAPABLE_WORKERS : NOT_ENOUGH_WORKERS,
    message: `${head}${core}${why != null ? ` (${why})` : ''}`,
    placed,
    replicas: task.replicas,
    reasons
  }
}

/** The known workers that cannot take another replica, in words, most telling first (undefined: none). */
function details (known: ClassWorkers, reasons: PlacementWait['reasons']): string | undefined {
  const r = known.requirements
  const phrases: string[] = []
  const add = (n: number | undefined, one: string, many: string): void => {
    if (n == null || n === 0) return
    phrases.push(`${n}${phrases.length === 0 ? ` known worker${n === 1 ? '' : 's'}` : ''} ${n === 1 ? one : many}`)
  }
  add(reasons.placed, 'already has a replica', 'already have a replica')
  add(reasons.failed, 'failed it', 'failed it')
  add(reasons.host, 'is on a host that already has a replica', 'are on hosts that already have a replica')
  const most = known.mostMemoryMiB
  add(reasons.memory,
    most != null ? `has ${most} MiB of memory but ${r.memoryMiB} MiB is needed` : `has less memory than the ${r.memoryMiB} MiB needed`,
    most != null ? `have at most ${most} MiB of memory but ${r.memoryMiB} MiB is needed` : `have less memory than the ${r.memoryMiB} MiB needed`)
  const lowest = known.lowestPrice
  add(reasons.price,
    lowest != null ? `charges ${lowest} per gigafuel but the max price is ${r.maxPrice}` : `charges more than the max price of ${r.maxPrice}`,
    lowest != null ? `charge at least ${lowest} per gigafuel but the max price is ${r.maxPrice}` : `charge more than the max price of ${r.maxPrice}`)
  add(reasons.runtime, `does not run ${known.runtime}`, `do not run ${known.runtime}`)
  add(reasons.slots, 'has no task slots', 'have no task slots')
  add(reasons.funds, 'declined: this node\'s credits do not cover a lease', 'declined: this node\'s credits do not cover a lease')
  const unknown = reasons.unknown ?? 0
  if (unknown > 0) {
    const named = r.peers?.length ?? unknown
    phrases.push(named === 1 ? 'the named peer is not known' : `${unknown} of the ${named} named peers ${unknown === 1 ? 'is' : 'are'} not known`)
  }
  return phrases.length > 0 ? phrases.join(', ') : undefined
}
