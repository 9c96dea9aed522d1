/**
 * A peer's network group: the block of addresses one operator can cheaply hold many of. Many
 * addresses in one IPv4 /16 or one IPv6 /32 (a cloud provider's block, a hosting range) cost an
 * attacker little; addresses in many groups cost it much more. The connection trimmer keeps
 * peers from distinct groups (see connection-trimmer.ts) so that an attacker with one block
 * cannot hold all of a node's places: an eclipse. As Bitcoin Core's `CNetAddr::GetGroup`, with
 * two differences:
 *
 * - Loopback and private IPv4 ranges are grouped by /16 like any other (Bitcoin Core puts each
 *   kind in one group). Only a peer on this machine or its network has such an address, and such
 *   a peer could equally use a public one; a loopback testnet can spread its nodes over
 *   127.x.0.1 (Linux routes all of 127.0.0.0/8 to loopback) and exercise the groups.
 * - An address that is not IP (the in-process memory transport, a DNS name that was not
 *   resolved) is in one shared group, `other`, not in a group of its own: a group per peer would
 *   be the one thing an attacker could have as many of as it liked.
 *
 * IPv6 addresses that carry an IPv4 address (IPv4-mapped `::ffff:0:0/96`, NAT64 `64:ff9b::/96`,
 * 6to4 `2002::/16`, Teredo `2001:0::/32`) are in that IPv4 address's group: one host, one group,
 * however it is reached. The first IP component of the address decides (a relayed address: its
 * relay's).
 */

/** The group of every address that is not IP. */
export const OTHER_NET_GROUP = 'other'

/** What the group is read from: a multiaddr (its components). */
export interface AddressComponents {
  getComponents: () => Array<{ name: string, value?: string }>
}

/** The network group of a remote address: `ip4:A.B` (its /16), `ip6:X:Y` (its /32) or `other`. */
export function netGroup (addr: AddressComponents): string {
  let components: Array<{ name: string, value?: string }>
  try {
    components = addr.getComponents()
  } catch {
    return OTHER_NET_GROUP
  }
  // An IPv6 zone (`/ip6zone/eth0/ip6/fe80::1`) comes before its address.
  const ip = components.find((c) => c.name !== 'ip6zone')
  if (ip?.value == null || (ip.name !== 'ip4' && ip.name !== 'ip6')) return OTHER_NET_GROUP
  if (ip.name === 'ip4') {
    const bytes = parseIp4(ip.value)
    return bytes != null ? ip4Group(bytes) : OTHER_NET_GROUP
  }
  const words = parseIp6(ip.value)
  if (words == null) return OTHER_NET_GROUP
  const embedded = embeddedIp4(words)
  if (embedded != null) return ip4Group(embedded)
  return `ip6:${words[0].toString(16)}:${words[1].toString(16)}`
}

function ip4Group (bytes: number[]): string {
  return `ip4:${bytes[0]}.${bytes[1]}`
}

/** The four bytes of a dotted IPv4 address, or undefined. */
export function parseIp4 (text: string): number[] | undefined {
  const parts = text.split('.')
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p))) return undefined
  const bytes = parts.map(Number)
  return bytes.every((b) => b <= 255) ? bytes : undefined
}

/** The eight 16-bit words of an IPv6 address (`::` and a trailing dotted IPv4 allowed), or undefined. */
export function parseIp6 (text: string): number[] | undefined {
  if (text.length > 45) return undefined
  const halves = text.split('::')
  if (halves.length > 2) return undefined
  const words = (part: string): number[] | undefined => {
    if (part === '') return []
    const out: number[] = []
    const pieces = part.split(':')
    for (const [i, piece] of pieces.entries()) {
      if (i === pieces.length - 1 && piece.includes('.')) {
        const v4 = parseIp4(piece)
        if (v4 == null) return undefined
        out.push(v4[0] << 8 | v4[1], v4[2] << 8 | v4[3])
      } else if (/^[0-9a-fA-F]{1,4}$/.test(piece)) {
        out.push(parseInt(piece, 16))
      } else {
        return undefined
      }
    }
    return out
  }
  const head = words(halves[0])
  const tail = halves.length === 2 ? words(halves[1]) : []
  if (head == null || tail == null) return undefined
  if (halves.length === 1) return head.length === 8 ? head : undefined
  if (head.length + tail.length > 7) return undefined
  return [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail]
}

/** The IPv4 address an IPv6 address carries (mapped, NAT64, 6to4, Teredo), or undefined. */
function embeddedIp4 (w: number[]): number[] | undefined {
  const bytesOf = (hi: number, lo: number): number[] => [hi >> 8, hi & 0xff, lo >> 8, lo & 0xff]
  const zero = (from: number, to: number): boolean => w.slice(from, to).every((x) => x === 0)
  if (zero(0, 5) && w[5] === 0xffff) return bytesOf(w[6], w[7]) // ::ffff:a.b.c.d
  if (w[0] === 0x64 && w[1] === 0xff9b && zero(2, 6)) return bytesOf(w[6], w[7]) // 64:ff9b::a.b.c.d
  if (w[0] === 0x2002) return bytesOf(w[1], w[2]) // 2002:AABB:CCDD::
  if (w[0] === 0x2001 && w[1] === 0) return bytesOf(w[6] ^ 0xffff, w[7] ^ 0xffff) // Teredo: the client's address, inverted
  return undefined
}
