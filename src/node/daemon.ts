/**
 * The daemon: a compute node plus its local API (with the dashboard and /metrics), its operator
 * log and, when asked, a token-free metrics listener; configured from the data dir's config file
 * with overrides from the command line and the environment. `depin start` runs one in the
 * foreground.
 */
import { join } from 'node:path'
import { mkdir } from 'node:fs/promises'
import { logger } from '@libp2p/logger'
import { createComputeNode, type ComputeNode, type ComputeNodeInit } from './compute-node.ts'
import type { TransportName } from './libp2p.ts'
import { parseApiAddress, readConfigFile, type CapacityOverrides, type ConfigFile } from './config.ts'
import { assertInitialised, loadOrCreateApiToken, readLiveApiInfo, removeApiInfo, writeApiInfo } from './data-dir.ts'
import { DataDirInUseError } from './errors.ts'
import { ApiServer, type ApiRoutes } from './api/server.ts'
import { nodeRoutes } from './api/node-routes.ts'
import { jobsRoutes } from './api/jobs-routes.ts'
import { batchesRoutes } from './api/batches-routes.ts'
import { storageRoutes } from './api/storage-routes.ts'
import { ledgerRoutes } from './api/ledger-routes.ts'
import { eventsRoutes } from './api/events-routes.ts'
import { metricsRoutes } from './api/metrics-routes.ts'
import { dashboardRoutes } from './api/dashboard-routes.ts'
import { removeUploadLeftovers } from './api/upload-stream.ts'
import { createNodeMetrics, MetricsServer, type NodeMetrics } from './metrics/index.ts'
import { createOperatorLog, type LogFormat } from './operator-log.ts'
import type { LogLevel, OperatorLog } from '../shared/log.ts'
import { parseDuration } from '../shared/duration.ts'
import { V8ModeSwitch } from './v8-mode.ts'

const log = logger('depin:daemon')

/** The data dir's log file when stdout goes away, and `depin testnet`'s for its nodes' output. */
export const DAEMON_LOG_FILE = 'daemon.log'

/** How long a stop may take before the process gives up on a clean one. */
export const DAEMON_STOP_TIMEOUT_MS = 30_000

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
  /** `HOST:PORT` (loopback) of a token-free metrics listener. */
  metrics?: string
  logLevel?: LogLevel
  logFormat?: LogFormat
  logFile?: string
  /** Use this log instead of making one from logLevel/logFormat/logFile (tests, embedders). */
  log?: OperatorLog
  /**
   * libp2p's in-process memory transport instead of TCP: for many daemons of one process (an
   * in-process `depin testnet`); the config's listen addresses are then ignored.
   */
  transport?: TransportName
  /**
   * Tell V8 to favour memory over speed in this process while the node is idle
   * (`--optimize-for-size --no-turbofan --maglev-filter=depin-size-mode`), and speed while it
   * holds or serves leases or mines (size mode costs a worker ~60% more CPU per small task); and
   * to drop code that did not run since the last full GC, for the life of the process. About
   * 38 MiB less RSS for an idle daemon: see v8-mode.ts. These are process-wide settings, so embedders running other
   * work in the process may turn them off. @default true
   */
  optimizeForSize?: boolean
}

export interface Daemon {
  node: ComputeNode
  /** `HOST:PORT` of the local API. */
  api: string
  /** `HOST:PORT` of the token-free metrics listener, when on. */
  metricsAddress?: string
  metrics: NodeMetrics
  log: OperatorLog
  config: ConfigFile
  /** Resolves when something asked the daemon to stop (POST /v1/node/stop); not when it stopped. */
  stopRequested: Promise<string>
  stop(): Promise<void>
}

/**
 * What `start` runs with: each option given (a flag or its environment variable) replaces
 * config.json's value; lists (listen, announce, bootstrap) are replaced whole, not merged.
 */
export function startConfig (config: ConfigFile, options: Omit<DaemonOptions, 'dataDir'>): ConfigFile {
  const given = (list: string[] | undefined): list is string[] => list != null && list.length > 0
  return {
    ...config,
    listen: given(options.listen) ? options.listen : config.listen,
    announce: given(options.announce) ? options.announce : config.announce,
    bootstrap: given(options.bootstrap) ? options.bootstrap : config.bootstrap,
    mdns: options.mdns ?? config.mdns,
    mine: options.mine ?? config.mine,
    spotCheckRate: options.spotCheckRate ?? config.spotCheckRate,
    capacity: { ...config.capacity, ...stripUndefined(options.capacity ?? {}) },
    metrics: options.metrics ?? config.metrics,
    log: { ...config.log, ...stripUndefined({ level: options.logLevel, format: options.logFormat, file: options.logFile }) }
  }
}

export async function startDaemon (options: DaemonOptions): Promise<Daemon> {
  await assertInitialised(options.dataDir)
  const config = await readConfigFile(options.dataDir)
  const apiAddress = parseApiAddress(options.api ?? config.api)
  const metricsAddress = options.metrics ?? config.metrics
  const metricsListen = metricsAddress != null ? parseApiAddress(metricsAddress) : undefined
  const token = await loadOrCreateApiToken(options.dataDir)
  const merged = startConfig(config, options)

  // On stdout, the log goes on in daemon.log if stdout goes away (`depin start | head`).
  const operatorLog = options.log ?? createOperatorLog({ level: merged.log.level, format: merged.log.format, file: merged.log.file, fallbackFile: join(options.dataDir, DAEMON_LOG_FILE) }).log
  // Memory-transport nodes share their process with others (an in-process testnet): libp2p keeps
  // its metric objects per process (a module-level map each new node clears, so one node's
  // counters landed in another's registry), so those nodes serve depin's own metrics only.
  const memory = options.transport === 'memory'
  const metrics = createNodeMetrics({ libp2p: !memory, statfsLocation: options.dataDir })
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
    scheduler: { spotCheckRate: merged.spotCheckRate, blobCacheBytes: merged.cacheMiB * 1024 * 1024 },
    retention: { retentionMs: parseDuration(merged.retention) },
    metrics,
    log: operatorLog
  }
  const node = createComputeNode(init)
  const v8Mode = options.optimizeForSize !== false
    ? new V8ModeSwitch({ busy: () => node.isStarted && (node.scheduler.leases().length > 0 || node.scheduler.worker.load().leases > 0 || node.ledger.mining().running) })
    : undefined
  v8Mode?.start()
  try {
    await node.start()
  } catch (err) {
    v8Mode?.stop()
    if (err instanceof DataDirInUseError) {
      // The database's lock says another process has it; api.json says which node, if it got that far.
      const running = await readLiveApiInfo(options.dataDir)
      throw new DataDirInUseError(options.dataDir, running != null ? ` (pid ${running.pid}, API ${running.api})` : '', { cause: err })
    }
    throw err
  }

  if (v8Mode != null) {
    v8Mode.check() // a miner started with the node is work: speed mode at once
    const working = (): void => { v8Mode.activity() }
    // Leases come before their tasks, and a held lease keeps speed mode: no listener per task.
    node.scheduler.addEventListener('lease:offered', working)
    node.scheduler.addEventListener('lease:accepted', working)
  }

  const stopRequest = Promise.withResolvers<string>()
  const tmpDir = join(options.dataDir, 'tmp')
  await mkdir(tmpDir, { recursive: true, mode: 0o700 })
  // The node holds the data dir's lock now: spool dirs in tmp/ are a crashed run's, never a live upload's.
  const leftovers = await removeUploadLeftovers(tmpDir)
  if (leftovers > 0) log('removed %d upload spool dirs a previous run left in %s', leftovers, tmpDir)
  const routes: ApiRoutes[] = [
    nodeRoutes(node, { requestStop: () => { stopRequest.resolve('POST /v1/node/stop') } }),
    jobsRoutes(node, { metrics, tmpDir }),
    batchesRoutes(node, { metrics, tmpDir }),
    storageRoutes(node),
    ledgerRoutes(node),
    eventsRoutes(node),
    metricsRoutes(metrics),
    dashboardRoutes()
  ]
  const server = new ApiServer({ host: apiAddress.host, port: apiAddress.port, token }, routes)
  const metricsServer = metricsListen != null ? new MetricsServer(metrics, metricsListen) : undefined
  let metricsBound: string | undefined
  try {
    await server.start()
    metricsBound = await metricsServer?.start()
  } catch (err) {
    await server.stop().catch(() => {})
    await node.stop()
    v8Mode?.stop()
    throw err
  }
  const api = server.address as string
  // Memory-transport nodes exist only to share a process with others (an in-process testnet).
  await writeApiInfo(options.dataDir, { api, pid: process.pid, peerId: node.peerId, multiaddrs: node.multiaddrs, ...(metricsBound != null ? { metrics: metricsBound } : {}), ...(memory ? { sharedProcess: true } : {}) })
  log('daemon %s: API on %s', node.peerId, api)
  let stopping: Promise<void> | undefined
  return {
    node,
    api,
    metricsAddress: metricsBound,
    metrics,
    log: operatorLog,
    config: merged,
    stopRequested: stopRequest.promise,
    stop: async () => {
      stopping ??= (async () => {
        // api.json first: from here on no client mistakes this node for a running one.
        await removeApiInfo(options.dataDir)
        await server.stop()
        await metricsServer?.stop()
        await node.stop()
        v8Mode?.stop()
      })()
      await stopping
    }
  }
}

function stripUndefined<T extends object> (value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>
}
