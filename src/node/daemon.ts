/**
 * The daemon: a compute node plus its local API, configured from the data dir's config file with
 * overrides from the command line. `depin start` runs one in the foreground.
 */
import { setFlagsFromString } from 'node:v8'
import { logger } from '@libp2p/logger'
import { createComputeNode, type ComputeNode, type ComputeNodeInit } from './compute-node.ts'
import type { TransportName } from './libp2p.ts'
import { parseApiAddress, readConfigFile, type CapacityOverrides, type ConfigFile } from './config.ts'
import { assertInitialised, loadOrCreateApiToken, removeApiInfo, writeApiInfo } from './data-dir.ts'
import { ApiServer, type ApiRoutes } from './api/server.ts'
import { nodeRoutes } from './api/node-routes.ts'
import { jobsRoutes } from './api/jobs-routes.ts'
import { ledgerRoutes } from './api/ledger-routes.ts'

const log = logger('depin:daemon')

export interface DaemonOptions {
  dataDir: string
  listen?: string[]
  announce?: string[]
  bootstrap?: string[]
  api?: string
  capacity?: CapacityOverrides
  mdns?: boolean
  mine?: boolean
  spotCheckRate?: number
  /**
   * libp2p's in-process memory transport instead of TCP: for many daemons of one process (an
   * in-process `depin testnet`); the config's listen addresses are then ignored.
   */
  transport?: TransportName
  /**
   * Tell V8 to favour memory over speed in this process (`--optimize-for-size`): a smaller heap,
   * about 30 MB less RSS for an idle daemon, no measurable change in task speed (WebAssembly
   * is compiled the same way). It changes a process-wide setting, so embedders running other
   * work in the process may turn it off. @default true
   */
  optimizeForSize?: boolean
}

export interface Daemon {
  node: ComputeNode
  /** `HOST:PORT` of the local API. */
  api: string
  config: ConfigFile
  stop(): Promise<void>
}

export async function startDaemon (options: DaemonOptions): Promise<Daemon> {
  await assertInitialised(options.dataDir)
  if (options.optimizeForSize !== false) setFlagsFromString('--optimize-for-size')
  const config = await readConfigFile(options.dataDir)
  const apiAddress = parseApiAddress(options.api ?? config.api)
  const token = await loadOrCreateApiToken(options.dataDir)
  const merged: ConfigFile = {
    ...config,
    listen: options.listen != null && options.listen.length > 0 ? options.listen : config.listen,
    announce: options.announce != null && options.announce.length > 0 ? options.announce : config.announce,
    bootstrap: [...config.bootstrap, ...(options.bootstrap ?? [])],
    mdns: options.mdns ?? config.mdns,
    mine: options.mine ?? config.mine,
    spotCheckRate: options.spotCheckRate ?? config.spotCheckRate,
    capacity: { ...config.capacity, ...stripUndefined(options.capacity ?? {}) }
  }
  const memory = options.transport === 'memory'
  const init: ComputeNodeInit = {
    dataDir: options.dataDir,
    transport: options.transport,
    listen: memory ? undefined : merged.listen,
    announce: merged.announce,
    bootstrap: merged.bootstrap,
    mdns: merged.mdns,
    capacity: merged.capacity,
    testnet: merged.testnet,
    network: merged.network,
    mine: merged.mine,
    scheduler: { spotCheckRate: merged.spotCheckRate }
  }
  const node = createComputeNode(init)
  await node.start()
  const routes: ApiRoutes[] = [nodeRoutes(node), jobsRoutes(node), ledgerRoutes(node)]
  const server = new ApiServer({ host: apiAddress.host, port: apiAddress.port, token }, routes)
  try {
    await server.start()
  } catch (err) {
    await node.stop()
    throw err
  }
  const api = server.address as string
  await writeApiInfo(options.dataDir, { api, pid: process.pid, peerId: node.peerId, multiaddrs: node.multiaddrs })
  log('daemon %s: API on %s', node.peerId, api)
  let stopping: Promise<void> | undefined
  return {
    node,
    api,
    config: merged,
    stop: async () => {
      stopping ??= (async () => {
        await removeApiInfo(options.dataDir)
        await server.stop()
        await node.stop()
      })()
      await stopping
    }
  }
}

function stripUndefined<T extends object> (value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>
}
