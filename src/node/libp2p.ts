/**
 * Assembly of the libp2p host: TCP, Noise, Yamux, identify, ping, depin's own kad-dht, gossipsub
 * with score parameters, bootstrap and mDNS discovery. The only file that knows which libp2p
 * modules make up a depin node.
 */
import { createLibp2p, type Libp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@libp2p/noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { ping, type Ping } from '@libp2p/ping'
import { kadDHT, passthroughMapper, type KadDHT } from '@libp2p/kad-dht'
import { gossipsub, type GossipSub } from '@libp2p/gossipsub'
import { createTopicScoreParams } from '@libp2p/gossipsub/score'
import { bootstrap } from '@libp2p/bootstrap'
import { mdns } from '@libp2p/mdns'
import type { Identify } from '@libp2p/identify'
import type { ComponentLogger, Metrics, PeerDiscovery, PrivateKey } from '@libp2p/interface'
import { capacitySelector, capacityValidator } from './capacity-record.ts'
import {
  CAPACITY_NAMESPACE, DHT_PROTOCOL, MAX_CONNECTIONS, MAX_GOSSIP_RPC_BYTES
} from './constants.ts'

// A type alias, not an interface: libp2p's ServiceMap needs an index-signature-compatible type.
export type DepinServices = {
  identify: Identify
  ping: Ping
  dht: KadDHT
  pubsub: GossipSub
}

export type DepinLibp2p = Libp2p<DepinServices>

export interface HostInit {
  privateKey: PrivateKey
  listen: string[]
  announce?: string[]
  bootstrap?: string[]
  mdns?: boolean
  /** Loopback testnet: allow-list 127.0.0.1 for IP colocation scoring and the inbound rate limit. */
  testnet?: boolean
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

export async function createHost (init: HostInit): Promise<DepinLibp2p> {
  const loopback = init.testnet === true
  const peerDiscovery: Array<(components: any) => PeerDiscovery> = []
  if ((init.bootstrap ?? []).length > 0) peerDiscovery.push(bootstrap({ list: init.bootstrap ?? [], timeout: 100 }))
  if (init.mdns === true) peerDiscovery.push(mdns({ serviceTag: 'depin.local' }))

  return await createLibp2p<DepinServices>({
    privateKey: init.privateKey,
    ...(init.metrics != null ? { metrics: init.metrics } : {}),
    addresses: { listen: init.listen, announce: init.announce ?? [] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    peerDiscovery,
    connectionManager: {
      maxConnections: MAX_CONNECTIONS,
      // A single-host testnet dials everything from 127.0.0.1; the per-host inbound rate limit
      // would refuse it. Production keeps the limit.
      ...(loopback ? { allow: ['/ip4/127.0.0.1'], inboundConnectionThreshold: 1000 } : {})
    },
    connectionGater: {
      denyDialPeer: async (peerId) => init.isBanned(peerId.toString()),
      denyInboundEncryptedConnection: async (peerId) => init.isBanned(peerId.toString()),
      denyOutboundEncryptedConnection: async (peerId) => init.isBanned(peerId.toString()),
      // Loopback and private addresses are how testnets and LANs work; libp2p's default gater
      // refuses private addresses only in browsers, keep that explicit.
      denyDialMultiaddr: async () => false
    },
    services: {
      identify: identify(),
      ping: ping(),
      dht: kadDHT({
        protocol: DHT_PROTOCOL,
        clientMode: false,
        peerInfoMapper: passthroughMapper,
        validators: { [CAPACITY_NAMESPACE]: capacityValidator },
        selectors: { [CAPACITY_NAMESPACE]: capacitySelector },
        // Testnets and fresh networks start with nobody: let queries run with an empty table.
        allowQueryWithZeroPeers: true,
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
}

