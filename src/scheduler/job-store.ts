/**
 * Job records on disk, so a requester that restarts still knows what it submitted and a worker
 * remembers what it ran. Key spaces (sublevels of `jobs`):
 *   `requested`  utf8(job id)        → DAG-CBOR RequestedJob
 *   `ran`        utf8(agreement id)  → DAG-CBOR RanTask
 */
import { decode, encode } from '../proofs/encoding.ts'
import type { Store } from '../shared/store.ts'
import type { Agreement, SignedResult } from '../proofs/agreement.ts'
import type { SignedJob } from './job.ts'

type Sub = ReturnType<Store['sublevel']>

export type JobStatus = 'queued' | 'placing' | 'running' | 'completed' | 'failed'

export interface ReplicaRecord {
  worker: string
  agreement?: Agreement
  status: 'accepted' | 'running' | 'done' | 'failed'
  result?: SignedResult
  error?: string
  /** Credits owed for this replica (agreeing replicas only). */
  cost?: number
}

export interface RequestedJob {
  id: string
  job: SignedJob
  status: JobStatus
  createdAt: number
  updatedAt: number
  replicas: ReplicaRecord[]
  outputCid?: string
  stderrCid?: string
  exitCode?: number
  trap?: string
  verified?: boolean
  cost?: number
  /** Whether settlement receipts were handed to the ledger. */
  settled?: boolean
  /** Spot-check this job (re-run it locally); absent: the node's spot-check rate decides. */
  spotCheck?: boolean
  /** What the spot check found, when there was one. */
  spotCheckResult?: 'passed' | 'failed'
  error?: { code: string, message: string, reasons?: Record<string, number> }
}

export interface RanTask {
  agreementId: string
  jobId: string
  requester: string
  status: 'running' | 'done' | 'failed'
  startedAt: number
  finishedAt?: number
  exitCode?: number
  outputCid?: string
  cpuMs?: number
  wallMs?: number
  error?: string
}

const MAX_RECORD_BYTES = 4 * 1024 * 1024
const enc = new TextEncoder()


export class JobStore {
  private readonly requested: Sub
  private readonly ran: Sub

  constructor (db: Store) {
    const root = db.sublevel('jobs', { keyEncoding: 'view', valueEncoding: 'view' })
    this.requested = root.sublevel('requested', { keyEncoding: 'view', valueEncoding: 'view' }) as unknown as Sub
    this.ran = root.sublevel('ran', { keyEncoding: 'view', valueEncoding: 'view' }) as unknown as Sub
  }

  async putRequested (record: RequestedJob): Promise<void> {
    await this.requested.put(enc.encode(record.id), encode(stripUndefined(record)))
  }

  async getRequested (id: string): Promise<RequestedJob | undefined> {
    const bytes = await this.requested.get(enc.encode(id))
    return bytes == null ? undefined : decode(bytes as Uint8Array, MAX_RECORD_BYTES, 'job record') as RequestedJob
  }

  async * allRequested (): AsyncGenerator<RequestedJob> {
    for await (const value of this.requested.values()) yield decode(value as Uint8Array, MAX_RECORD_BYTES, 'job record') as RequestedJob
  }

  async putRan (record: RanTask): Promise<void> {
    await this.ran.put(enc.encode(record.agreementId), encode(stripUndefined(record)))
  }

  async * allRan (): AsyncGenerator<RanTask> {
    for await (const value of this.ran.values()) yield decode(value as Uint8Array, MAX_RECORD_BYTES, 'task record') as RanTask
  }
}

/** Removes `undefined` fields recursively without touching bytes or CIDs. */
export function stripUndefined<T> (value: T): T {
  if (Array.isArray(value)) return value.map((v) => stripUndefined(v)) as T
  if (value == null || typeof value !== 'object' || value instanceof Uint8Array || (value as { asCID?: unknown }).asCID != null) return value
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = stripUndefined(v)
  return out as T
}
