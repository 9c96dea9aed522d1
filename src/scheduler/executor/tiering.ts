/**
 * Making CPU-bound jobs run on V8's optimizing wasm compiler (TurboFan) from their first instruction.
 *
 * V8 compiles wasm functions lazily with its baseline compiler Liftoff and tiers hot functions up
 * to TurboFan later. A job's `_start` → `main` is ONE call that runs for its whole life, and wasm
 * has no on-stack replacement: the running activation stays in Liftoff code even after TurboFan
 * code exists, so a CPU-bound job whose hot loop is in main (or inlined into it) runs its whole
 * first run on baseline code. Measured here (Node 24.21 / V8 13.6, 2 shared cores; CPU time of the
 * first run of a freshly compiled module in a child process's main thread; `node bench/cpu.ts`
 * prints this table; ranges over two runs of the bench on a machine busy with other work):
 *
 *   job                          gcc -O2       default flags   --liftoff-only   --no-liftoff
 *   primes 4000000 (i32 div)     1.05-1.08 s   1.19-1.78 s     1.17-1.66 s      1.10-1.13 s
 *   mandelbrot 1000 1000 2000    1.25 s        2.03-2.29 s     2.03-2.12 s      1.19-1.31 s
 *
 * Second runs of the same module under default flags are fast (1.01-1.10 s, 1.23-1.31 s) because
 * by then the function has TurboFan code, but every new module's first run pays up to ~1.8x. (The
 * division-bound primes loop suffers least: integer division costs the same in either tier.)
 * Through the executor with `--no-liftoff`, primes runs at 1.00-1.05x the gcc binary's time.
 *
 * What works: `v8.setFlagsFromString('--no-liftoff')` in the main thread before the first compile.
 * Compilation stays lazy (a function is compiled when first called, by TurboFan, in whichever
 * thread calls it, and the code is shared through the module with every worker). What does not:
 * V8 flags in worker `execArgv` (Node refuses them: ERR_WORKER_INVALID_EXEC_ARGV);
 * `--no-wasm-lazy-compilation` (WebAssembly.compile never settled under it here);
 * `--no-wasm-dynamic-tiering` (mandelbrot's first run still 1.98 s).
 *
 * The cost: the first run of each module compiles the functions it calls with TurboFan, 20-45 ms
 * for the clang + wasi-libc modules here (a second run of `primes 100` takes under 1 ms); the
 * compiled module is cached by CID, so that is paid once per module per process.
 *
 * The flag is process-wide: it applies to all WebAssembly the process runs afterwards. depin has
 * no other wasm; Node itself has some (its TypeScript stripper, warmed below; undici's HTTP parser
 * behind fetch), whose functions then compile with TurboFan on first use: slower first calls,
 * nothing breaks. That is why it is set when an executor starts, not at import time.
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
