/**
 * `depin testnet --transport memory` (the default above `TESTNET_PROCESS_NODES_MAX` nodes): every
 * node is a daemon (compute node, data dir, local API) inside this one process, connected over
 * libp2p's memory transport. Each new node bootstraps to a few random earlier ones. Client
 * commands reach each node's API as usual; the nodes' multiaddrs (`/memory/…`) are only
 * dialable from inside this process.
 *
 * Why not processes: every daemon process carries its own copy of Node, the libp2p stack and
 * the TypeScript sources (about 80 MB and a second or more of start-up CPU each), so 100 of them
 * need some 8 GB and minutes of both cores just to start; in one process the code is shared and
 * a node costs its own state only.
 */
import { join } from 'node:path'
import { startDaemon, type Daemon } from '../../node/daemon.ts'
import { line, printJson, printTable } from '../output.ts'
import { stopTestnetOnSignal } from '../interrupt.ts'
import type { TestnetOptions } from '../program.ts'
import type { TestnetNodeInfo } from './testnet.ts'

/** How many earlier nodes each new node dials. */
const BOOTSTRAP_FANOUT = 3

function pick<T> (items: T[], count: number): T[] {
  const pool = [...items]
  for (let i = 0; i < Math.min(count, pool.length); i++) {
    const j = i + Math.floor(Math.random() * (pool.length - i));
    [pool[i], pool[j]] = [pool[j], pool[i]]
  }
  return pool.slice(0, count)
}

/** Starts the prepared data dirs as daemons in this process; stops those started if one fails. */
export async function startInProcess (prepared: Array<{ dataDir: string }>, mine: boolean): Promise<{ daemons: Daemon[], nodes: TestnetNodeInfo[], stop: () => Promise<void> }> {
  const daemons: Daemon[] = []
  const stop = async (): Promise<void> => { await Promise.all(daemons.map(async (d) => { await d.stop().catch(() => {}) })) }
  try {
    for (const [i, { dataDir }] of prepared.entries()) {
      const bootstrap = pick(daemons, BOOTSTRAP_FANOUT).map((d) => d.node.multiaddrs[0])
      // Many nodes share this process: leave V8's heap sizing as it is.
      daemons.push(await startDaemon({ dataDir, transport: 'memory', bootstrap, mine: mine && i === 0, optimizeForSize: false }))
    }
  } catch (err) {
    await stop()
    throw err
  }
  const nodes = daemons.map((d, i) => ({ peerId: d.node.peerId, api: d.api, multiaddrs: d.node.multiaddrs, dataDir: prepared[i].dataDir }))
  return { daemons, nodes, stop }
}

/** Prints what runs and waits for SIGINT/SIGTERM, then stops every node. */
export async function runUntilSignal (dir: string, nodes: TestnetNodeInfo[], stop: () => Promise<void>, opts: TestnetOptions): Promise<void> {
  if (opts.json === true) {
    printJson({ nodes })
  } else {
    printTable(['NODE', 'PEER ID', 'API', 'DATA DIR'], nodes.map((n, i) => [i, n.peerId, n.api, n.dataDir]))
    line('')
    line(`testnet of ${nodes.length} node(s) running in this process on libp2p's memory transport; wrote ${join(dir, 'testnet.json')}`)
    line(`talk to node 0 with: npx depin status --data-dir ${nodes[0].dataDir}`)
    line('press Ctrl-C to stop all nodes')
  }
  await stopTestnetOnSignal(stop)
}
