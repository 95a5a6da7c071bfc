import { classifyIp, isIpLiteral, parseIp, type AddressCategory } from '../../src/identity/ip-address.js'

// Literal addresses only: nothing here is ever connected to.
const CASES: [string, AddressCategory][] = [
  ['10.0.0.1', 'private'],
  ['10.255.255.255', 'private'],
  ['172.16.0.1', 'private'],
  ['172.31.255.254', 'private'],
  ['172.15.255.255', 'public'],
  ['172.32.0.1', 'public'],
  ['192.168.1.1', 'private'],
  ['127.0.0.1', 'loopback'],
  ['127.255.0.9', 'loopback'],
  ['169.254.169.254', 'link_local'],
  ['100.64.0.1', 'cgnat'],
  ['100.127.255.255', 'cgnat'],
  ['100.128.0.1', 'public'],
  ['0.0.0.0', 'unspecified'],
  ['0.1.2.3', 'unspecified'],
  ['224.0.0.1', 'multicast'],
  ['239.255.255.250', 'multicast'],
  ['255.255.255.255', 'reserved'],
  ['192.0.2.10', 'reserved'],
  ['198.18.0.1', 'reserved'],
  ['8.8.8.8', 'public'],
  ['1.1.1.1', 'public'],
  ['::1', 'loopback'],
  ['::', 'unspecified'],
  ['fe80::1', 'link_local'],
  ['fe80::1%eth0', 'link_local'],
  ['febf:ffff::1', 'link_local'],
  ['fc00::1', 'private'],
  ['fd12:3456:789a::1', 'private'],
  ['fec0::1', 'private'],
  ['ff02::1', 'multicast'],
  ['::ffff:10.0.0.1', 'private'],
  ['::ffff:a00:1', 'private'],
  ['::ffff:127.0.0.1', 'loopback'],
  ['::ffff:169.254.169.254', 'link_local'],
  ['::ffff:8.8.8.8', 'public'],
  ['64:ff9b::10.0.0.1', 'private'],
  ['64:ff9b::808:808', 'public'],
  ['2002:a00:1::1', 'private'],
  ['2002:808:808::1', 'public'],
  ['::10.0.0.1', 'reserved'],
  ['2001:db8::1', 'reserved'],
  ['2001:0:4136:e378:8000:63bf:3fff:fdd2', 'reserved'],
  ['2606:4700:4700::1111', 'public'],
  ['2a00:1450:4001:80b::200e', 'public'],
]

describe('classifyIp', () => {
  it.each(CASES)('%s is %s', (ip, category) => {
    expect(classifyIp(ip)).toBe(category)
  })

  it('rejects non-literals', () => {
    expect(() => classifyIp('example.com')).toThrow(TypeError)
    expect(() => classifyIp('10.0.0.256')).toThrow(TypeError)
    expect(isIpLiteral('example.com')).toBe(false)
    expect(isIpLiteral('::ffff:10.0.0.1')).toBe(true)
  })

  it('expands IPv6 forms to 16 bytes', () => {
    expect(Array.from(parseIp('::ffff:10.0.0.1'))).toEqual([
      0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1,
    ])
    expect(Array.from(parseIp('1:2::8'))).toEqual([0, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8])
    expect(Array.from(parseIp('::'))).toEqual(new Array(16).fill(0))
  })
})
