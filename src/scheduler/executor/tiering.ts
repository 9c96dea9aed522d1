/**
 * Making CPU-bound jobs run on V8's optimizing wasm compiler (TurboFan) from their first instruction.
 *
 * V8 compiles wasm functions lazily with its baseline compiler Liftoff and tiers hot functions up
 * to TurboFan later. A job's `_start` → `main` is ONE call that runs for its whole life, and wasm
 * has no on-stack replacement: the running activation stays in Liftoff code even after TurboFan
 * code exists, so a CPU-bound job whose hot loop is in main (or inlined into it) runs its whole
 * first run on baseline code. Measured here (Node 24.21 / V8 13.6, 2 cores, first run of a freshly
 * compiled module, main thread; bench/cpu.ts prints the same table):
 *
 *   job                           gcc -O2   default flags   --liftoff-only   --no-liftoff
 *   primes 4000000 (i32 div)      1.12 s    2.00 s          1.36 s           1.16 s
 *   mandelbrot 1000x1000x2000     1.20 s    2.29 s          2.02 s           1.29 s
 *
 * (Default flags are slower than Liftoff alone: the tier-up check in the loop keeps firing for an
 * activation that can never switch.) Later runs of the same module are fast with default flags
 * too (1.13 s / 1.17 s) because by then the function has TurboFan code, but every new module's
 * first run would pay ~1.8x.
 *
 * What works: `v8.setFlagsFromString('--no-liftoff')` in the main thread before the first compile.
 * Compilation stays lazy (a function is compiled when first called, by TurboFan, in whichever
 * thread calls it, and the code is shared through the module with every worker). What does not:
 * V8 flags in worker `execArgv` (Node refuses them: ERR_WORKER_INVALID_EXEC_ARGV);
 * `--no-wasm-lazy-compilation` (WebAssembly.compile never settled under it here);
 * `--no-wasm-dynamic-tiering` (first run 1.98 s).
 *
 * The flag is process-wide: it applies to all WebAssembly the process compiles afterwards. Nothing
 * else in depin compiles wasm; an embedder that does gets TurboFan-only compilation too (slower
 * compiles, faster code), which is why it is set when an executor starts, not at import time.
 */
import { readdirSync, readFileSync } from 'node:fs'
import nodeModule from 'node:module'
import v8 from 'node:v8'

let applied = false

/**
 * Sets `--no-liftoff` once per process, first warming Node's TypeScript stripper when the worker
 * script is TypeScript.
 *
 * Why the warm-up: Node strips types with amaro, which is itself WebAssembly, and every worker
 * thread loading worker.ts needs it. V8 shares compiled wasm between isolates through a
 * process-wide cache, so if amaro was compiled (with Liftoff) in this thread before the flag flips,
 * workers reuse that code. Otherwise each worker compiles amaro again, with TurboFan: measured under
 * vitest (whose main thread never loads amaro), a worker took 680 ms to start instead of 110 ms;
 * with this warm-up, 190 ms for the first and 90-120 ms after.
 */
export function preferOptimizingCompiler (workerUrl: URL): void {
  if (applied) return
  applied = true
  if (workerUrl.pathname.endsWith('.ts')) warmTypeStripper(new URL('.', workerUrl))
  v8.setFlagsFromString('--no-liftoff')
}

function warmTypeStripper (dir: URL): void {
  const strip = (nodeModule as { stripTypeScriptTypes?: (code: string) => string }).stripTypeScriptTypes
  if (strip === undefined) return
  // stripTypeScriptTypes announces itself with an ExperimentalWarning; this use is internal
  const emitWarning = process.emitWarning
  process.emitWarning = (() => {}) as typeof process.emitWarning
  try {
    for (const file of readdirSync(dir)) {
      if (file.endsWith('.ts') && !file.endsWith('.d.ts')) strip(readFileSync(new URL(file, dir), 'utf8'))
    }
  } catch {
    // only a warm-up: workers start anyway, just slower
  } finally {
    process.emitWarning = emitWarning
  }
}
