/**
 * Classification of literal IP addresses into the categories the endpoint guard decides on.
 *
 * Endpoints named in DID documents are attacker-chosen, so before connecting we must know whether an address
 * is on the public internet or somewhere only we can reach (loopback, a private LAN, a cloud metadata
 * service, ...). Invariants:
 * - Pure: works on the textual address only, never does I/O, never throws for a valid IPv4/IPv6 literal.
 * - Every address that is not globally routable unicast gets a non-`public` category; when in doubt
 *   (documentation, benchmarking, deprecated or tunnelling ranges) it is `reserved`, which is blocked too.
 * - IPv6 forms that embed an IPv4 address (IPv4-mapped `::ffff:a.b.c.d`, NAT64 `64:ff9b::/96`, 6to4
 *   `2002::/16`) take the category of the embedded IPv4 address, because that is where packets end up.
 */
import { isIP } from 'node:net'

export const ADDRESS_CATEGORIES = [
  'public',
  'private',
  'loopback',
  'link_local',
  'cgnat',
  'multicast',
  'unspecified',
  'reserved',
] as const

export type AddressCategory = (typeof ADDRESS_CATEGORIES)[number]

interface Range {
  prefix: Uint8Array
  bits: number
  category: AddressCategory
}

/** Where an IPv6 range carries an IPv4 address, and at which byte offset. */
interface EmbeddingRange {
  prefix: Uint8Array
  bits: number
  offset: number
}

function range(cidr: string, category: AddressCategory): Range {
  const [addr, bits] = cidr.split('/') as [string, string]
  return { prefix: parseIp(addr), bits: Number(bits), category }
}

function embedding(cidr: string, offset: number): EmbeddingRange {
  const [addr, bits] = cidr.split('/') as [string, string]
  return { prefix: parseIp(addr), bits: Number(bits), offset }
}

// First match wins; more specific ranges come first where they overlap.
const V4_RANGES: readonly Range[] = [
  range('0.0.0.0/8', 'unspecified'),
  range('10.0.0.0/8', 'private'),
  range('100.64.0.0/10', 'cgnat'),
  range('127.0.0.0/8', 'loopback'),
  range('169.254.0.0/16', 'link_local'),
  range('172.16.0.0/12', 'private'),
  range('192.0.0.0/24', 'reserved'),
  range('192.0.2.0/24', 'reserved'),
  range('192.88.99.0/24', 'reserved'),
  range('192.168.0.0/16', 'private'),
  range('198.18.0.0/15', 'reserved'),
  range('198.51.100.0/24', 'reserved'),
  range('203.0.113.0/24', 'reserved'),
  range('224.0.0.0/4', 'multicast'),
  range('240.0.0.0/4', 'reserved'),
]

const V6_EMBEDDINGS: readonly EmbeddingRange[] = [
  embedding('::ffff:0:0/96', 12),
  embedding('64:ff9b::/96', 12),
  embedding('2002::/16', 2),
]

const V6_RANGES: readonly Range[] = [
  range('::/128', 'unspecified'),
  range('::1/128', 'loopback'),
  // IPv4-compatible (deprecated, never routed) and the rest of the low block.
  range('::/96', 'reserved'),
  range('64:ff9b:1::/48', 'private'),
  range('100::/64', 'reserved'),
  // Teredo embeds an obfuscated IPv4 server/client pair; nothing legitimate is hosted there.
  range('2001::/32', 'reserved'),
  range('2001:2::/48', 'reserved'),
  range('2001:db8::/32', 'reserved'),
  range('fc00::/7', 'private'),
  range('fe80::/10', 'link_local'),
  range('fec0::/10', 'private'),
  range('ff00::/8', 'multicast'),
]

function parseV4(text: string): Uint8Array {
  return new Uint8Array(text.split('.').map(Number))
}

function parseV6(text: string): Uint8Array {
  let s = text
  const lastColon = s.lastIndexOf(':')
  if (s.includes('.', lastColon)) {
    const v4 = parseV4(s.slice(lastColon + 1))
    const hi = ((v4[0] ?? 0) << 8) | (v4[1] ?? 0)
    const lo = ((v4[2] ?? 0) << 8) | (v4[3] ?? 0)
    s = `${s.slice(0, lastColon + 1)}${hi.toString(16)}:${lo.toString(16)}`
  }
  const [head, tail] = s.split('::') as [string, string | undefined]
  const headGroups = head === '' ? [] : head.split(':')
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':')
  const zeros = new Array<string>(8 - headGroups.length - tailGroups.length).fill('0')
  const groups = tail === undefined ? headGroups : [...headGroups, ...zeros, ...tailGroups]
  const out = new Uint8Array(16)
  groups.forEach((g, i) => {
    const v = parseInt(g, 16)
    out[i * 2] = v >> 8
    out[i * 2 + 1] = v & 0xff
  })
  return out
}

/** True for a literal IPv4 or IPv6 address (an IPv6 zone suffix such as `%eth0` is tolerated). */
export function isIpLiteral(text: string): boolean {
  return isIP(stripZone(text)) !== 0
}

function stripZone(text: string): string {
  const pct = text.indexOf('%')
  return pct === -1 ? text : text.slice(0, pct)
}

/** Bytes of a literal address: 4 for IPv4, 16 for IPv6. Throws on anything that is not an IP literal. */
export function parseIp(text: string): Uint8Array {
  const bare = stripZone(text)
  const family = isIP(bare)
  if (family === 4) return parseV4(bare)
  if (family === 6) return parseV6(bare)
  throw new TypeError('not an IP address literal')
}

function matches(addr: Uint8Array, prefix: Uint8Array, bits: number): boolean {
  if (addr.length !== prefix.length) return false
  const full = bits >> 3
  for (let i = 0; i < full; i++) if (addr[i] !== prefix[i]) return false
  const rest = bits & 7
  if (rest === 0) return true
  const mask = (0xff << (8 - rest)) & 0xff
  return ((addr[full] ?? 0) & mask) === ((prefix[full] ?? 0) & mask)
}

function classifyBytes(addr: Uint8Array): AddressCategory {
  if (addr.length === 16) {
    for (const e of V6_EMBEDDINGS) {
      if (matches(addr, e.prefix, e.bits)) return classifyBytes(addr.slice(e.offset, e.offset + 4))
    }
  }
  const ranges = addr.length === 4 ? V4_RANGES : V6_RANGES
  for (const r of ranges) if (matches(addr, r.prefix, r.bits)) return r.category
  return 'public'
}

/** Category of a literal IPv4/IPv6 address; throws a TypeError if `ip` is not an IP literal. */
export function classifyIp(ip: string): AddressCategory {
  return classifyBytes(parseIp(ip))
}
