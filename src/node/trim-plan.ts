/**
 * The connection trimmer's decision, a pure function of the peers as it judges them: which to
 * close when the node is over its bound. The rules and their reasons are in the module comment
 * of connection-trimmer.ts, which gathers the peers and closes what this decides.
 */

/** One peer as the trimmer judges it, its connections taken together. */
export interface TrimPeer<Id> {
  id: Id
  /** Its open connections (normally one: one connection per pair of peers). */
  connections: number
  /** When its oldest connection opened (ms): how long it has been connected. */
  since: number
  /** In its grace (see connection-trimmer.ts): it holds no place, and goes first when the node is full. */
  newcomer: boolean
  /** Spared by this node's own doing (a keep-alive tag, a stream it opened, a lease stream, a fresh dial); holds its place. */
  kept: boolean
  /** Spared for the moment by a request it made (an inbound stream younger than `INBOUND_BUSY_MS`); holds no place. */
  requesting: boolean
  /** Its peer-store tag value, kad closeness not counted. */
  value: number
  /** Its network group (net-group.ts), from its oldest connection's remote address. */
  group: string
}

export interface TrimBounds {
  maxConnections: number
  lowWater: number
  /** Up to this many established peers from distinct network groups keep their places ahead of value and age (see `distinctGroupPeers`). @default 0 */
  distinctGroups?: number
}

/**
 * The peers to close when the node is over `maxConnections` (see connection-trimmer.ts):
 * established peers down to `lowWater` counting established peers that hold a place
 * alone, the least valuable and then the most recently connected first, except the best peer of
 * each of up to `distinctGroups` network groups (see `distinctGroupPeers`); then newcomers, the
 * newest first, until the node is within `maxConnections`. Kept and requesting peers stay.
 */
export function planTrim<Id> (peers: ReadonlyArray<TrimPeer<Id>>, bounds: TrimBounds): Array<TrimPeer<Id>> {
  let total = count(peers)
  if (total <= bounds.maxConnections) return []
  const closing: Array<TrimPeer<Id>> = []
  const close = (peer: TrimPeer<Id>): void => {
    closing.push(peer)
    total -= peer.connections
  }
  const spared = (p: TrimPeer<Id>): boolean => p.kept || p.requesting
  const established = peers.filter((p) => !p.newcomer)
  let holding = count(established.filter((p) => !p.requesting || p.kept))
  const candidates = established.filter((p) => !spared(p))
  // The places left once this node's kept peers have theirs: protection never pushes the node
  // above `lowWater`, and takes at most `distinctGroups` of them.
  const places = Math.min(bounds.distinctGroups ?? 0, bounds.lowWater - (holding - count(candidates)))
  const covered = new Set(established.filter((p) => p.kept).map((p) => p.group))
  const protectedPeers = distinctGroupPeers(candidates, covered, places)
  const leastValuableFirst = (a: TrimPeer<Id>, b: TrimPeer<Id>): number => a.value - b.value || b.since - a.since
  for (const peer of candidates.filter((p) => !protectedPeers.has(p)).sort(leastValuableFirst)) {
    if (holding <= bounds.lowWater) break
    close(peer)
    holding -= peer.connections
  }
  // Newcomers: first come, first served (a tag value a few seconds old means little).
  for (const peer of peers.filter((p) => p.newcomer && !spared(p)).sort((a, b) => b.since - a.since)) {
    if (total <= bounds.maxConnections) break
    close(peer)
  }
  return closing
}

function count (list: ReadonlyArray<TrimPeer<unknown>>): number {
  return list.reduce((n, p) => n + p.connections, 0)
}

/**
 * The established peers protected for their network group (Bitcoin Core's "protect peers from
 * distinct net groups"): the best (most valuable, then longest connected) closable peer of each
 * group, groups with the fewest closable peers first, up to `places` connections. Groups where
 * this node keeps a peer (`covered`) are represented already and get none.
 *
 * An attacker holds many addresses in one group cheaply, many groups dearly: its crowd is one
 * large group, ranked last, so a long-connected crowd no longer outranks the honest peers of
 * other groups for these places. And the rule cannot be turned against honest peers: it
 * changes at most `places` of the node's choices (it only protects; everything else goes by
 * value and age as before), so even an attacker with many groups, against a node whose honest
 * peers share one, costs that node at most `places` honest peers. Only closable established
 * peers are counted: newcomers and requests in flight, the cheap things to make, do not make
 * an honest peer's group look crowded. (Closing from the most crowded group first, without
 * such a bound, an attacker with a handful of groups would evict the honest peers of a node
 * whose honest peers share one group, long connected as they are, down to the size of the
 * attacker's groups: in the unit test, 2 of 16 left instead of 12.)
 */
export function distinctGroupPeers<Id> (candidates: ReadonlyArray<TrimPeer<Id>>, covered: ReadonlySet<string>, places: number): Set<TrimPeer<Id>> {
  const chosen = new Set<TrimPeer<Id>>()
  if (places <= 0) return chosen
  const byGroup = new Map<string, Array<TrimPeer<Id>>>()
  for (const peer of candidates) {
    if (covered.has(peer.group)) continue
    const list = byGroup.get(peer.group) ?? []
    list.push(peer)
    byGroup.set(peer.group, list)
  }
  const bestFirst = (a: TrimPeer<Id>, b: TrimPeer<Id>): number => b.value - a.value || a.since - b.since
  const groups = [...byGroup.values()].map((list) => list.sort(bestFirst))
  groups.sort((a, b) => a.length - b.length || bestFirst(a[0], b[0]))
  let used = 0
  for (const [best] of groups) {
    if (used + best.connections > places) continue
    chosen.add(best)
    used += best.connections
  }
  return chosen
}
