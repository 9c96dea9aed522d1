/**
 * Question: how long does `findCapacity` take to return every peer of a network, and how does
 * that compare with one libp2p ping round trip on the same network?
 *
 * Runs in-process testnets of 10 and 20 nodes on loopback (one process, 2 cores: every node
 * shares the CPU, so this is a pessimistic figure for a real network of separate machines).
 *
 *   node bench/discovery.ts [runs]
 *
 * Latest results (2 cores shared with other work, Node 24.21, TCP, 2026-11-27):
 *   10 nodes (converged 1.6 s after start-up)
 *     findCapacity, all 9 peers:  p50 59.93 ms  p99 154.06 ms  (n=30)  [1 run(s) returned fewer]
 *     libp2p ping round trip (baseline): p50 0.55 ms  p99 7.44 ms  (n=100)
 *   20 nodes (converged 4.4 s after start-up)
 *     findCapacity, all 19 peers:  p50 173.38 ms  p99 424.41 ms  (n=30)  [2 run(s) returned fewer]
 *     libp2p ping round trip (baseline): p50 0.50 ms  p99 6.69 ms  (n=100)
 *   Every peer of the network is a bounded round (direct queries, samples, two shards of the
 *   runtime key; see docs/protocol.md, "Finding capacity"): a node that has not met a peer yet
 *   finds it in a later call ("returned fewer"). Before (2026-11-21): p50 274 ms / p99 853 ms at
 *   10 nodes, 1.07 s / 6.78 s at 20. Finding a few peers (limit 3) is bench/scale.ts.
 */
import { createTestnet } from '../src/node/testnet.ts'

const RUNS = Number(process.argv[2] ?? 30)

function percentile (sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)
  return sorted[Math.max(0, index)]
}

function summary (samples: number[]): string {
  const sorted = [...samples].sort((a, b) => a - b)
  return `p50 ${percentile(sorted, 50).toFixed(2)} ms  p99 ${percentile(sorted, 99).toFixed(2)} ms  (n=${samples.length})`
}

async function measure (size: number): Promise<void> {
  const net = await createTestnet({ nodes: size, readyTimeoutMs: 60_000 })
  try {
    // Ready: every node's record is findable from node 0.
    const readyStart = performance.now()
    while ((await net.nodes[0].findCapacity({ timeoutMs: 10_000 })).length < size - 1) {
      if (performance.now() - readyStart > 120_000) throw new Error('network did not converge')
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
    const converged = performance.now() - readyStart

    const finds: number[] = []
    let incomplete = 0
    for (let i = 0; i < RUNS; i++) {
      const node = net.nodes[i % size]
      const start = performance.now()
      const found = await node.findCapacity({ timeoutMs: 15_000 })
      finds.push(performance.now() - start)
      if (found.length < size - 1) incomplete++
    }

    const pings: number[] = []
    const [a, b] = net.nodes
    await a.ping(b.peerId)
    for (let i = 0; i < Math.max(100, RUNS); i++) {
      const start = performance.now()
      await a.ping(b.peerId)
      pings.push(performance.now() - start)
    }
    console.log(`${size} nodes (converged ${(converged / 1000).toFixed(1)} s after start-up)`)
    console.log(`  findCapacity, all ${size - 1} peers:  ${summary(finds)}${incomplete > 0 ? `  [${incomplete} run(s) returned fewer]` : ''}`)
    console.log(`  libp2p ping round trip (baseline): ${summary(pings)}`)
  } finally {
    await net.stop()
  }
}

for (const size of [10, 20]) await measure(size)
