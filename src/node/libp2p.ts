/**
 * Assembly of the libp2p host: TCP (or libp2p's in-process memory transport), Noise, Yamux,
 * identify, ping, depin's own kad-dht, gossipsub with score parameters, bootstrap and mDNS
 * discovery, connection limits and a bounded datastore. The only file that knows which libp2p
 * modules make up a depin node.
 */
import { createLibp2p, type Libp2p } from 'libp2p'
import { noise } from '@libp2p/noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { ping, type Ping } from '@libp2p/ping'
import { kadDHT, passthroughMapper, type KadDHT } from '@libp2p/kad-dht'
import { gossipsub, type GossipSub } from '@libp2p/gossipsub'
import { createTopicScoreParams } from '@libp2p/gossipsub/score'
import type { Identify } from '@libp2p/identify'
import type { ComponentLogger, Metrics, MultiaddrConnection, PeerDiscovery, PeerId, PrivateKey } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { logger } from '@libp2p/logger'
import { BoundedDatastore } from './bounded-datastore.ts'
import { capacitySelector, capacityValidator } from './capacity-record.ts'
import { pingsTakeTurns } from './ping-turns.ts'
import { abortNeverThrows } from './muxer-guard.ts'
import {
  CAPACITY_NAMESPACE, DHT_ALPHA, DHT_DISJOINT_PATHS, DHT_NEW_CONTACT_PINGS, DHT_NEW_CONTACT_QUEUE, DATASTORE_LIMITS, DHT_PROTOCOL, DHT_QUERY_SELF_INTERVAL_MS,
  INBOUND_CONNECTIONS_PER_HOST_PER_SECOND, MAX_CONNECTIONS, MAX_CONNECTIONS_PER_HOST, MAX_GOSSIP_RPC_BYTES,
  MAX_PENDING_INBOUND, STALE_CONNECTION_MIN_AGE_MS, STALE_CONNECTION_PING_MS, TESTNET_MAX_PENDING_INBOUND
} from './constants.ts'

const log = logger('depin:host')

/** How long an admitted inbound connection counts against its host before libp2p lists it. */
const ADMISSION_RESERVATION_MS = 5_000
/** Deadline of one bootstrap dial on the memory transport. */
const BOOTSTRAP_DIAL_TIMEOUT_MS = 10_000

// A type alias, not an interface: libp2p's ServiceMap needs an index-signature-compatible type.
export type DepinServices = {
  identify: Identify
  ping: Ping
  dht: KadDHT
  pubsub: GossipSub
}

export type DepinLibp2p = Libp2p<DepinServices>

/** How nodes reach each other: TCP, or libp2p's memory transport between nodes of one process. */
export type TransportName = 'tcp' | 'memory'

export interface HostInit {
  privateKey: PrivateKey
  /** @default 'tcp' */
  transport?: TransportName
  listen: string[]
  announce?: string[]
  bootstrap?: string[]
  mdns?: boolean
  /** Loopback testnet: allow-list 127.0.0.1 for IP colocation scoring and the per-host connection limits. */
  testnet?: boolean
  /**
   * The connection bound the node's trimmer keeps to (see connection-trimmer.ts). libp2p's own
   * limit, past which inbound connections are refused, is half as much again. @default MAX_CONNECTIONS
   */
  maxConnections?: number
  /** The datastore libp2p keeps its peer store and DHT records in. @default a fresh `createDatastore()` */
  datastore?: BoundedDatastore
  /** App-level score fed into gossipsub (P5). */
  appScore: (peerId: string) => number
  /** True for a peer that must not connect. */
  isBanned: (peerId: string) => boolean
  /** The gossip topics this node uses, with their score weights; others are not tracked. */
  topics: Record<string, number>
  /** libp2p's metrics implementation (Prometheus; see src/node/metrics), if any. */
  metrics?: (components: { logger: ComponentLogger }) => Metrics
}

/** Topic score parameters: rejected messages cost the sender (P4); mesh delivery deficits are off
 * because offers and blocks are sporadic and would penalise honest quiet peers. */
function topicScore (weight: number) {
  return createTopicScoreParams({
    topicWeight: weight,
    timeInMeshWeight: 0.01,
    timeInMeshQuantum: 1000,
    timeInMeshCap: 300,
    firstMessageDeliveriesWeight: 0.5,
    firstMessageDeliveriesDecay: 0.9,
    firstMessageDeliveriesCap: 20,
    meshMessageDeliveriesWeight: 0,
    meshFailurePenaltyWeight: 0,
    invalidMessageDeliveriesWeight: -20,
    invalidMessageDeliveriesDecay: 0.99
  })
}

/** A bounded in-memory datastore with depin's limits (`DATASTORE_LIMITS`). */
export function createDatastore (): BoundedDatastore {
  return new BoundedDatastore([DATASTORE_LIMITS.providers, DATASTORE_LIMITS.records, DATASTORE_LIMITS.peers], DATASTORE_LIMITS.rest)
}

/** The remote IP address of a connection, or undefined (memory transport, relays). */
export function remoteHost (addr: { getComponents: () => Array<{ name: string, value?: string }> }): string | undefined {
  const first = addr.getComponents()[0]
  return first != null && (first.name === 'ip4' || first.name === 'ip6') ? first.value : undefined
}

export async function createHost (init: HostInit): Promise<DepinLibp2p> {
  const loopback = init.testnet === true
  const peerDiscovery: Array<(components: any) => PeerDiscovery> = []
  const memoryTransport = init.transport === 'memory'
  // Modules a node may not need are loaded only when it does (an idle daemon's RSS counts them).
  // @libp2p/bootstrap accepts only IP/DNS addresses; memory nodes dial their bootstrap list below.
  if ((init.bootstrap ?? []).length > 0 && !memoryTransport) {
    const { bootstrap } = await import('@libp2p/bootstrap')
    peerDiscovery.push(bootstrap({ list: init.bootstrap ?? [], timeout: 100 }))
  }
  if (init.mdns === true) {
    const { mdns } = await import('@libp2p/mdns')
    peerDiscovery.push(mdns({ serviceTag: 'depin.local' }))
  }
  const transport = memoryTransport ? (await import('@libp2p/memory')).memory() : (await import('@libp2p/tcp')).tcp()
  // The gater counts the node's connections per remote host (it needs the node it guards):
  // once before the upgrade (a cheap early refusal) and once after it, where an admitted
  // connection holds a reservation until libp2p registers it (in the same tick, normally), so
  // concurrent upgrades from one host cannot all pass on the same count.
  let host: DepinLibp2p | undefined
  const admitting = new Map<string, string>()
  const tooManyFromHost = (maConn: MultiaddrConnection, reserve: boolean): boolean => {
    if (loopback || host == null) return false
    const ip = remoteHost(maConn.remoteAddr)
    if (ip == null) return false
    let count = 0
    for (const connection of host.getConnections()) if (remoteHost(connection.remoteAddr) === ip) count++
    for (const reserved of admitting.values()) if (reserved === ip) count++
    if (count >= MAX_CONNECTIONS_PER_HOST) return true
    if (reserve) {
      const key = maConn.remoteAddr.toString()
      admitting.set(key, ip)
      setTimeout(() => { admitting.delete(key) }, ADMISSION_RESERVATION_MS).unref?.()
    }
    return false
  }
  // One connection per pair of peers. An inbound connection from a peer we are already connected
  // to is refused while that connection answers a ping; when both peers dial each other at once,
  // the one with the smaller peer id keeps its outbound dial and refuses the other's. (A peer that
  // dials while we hold a connection to it may have lost it without our noticing: it lost power
  // or its network and started again. Its connection here is then dead, though no FIN came: it
  // goes, and the new one is taken. Refused, the restarted peer stayed cut off from every peer
  // that held such a connection, its bootstrap dials spent.)
  const duplicate = async (peerId: PeerId): Promise<boolean> => {
    if (host == null) return false
    const open = host.getConnections(peerId).filter((c) => c.status === 'open')
    // (a connection opened moments ago is the other half of a simultaneous dial, not a dead one:
    // a peer takes longer than that to start again)
    if (open.some((c) => Date.now() - c.timeline.open < STALE_CONNECTION_MIN_AGE_MS)) return true
    if (open.length > 0) {
      try {
        await host.services.ping.ping(peerId, { signal: AbortSignal.timeout(STALE_CONNECTION_PING_MS) })
        return true
      } catch (err) {
        log('%p dialled again and its connection here does not answer: closing it', peerId)
        for (const connection of open) connection.abort(err as Error)
        return false
      }
    }
    const dialing = host.getDialQueue().some((dial) => dial.peerId?.equals(peerId) === true)
    return dialing && host.peerId.toString() < peerId.toString()
  }

  host = await createLibp2p<DepinServices>({
    privateKey: init.privateKey,
    ...(init.metrics != null ? { metrics: init.metrics } : {}),
    addresses: { listen: init.listen, announce: init.announce ?? [] },
    transports: [transport],
    connectionEncrypters: [noise()],
    // (yamux's abort can throw into an event listener: see muxer-guard.ts)
    streamMuxers: [abortNeverThrows(yamux())],
    peerDiscovery,
    datastore: init.datastore ?? createDatastore(),
    ...(init.metrics != null ? { metrics: init.metrics } : {}),
    connectionManager: {
      maxConnections: Math.ceil((init.maxConnections ?? MAX_CONNECTIONS) * 1.5),
      // Production: libp2p's per-host inbound rate limit, plus the gater's cap on open
      // connections per host. A single-host testnet dials everything from 127.0.0.1, so there
      // both are off. Not libp2p's `allow` list: allowed connections are never pruned, which
      // turned every testnet into a full mesh.
      inboundConnectionThreshold: loopback ? Number.MAX_SAFE_INTEGER : INBOUND_CONNECTIONS_PER_HOST_PER_SECOND,
      maxIncomingPendingConnections: loopback ? TESTNET_MAX_PENDING_INBOUND : MAX_PENDING_INBOUND,
      // libp2p redials a keep-alive peer whenever its connection closes, retrying with backoff.
      // kad-dht's keep-alive tag on its closest peers is taken off (kad-keep-alive.ts: the
      // redials made a loop of dials and trims); a peer this node tags keep-alive itself gets one
      // attempt, no retries.
      reconnectRetries: 0
    },
    // Replaced by depin's keepalive.ts: a ping budget per node instead of a ping per connection.
    connectionMonitor: { enabled: false },
    connectionGater: {
      denyInboundConnection: async (maConn) => tooManyFromHost(maConn, false),
      denyInboundUpgradedConnection: async (_peerId, maConn) => tooManyFromHost(maConn, true),
      denyDialPeer: async (peerId) => init.isBanned(peerId.toString()),
      denyInboundEncryptedConnection: async (peerId) => init.isBanned(peerId.toString()) || await duplicate(peerId),
      denyOutboundEncryptedConnection: async (peerId) => init.isBanned(peerId.toString()),
      // Loopback and private addresses are how testnets and LANs work; libp2p's default gater
      // refuses private addresses only in browsers, keep that explicit.
      denyDialMultiaddr: async () => false
    },
    services: {
      identify: identify(),
      // (pings of one peer take turns: kad-dht's and the keepalive's, see ping-turns.ts)
      ping: (components: Parameters<ReturnType<typeof ping>>[0]) => pingsTakeTurns(ping()(components)),
      dht: kadDHT({
        protocol: DHT_PROTOCOL,
        clientMode: false,
        peerInfoMapper: passthroughMapper,
        validators: { [CAPACITY_NAMESPACE]: capacityValidator },
        selectors: { [CAPACITY_NAMESPACE]: capacitySelector },
        // Testnets and fresh networks start with nobody: let queries run with an empty table.
        allowQueryWithZeroPeers: true,
        querySelfInterval: DHT_QUERY_SELF_INTERVAL_MS,
        alpha: DHT_ALPHA,
        disjointPaths: DHT_DISJOINT_PATHS,
        pingNewContactConcurrency: DHT_NEW_CONTACT_PINGS,
        pingNewContactMaxQueueSize: DHT_NEW_CONTACT_QUEUE,
        // Provider records are re-provided by the DHT well before they lapse.
        reprovide: { validity: 24 * 60 * 60 * 1000, threshold: 6 * 60 * 60 * 1000, interval: 60 * 60 * 1000 }
      }),
      pubsub: gossipsub({
        allowPublishToZeroTopicPeers: true,
        ignoreDuplicatePublishError: true,
        fallbackToFloodsub: false,
        floodPublish: true,
        emitSelf: false,
        maxInboundDataLength: MAX_GOSSIP_RPC_BYTES,
        // Subscriptions to other topics are not tracked: a peer cannot fill our memory with them.
        allowedTopics: Object.keys(init.topics),
        scoreParams: {
          topics: Object.fromEntries(Object.entries(init.topics).map(([topic, weight]) => [topic, topicScore(weight)])),
          topicScoreCap: 10,
          appSpecificScore: (peerId: string) => Math.min(0, init.appScore(peerId)),
          appSpecificWeight: 1,
          IPColocationFactorWhitelist: loopback ? new Set(['127.0.0.1', '::1']) : new Set<string>()
        }
      })
    }
  })
  host.addEventListener('connection:open', (evt) => { admitting.delete(evt.detail.remoteAddr.toString()) })
  if (memoryTransport) {
    const node = host
    for (const address of init.bootstrap ?? []) {
      node.dial(multiaddr(address), { signal: AbortSignal.timeout(BOOTSTRAP_DIAL_TIMEOUT_MS) })
        .catch((err) => { log('bootstrap dial of %s failed: %e', address, err) })
    }
  }
  return host
}

