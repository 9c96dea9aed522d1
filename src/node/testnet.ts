/**
 * An N-node network in this process, on loopback TCP (or libp2p's memory transport), for test
 * suites, benchmarks and embedders. Identities are made first so the ledger's genesis can give
 * every node credits; each node bootstraps to a few of the ones started before it, and the call
 * returns once every node has a peer.
 */
import { join } from 'node:path'
import { makeDir } from '../shared/make-dir.ts'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { createComputeNode, type ComputeNode, type ComputeNodeInit } from './compute-node.ts'
import type { TransportName } from './libp2p.ts'
import { loadOrCreateIdentity } from './data-dir.ts'
import type { CreateGenesisConfigInit, GenesisConfig } from '../ledger/index.ts'
import { DeadlineExceededError } from '../errors.ts'
import { validateTestnetInit } from './config.ts'
import { lockTestnetDir, pickBootstrap, testnetGenesis, testnetNetwork } from './testnet-dir.ts'

export { testnetGenesis } from './testnet-dir.ts'
export { TESTNET_ALLOCATION, TESTNET_BLOCK_INTERVAL_MS, TESTNET_HASHES_PER_BLOCK } from './constants.ts'

export interface TestnetInit {
  /** How many nodes: an integer from 1 to `TESTNET_LIBRARY_MAX_NODES` (1,000). @default 4 */
  nodes?: number
  /**
   * `'tcp'` on 127.0.0.1, or `'memory'`: libp2p's in-process transport, no sockets (cheapest for
   * large networks). @default 'tcp'
   */
  transport?: TransportName
  /**
   * Base directory; node i keeps its data (identity, database) in `<dir>/node-<i>`, and the
   * network's genesis is kept in `<dir>/genesis.json`, so a testnet created again on the same
   * directory (after `stop()`) resumes: the same identities, chain and balances. With another
   * node count or `genesis` it is a new network, and the chains in those data dirs are removed.
   * One testnet at a time per directory (`<dir>/testnet.lock`, removed by `stop()`): a second one
   * is refused with `TestnetInUseError`. Without `dir`, nodes are in memory.
   */
  dir?: string
  /**
   * The ledger network; default: a fresh one giving every node `TESTNET_ALLOCATION` credits
   * (kept in `<dir>/genesis.json` with `dir`). Not together with `genesis`.
   */
  network?: GenesisConfig
  /** Overrides for the default network (block interval, difficulty, reward, allocation). Not together with `network`. */
  genesis?: CreateGenesisConfigInit
  /** Indices of the nodes that mine, each from 0 to `nodes - 1`; they start mining once every node is up. @default none */
  miners?: number[]
  /** Extra options for node i (merged over the testnet's own). */
  nodeInit?: (index: number) => Partial<ComputeNodeInit>
  /** How long to wait for every node to have a peer. @default 20 s */
  readyTimeoutMs?: number
}

export interface Testnet {
  nodes: ComputeNode[]
  /** The ledger network every node shares. */
  network: GenesisConfig
  /** Stops every node (in parallel) and releases the directory's lock; safe to call twice. */
  stop(): Promise<void>
}

/**
 * Starts the testnet. Its options are checked before anything starts (`ConfigError`,
 * `ERR_CONFIG`, naming the option); a node that fails to start, or a network whose nodes do not
 * all find a peer within `readyTimeoutMs` (`DeadlineExceededError`), stops the nodes already
 * started before the call rejects.
 */
export async function createTestnet (init: TestnetInit = {}): Promise<Testnet> {
  validateTestnetInit(init)
  const count = init.nodes ?? 4
  const release = init.dir != null ? await lockDir(init.dir) : async () => {}
  const nodes: ComputeNode[] = []
  let stopping: Promise<void> | undefined
  const stop = async (): Promise<void> => {
    stopping ??= (async () => {
      try {
        await Promise.all(nodes.map(async (n) => { await n.stop() }))
      } finally {
        await release()
      }
    })()
    await stopping
  }
  try {
    const keys: PrivateKey[] = []
    const dataDirs: Array<string | undefined> = []
    for (let i = 0; i < count; i++) {
      const dataDir = init.dir != null ? join(init.dir, `node-${i}`) : undefined
      if (dataDir != null) await makeDir(dataDir)
      keys.push(dataDir != null ? (await loadOrCreateIdentity(dataDir)).privateKey : await generateKeyPair('Ed25519'))
      dataDirs.push(dataDir)
    }
    const peers = keys.map((k) => k.publicKey.toString())
    const network = init.network ?? (init.dir != null ? await testnetNetwork(init.dir, peers, init.genesis, { keepUnnamed: true }) : testnetGenesis(peers, init.genesis))
    for (let i = 0; i < count; i++) {
      const bootstrap = pickBootstrap(nodes).map((n) => n.multiaddrs[0])
      const node = createComputeNode({
        transport: init.transport ?? 'tcp',
        ...(init.transport === 'memory' ? {} : { listen: ['/ip4/127.0.0.1/tcp/0'] }),
        mdns: false,
        testnet: true,
        bootstrap,
        dataDir: dataDirs[i],
        // With a data dir the key file is the identity (so a restart keeps it); else pass the key.
        privateKey: dataDirs[i] == null ? keys[i] : undefined,
        network,
        // Miners start once every node is up (below): a chain growing during the start made each
        // later node sync it and every started node apply each block (60 nodes on data dirs:
        // 135 s to start with a miner, 40 nodes: 35 s against 17 s without).
        mine: false,
        ...init.nodeInit?.(i)
      })
      await node.start()
      nodes.push(node)
    }
    await waitForPeers(nodes, init.readyTimeoutMs ?? 20_000)
    for (const i of new Set(init.miners ?? [])) nodes[i].ledger.startMining()
    return { nodes, network, stop }
  } catch (err) {
    await stop()
    throw err
  }
}

async function lockDir (dir: string): Promise<() => Promise<void>> {
  await makeDir(dir)
  return await lockTestnetDir(dir)
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
