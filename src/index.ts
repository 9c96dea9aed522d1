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
export type { Capacity, CapacityAdvert, FindCapacityQuery } from './shared/capacity.ts'
export type { TransportName } from './node/libp2p.ts'
export type { CapacityOverrides } from './node/config.ts'
export { PeerScore, PeerAction } from './node/peer-score.ts'
export type { PeerScoreInit } from './node/peer-score.ts'
export type { PeerActionName } from './shared/peer-actions.ts'
export { startDaemon } from './node/daemon.ts'
export type { Daemon, DaemonOptions } from './node/daemon.ts'
export { createNodeMetrics, NodeMetrics, MetricsServer } from './node/metrics/index.ts'
export type { NodeMetricsInit } from './node/metrics/index.ts'
export type { MarketMetrics, JobOutcome, TaskOutcome, MarketRole, QueueName, PayloadKind } from './shared/metrics.ts'
export { createOperatorLog } from './node/operator-log.ts'
export type { OperatorLogInit, OperatorLogHandle, LogFormat } from './node/operator-log.ts'
export { silentLog } from './shared/log.ts'
export type { OperatorLog, LogLevel, LogFn, LogFields } from './shared/log.ts'
export { describeState, stateWord, JOB_STATES } from './job-status.ts'
export type { JobState } from './job-status.ts'
export type { JobSummaryView, JobDetailView } from './node/api/job-view.ts'
export { DataDirInUseError, AddressInUseError, CorruptKeyFileError, DataDirError, InvalidCapacityRecordError, TestnetInUseError } from './node/errors.ts'
export { MakeDirError } from './shared/make-dir.ts'

export { JobHandle } from './scheduler/requester/jobs.ts'
export type { JobProgress, JobResult, WorkerOutcome, ProgressStage, JobHandleEvents } from './scheduler/requester/jobs.ts'
export type { PlacementWait, UnableReason } from './scheduler/requester/placement.ts'
export { BatchHandle } from './scheduler/requester/batches.ts'
export type { BatchProgress, BatchResult, BatchTaskResult, BatchHandleEvents } from './scheduler/requester/batches.ts'
export type { LeaseInfo } from './scheduler/requester/service.ts'
export type { LeaseSummary } from './scheduler/worker/lease-server.ts'
export type { JobSummary, SubmitOptions, BatchSubmitOptions, Scheduler, SchedulerInit } from './scheduler/scheduler.ts'
export type { JobInit, JobBody, BatchInit, BatchTaskInit, BatchBody, PlacementInit } from './scheduler/job.ts'
export type { JobStatus, JobError } from './scheduler/job-store.ts'
export type { Retention, RetentionInit } from './scheduler/retention/retention.ts'
export type { PruneReport } from './scheduler/retention/prune.ts'
export { createExecutor } from './scheduler/executor/index.ts'
export type {
  Executor, ExecSpec, ExecResult, ExecutorInit, InputFile, ExecOutputs, OutputFile, FsLimits, WasiExecutor, LocalExecResult, RunOptions,
  ExecutorStats
} from './scheduler/executor/index.ts'
export {
  createManifest, manifestOf, encodeManifest, decodeManifest, manifestCid, verifyFile, verifyFiles, validatePath,
  scanInputs, readFileShared, readInputFiles, manifestOfDiskFiles, writeOutputTree,
  InvalidPathError, DuplicatePathError, PathConflictError, TooManyEntriesError, ManifestTooLargeError, InvalidManifestError,
  FileCidMismatchError, FileSizeMismatchError, MissingFileError, UnexpectedFileError, InputNotFoundError, SymlinkLoopError,
  SymlinkEscapeError, UnsupportedFileTypeError, OutputNotDirectoryError, OutputNotWritableError, OutputPathConflictError
} from './scheduler/files/index.ts'
export type { FileManifest, ManifestEntry, TreeFile, DiskFile, InvalidPathReason, ManifestLimits, PathRules } from './scheduler/files/index.ts'
export {
  NoBidsError, NoCapableWorkersError, NotEnoughWorkersError, JobTimeoutError, JobCancelledError, NodeStoppedError, InvalidJobError, JobNotFoundError, BatchNotFoundError, BadResultError, ProtocolViolationError,
  CheckpointError, LeaseEndedError, TailError, WorkerUnresponsiveError, JobFinishedError, JobNotCancellableError, OutputFileNotFoundError, BatchTaskNotFoundError,
  UnknownOfferError, AcceptReplayedError, BadInputTreeError, BlobMismatchError, AckRejectedError
} from './scheduler/errors.ts'
export { JobRunningError } from './scheduler/retention/errors.ts'
export {
  InvalidModuleError, ForbiddenImportError, UnmeterableModuleError, ReservedExportError, MemoryLimitError, ModuleCidMismatchError,
  InvalidExecSpecError, ExecutorQueueFullError, ExecutorStoppedError, ExecutionAbortedError, WorkerStartError
} from './scheduler/executor/errors.ts'
export type { OutputFileInfo } from './scheduler/requester/trees.ts'
export { defaultFuel, DEFAULT_FUEL_PER_MS, MAX_INPUT_FILES_BYTES } from './scheduler/task.ts'
export { creditsFor, FUEL_PER_PRICE_UNIT } from './proofs/lease.ts'
/** The CID (v1, raw, sha2-256) of a module or any blob: what `ExecSpec.moduleCid` is for `module`. */
export { rawCid } from './proofs/encoding.ts'

export { createLedger, createGenesisConfig, DEFAULT_GENESIS_CONFIG } from './ledger/index.ts'
export type {
  Ledger, LedgerInit, LedgerEvents, BlockSummary, BlockView, TxView, Receipt, ReceiptQuery, GenesisConfig, CreateGenesisConfigInit, LedgerStats,
  MempoolInfo, MiningInfo, AddBlockResult, SyncResult
} from './ledger/index.ts'
export type { Signer } from './proofs/signing.ts'
export { testnetGenesis, TESTNET_ALLOCATION } from './node/testnet.ts'
export {
  LedgerError, MalformedError, OversizeError, TxSignatureError, InvalidPowError, BadTargetError, TargetTooEasyError, BadTimestampError,
  FutureBlockError, UnknownParentError, DuplicateError, BelowFinalityError, SideChainFullError, TxRootMismatchError, BodyMismatchError,
  TooManyTransactionsError, WrongNetworkError, BadHeightError, BadCoinbaseError, BadNonceError, OverdraftError, AlreadySettledError,
  BalanceOverflowError, SettleMismatchError, AmountOverMaxCostError, AmountOverCheckpointError, LeaseExpiredError,
  InvalidTransactionError, MempoolFullError, KnownInvalidError, SchemaVersionError, GenesisMismatchError, GenesisConfigError,
  LedgerUsageError, LedgerNotStartedError
} from './ledger/errors.ts'
export type { LedgerAction } from './ledger/errors.ts'
export { SyncPeerError } from './ledger/sync-messages.ts'

export { DepinError, InvalidMessageError, InvalidSignatureError, MessageTooLargeError, DeadlineExceededError, ConfigError, NotStartedError, InvalidArgumentError } from './errors.ts'
export { NoSubscribersError, GossipValidationError, ChannelClosedError } from './transport.ts'
export type { TopicHandler, PublishOptions, PublishResult, Publisher } from './transport.ts'
export type { GossipStats } from './node/gossip.ts'
