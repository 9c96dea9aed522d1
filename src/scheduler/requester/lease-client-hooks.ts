/**
 * What a lease's client (lease-client.ts) is given and tells: the node's signer, the blobs its
 * tasks name, and the calls it makes as tasks are answered, fail or free room, and as the lease
 * ends. The lease pool (lease-pool.ts) supplies them.
 */
import type { CID } from 'multiformats/cid'
import type { Signer } from '../../proofs/signing.ts'
import type { PeerActionName } from '../../shared/peer-actions.ts'
import type { MarketMetrics } from '../../shared/metrics.ts'
import type { SettleHook } from './lease-settlement.ts'
import type { ProbeHook } from './silence-probe.ts'
import type { ReplicaResult, TaskFailure, TaskWork } from './types.ts'
import type { LeaseClient } from './lease-client.ts'

export interface LeaseClientHooks {
  signer: Signer
  /** The bytes of a blob a task on this lease names (module, input, input manifest or file). */
  blob: (cid: CID) => Promise<Uint8Array | undefined>
  onResult: (task: TaskWork, result: ReplicaResult) => void
  onRunning: (task: TaskWork, worker: string) => void
  /** A task came back without a result. */
  onTaskFailed: (task: TaskWork, worker: string, failure: TaskFailure) => void
  /** Room freed up on the lease (a task was answered). */
  onRoom: () => void
  /** The lease ended (for whatever reason); `broken`: the worker misbehaved. */
  onEnded: (client: LeaseClient, reason: string, broken: boolean) => void
  /**
   * The lease's stream died (not ended by this node, nor broken by the worker) with results
   * received after the last accepted checkpoint: its worker may still settle them (tail-accounts.ts).
   */
  onTailLeft?: (client: LeaseClient) => void
  reportPeer: (peerId: string, action: PeerActionName) => void
  /** Whether the worker's node answers a ping (see silence-probe.ts); without it a silent worker is given up at the 30 s idle deadline. */
  probe?: ProbeHook
  settle?: SettleHook
  /** Where payload bytes moved on the lease are counted. */
  metrics?: Pick<MarketMetrics, 'bytesTransferred'>
}
