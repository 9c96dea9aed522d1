/**
 * A large upload streams through the daemon in 64 KiB socket reads, each a new buffer that is
 * garbage once written to disk. V8 collects such buffers only when their total has grown by
 * 64 MiB since the last collection, so a 256 MiB upload would lift the daemon's memory by that
 * much for nothing. A minor (young generation) collection frees them in about a millisecond;
 * the upload reader asks for one every YOUNG_GC_EVERY_BYTES.
 *
 * V8 offers this only as `gc()` behind `--expose-gc`; the flag is set for the moment it takes to
 * fetch the function from a fresh context, then cleared again. Where that fails, nothing happens
 * (memory is then bounded by V8's own 64 MiB rule).
 */
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

/** Bytes of upload between two minor collections. */
export const YOUNG_GC_EVERY_BYTES = 16 * 1024 * 1024

type GcFunction = (options?: { type?: 'minor' | 'major', execution?: 'sync' | 'async' }) => void

let gc: GcFunction | null | undefined

function gcFunction (): GcFunction | null {
  if (gc !== undefined) return gc
  const existing = (globalThis as { gc?: GcFunction }).gc
  if (typeof existing === 'function') {
    gc = existing
    return gc
  }
  try {
    setFlagsFromString('--expose-gc')
    gc = runInNewContext('gc') as GcFunction
  } catch {
    gc = null
  } finally {
    setFlagsFromString('--no-expose-gc')
  }
  return gc
}

/** Frees dead young buffers now (a minor collection, about 1 ms). */
export function collectYoungGarbage (): void {
  gcFunction()?.({ type: 'minor' })
}
