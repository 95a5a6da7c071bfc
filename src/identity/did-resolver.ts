/**
 * DID resolution for the crawler: did:plc (configurable PLC directory) and did:web, cached, over the
 * hostile-host HTTP client, returning a typed `DidDocumentView`.
 *
 * Invariants:
 * - Only did:plc and did:web (hostname-only) are accepted; the document's `id` must equal the DID.
 * - `resolve` serves from the cache (stale entries are refreshed by @atproto/identity), which holds at most
 *   `cacheEntries` documents (did-cache.ts: memory stays bounded however many authors pass); `refresh` bypasses
 *   it, for the single re-resolution after a signature failure (key rotation) or a migration hint. A
 *   refresh within `minRefreshIntervalMs` of the last fetch returns that fetch: a hostile host answering
 *   every repo with bad signatures must not turn into a storm of directory lookups.
 * - Concurrent calls for the same DID (and mode) share one lookup.
 * - Every failure is an IdentityError; only `unreachable` is worth retrying unchanged.
 */
import {
  DidNotFoundError,
  DidResolver,
  PoorlyFormattedDidDocumentError,
  PoorlyFormattedDidError,
  UnsupportedDidMethodError,
  UnsupportedDidWebPathError,
} from '@atproto/identity'
import { isValidDid } from '@atproto/syntax'
import { isHostError } from '../crawler/host-errors.js'
import type { HttpClient } from '../crawler/http-client.js'
import { BoundedDidCache, DEFAULT_DID_CACHE_ENTRIES } from './did-cache.js'
import { DidDocumentView } from './did-document.js'
import { guardedFetch } from './guarded-fetch.js'
import { IdentityError, isIdentityError } from './identity-error.js'

export const DEFAULT_PLC_URL = 'https://plc.directory'

export interface IdentityResolverOptions {
  /** Carries the endpoint policy: production refuses non-public addresses, devnet allows loopback. */
  http: HttpClient
  plcUrl?: string
  /** Budget for one document fetch. */
  timeoutMs?: number
  /** After this a cached document is refreshed on next use (default 1 h). */
  staleTtlMs?: number
  /** After this a cached document is not used at all (default 24 h). */
  maxTtlMs?: number
  /** `refresh` within this long of the last fetch reuses it (default 10 s). */
  minRefreshIntervalMs?: number
  /** Documents kept at most, least recently used dropped first (default DEFAULT_DID_CACHE_ENTRIES). */
  cacheEntries?: number
}

function checkDid(did: string): void {
  if (!isValidDid(did)) throw new IdentityError('invalid_did', 'not a syntactically valid DID')
  if (!did.startsWith('did:plc:') && !did.startsWith('did:web:')) {
    throw new IdentityError(
      'unsupported_did_method',
      `${did.slice(0, 64)} uses a DID method other than plc or web`,
    )
  }
}

function mapResolveError(did: string, err: unknown): IdentityError {
  if (isIdentityError(err)) return err
  if (isHostError(err)) {
    if (err.class === 'blocked_address') {
      return new IdentityError(
        'bad_endpoint',
        `DID document of ${did} is hosted at a refused address: ${err.message}`,
        {
          cause: err,
        },
      )
    }
    if (err.class === 'bad_json' || err.class === 'too_large' || err.class === 'bad_response') {
      return new IdentityError('malformed_document', `DID document of ${did} is unusable: ${err.message}`, {
        cause: err,
      })
    }
    return new IdentityError('unreachable', `could not fetch the DID document of ${did}: ${err.message}`, {
      cause: err,
    })
  }
  if (err instanceof DidNotFoundError) return new IdentityError('did_not_found', `${did} does not resolve`)
  if (err instanceof UnsupportedDidMethodError) {
    return new IdentityError('unsupported_did_method', `${did} uses an unsupported DID method`)
  }
  if (err instanceof PoorlyFormattedDidError || err instanceof UnsupportedDidWebPathError) {
    return new IdentityError('invalid_did', `${did} is not resolvable (did:web must name a bare hostname)`)
  }
  // By name: Response.json() throws the SyntaxError of the realm that created the Response.
  if (err instanceof PoorlyFormattedDidDocumentError || (err as Error | null)?.name === 'SyntaxError') {
    return new IdentityError('malformed_document', `DID document of ${did} is not a valid DID document`)
  }
  // The PLC resolver throws a plain Error carrying the HTTP status for non-404 failures; 410 is a tombstone.
  const status = (err as { status?: unknown } | null)?.status
  if (status === 410) return new IdentityError('did_not_found', `${did} is tombstoned in the PLC directory`)
  return new IdentityError(
    'unreachable',
    `could not resolve ${did}${typeof status === 'number' ? ` (HTTP ${status})` : ''}; retry later`,
    { cause: err },
  )
}

export class IdentityResolver {
  private readonly resolver: DidResolver
  private readonly cache: BoundedDidCache
  private readonly minRefreshIntervalMs: number
  private readonly inflight = new Map<string, Promise<DidDocumentView>>()

  constructor(opts: IdentityResolverOptions) {
    this.cache = new BoundedDidCache(
      opts.cacheEntries ?? DEFAULT_DID_CACHE_ENTRIES,
      opts.staleTtlMs ?? 60 * 60 * 1000,
      opts.maxTtlMs ?? 24 * 60 * 60 * 1000,
    )
    this.minRefreshIntervalMs = opts.minRefreshIntervalMs ?? 10_000
    this.resolver = new DidResolver({
      plcUrl: opts.plcUrl ?? DEFAULT_PLC_URL,
      timeout: opts.timeoutMs ?? 10_000,
      didCache: this.cache,
      fetch: guardedFetch(opts.http),
    })
  }

  /** The DID's document, from the cache when fresh enough. */
  resolve(did: string): Promise<DidDocumentView> {
    return this.shared(did, false)
  }

  /** Re-resolves bypassing the cache (after a signature failure or a migration hint) and updates the cache. */
  refresh(did: string): Promise<DidDocumentView> {
    return this.shared(did, true)
  }

  private shared(did: string, force: boolean): Promise<DidDocumentView> {
    const key = `${force ? 'refresh' : 'resolve'} ${did}`
    let pending = this.inflight.get(key)
    if (pending === undefined) {
      pending = this.load(did, force).finally(() => this.inflight.delete(key))
      this.inflight.set(key, pending)
    }
    return pending
  }

  private async load(did: string, force: boolean): Promise<DidDocumentView> {
    checkDid(did)
    if (force) {
      const cached = await this.cache.checkCache(did)
      if (cached !== null && Date.now() - cached.updatedAt < this.minRefreshIntervalMs) {
        return new DidDocumentView(did, cached.doc)
      }
    }
    let doc
    try {
      doc = await this.resolver.resolve(did, force)
    } catch (err) {
      throw mapResolveError(did, err)
    }
    if (doc === null) throw new IdentityError('did_not_found', `${did} does not resolve (no DID document)`)
    return new DidDocumentView(did, doc)
  }
}
