/**
 * An N-node network in this process, on loopback, for test suites and embedders: each node
 * bootstraps to the ones started before it, and the call returns once every node has a peer.
 */
import { join } from 'node:path'
import { mkdir } from 'node:fs/promises'
import { createComputeNode, type ComputeNode, type ComputeNodeInit } from './compute-node.ts'
import { DeadlineExceededError } from '../errors.ts'

export interface TestnetInit {
  /** How many nodes. @default 4 */
  nodes?: number
  /** Base directory; node i keeps its data in `<dir>/node-<i>`. Without it, nodes are in memory. */
  dir?: string
  /** Extra options for node i (merged over the testnet's own). */
  nodeInit?: (index: number) => Partial<ComputeNodeInit>
  /** How long to wait for every node to have a peer. @default 20 s */
  readyTimeoutMs?: number
}

export interface Testnet {
  nodes: ComputeNode[]
  /** Stops every node (in parallel); safe to call twice. */
  stop(): Promise<void>
}

/** How many earlier nodes each new node bootstraps to. */
const BOOTSTRAP_FANOUT = 3

export async function createTestnet (init: TestnetInit = {}): Promise<Testnet> {
  const count = init.nodes ?? 4
  const nodes: ComputeNode[] = []
  const stop = async (): Promise<void> => { await Promise.all(nodes.map(async (n) => { await n.stop() })) }
  try {
    for (let i = 0; i < count; i++) {
      const bootstrap = nodes.slice(Math.max(0, i - BOOTSTRAP_FANOUT)).map((n) => n.multiaddrs[0])
      const dataDir = init.dir != null ? join(init.dir, `node-${i}`) : undefined
      if (dataDir != null) await mkdir(dataDir, { recursive: true })
      const node = createComputeNode({
        listen: ['/ip4/127.0.0.1/tcp/0'],
        mdns: false,
        testnet: true,
        bootstrap,
        dataDir,
        ...init.nodeInit?.(i)
      })
      await node.start()
      nodes.push(node)
    }
    await waitForPeers(nodes, init.readyTimeoutMs ?? 20_000)
  } catch (err) {
    await stop()
    throw err
  }
  return { nodes, stop }
}

async function waitForPeers (nodes: ComputeNode[], timeoutMs: number): Promise<void> {
  if (nodes.length < 2) return
  const deadline = Date.now() + timeoutMs
  for (const node of nodes) {
    while (node.host.getConnections().length === 0) {
      if (Date.now() > deadline) throw new DeadlineExceededError(`testnet node ${node.peerId} found no peer within ${timeoutMs} ms`)
      await new Promise<void>((resolve) => {
        const done = (): void => { clearTimeout(timer); node.removeEventListener('peer:connect', done); resolve() }
        const timer = setTimeout(done, 200)
        node.addEventListener('peer:connect', done)
      })
    }
  }
}
