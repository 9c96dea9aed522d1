/**
 * Executor worker thread: runs one job at a time, each on a fresh WASI instance and a memory as
 * new (a small one is reused zero-filled, see memory-pool.ts), with the module the main thread
 * compiled (received as a `WebAssembly.Module`).
 * A trap ends the run, not the worker. The main thread terminates the worker on timeout or
 * abort and starts another.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { WASI_MODULE } from './constants.ts'
import { OUT_OF_FUEL_TRAP, START_EXPORT } from './metering/constants.ts'
import { FuelExhausted, FuelMeter } from './metering/meter.ts'
import { OutputLimitExceeded } from './output-buffer.ts'
import { createWasiShim } from './wasi-shim.ts'
import type { WasiShim } from './wasi-shim.ts'
import { wasm } from './wasm-api.ts'
import type { WasmImports, WasmMemory } from './wasm-api.ts'
import type { ExecutorWorkerData, RunRequest, RunResponse, WireOutputs, WorkerMessage } from './protocol.ts'
import { collectOutputs, OutputManifestTooLarge } from './outputs.ts'
import { MemoryPool } from './memory-pool.ts'

if (parentPort === null) throw new Error('worker.ts runs as a worker thread of the executor')
const port = parentPort
const cpuAtRunStartUs = new Float64Array((workerData as ExecutorWorkerData).cpuAtRunStartUs)
// CPU time of this thread only (Node >= 23.9 / 22.19); the process-wide figure on older Nodes.
const threadCpuUsage = typeof process.threadCpuUsage === 'function'
  ? process.threadCpuUsage.bind(process)
  : process.cpuUsage.bind(process)

// node:wasi emits an ExperimentalWarning when it is first loaded, once in every worker thread.
// The executor uses it on purpose; keep that one line out of the operator's stderr.
const emitWarning = process.emitWarning
process.emitWarning = function (warning: string | Error, ...rest: any[]) {
  const text = typeof warning === 'string' ? warning : warning.message
  if (text.includes('WASI')) return
  return (emitWarning as (...a: any[]) => void).call(process, warning, ...rest)
} as typeof process.emitWarning
const { WASI } = await import('node:wasi')
process.emitWarning = emitWarning

/** Modules this worker was sent, by CID; the main thread tracks the same list (WORKER_MODULES). */
const modules = new Map<string, RunRequest['module']>()
const WORKER_MODULES = 16
const memories = new MemoryPool()

port.on('message', (request: RunRequest) => {
  if (request.module != null) {
    modules.set(request.moduleKey, request.module)
    if (modules.size > WORKER_MODULES) modules.delete(modules.keys().next().value as string)
  }
  const { response, transfer } = run(request)
  port.postMessage(response, [response.stdout.buffer as ArrayBuffer, response.stderr.buffer as ArrayBuffer, ...transfer])
})
port.postMessage({ type: 'ready' } satisfies WorkerMessage)

function run (request: RunRequest): { response: RunResponse, transfer: ArrayBuffer[] } {
  const startedAt = performance.now()
  const cpuStart = threadCpuUsage()
  cpuAtRunStartUs[0] = cpuStart.user + cpuStart.system

  let shim: WasiShim | undefined
  let exitCode = -1
  let trap: string | undefined
  const meter = request.metered ? new FuelMeter(request.fuelLimit) : undefined
  let memory: WasmMemory | undefined
  try {
    memory = memories.take(request.initialPages, request.maximumPages)
    const wasi = new WASI({ version: 'preview1', args: request.args, env: request.env, returnOnExit: true })
    shim = createWasiShim({
      memory,
      stdin: request.stdin,
      seed: request.seed,
      maxStdoutBytes: request.maxStdoutBytes,
      maxStderrBytes: request.maxStderrBytes,
      nodeWasi: (wasi.getImportObject() as WasmImports)[WASI_MODULE],
      files: request.files,
      limits: request.fsLimits,
      ...(meter === undefined ? {} : { charge: (units: number) => { meter.charge(units) }, onExit: () => { meter.stop() } })
    })
    const imports: WasmImports = { [WASI_MODULE]: shim.imports }
    const { module: memoryModule, name: memoryName } = request.memoryImport
    imports[memoryModule] = { ...imports[memoryModule], [memoryName]: memory }
    const module = request.module ?? modules.get(request.moduleKey)
    if (module == null) throw new Error(`module ${request.moduleKey} was never sent to this worker`)
    const instance = new wasm.Instance(module, imports)
    if (meter !== undefined) {
      // the limit is set before any of the module's code runs; then its start function, if any
      meter.attach(instance.exports)
      const start = instance.exports[START_EXPORT]
      if (typeof start === 'function') start()
    }
    // node:wasi needs `memory` among the exports; a rewritten module imports it instead
    exitCode = wasi.start({ exports: { _start: instance.exports._start, memory } })
  } catch (err) {
    exitCode = -1
    trap = describeTrap(err)
  }
  // an exit is the result however the stack unwound after it: the ProcExit itself, a later host
  // call throwing it again, the meter's trap at its next check, or a return (caught and ignored)
  const exited = shim?.exitCode()
  if (exited !== undefined) {
    exitCode = exited
    trap = undefined
  } else if (shim?.outputLimitHit() === true) {
    // likewise stdout's cap, even if the module caught the exception and returned
    exitCode = -1
    trap = 'output limit exceeded'
  }
  const fuel = meter?.outcome()
  if (fuel?.exhausted === true) {
    // past the limit, however the run ended: see FuelMeter.outcome
    exitCode = -1
    trap = OUT_OF_FUEL_TRAP
  }

  // /out as the job left it, also after a trap or running out of fuel (like stdout: every change
  // to /out is a host call, made only within the limit, so this is the same everywhere); hashed
  // here, off the main thread
  let outputs: WireOutputs | undefined
  let transfer: ArrayBuffer[] = []
  if (shim !== undefined) {
    try {
      ({ outputs, transfer } = collectOutputs(shim.fs))
    } catch (err) {
      exitCode = -1
      trap ??= err instanceof OutputManifestTooLarge ? err.message : `output files: ${describeTrap(err)}`
    }
  }

  const cpu = threadCpuUsage(cpuStart)
  const response: RunResponse = {
    type: 'result',
    id: request.id,
    exitCode,
    trap,
    stdoutTruncated: shim?.stdout.truncated ?? false,
    stderrTruncated: shim?.stderr.truncated ?? false,
    stdout: shim?.stdout.take() ?? new Uint8Array(0),
    stderr: shim?.stderr.take() ?? new Uint8Array(0),
    wallMs: performance.now() - startedAt,
    cpuMs: (cpu.user + cpu.system) / 1000,
    ...(outputs === undefined ? {} : { outputs }),
    ...(fuel === undefined ? {} : { fuel: fuel.fuel })
  }
  // Nothing of the run points into its memory any more (stdout, stderr and /out are copies).
  if (memory !== undefined) memories.give(memory, request.initialPages, request.maximumPages)
  return { response, transfer }
}

/** 'unreachable', 'memory access out of bounds', 'Maximum call stack size exceeded', ... */
function describeTrap (err: unknown): string {
  if (err instanceof OutputLimitExceeded) return 'output limit exceeded'
  if (err instanceof FuelExhausted) return OUT_OF_FUEL_TRAP
  if (err instanceof wasm.RuntimeError || err instanceof RangeError) return err.message
  if (err instanceof Error) return `${err.name}: ${err.message}`
  return String(err)
}
