/**
 * depin: a peer-to-peer compute-sharing node, as a library.
 *
 * ```ts
 * import { createComputeNode } from 'depin'
 * const node = createComputeNode({ dataDir: './data' })
 * await node.start()
 * const job = await node.submitJob({ module, args: ['1000'] })
 * const result = await job.result()
 * ```
 */
export { createComputeNode, ComputeNode } from './node/compute-node.ts'
export type { ComputeNodeInit, ComputeNodeEvents, NodeStatus, PeerSummary, NodeServices } from './node/compute-node.ts'
export { createTestnet } from './node/testnet.ts'
export type { Testnet, TestnetInit } from './node/testnet.ts'
export type { CapacityAdvert, FindCapacityQuery } from './node/capacity.ts'
export type { Capacity } from './node/capacity-record.ts'
export type { TransportName } from './node/libp2p.ts'
export type { CapacityOverrides } from './node/config.ts'
export { PeerScore, PeerAction } from './node/peer-score.ts'
export type { PeerActionName } from './node/peer-score.ts'
export { startDaemon } from './node/daemon.ts'
export type { Daemon, DaemonOptions } from './node/daemon.ts'

export { JobHandle } from './scheduler/scheduler.ts'
export type { JobSummary, SubmitOptions } from './scheduler/scheduler.ts'
export type { JobInit, SignedJob, JobBody } from './scheduler/job.ts'
export type { JobProgress, JobResult, WorkerOutcome, ProgressStage } from './scheduler/requester-service.ts'
export { createExecutor } from './scheduler/executor/index.ts'
export type { Executor, ExecSpec, ExecResult, ExecutorInit } from './scheduler/executor/index.ts'
export {
  NoBidsError, JobTimeoutError, JobCancelledError, InvalidJobError, JobNotFoundError, BadResultError, ProtocolViolationError
} from './scheduler/errors.ts'

export { createLedger, createGenesisConfig, DEFAULT_GENESIS_CONFIG } from './ledger/index.ts'
export type { Ledger, LedgerInit, LedgerEvents, BlockSummary, BlockView, TxView, Receipt, ReceiptQuery, GenesisConfig } from './ledger/index.ts'
export { testnetGenesis, TESTNET_ALLOCATION } from './node/testnet.ts'

export { DepinError, InvalidMessageError, InvalidSignatureError, MessageTooLargeError, DeadlineExceededError, ConfigError, NotStartedError } from './errors.ts'
