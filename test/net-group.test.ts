/** A peer's network group from its remote address (net-group.ts), on made-up addresses. */
import { describe, it, expect } from 'vitest'
import { multiaddr } from '@multiformats/multiaddr'
import { netGroup, OTHER_NET_GROUP, parseIp6 } from '../src/node/net-group.ts'

const group = (addr: string): string => netGroup(multiaddr(addr))

describe('netGroup', () => {
  it('IPv4: one group per /16, loopback and private ranges too', () => {
    expect(group('/ip4/203.0.113.7/tcp/4001')).toBe('ip4:203.0')
    expect(group('/ip4/203.0.200.9/tcp/1')).toBe('ip4:203.0')
    expect(group('/ip4/203.1.113.7/tcp/4001')).toBe('ip4:203.1')
    expect(group('/ip4/127.0.0.1/tcp/1')).toBe('ip4:127.0')
    expect(group('/ip4/127.0.0.9/tcp/1')).toBe('ip4:127.0')
    expect(group('/ip4/127.1.0.1/tcp/1')).toBe('ip4:127.1')
    expect(group('/ip4/192.168.1.20/tcp/1')).toBe('ip4:192.168')
    expect(group('/ip4/10.3.4.5/tcp/1')).toBe('ip4:10.3')
  })

  it('IPv6: one group per /32', () => {
    expect(group('/ip6/2001:db8::1/tcp/1')).toBe('ip6:2001:db8')
    expect(group('/ip6/2001:db8:ffff:1::2/tcp/1')).toBe('ip6:2001:db8')
    expect(group('/ip6/2001:db9::1/tcp/1')).toBe('ip6:2001:db9')
    expect(group('/ip6/2a01:4f8:c0c:1234::1/tcp/1')).toBe('ip6:2a01:4f8')
    expect(group('/ip6/::1/tcp/1')).toBe('ip6:0:0')
    expect(group('/ip6zone/eth0/ip6/fe80::1/tcp/1')).toBe('ip6:fe80:0')
  })

  it('IPv6 addresses that carry an IPv4 address are in its group', () => {
    expect(group('/ip6/::ffff:203.0.113.7/tcp/1')).toBe('ip4:203.0') // mapped (a dual-stack listener)
    expect(group('/ip6/64:ff9b::203.0.113.7/tcp/1')).toBe('ip4:203.0') // NAT64
    expect(group('/ip6/2002:cb00:7107::1/tcp/1')).toBe('ip4:203.0') // 6to4
    expect(group('/ip6/2001:0:4136:e378:8000:63bf:34ff:8cf8/tcp/1')).toBe('ip4:203.0') // Teredo: ~0x34ff8cf8 = 203.0.115.7
  })

  it('addresses that are not IP share one group', () => {
    expect(group('/memory/a')).toBe(OTHER_NET_GROUP)
    expect(group('/memory/b')).toBe(OTHER_NET_GROUP)
    expect(group('/dns4/example.com/tcp/1')).toBe(OTHER_NET_GROUP)
  })

  it('a relayed address is in its relay\'s group', () => {
    expect(group('/ip4/198.51.100.1/tcp/1/p2p/12D3KooWGzaSEwu6dY8t9vzMTRrwsiTddDT7wqbvqjuNmRDuuAwb/p2p-circuit')).toBe('ip4:198.51')
  })

  it('bad input gives the shared group, never a throw', () => {
    const fake = (name: string, value?: string): { getComponents: () => Array<{ name: string, value?: string }> } => ({ getComponents: () => [{ name, value }] })
    expect(netGroup(fake('ip4', '1.2.3'))).toBe(OTHER_NET_GROUP)
    expect(netGroup(fake('ip4', '1.2.3.256'))).toBe(OTHER_NET_GROUP)
    expect(netGroup(fake('ip4', '1.2.3.x'))).toBe(OTHER_NET_GROUP)
    expect(netGroup(fake('ip4'))).toBe(OTHER_NET_GROUP)
    expect(netGroup(fake('ip6', '1::2::3'))).toBe(OTHER_NET_GROUP)
    expect(netGroup(fake('ip6', '1:2:3:4:5:6:7'))).toBe(OTHER_NET_GROUP)
    expect(netGroup(fake('ip6', '1:2:3:4:5:6:7:8:9'))).toBe(OTHER_NET_GROUP)
    expect(netGroup(fake('ip6', '12345::'))).toBe(OTHER_NET_GROUP)
    expect(netGroup(fake('ip6', 'f'.repeat(1000)))).toBe(OTHER_NET_GROUP)
    expect(netGroup({ getComponents: () => [] })).toBe(OTHER_NET_GROUP)
    expect(netGroup({ getComponents: () => { throw new Error('bad address') } })).toBe(OTHER_NET_GROUP)
  })

  it('parses IPv6 text into its eight words', () => {
    expect(parseIp6('::')).toEqual([0, 0, 0, 0, 0, 0, 0, 0])
    expect(parseIp6('1::')).toEqual([1, 0, 0, 0, 0, 0, 0, 0])
    expect(parseIp6('1:2:3:4:5:6:7:8')).toEqual([1, 2, 3, 4, 5, 6, 7, 8])
    expect(parseIp6('::ffff:1.2.3.4')).toEqual([0, 0, 0, 0, 0, 0xffff, 0x0102, 0x0304])
    expect(parseIp6('1:2:3:4:5:6:7::')).toEqual([1, 2, 3, 4, 5, 6, 7, 0])
    expect(parseIp6('1:2:3:4:5:6:7:8::')).toBeUndefined()
  })
})
