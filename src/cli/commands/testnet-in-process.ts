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
import { createOperatorLog } from '../../node/operator-log.ts'
import { pickBootstrap } from '../../node/testnet-dir.ts'
import { printJson, printTable } from '../output.ts'
import type { TestnetSignals } from '../interrupt.ts'
import type { TestnetOptions } from '../program.ts'
import { TestnetStartError, type TestnetNodeInfo } from './testnet.ts'

export interface InProcessTestnet {
  daemons: Daemon[]
  nodes: TestnetNodeInfo[]
  /** Stops every node (each once, whatever stopped it before). */
  stop: () => Promise<void>
}

export interface StartInProcessInit {
  /** Node 0 mines. */
  mine: boolean
  /** Aborted: no further node starts, those started are stopped, and the start rejects with its reason. */
  signal?: AbortSignal
  /** The nodes' operator log on stderr instead of stdout (`--json`: stdout is the JSON alone). */
  logToStderr?: boolean
}

/**
 * Starts the prepared data dirs as daemons in this process; stops those started if one fails or
 * `signal` aborts. The nodes share one operator log, each line carrying its node's index
 * (`"node":3`): 200 nodes' lines on one stdout would otherwise not say whose they are.
 */
export async function startInProcess (prepared: Array<{ dataDir: string }>, init: StartInProcessInit): Promise<InProcessTestnet> {
  const daemons: Daemon[] = []
  const stop = async (): Promise<void> => { await Promise.all(daemons.map(async (d) => { await d.stop().catch(() => {}) })) }
  const { log } = createOperatorLog(init.logToStderr === true ? { destination: process.stderr } : {})
  try {
    for (const [i, { dataDir }] of prepared.entries()) {
      init.signal?.throwIfAborted()
      const bootstrap = pickBootstrap(daemons).map((d) => d.node.multiaddrs[0])
      // Many nodes share this process: leave V8's heap sizing as it is.
      daemons.push(await startDaemon({ dataDir, transport: 'memory', bootstrap, mine: false, optimizeForSize: false, log: log.child({ node: i }) }).catch((err: Error) => {
        // Which node: in one process, an error (a port in use, a damaged database) names none.
        throw new TestnetStartError(`node in ${dataDir} did not start: ${err.message}`, { cause: err })
      }))
    }
    init.signal?.throwIfAborted()
    // Node 0 mines once every node is up: a chain growing during the start made each later node
    // sync it and every started node apply each block (100 nodes: about 13 minutes against 3).
    if (init.mine) daemons[0]?.node.ledger.startMining()
  } catch (err) {
    await stop()
    throw err
  }
  const nodes = daemons.map((d, i) => ({ peerId: d.node.peerId, api: d.api, multiaddrs: d.node.multiaddrs, dataDir: prepared[i].dataDir }))
  return { daemons, nodes, stop }
}

/**
 * Prints what runs and waits for SIGINT/SIGTERM/SIGHUP, then stops every node. A node asked to stop on
 * its own (`depin stop --data-dir D/node-i`, POST /v1/node/stop) is stopped at once and the
 * others keep running; when every node has been stopped so, the testnet ends.
 */
export async function runUntilSignal (dir: string, run: InProcessTestnet, opts: TestnetOptions, signals: TestnetSignals, say: (text: string) => void): Promise<void> {
  const { nodes } = run
  let running = run.daemons.length
  const allStopped = Promise.all(run.daemons.map(async (daemon, i) => {
    const reason = await daemon.stopRequested
    daemon.log.info({ reason: `stop requested through the API (${reason})` }, 'stopping')
    await daemon.stop()
    daemon.log.info('stopped')
    running--
    process.stderr.write(`depin: testnet node ${i} stopped (${reason})${running > 0 ? `; the other ${running} keep running` : ''}\n`)
  }))
  if (opts.json === true) {
    printJson({ nodes })
  } else {
    printTable(['NODE', 'PEER ID', 'API', 'DATA DIR'], nodes.map((n, i) => [i, n.peerId, n.api, n.dataDir]))
    say('')
    say(`testnet of ${nodes.length} node(s) running in this process on libp2p's memory transport; wrote ${join(dir, 'testnet.json')}`)
    say(`talk to node 0 with: npx depin status --data-dir ${nodes[0].dataDir}`)
    say('press Ctrl-C to stop all nodes')
  }
  await Promise.race([signals.signalled, allStopped])
  await run.stop()
  say('all nodes stopped')
}
