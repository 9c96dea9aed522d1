/**
 * Takes kad-dht's keep-alive tag off every peer it is put on.
 *
 * kad-dht tags the 20 closest peers it knows `keep-alive-kad-dht`, and libp2p's reconnect queue
 * dials a keep-alive peer again whenever its connection closes, whoever closed it. depin's
 * connection trimmer gives kad closeness no weight (kad ids are cheap to grind close to a
 * victim's: see connection-trimmer.ts), so when a peer trims a connection, the side that had the
 * trimming peer among its kad closest dialled it straight back; the trimming peer saw a newcomer
 * over its bound and closed it again; and so on, one round per trim, for as long as the two stay
 * kad-close. After a mass restart (24 nodes, bound 8, bench/redial.ts) 184–285 of 441–747 dials
 * were these reconnects, every one to a peer that had closed that very connection less than
 * 15 s before. Without the tag kad keeps its closest peers in its routing table and dials one
 * when a query needs it, as it does any other.
 *
 * Other keep-alive tags (an embedder's own) are left alone: those are the node's own choice.
 */
import { KEEP_ALIVE, type Libp2p, type PeerId, type PeerUpdate } from '@libp2p/interface'
import { logger } from '@libp2p/logger'

const log = logger('depin:connections')

/** kad-dht's keep-alive tag on its closest peers. */
export const KAD_KEEP_ALIVE_TAG = `${KEEP_ALIVE}-kad-dht`

type UntagHost = Pick<Libp2p, 'peerStore' | 'addEventListener' | 'removeEventListener'>

export class KadKeepAliveRemover {
  private readonly host: UntagHost
  private running = false
  private readonly onUpdate = (evt: CustomEvent<PeerUpdate>): void => {
    if (evt.detail.peer.tags.has(KAD_KEEP_ALIVE_TAG)) void this.untag(evt.detail.peer.id)
  }

  constructor (host: UntagHost) {
    this.host = host
  }

  /** Listens for tags from now on, and takes off any put on before. */
  async start (): Promise<void> {
    if (this.running) return
    this.running = true
    this.host.addEventListener('peer:update', this.onUpdate)
    try {
      const tagged = await this.host.peerStore.all({ filters: [(peer) => peer.tags.has(KAD_KEEP_ALIVE_TAG)] })
      await Promise.all(tagged.map(async (peer) => { await this.untag(peer.id) }))
    } catch (err) {
      log('could not read the peer store for kad-dht\'s keep-alive tags: %e', err)
    }
  }

  stop (): void {
    this.running = false
    this.host.removeEventListener('peer:update', this.onUpdate)
  }

  private async untag (id: PeerId): Promise<void> {
    try {
      await this.host.peerStore.merge(id, { tags: { [KAD_KEEP_ALIVE_TAG]: undefined } })
    } catch (err) {
      log('could not take kad-dht\'s keep-alive tag off %p: %e', id, err)
    }
  }
}
