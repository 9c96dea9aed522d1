/**
 * The public types of the ComputeNode facade (src/node/compute-node.ts): what it is created with,
 * what it reports, the events it emits and the services it exposes to embedders.
 */
import type { ComponentLogger, Metrics, PrivateKey } from '@libp2p/interface'
import type { Signer } from '../proofs/signing.ts'
import type { Capacity } from './capacity-record.ts'
import type { CapacityService } from './capacity.ts'
import type { CapacityOverrides } from './config.ts'
import type { GossipRouter, GossipStats } from './gossip.ts'
import type { TransportName } from './libp2p.ts'
import type { PeerScore } from './peer-score.ts'
import type { Store } from './storage.ts'
import type { ChannelOpener, ProtocolRegistrar } from '../transport.ts'
import type { Scheduler, SchedulerInit } from '../scheduler/scheduler.ts'
import type { Executor } from '../scheduler/executor/index.ts'
import type { RetentionInit } from '../scheduler/retention/index.ts'
import type { JobProgress } from '../scheduler/requester/jobs.ts'
import type { LeaseInfo } from '../scheduler/requester/service.ts'
import type { LeaseSummary } from '../scheduler/worker/lease-server.ts'
import type { TailClaimed } from '../scheduler/worker/tail-claims.ts'
import type { TailServed } from '../scheduler/requester/tail-server.ts'
import type { NodeMetrics } from './metrics/node-metrics.ts'
import type { OperatorLog } from '../shared/log.ts'
import type { GenesisConfig, Ledger, LedgerInit } from '../ledger/index.ts'

export interface ComputeNodeInit {
  /**
   * Directory for identity, config-independent state and LevelDB. Without one, everything lives
   * in memory and a fresh identity is generated (tests, short-lived embedding).
   */
  dataDir?: string
  /** Use this identity instead of the data dir's key file. */
  privateKey?: PrivateKey
  /**
   * How this node reaches others: `'tcp'`, or `'memory'` (libp2p's in-process memory transport:
   * only nodes of the same process can connect; for tests, benchmarks and large simulated
   * networks). @default 'tcp'
   */
  transport?: TransportName
  /** Listen multiaddrs. @default ['/ip4/0.0.0.0/tcp/0'] (memory transport: one fresh `/memory/<uuid>`) */
  listen?: string[]
  /** Addresses to announce instead of the listen addresses (e.g. behind NAT). */
  announce?: string[]
  /** Multiaddrs (with /p2p/<id>) of peers to connect to at start. */
  bootstrap?: string[]
  /** Discover peers on the LAN with mDNS. @default true */
  mdns?: boolean
  /**
   * This machine's fuel per second to advertise, instead of measuring it at start (about 0.2 s,
   * once per process; 0 advertises no figure).
   */
  fuelPerSecond?: number
  /** Override measured capacity (cores, memoryMiB, pricePerGigafuel, slots). */
  capacity?: CapacityOverrides
  /**
   * Publish a capacity record and provider records. A node that only submits jobs can turn this
   * off and stays invisible to `findCapacity`. @default true
   */
  advertise?: boolean
  /** Loopback testnet tuning (see design notes); never for production. @default false */
  testnet?: boolean
  /** Connections kept: above it newcomers, and idle peers past 80 % of it, are closed (connection-trimmer.ts). @default MAX_CONNECTIONS (48) */
  maxConnections?: number
  /** The sandbox that runs other peers' tasks. @default the WASI worker-thread executor */
  executor?: Executor
  /** Scheduler tuning (blob cache, spot-check rate). */
  scheduler?: SchedulerInit
  /** How long ended jobs and their blobs are kept, and how often they are pruned. @default 30 days, hourly */
  retention?: RetentionInit
  /** The ledger network (genesis: network id, allocations, target, interval, reward). @default the built-in network */
  network?: GenesisConfig
  /** Mine ledger blocks. @default false */
  mine?: boolean
  /**
   * Prometheus metrics (`createNodeMetrics()`): depin's own, and libp2p's unless created with
   * `libp2p: false`. Read them with `metrics.text()`. @default none
   */
  metrics?: NodeMetrics
  /** A libp2p `Metrics` implementation to use instead of the one of `metrics` (benchmarks that count messages). */
  libp2pMetrics?: (components: { logger: ComponentLogger }) => Metrics
  /** The operator's log (`createOperatorLog()` or any pino logger). @default silent */
  log?: OperatorLog
  /** Ledger tuning (mempool bounds, reorg depth, sync deadline). */
  ledger?: Partial<Omit<LedgerInit, 'store' | 'signer' | 'genesis' | 'mine' | 'publishBlock' | 'publishTransaction' | 'syncTransport' | 'reportPeer'>>
}

export interface PeerSummary {
  peerId: string
  /**
   * Where the peer can be dialled: its listen addresses as identify reported them (signed ones
   * first), each ending in /p2p/<peer id>; before identify has run, the address an outbound
   * connection dialled; empty for a peer only connected inbound and not yet identified.
   */
  addresses: string[]
  /**
   * The open connections: who dialled (`outbound`: this node) and the remote end of each. An
   * inbound connection's address is the peer's source port, not one it listens on.
   */
  connections: Array<{ address: string, direction: 'inbound' | 'outbound' }>
  /** App-level score (0 = clean; negative = misbehaviour seen). */
  score: number
  /** Latency of the last ping in ms, if measured. */
  latencyMs?: number
}

export interface NodeStatus {
  peerId: string
  multiaddrs: string[]
  started: boolean
  startedAt?: number
  peers: number
  capacity: Capacity
  capacityRecord: { seq: number, published: number, lastPublishedAt?: number }
  /** What other peers have stored here (all bounded): DHT provider records and records, peer-store entries. */
  dhtStore: { providerRecords: number, records: number, peers: number, evicted: number }
  gossip: Record<string, GossipStats>
  dataDir?: string
}

export interface ComputeNodeEvents {
  'peer:connect': CustomEvent<string>
  'peer:disconnect': CustomEvent<string>
  /** A peer was disconnected or banned for misbehaviour. */
  'peer:penalised': CustomEvent<{ peerId: string, score: number, banned: boolean }>
  /** Progress of a job this node requested. */
  'job:progress': CustomEvent<JobProgress>
  /** A lease this node holds as requester was opened, or closed. */
  'lease:opened': CustomEvent<LeaseInfo>
  'lease:closed': CustomEvent<LeaseInfo & { reason: string }>
  /** This node, as worker, countersigned a lease with a requester (its tasks follow). */
  'lease:accepted': CustomEvent<{ leaseId: string, requester: string, price: number, slots: number }>
  /** A lease this node served as worker ended (what ran, what it earned). */
  'lease:served': CustomEvent<LeaseSummary>
  /** This node, as worker, claimed the tail of a lease whose stream died: paid, refused, or given up. */
  'lease:tail-claimed': CustomEvent<TailClaimed>
  /** This node, as requester, was asked for the tail of such a lease: paid it, or refused. */
  'lease:tail-served': CustomEvent<TailServed>
  started: CustomEvent<void>
  stopped: CustomEvent<void>
}

/** What later layers (scheduler, ledger) get from the node. */
export interface NodeServices {
  signer: Signer
  store: Store
  channels: ChannelOpener
  protocols: ProtocolRegistrar
  gossip: GossipRouter
  peerScore: PeerScore
  capacity: CapacityService
}
