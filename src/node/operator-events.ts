/**
 * What an operator reads in the log, from the node's events: jobs submitted and how they ended
 * (requester), tasks run for peers and the credits they earned (worker), blocks mined, chain
 * reorganisations, peers disconnected or banned, lease tails claimed (worker) and paid or
 * refused (requester).
 */
import type { ComputeNode } from './compute-node.ts'
import type { OperatorLog } from '../shared/log.ts'
import type { JobProgress } from '../scheduler/requester/jobs.ts'
import type { LeaseInfo } from '../scheduler/requester/service.ts'
import type { LeaseSummary } from '../scheduler/worker/lease-server.ts'
import type { TailClaimed } from '../scheduler/worker/tail-claims.ts'
import type { TailServed } from '../scheduler/requester/tail-server.ts'
import { isFinalStage } from './job-activity.ts'
import { LEASE_INTERRUPTED } from '../scheduler/worker/self-settle.ts'
import type { BlockSummary } from '../ledger/index.ts'
import { requestedState } from './api/job-view.ts'
import { stateWord } from '../job-status.ts'

/** Logs `node`'s (started) events to `log`; returns the function that stops it. */
export function attachOperatorLog (node: ComputeNode, log: OperatorLog): () => void {
  const me = node.peerId
  const ledger = node.ledger
  const scheduler = node.scheduler
  const unwire: Array<() => void> = []
  const listen = <T>(target: { addEventListener: (t: any, f: any) => void, removeEventListener: (t: any, f: any) => void }, type: string, fn: (evt: CustomEvent<T>) => void): void => {
    target.addEventListener(type, fn)
    unwire.push(() => { target.removeEventListener(type, fn) })
  }

  listen<JobProgress>(node, 'job:progress', (evt) => {
    const p = evt.detail
    if (p.stage === 'queued') {
      log.info({ job: p.jobId }, 'job submitted')
    } else if (p.stage === 'waiting') {
      // Said once per new reason (no capable worker known, or fewer than its replicas).
      log.warn({ job: p.jobId, reason: p.detail }, 'job waiting for workers')
    } else if (isFinalStage(p.stage)) {
      void node.scheduler.record(p.jobId).then((record) => {
        const { status, reason } = requestedState(record)
        const verified = record.verified === true
        const fields = {
          job: p.jobId,
          status: stateWord(status, verified),
          ...(record.exitCode != null ? { exit: record.exitCode } : {}),
          workers: record.replicas.filter((r) => r.status === 'done').map((r) => r.worker),
          ...(record.cost != null ? { cost: record.cost } : {}),
          ...(reason != null ? { reason } : {}),
          seconds: Math.round((p.at - record.createdAt) / 100) / 10
        }
        if (status === 'completed' && verified) log.info(fields, 'job finished')
        else log.warn(fields, 'job finished')
      }, () => {})
    }
  })

  // Per-task worker lines are debug (a lease may run thousands); leases are the operator's unit.
  // Not listened for below debug: an event per task costs a busy worker CPU for nothing.
  if (log.isLevelEnabled?.('debug') !== false) {
    listen<{ leaseId: string, taskId: string, exitCode: number, wallMs: number }>(scheduler, 'task:finished', (evt) => {
      log.debug({ lease: evt.detail.leaseId, task: evt.detail.taskId, exit: evt.detail.exitCode, ms: Math.round(evt.detail.wallMs) }, 'task finished for a peer')
    })
  }
  listen<LeaseInfo>(node, 'lease:opened', (evt) => {
    log.info({ lease: evt.detail.leaseId, worker: evt.detail.worker, price: evt.detail.price, slots: evt.detail.slots, cap: evt.detail.maxCredits }, 'lease opened')
  })
  listen<LeaseInfo & { reason: string }>(node, 'lease:closed', (evt) => {
    log.info({ lease: evt.detail.leaseId, worker: evt.detail.worker, reason: evt.detail.reason }, 'lease closed')
  })
  listen<LeaseSummary>(node, 'lease:served', (evt) => {
    const l = evt.detail
    const fields = { lease: l.leaseId, requester: l.requester, tasks: l.tasks, refused: l.refused, fuel: l.fuel.toString(), claimed: l.amount, acknowledged: l.paid, ...(l.acknowledged != null ? { unacknowledgedResults: Math.max(0, l.tasks - l.acknowledged) } : {}), reason: l.reason }
    if (l.reason === 'closed' || l.reason === 'ERR_LEASE_EXPIRED') log.info(fields, 'lease served')
    else if (l.reason === LEASE_INTERRUPTED) log.warn(fields, 'lease interrupted: this node went down while serving it (recorded at this start)')
    else log.warn(fields, 'lease served, ended early')
  })

  // Lease tails (a lease's stream died with results after its last acknowledged checkpoint).
  listen<TailClaimed>(node, 'lease:tail-claimed', (evt) => {
    const t = evt.detail
    if (t.outcome === 'paid') log.info({ lease: t.leaseId, requester: t.requester, tasks: t.tasks, acknowledged: t.paid, credits: t.credits }, 'lease tail claimed: paid')
    else log.warn({ lease: t.leaseId, requester: t.requester, code: t.code, attempts: t.attempts }, t.outcome === 'refused' ? 'lease tail claim refused' : 'lease tail claim given up')
  })
  listen<TailServed>(node, 'lease:tail-served', (evt) => {
    const t = evt.detail
    if (t.outcome === 'paid') log.info({ lease: t.leaseId, worker: t.worker, tasks: t.tasks, acknowledged: t.paid, credits: t.credits }, 'lease tail paid')
    // A claim of a lease not kept for that peer is one any peer can make, as often as it likes: not a warning.
    else if (t.kept) log.warn({ lease: t.leaseId, worker: t.worker, code: t.code, ...(t.by != null ? { by: t.by } : {}) }, 'lease tail refused')
    else log.debug({ lease: t.leaseId, worker: t.worker, code: t.code }, 'lease tail refused')
  })

  listen<BlockSummary>(ledger, 'block', (evt) => {
    const summary = evt.detail
    void ledger.block(summary.hash).then((block) => {
      if (block == null) return
      for (const tx of block.transactions) {
        if (tx.type === 'settle' && tx.to === me) log.info({ lease: tx.leaseId, tasks: tx.tasks, fuel: tx.fuel, settled: tx.moved ?? tx.amount, from: tx.from, block: block.height }, 'lease settled: earned credits')
        else if (tx.type === 'settle' && tx.from === me) log.info({ lease: tx.leaseId, tasks: tx.tasks, settled: tx.moved ?? tx.amount, to: tx.to, block: block.height }, 'lease settled: paid credits')
        else if (tx.type === 'transfer' && tx.to === me) log.info({ credits: tx.amount, from: tx.from, block: block.height }, 'received a transfer')
      }
    }, () => {})
  })
  listen<BlockSummary>(ledger, 'mined', (evt) => {
    log.info({ height: evt.detail.height, hash: evt.detail.hash, txs: evt.detail.txCount }, 'block mined')
  })
  listen<{ undone: BlockSummary[], applied: BlockSummary[] }>(ledger, 'reorg', (evt) => {
    log.warn({ undone: evt.detail.undone.length, applied: evt.detail.applied.length, tip: evt.detail.applied.at(-1)?.height }, 'chain reorganised')
  })
  listen<{ peerId: string, score: number, banned: boolean }>(node, 'peer:penalised', (evt) => {
    log.warn({ peer: evt.detail.peerId, score: Math.round(evt.detail.score * 10) / 10 }, evt.detail.banned ? 'peer banned for misbehaviour' : 'peer disconnected for misbehaviour')
  })
  listen<string>(node, 'peer:connect', (evt) => { log.debug({ peer: evt.detail }, 'peer connected') })
  listen<string>(node, 'peer:disconnect', (evt) => { log.debug({ peer: evt.detail }, 'peer disconnected') })

  return () => { for (const fn of unwire.splice(0)) fn() }
}
