/**
 * A typed, read-only view of a resolved DID document: the entries a syncer uses (spec §2.2).
 *
 *   #atproto             verificationMethod -> did:key (commit signatures, tokens)
 *   #atproto_space       verificationMethod -> did:key (credentials whose kid names it)
 *   #atproto_pds         service, type AtprotoPersonalDataServer -> repo host (and impl space host)
 *   #atproto_space_host  service -> space host when present
 *   #<anything>          service, type unchecked (notification targets, managing apps)
 *
 * Invariants:
 * - Entry ids match in both forms, `#frag` and `{did}#frag`, and only for this document's own DID; the
 *   first matching entry wins (as in the reference implementation).
 * - Keys come out as did:key strings that parse as secp256k1 or P-256 points; anything else is `bad_key`.
 *   A (type, multibase) pair is converted once (every repo sync asks for its author's key) and kept in a
 *   bounded LRU; failures are not kept.
 * - Endpoints come out as bare origins of absolute http(s) URLs without userinfo, query, fragment or path.
 *   Whether the origin may be contacted (public address, https) is the endpoint guard's decision at
 *   connect time, not this view's.
 */
import { getDidKeyFromMultibase, type DidDocument } from '@atproto/identity'
import { base58btc } from 'multiformats/bases/base58'
import { jwtAlgOfDidKey } from '../protocol/did-key.js'
import { IdentityError } from './identity-error.js'

export const PDS_SERVICE_TYPE = 'AtprotoPersonalDataServer'

export interface ServiceEntry {
  id: string
  type: string
  serviceEndpoint: string | Record<string, unknown>
}

/** Converted verification methods kept: one per author, authority and key rotation. */
const DID_KEY_CACHE_SIZE = 10_000

const didKeys = new Map<string, string>()

/** The did:key of a verification method (memoised); throws when it is not a usable atproto key. */
function didKeyOfMethod(type: string, publicKeyMultibase: string): string | undefined {
  const id = `${type}\n${publicKeyMultibase}`
  const hit = didKeys.get(id)
  if (hit !== undefined) {
    didKeys.delete(id)
    didKeys.set(id, hit)
    return hit
  }
  const didKey =
    compressedMultikey(type, publicKeyMultibase) ?? getDidKeyFromMultibase({ type, publicKeyMultibase })
  if (didKey === undefined) return undefined
  jwtAlgOfDidKey(didKey)
  if (didKeys.size >= DID_KEY_CACHE_SIZE) didKeys.delete(didKeys.keys().next().value as string)
  didKeys.set(id, didKey)
  return didKey
}

/**
 * The did:key of a `Multikey` method holding a compressed point (what atproto publishes): the same multibase
 * string. @atproto/identity would decompress the point in pure JS and compress it again to get there.
 * Curve and point are still checked by the caller (jwtAlgOfDidKey).
 */
function compressedMultikey(type: string, publicKeyMultibase: string): string | undefined {
  if (type !== 'Multikey' || !publicKeyMultibase.startsWith('z')) return undefined
  let bytes: Uint8Array
  try {
    bytes = base58btc.decode(publicKeyMultibase)
  } catch {
    return undefined
  }
  return bytes.length === 35 && (bytes[2] === 0x02 || bytes[2] === 0x03)
    ? `did:key:${publicKeyMultibase}`
    : undefined
}

/** `#frag`, with or without the leading `#`. */
function fragmentOf(id: string): string {
  return id.startsWith('#') ? id.slice(1) : id
}

/** Origin of a service endpoint URL, refusing anything but a bare http(s) origin. */
export function parseServiceEndpoint(raw: unknown, what: string): string {
  if (typeof raw !== 'string') {
    throw new IdentityError(
      'bad_endpoint',
      `${what} serviceEndpoint is not a URL string; the DID owner must fix it`,
    )
  }
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw new IdentityError(
      'bad_endpoint',
      `${what} serviceEndpoint is not an absolute URL; the DID owner must fix it`,
    )
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new IdentityError('bad_endpoint', `${what} serviceEndpoint must be http(s), not ${url.protocol}`)
  }
  if (url.username !== '' || url.password !== '') {
    throw new IdentityError('bad_endpoint', `${what} serviceEndpoint embeds credentials; refusing to use it`)
  }
  if (url.search !== '' || url.hash !== '' || (url.pathname !== '/' && url.pathname !== '')) {
    throw new IdentityError(
      'bad_endpoint',
      `${what} serviceEndpoint must be a bare origin (XRPC lives at /xrpc on it), without path, query or fragment`,
    )
  }
  return url.origin
}

export class DidDocumentView {
  constructor(
    readonly did: string,
    readonly doc: DidDocument,
  ) {
    if (doc.id !== did) {
      throw new IdentityError('malformed_document', `DID document id does not match ${did}`)
    }
  }

  private matches(entryId: string, fragment: string): boolean {
    const frag = fragmentOf(fragment)
    return entryId === `#${frag}` || entryId === `${this.did}#${frag}`
  }

  /** The service entry with this id (`#frag` or `frag`), as published. */
  service(fragment: string): ServiceEntry | undefined {
    return this.doc.service?.find((s) => this.matches(s.id, fragment))
  }

  /**
   * Origin of the service `fragment`; with `type`, the entry's type must equal it.
   * Throws `missing_service`, `wrong_service_type` or `bad_endpoint`.
   */
  serviceEndpoint(fragment: string, type?: string): string {
    const what = `${this.did}#${fragmentOf(fragment)}`
    const entry = this.service(fragment)
    if (entry === undefined) {
      throw new IdentityError('missing_service', `${this.did} publishes no #${fragmentOf(fragment)} service`)
    }
    if (type !== undefined && entry.type !== type) {
      throw new IdentityError(
        'wrong_service_type',
        `${what} has type "${entry.type.slice(0, 64)}", expected ${type}; the entry is ignored`,
      )
    }
    return parseServiceEndpoint(entry.serviceEndpoint, what)
  }

  /** The author's repo host: `#atproto_pds`, which must be typed AtprotoPersonalDataServer. */
  pdsEndpoint(): string {
    return this.serviceEndpoint('atproto_pds', PDS_SERVICE_TYPE)
  }

  /** `#atproto_space_host` if published (type unchecked), else `#atproto_pds` (spec §2.2 syncer rule). */
  spaceHostEndpoint(): string {
    if (this.service('atproto_space_host') !== undefined) return this.serviceEndpoint('atproto_space_host')
    return this.pdsEndpoint()
  }

  /** The verification method `fragment` as a did:key, or undefined if the document has no such entry. */
  verificationKey(fragment: string): string | undefined {
    const method = this.doc.verificationMethod?.find((m) => this.matches(m.id, fragment))
    if (method === undefined) return undefined
    const what = `${this.did}#${fragmentOf(fragment)}`
    let didKey: string | undefined
    try {
      if (typeof method.publicKeyMultibase === 'string') {
        didKey = didKeyOfMethod(method.type, method.publicKeyMultibase)
      }
    } catch {
      didKey = undefined
    }
    if (didKey === undefined) {
      throw new IdentityError(
        'bad_key',
        `${what} is not a usable secp256k1/P-256 multibase key; signatures by ${this.did} cannot be checked`,
      )
    }
    return didKey
  }

  /** The `#atproto` signing key as did:key; throws `missing_key` when absent. */
  signingKey(): string {
    const key = this.verificationKey('atproto')
    if (key === undefined) {
      throw new IdentityError(
        'missing_key',
        `${this.did} publishes no #atproto key; its commits and tokens cannot be verified`,
      )
    }
    return key
  }
}
