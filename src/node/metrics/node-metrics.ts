/**
 * depin's Prometheus metrics, on prom-client, in one registry per node (so several nodes in one
 * process keep apart). libp2p's own metrics (connections, streams, bytes per protocol, DHT, and
 * the process's CPU and memory) join the same registry through `@libp2p/prometheus-metrics`
 * when the node is created with `libp2p: true`.
 *
 * Every metric name is listed in the README ("Metrics"). The scheduler reports through the
 * `MarketMetrics` interface (src/shared/metrics.ts), which this class implements; what today's events
 * give is wired in `attach()`.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client'
import { prometheusMetrics } from '@libp2p/prometheus-metrics'
import type { ComponentLogger, Metrics } from '@libp2p/interface'
import { TAIL_RETAIN_BYTES } from '../../scheduler/constants.ts'
import type { JobOutcome, MarketMetrics, MarketRole, QueueName, TaskOutcome } from '../../shared/metrics.ts'

/** Execution and job durations: 10 ms to about 1.5 h. */
export const DURATION_BUCKETS_SECONDS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 5400]

export interface NodeMetricsInit {
  /** Also collect libp2p's metrics and the process's default metrics into this registry. @default true */
  libp2p?: boolean
  /** Where `nodejs_fs_usage_bytes` looks (the data dir). @default the working directory */
  statfsLocation?: string
}

export class NodeMetrics implements MarketMetrics {
  readonly registry = new Registry()
  readonly init: NodeMetricsInit
  private readonly collectors: Array<() => void | Promise<void>> = []

  readonly jobsSubmitted: Counter
  readonly jobsFinished: Counter<'outcome'>
  readonly jobDuration: Histogram<'outcome'>
  readonly jobsActive: Gauge<'state'>
  readonly tasksFinished: Counter<'role' | 'outcome'>
  readonly taskExecution: Histogram<'role'>
  private readonly taskCounters = new Map<string, Counter.Internal>()
  private readonly taskHistograms = new Map<string, Histogram.Internal<'role'>>()
  readonly workerTasks: Gauge<'state'>
  readonly leasesOpen: Gauge<'role'>
  readonly leasesOpened: Counter<'role'>
  readonly leasesClosed: Counter<'role' | 'reason'>
  readonly queueLengths: Gauge<'queue'>
  readonly jobBytes: Counter<'direction' | 'kind'>
  readonly creditsEarned: Counter<'source'>
  readonly creditsSpent: Counter<'reason'>
  readonly balance: Gauge
  readonly chainHeight: Gauge
  readonly chainBlocks: Counter
  readonly chainReorgs: Counter
  readonly blocksMined: Counter
  readonly miningHashes: Counter
  readonly mempool: Gauge
  readonly peersConnected: Gauge
  readonly peerScore: Gauge<'peer'>
  readonly peersPenalised: Counter<'action'>
  readonly gossipMessages: Counter<'topic' | 'result'>
  readonly capacityCores: Gauge
  readonly capacityMemory: Gauge
  readonly capacitySlots: Gauge
  readonly capacityPrice: Gauge
  readonly apiUploadsRefused: Counter<'reason'>
  readonly leaseTailClaims: Counter<'role' | 'outcome'>
  readonly leaseTailCredits: Counter<'role'>
  readonly leaseTailAccounts: Gauge
  readonly leaseTailAccountBytes: Gauge

  constructor (init: NodeMetricsInit = {}) {
    this.init = init
    const registers = [this.registry]
    // Gauges read at scrape time call every registered collector once per scrape (see `collect`).
    const collected = { registers, collect: async () => { await this.runCollectors() } }
    this.jobsSubmitted = new Counter({ name: 'depin_jobs_submitted_total', help: 'Jobs submitted by this node (as requester)', registers })
    this.jobsFinished = new Counter({ name: 'depin_jobs_finished_total', help: 'Jobs this node requested that reached a final state, by outcome (completed, unverified, failed, timed-out, cancelled)', labelNames: ['outcome'], registers })
    this.jobDuration = new Histogram({ name: 'depin_job_duration_seconds', help: 'Time from submission to the final state of jobs this node requested, by outcome', labelNames: ['outcome'], buckets: DURATION_BUCKETS_SECONDS, registers })
    this.jobsActive = new Gauge({ name: 'depin_jobs_active', help: 'Jobs this node requested that have not ended, by state (queued, running)', labelNames: ['state'], ...collected })
    this.tasksFinished = new Counter({ name: 'depin_tasks_finished_total', help: 'Tasks (one replica on one worker, of jobs and batches) that ended, by role of this node and outcome (completed, failed, timed-out, cancelled, rejected)', labelNames: ['role', 'outcome'], registers })
    this.taskExecution = new Histogram({ name: 'depin_task_execution_seconds', help: 'Wall time of task executions, by role of this node (worker: run here; requester: reported by the worker)', labelNames: ['role'], buckets: DURATION_BUCKETS_SECONDS, registers })
    this.workerTasks = new Gauge({ name: 'depin_worker_tasks', help: 'Tasks agreed with this node as worker, by state (running, waiting)', labelNames: ['state'], ...collected })
    this.leasesOpen = new Gauge({ name: 'depin_leases_open', help: 'Leases open now, by role of this node', labelNames: ['role'], ...collected })
    this.leasesOpened = new Counter({ name: 'depin_leases_opened_total', help: 'Leases opened, by role of this node', labelNames: ['role'], registers })
    this.leasesClosed = new Counter({ name: 'depin_leases_closed_total', help: 'Leases closed, by role of this node and reason', labelNames: ['role', 'reason'], registers })
    this.queueLengths = new Gauge({ name: 'depin_queue_length', help: 'Length of the job market\'s queues, by queue (requester-placement, requester-tasks, worker-execution)', labelNames: ['queue'], ...collected })
    this.jobBytes = new Counter({ name: 'depin_job_bytes_total', help: 'Job payload bytes moved on lease streams (jobs and batches), by direction (sent, received) and kind (module, input, output)', labelNames: ['direction', 'kind'], registers })
    this.creditsEarned = new Counter({ name: 'depin_credits_earned_total', help: 'Credits this node received on the canonical chain, by source (work, mining, transfer), counted once their block is 6 deep', labelNames: ['source'], registers })
    this.creditsSpent = new Counter({ name: 'depin_credits_spent_total', help: 'Credits this node paid on the canonical chain, by reason (work, transfer), counted once their block is 6 deep', labelNames: ['reason'], registers })
    this.balance = new Gauge({ name: 'depin_balance_credits', help: 'This node\'s balance on the canonical chain', ...collected })
    this.chainHeight = new Gauge({ name: 'depin_chain_height', help: 'Height of the canonical chain tip', ...collected })
    this.chainBlocks = new Counter({ name: 'depin_chain_blocks_total', help: 'Blocks that joined the canonical chain since start (mined here or received)', registers })
    this.chainReorgs = new Counter({ name: 'depin_chain_reorgs_total', help: 'Switches of the canonical chain to another branch', registers })
    this.blocksMined = new Counter({ name: 'depin_blocks_mined_total', help: 'Blocks this node mined', registers })
    this.miningHashes = new Counter({ name: 'depin_mining_hashes_total', help: 'Proof-of-work hashes this node computed', ...collected })
    this.mempool = new Gauge({ name: 'depin_mempool_transactions', help: 'Transactions waiting in the mempool', ...collected })
    this.peersConnected = new Gauge({ name: 'depin_peers_connected', help: 'Peers with an open connection', ...collected })
    this.peerScore = new Gauge({ name: 'depin_peer_score', help: 'App-level score of each connected peer (0 clean, negative after misbehaviour)', labelNames: ['peer'], ...collected })
    this.peersPenalised = new Counter({ name: 'depin_peers_penalised_total', help: 'Peers disconnected or banned for misbehaviour, by action', labelNames: ['action'], registers })
    this.gossipMessages = new Counter({ name: 'depin_gossip_messages_total', help: 'Gossip messages validated, by topic (offers, blocks, transactions) and result (accept, ignore, reject)', labelNames: ['topic', 'result'], ...collected })
    this.capacityCores = new Gauge({ name: 'depin_capacity_cores', help: 'Cores this node offers', ...collected })
    this.capacityMemory = new Gauge({ name: 'depin_capacity_memory_bytes', help: 'Memory this node offers per job', ...collected })
    this.capacitySlots = new Gauge({ name: 'depin_capacity_slots', help: 'Tasks this node runs at once', ...collected })
    this.capacityPrice = new Gauge({ name: 'depin_capacity_price_credits', help: 'Price this node asks, credits per gigafuel (10^9 fuel)', ...collected })
    this.leaseTailClaims = new Counter({ name: 'depin_lease_tail_claims_total', help: 'Lease tail claims (results after the last acknowledged checkpoint of a lease whose stream died) that ended, by role of this node and outcome (paid, refused, gave-up)', labelNames: ['role', 'outcome'], registers })
    this.leaseTailCredits = new Counter({ name: 'depin_lease_tail_credits_total', help: 'Credits lease tail acknowledgements added to what the lease\'s earlier acknowledgements paid, by role of this node', labelNames: ['role'], registers })
    this.leaseTailAccounts = new Gauge({ name: 'depin_lease_tail_accounts', help: 'Accounts of leases whose stream died this node keeps (as requester) for their workers to claim the tail', ...collected })
    this.leaseTailAccountBytes = new Gauge({ name: 'depin_lease_tail_account_bytes', help: `Estimated bytes those accounts hold (at most ${TAIL_RETAIN_BYTES})`, ...collected })
    this.apiUploadsRefused = new Counter({ name: 'depin_api_uploads_refused_total', help: 'Job and batch uploads the local API refused, by reason (too_large, size_mismatch, not_wasm, parts, malformed, busy)', labelNames: ['reason'], registers })
  }

  /**
   * The libp2p `metrics` factory: libp2p's metrics and the process's default metrics go into this
   * registry. Undefined when `libp2p: false`. libp2p keeps its metric objects per process, so
   * turn this on for one node per process (the daemon), not for in-process testnets.
   */
  libp2pMetrics (): ((components: { logger: ComponentLogger }) => Metrics) | undefined {
    if (this.init.libp2p === false) return undefined
    return prometheusMetrics({ registry: this.registry, collectDefaultMetrics: true, statfsLocation: this.init.statfsLocation })
  }

  /** Adds a function run once per scrape before the metrics are read (bounded work, no network). */
  addCollector (collect: () => void | Promise<void>): () => void {
    this.collectors.push(collect)
    return () => {
      const i = this.collectors.indexOf(collect)
      if (i >= 0) this.collectors.splice(i, 1)
    }
  }

  /** The Prometheus text exposition format (each call a scrape of its own: the collectors run again). */
  async text (): Promise<string> {
    try {
      return await this.registry.metrics()
    } finally {
      this.pending = undefined
    }
  }

  get contentType (): string {
    return this.registry.contentType
  }

  // One scrape reads many collected gauges; run the collectors once per scrape, not once per gauge.
  private pending?: Promise<void>
  private async runCollectors (): Promise<void> {
    this.pending ??= (async () => {
      try {
        for (const collect of this.collectors) await collect()
      } finally {
        // Released on the next tick: every gauge of this scrape shares the run.
        setImmediate(() => { this.pending = undefined })
      }
    })()
    await this.pending
  }

  // MarketMetrics --------------------------------------------------------------------------------

  jobFinished (outcome: JobOutcome, seconds: number): void {
    this.jobsFinished.inc({ outcome })
    this.jobDuration.observe({ outcome }, Math.max(0, seconds))
  }

  taskFinished (role: MarketRole, outcome: TaskOutcome, executionSeconds?: number): void {
    // Once per task, thousands a second on a busy node: the labelled series are looked up once
    // (prom-client hashes a label object on every call otherwise).
    const key = `${role}/${outcome}`
    let finished = this.taskCounters.get(key)
    if (finished == null) this.taskCounters.set(key, finished = this.tasksFinished.labels({ role, outcome }))
    finished.inc()
    if (executionSeconds != null && Number.isFinite(executionSeconds)) {
      let execution = this.taskHistograms.get(role)
      if (execution == null) this.taskHistograms.set(role, execution = this.taskExecution.labels({ role }))
      execution.observe(Math.max(0, executionSeconds))
    }
  }

  leaseOpened (role: MarketRole): void {
    this.leasesOpened.inc({ role })
    this.leasesOpen.inc({ role })
  }

  leaseClosed (role: MarketRole, reason: string): void {
    this.leasesClosed.inc({ role, reason: reason.slice(0, 32) })
    this.leasesOpen.dec({ role })
  }

  queueLength (queue: QueueName, length: number): void {
    this.queueLengths.set({ queue }, length)
  }

  bytesTransferred (direction: 'sent' | 'received', kind: 'module' | 'input' | 'output', bytes: number): void {
    this.jobBytes.inc({ direction, kind }, bytes)
  }
}
