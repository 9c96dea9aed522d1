/**
 * Measurement helpers shared by the benchmarks: timing, percentiles, summaries, tables, and the
 * churn step of the in-process testnet benchmarks. Benchmarks are standalone scripts
 * (`node bench/<name>.ts`); keep this file dependency-free (the churn step loads the node when it
 * is called, so the micro-benchmarks that import this file do not load libp2p).
 */
import type { ComputeNode } from '../src/node/compute-node.ts'

/** Milliseconds since an arbitrary origin, sub-millisecond resolution. */
export const now = (): number => performance.now()

/** Runs `fn` once and returns how long it took, ms. */
export async function time (fn: () => unknown): Promise<number> {
  const start = now()
  await fn()
  return now() - start
}

/** Runs `fn` `runs` times in sequence and returns each duration, ms. */
export async function sample (runs: number, fn: (i: number) => unknown): Promise<number[]> {
  const samples: number[] = []
  for (let i = 0; i < runs; i++) {
    const start = now()
    await fn(i)
    samples.push(now() - start)
  }
  return samples
}

/** Nearest-rank percentile of an ascending array (p in 0..100). */
export function percentile (sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN
  const rank = Math.ceil((p / 100) * sorted.length)
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]
}

export interface Summary {
  n: number
  min: number
  mean: number
  p50: number
  p90: number
  p99: number
  max: number
}

export function summarize (samples: number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b)
  const mean = sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length)
  return {
    n: sorted.length,
    min: sorted[0] ?? NaN,
    mean,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1] ?? NaN
  }
}

/** The median of a few samples. */
export function median (samples: number[]): number {
  return percentile([...samples].sort((a, b) => a - b), 50)
}

/** `1.234 ms`, `12.3 ms`, `1.23 s`. */
export function formatMs (ms: number): string {
  if (!Number.isFinite(ms)) return '-'
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`
  if (ms >= 10) return `${ms.toFixed(1)} ms`
  return `${ms.toFixed(3)} ms`
}

/** `12,345/s` */
export function formatRate (perSecond: number): string {
  if (!Number.isFinite(perSecond)) return '-'
  return `${Math.round(perSecond).toLocaleString('en-US')}/s`
}

/** `1.07x` */
export function formatRatio (ratio: number): string {
  return Number.isFinite(ratio) ? `${ratio.toFixed(2)}x` : '-'
}

/** Prints an aligned text table (first column left-aligned, the others right-aligned). */
export function printTable (headers: string[], rows: Array<Array<string | number>>): void {
  const cells = [headers, ...rows.map(r => r.map(String))]
  const widths = headers.map((_, c) => Math.max(...cells.map(r => (r[c] ?? '').length)))
  const line = (r: string[]): string => r.map((cell, c) => c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c])).join('  ')
  console.log(line(headers))
  console.log(widths.map(w => '-'.repeat(w)).join('  '))
  for (const r of cells.slice(1)) console.log(line(r))
}

/** A one-line description of the machine, for the results comment. */
export async function machine (): Promise<string> {
  const os = await import('node:os')
  const cpu = os.cpus()[0]?.model.trim() ?? 'unknown CPU'
  return `${os.availableParallelism()} cores (${cpu}), Node ${process.versions.node}, V8 ${process.versions.v8}`
}

/**
 * The churn step of bench/churn.ts and bench/redial.ts: every third node of an in-process testnet
 * (1, 4, 7, …, not the last two, which submit the work) stops; `downMs` later they all start
 * again at once, on their data dirs and listen addresses and not mining, each new node replacing
 * the stopped one in `nodes`. `onStopped` is called once they have stopped (with how many),
 * `onStarted` with each new node once it started. Returns the indices of the nodes restarted.
 */
export async function restartEveryThird (nodes: ComputeNode[], options: { downMs?: number, onStopped?: (count: number) => void, onStarted?: (node: ComputeNode) => void } = {}): Promise<number[]> {
  const { createComputeNode } = await import('../src/node/compute-node.ts')
  const churned = Array.from({ length: Math.floor(nodes.length / 3) }, (_, i) => 1 + i * 3).filter((i) => i < nodes.length - 2)
  const restarts = churned.map((i) => ({ i, init: nodes[i].init, listen: nodes[i].multiaddrs[0].replace(/\/p2p\/.*/, '') }))
  await Promise.all(churned.map(async (i) => { await nodes[i].stop() }))
  options.onStopped?.(churned.length)
  await new Promise((resolve) => setTimeout(resolve, options.downMs ?? 5000))
  await Promise.all(restarts.map(async ({ i, init, listen }) => {
    const node = createComputeNode({ ...init, listen: [listen], mine: false })
    await node.start()
    options.onStarted?.(node)
    nodes[i] = node
  }))
  return churned
}
