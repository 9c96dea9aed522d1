/**
 * What all uploads of the process share: how many may stream at once, one memory budget for
 * the small parts they keep in memory (upload-spool.ts), and how long one may send nothing. A budget per upload bounded nothing: a
 * dozen slow uploads each kept their 64 MiB and the daemon grew by a gigabyte.
 */
import { MEMORY_SPOOL_BUDGET_BYTES, SpoolBudget, type SpoolMemory } from './upload-spool.ts'

/**
 * Uploads streaming at once; one more is refused (503 ERR_TOO_MANY_UPLOADS). Each may read back
 * up to its caps into memory once its parts passed, so this also bounds that.
 */
export const MAX_CONCURRENT_UPLOADS = 4
/** An upload that sends nothing for this long is dropped (a client that stalls holds a connection, not memory). */
export const UPLOAD_IDLE_TIMEOUT_MS = 30_000

export interface UploadGateInit {
  /** @default MAX_CONCURRENT_UPLOADS */
  maxUploads?: number
  /** @default MEMORY_SPOOL_BUDGET_BYTES */
  memoryBytes?: number
  /** @default UPLOAD_IDLE_TIMEOUT_MS */
  idleTimeoutMs?: number
}

/** One admitted upload: takes memory from the shared budget and gives all it still holds back on `leave`. */
export class UploadTicket implements SpoolMemory {
  private held = 0
  private left = false
  private readonly gate: UploadGate
  private readonly budget: SpoolBudget

  constructor (gate: UploadGate, budget: SpoolBudget) {
    this.gate = gate
    this.budget = budget
  }

  take (bytes: number): boolean {
    if (this.left || !this.budget.take(bytes)) return false
    this.held += bytes
    return true
  }

  give (bytes: number): void {
    const back = Math.min(bytes, this.held)
    this.held -= back
    this.budget.give(back)
  }

  /** The upload ended (its parts were read back or dropped): its memory and its place are free. */
  leave (): void {
    if (this.left) return
    this.left = true
    this.give(this.held)
    this.gate.left()
  }
}

export class UploadGate {
  /** The memory every upload's in-memory parts share. */
  readonly budget: SpoolBudget
  readonly maxUploads: number
  /** How long an upload may send nothing before it is dropped (408 ERR_UPLOAD_STALLED). */
  readonly idleTimeoutMs: number
  private open = 0

  constructor (init: UploadGateInit = {}) {
    this.budget = new SpoolBudget(init.memoryBytes ?? MEMORY_SPOOL_BUDGET_BYTES)
    this.maxUploads = init.maxUploads ?? MAX_CONCURRENT_UPLOADS
    this.idleTimeoutMs = init.idleTimeoutMs ?? UPLOAD_IDLE_TIMEOUT_MS
  }

  /** Uploads streaming now. */
  get uploads (): number { return this.open }

  /** Admits one more upload, or undefined when `maxUploads` are streaming. */
  tryEnter (): UploadTicket | undefined {
    if (this.open >= this.maxUploads) return undefined
    this.open++
    return new UploadTicket(this, this.budget)
  }

  /** @internal a ticket left */
  left (): void { this.open-- }
}

/** The gate of every API server in this process, unless a route is given its own. */
export const processUploads = new UploadGate()
