/**
 * SSRF guard for endpoints taken from DID documents (and anything else a remote party names).
 *
 * A DID document is written by whoever controls the DID, so `serviceEndpoint` may point at our own
 * loopback, the cloud metadata service (169.254.169.254), a LAN, or a hostname that resolves to one of
 * those. Invariants:
 * - A URL is acceptable only if it is http(s) (plain http only when the policy allows it), carries no
 *   userinfo, and every address its host resolves to is `public` or in a category the policy allows.
 * - The address that is checked is the address that is connected to: `resolveEndpointAddress` resolves
 *   once and returns the address, and the HTTP client pins the connection to it (defeating DNS rebinding),
 *   while keeping the hostname for the Host header, SNI and certificate checks.
 * - Devnet relaxations (loopback, plain http) exist only when configured; the default allows neither.
 */
import { lookup as dnsLookup } from 'node:dns/promises'
import { classifyIp, isIpLiteral, type AddressCategory } from './ip-address.js'

export interface EndpointPolicy {
  /** Non-public address categories that may still be connected to (a local devnet allows `loopback`). */
  allow: readonly AddressCategory[]
  /** Plain `http:` URLs are accepted only when true (devnet); production endpoints are https. */
  allowHttp: boolean
}

/** Production: public https endpoints only. */
export const PUBLIC_ENDPOINTS: EndpointPolicy = Object.freeze({
  allow: [] as AddressCategory[],
  allowHttp: false,
})

/** A devnet on this machine: loopback and plain http are allowed, every other non-public range is not. */
export const DEVNET_ENDPOINTS: EndpointPolicy = Object.freeze({
  allow: ['loopback'] as AddressCategory[],
  allowHttp: true,
})

export type EndpointBlockReason = 'invalid_url' | 'scheme' | 'credentials' | 'address'

export class EndpointBlockedError extends Error {
  override readonly name = 'EndpointBlockedError'
  constructor(
    readonly reason: EndpointBlockReason,
    message: string,
    /** For `address`: the category of the refused address. */
    readonly category?: AddressCategory,
  ) {
    super(message)
  }
}

export function isEndpointBlockedError(err: unknown): err is EndpointBlockedError {
  return err instanceof EndpointBlockedError
}

export interface ResolvedAddress {
  address: string
  family: 4 | 6
}

/** Resolves a hostname to every address it has (like `dns.lookup(host, {all: true})`). */
export type LookupAll = (hostname: string) => Promise<ResolvedAddress[]>

export const systemLookup: LookupAll = async (hostname) => {
  const found = await dnsLookup(hostname, { all: true, verbatim: true })
  return found.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }))
}

/** The URL hostname without IPv6 brackets. */
export function bareHostname(url: URL): string {
  return url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname
}

/** Throws unless `ip` is public or its category is allowed by `policy`. */
export function checkAddress(ip: string, policy: EndpointPolicy, host = ip): void {
  const category = classifyIp(ip)
  if (category === 'public' || policy.allow.includes(category)) return
  throw new EndpointBlockedError(
    'address',
    `refusing to connect to ${host}: it is a ${category.replace('_', '-')} address (${ip}). ` +
      `Endpoints named by DID documents must be public; allow "${category}" in the endpoint policy only for a local devnet`,
    category,
  )
}

/**
 * Syntactic checks that need no DNS: scheme, userinfo, and (for IP-literal hosts) the address itself.
 * Returns the parsed URL.
 */
export function checkEndpointUrl(input: string | URL, policy: EndpointPolicy): URL {
  let url: URL
  try {
    url = new URL(input)
  } catch {
    throw new EndpointBlockedError('invalid_url', 'endpoint is not an absolute URL; fix the DID document')
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && policy.allowHttp)) {
    const allowed = policy.allowHttp ? 'http or https' : 'https'
    throw new EndpointBlockedError(
      'scheme',
      `endpoint scheme ${url.protocol} is not allowed (only ${allowed}); the host must publish an ${allowed} endpoint`,
    )
  }
  if (url.username !== '' || url.password !== '') {
    throw new EndpointBlockedError(
      'credentials',
      `endpoint for ${url.hostname} embeds credentials; refusing to use it (remove the userinfo part)`,
    )
  }
  const host = bareHostname(url)
  if (host === '') throw new EndpointBlockedError('invalid_url', 'endpoint has no host')
  if (isIpLiteral(host)) checkAddress(host, policy)
  return url
}

/**
 * Resolves the URL's host once and checks every address it resolves to; returns the one to connect to.
 * A host that resolves to any refused address is refused as a whole: a public name that also points
 * inside is either misconfigured or an attack, and picking the "good" answer would hide that.
 */
export async function resolveEndpointAddress(
  url: URL,
  policy: EndpointPolicy,
  lookup: LookupAll = systemLookup,
): Promise<ResolvedAddress> {
  const host = bareHostname(url)
  if (isIpLiteral(host)) {
    checkAddress(host, policy)
    return { address: host, family: host.includes(':') ? 6 : 4 }
  }
  const addresses = await lookup(host)
  const first = addresses[0]
  if (first === undefined) {
    throw Object.assign(new Error(`${host} has no addresses`), { code: 'ENOTFOUND' })
  }
  for (const a of addresses) checkAddress(a.address, policy, host)
  return first
}
