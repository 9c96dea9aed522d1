/**
 * How a module becomes what the pool caches and posts to its workers: inspected (imports,
 * memory, limits), prepared (its memory made importable), instrumented for fuel when metering,
 * and compiled once on the main thread (the compiled code is shared with every worker).
 */
import { InvalidModuleError } from './errors.ts'
import { instrumentModuleAsync } from './metering/instrument.ts'
import type { CompiledModule } from './module-cache.ts'
import { wasm } from './wasm-api.ts'
import type { WasmModule } from './wasm-api.ts'
import { inspectModule, prepareModule } from './wasm-module.ts'

/** Throws InvalidModuleError (or the inspection's own errors) for a module the pool will not run. */
export async function compileModule (bytes: Uint8Array, maxMemoryMiB: number, metering: boolean): Promise<CompiledModule> {
  const info = inspectModule(bytes, { maxMemoryMiB })
  const prepared = prepareModule(bytes, info)
  // instrumented after validation (inspectModule) and only then compiled: the engine validates the result again
  const code = metering ? (await instrumentModuleAsync(prepared.bytes)).bytes : prepared.bytes
  let module: WasmModule
  try {
    module = await wasm.compile(code)
  } catch (err) {
    throw new InvalidModuleError(`module does not compile: ${(err as Error).message}`, { cause: err })
  }
  return {
    module,
    info,
    memoryImport: prepared.memoryImport,
    initialPages: prepared.initialPages,
    maximumPages: prepared.maximumPages,
    metered: metering
  }
}
