/**
 * Feeds a node's events into its metrics: job submissions and ends (requester side), requester
 * leases, lease tails (both roles), ledger blocks (chain, mining; credits earned and spent once
 * confirmed: confirmed-credits.ts), penalties, and scrape-time readings (peers and scores, gossip
 * validation counts, capacity, balance, queues, jobs and worker tasks now).
 *
 * The scheduler reports the rest itself through `MarketMetrics` (the node passes it this
 * `NodeMetrics`): the requester's task outcomes (jobs' and batches' alike, from the dispatcher),
 * the worker's (from each lease it serves: runs, and tasks withdrawn or failed before a result),
 * leases served as worker (open from their stream's start to their end), and the payload bytes
 * moved on lease streams.
 */
import type { ComputeNode } from '../compute-node.ts'
import type { JobProgress } from '../../scheduler/requester/jobs.ts'
import type { BlockSummary } from '../../ledger/index.ts'
import type { TailClaimed } from '../../scheduler/worker/tail-claims.ts'
import type { TailServed } from '../../scheduler/requester/tail-server.ts'
import { leaseEndWord, type JobOutcome } from '../../shared/metrics.ts'
import { requestedState } from '../api/job-view.ts'
import type { NodeMetrics } from './node-metrics.ts'
import { isFinalStage } from '../job-activity.ts'
import { countConfirmedCredits } from './confirmed-credits.ts'

/** Wires `node` (started) into `metrics`; returns the function that unwires it. */
export function attachNodeMetrics (node: ComputeNode, metrics: NodeMetrics): () => void {
  const me = node.peerId
  const ledger = node.ledger
  const scheduler = node.scheduler
  const unwire: Array<() => void> = []
  const listen = <T>(target: { addEventListener: (t: any, f: any) => void, removeEventListener: (t: any, f: any) => void }, type: string, fn: (evt: CustomEvent<T>) => void): void => {
    target.addEventListener(type, fn)
    unwire.push(() => { target.removeEventListener(type, fn) })
  }

  // Requester side: jobs, from progress events (their tasks are counted by the dispatcher).
  listen<JobProgress>(node, 'job:progress', (evt) => {
    const p = evt.detail
    if (p.stage === 'queued') metrics.jobsSubmitted.inc()
    else if (isFinalStage(p.stage)) void recordJobEnd(node, metrics, p)
  })

  // Leases opened and closed as requester.
  listen(node, 'lease:opened', () => { metrics.leaseOpened('requester') })
  listen<{ reason: string }>(node, 'lease:closed', (evt) => { metrics.leaseClosed('requester', leaseEndWord(evt.detail.reason)) })

  // Lease tails claimed as worker, and served as requester.
  listen<TailClaimed>(node, 'lease:tail-claimed', (evt) => { tailClaim(metrics, 'worker', evt.detail.outcome, evt.detail.credits) })
  listen<TailServed>(node, 'lease:tail-served', (evt) => { tailClaim(metrics, 'requester', evt.detail.outcome, evt.detail.credits) })

  // The ledger: what this node earned and paid, blocks, reorgs.
  listen<BlockSummary>(ledger, 'block', () => { metrics.chainBlocks.inc() })
  unwire.push(countConfirmedCredits(ledger, me, (flows) => {
    if (flows.work > 0) metrics.creditsEarned.inc({ source: 'work' }, flows.work)
    if (flows.mining > 0) metrics.creditsEarned.inc({ source: 'mining' }, flows.mining)
    if (flows.transfersIn > 0) metrics.creditsEarned.inc({ source: 'transfer' }, flows.transfersIn)
    if (flows.paidForWork > 0) metrics.creditsSpent.inc({ reason: 'work' }, flows.paidForWork)
    if (flows.transfersOut > 0) metrics.creditsSpent.inc({ reason: 'transfer' }, flows.transfersOut)
  }))
  listen(ledger, 'mined', () => { metrics.blocksMined.inc() })
  listen(ledger, 'reorg', () => { metrics.chainReorgs.inc() })
  listen<{ banned: boolean }>(node, 'peer:penalised', (evt) => { metrics.peersPenalised.inc({ action: evt.detail.banned ? 'ban' : 'disconnect' }) })

  // Scrape-time readings.
  const gossipSeen = new Map<string, number>()
  let hashesSeen = 0
  unwire.push(metrics.addCollector(async () => {
    if (!node.isStarted) return
    const peers = await node.peers()
    metrics.peersConnected.set(peers.length)
    metrics.peerScore.reset()
    for (const peer of peers) metrics.peerScore.set({ peer: peer.peerId }, peer.score)

    const status = node.status()
    metrics.capacityCores.set(status.capacity.cores)
    metrics.capacityMemory.set(status.capacity.memoryMiB * 1024 * 1024)
    metrics.capacitySlots.set(status.capacity.slots)
    metrics.capacityPrice.set(status.capacity.pricePerGigafuel)
    const topicNames = new Map(Object.entries(node.topics).map(([name, topic]) => [topic, name]))
    for (const [topic, stats] of Object.entries(status.gossip)) {
      const name = topicNames.get(topic) ?? 'other'
      for (const [result, count] of [['accept', stats.accepted], ['ignore', stats.ignored], ['reject', stats.rejected]] as const) {
        const key = `${name}/${result}`
        const delta = count - (gossipSeen.get(key) ?? 0)
        if (delta > 0) metrics.gossipMessages.inc({ topic: name, result }, delta)
        gossipSeen.set(key, count)
      }
    }

    const tip = ledger.tip()
    metrics.chainHeight.set(tip.height)
    metrics.mempool.set(ledger.mempool().size)
    const hashes = ledger.mining().hashes
    if (hashes > hashesSeen) metrics.miningHashes.inc(hashes - hashesSeen)
    hashesSeen = Math.max(hashesSeen, hashes)
    metrics.balance.set(await ledger.balance(me))

    const load = scheduler.worker.load()
    metrics.workerTasks.set({ state: 'running' }, load.running)
    metrics.workerTasks.set({ state: 'waiting' }, load.queued)
    metrics.queueLength('worker-execution', load.queued)
    const dispatch = scheduler.requester.dispatcher.stats()
    metrics.queueLength('requester-tasks', dispatch.queued)
    let queued = 0
    let running = 0
    for (const job of node.activity.unfinished()) {
      if (job.running.size > 0) running++
      else queued++
    }
    metrics.jobsActive.set({ state: 'queued' }, queued)
    metrics.jobsActive.set({ state: 'running' }, running)
    metrics.queueLength('requester-placement', queued)
    metrics.leaseTailAccounts.set(scheduler.requester.tails.size)
    metrics.leaseTailAccountBytes.set(scheduler.requester.tails.bytes)
  }))

  return () => { for (const fn of unwire.splice(0)) fn() }
}

function tailClaim (metrics: NodeMetrics, role: 'worker' | 'requester', outcome: string, credits: number | undefined): void {
  metrics.leaseTailClaims.inc({ role, outcome })
  if (credits != null && credits > 0) metrics.leaseTailCredits.inc({ role }, credits)
}

/** Counts a requested job's end by the outcome its record shows (the words the CLI prints). */
async function recordJobEnd (node: ComputeNode, metrics: NodeMetrics, progress: JobProgress): Promise<void> {
  try {
    const record = await node.scheduler.record(progress.jobId)
    const { status } = requestedState(record)
    const outcome: JobOutcome = status === 'completed' ? (record.verified === true ? 'completed' : 'unverified') : status === 'queued' || status === 'running' ? 'failed' : status
    metrics.jobFinished(outcome, (progress.at - record.createdAt) / 1000)
  } catch {
    // A record that cannot be read (the node is stopping) is not counted.
  }
}
