import { DepinError } from '../../errors.ts'

/**
 * The module bytes are not a WebAssembly module this executor runs: not wasm at all, malformed,
 * failing to compile (the message carries the engine's reason), without `_start`, or with a
 * memory it cannot cap (shared, 64-bit, several). Nothing ran.
 */
export class InvalidModuleError extends DepinError {
  constructor (message: string, options?: ErrorOptions & { code?: string }) {
    super(message, options?.code ?? 'ERR_INVALID_MODULE', options)
  }
}

/** The module imports something outside `wasi_snapshot_preview1` (named in `module`/`name`). */
export class ForbiddenImportError extends InvalidModuleError {
  readonly module: string
  readonly field: string
  readonly kind: string

  constructor (module: string, field: string, kind: string) {
    super(`module imports ${kind} "${module}"."${field}", which is outside wasi_snapshot_preview1`, { code: 'ERR_FORBIDDEN_IMPORT' })
    this.module = module
    this.field = field
    this.kind = kind
  }
}

/** The module needs more memory than allowed: its initial memory is above the cap. */
export class MemoryLimitError extends DepinError {
  readonly requiredMiB: number
  readonly limitMiB: number

  constructor (message: string, requiredMiB: number, limitMiB: number) {
    super(message, 'ERR_MEMORY_LIMIT')
    this.requiredMiB = requiredMiB
    this.limitMiB = limitMiB
  }
}

/** The module bytes do not hash to the CID they were given under. */
export class ModuleCidMismatchError extends DepinError {
  constructor (message = 'module bytes do not match the module CID') {
    super(message, 'ERR_MODULE_CID_MISMATCH')
  }
}

/** An `ExecSpec` field is out of range or of the wrong type; the message names it. */
export class InvalidExecSpecError extends DepinError {
  constructor (message: string) {
    super(message, 'ERR_INVALID_EXEC_SPEC')
  }
}

/** `run()` was called while every worker is busy and the wait queue is full. */
export class ExecutorQueueFullError extends DepinError {
  readonly limit: number

  constructor (limit: number) {
    super(`executor queue is full (${limit} jobs waiting)`, 'ERR_EXECUTOR_QUEUE_FULL')
    this.limit = limit
  }
}

/** The executor is not started, or was stopped while the job waited or ran. */
export class ExecutorStoppedError extends DepinError {
  constructor (message = 'the executor is stopped') {
    super(message, 'ERR_EXECUTOR_STOPPED')
  }
}

/** The caller's AbortSignal fired before the job finished; the job was removed or its worker killed. */
export class ExecutionAbortedError extends DepinError {
  constructor (message = 'the job was aborted', options?: ErrorOptions) {
    super(message, 'ERR_EXECUTION_ABORTED', options)
  }
}

/** A worker thread could not be started (`start()` rejects with it). */
export class WorkerStartError extends DepinError {
  constructor (message: string, options?: ErrorOptions) {
    super(message, 'ERR_WORKER_START', options)
  }
}

/**
 * The module uses an instruction the fuel instrumentation does not know (outside the proposals
 * listed in metering/opcodes.ts), one it refuses because replicas could not agree on its result
 * (relaxed SIMD), or a 64-bit table, so its work cannot be counted. Nothing ran.
 */
export class UnmeterableModuleError extends InvalidModuleError {
  constructor (message: string) {
    super(message, { code: 'ERR_UNMETERABLE_MODULE' })
  }
}

/**
 * The module exports a name the executor reserves (`depin:` prefix, e.g. `depin:fuel`): it was
 * already instrumented, or it tries to pass off a counter of its own. Refused, never
 * re-instrumented: submit the original module.
 */
export class ReservedExportError extends InvalidModuleError {
  readonly exportName: string

  constructor (exportName: string) {
    super(`module exports ${JSON.stringify(exportName)}, a name reserved for the executor's fuel metering (already instrumented? submit the original module)`, { code: 'ERR_RESERVED_EXPORT' })
    this.exportName = exportName
  }
}
