/**
 * Building blocks shared by the verifiers of atproto-signed tokens (delegation token, space credential,
 * service auth): typed claim readers, the clock, issuer-key signature checks with one re-resolution, and
 * the replay hook.
 *
 * Invariants:
 * - Outside facts come in as parameters: the key resolver, the replay store and `now`; nothing here does I/O.
 * - Time is whole Unix seconds (`now` is floored), as in JWT NumericDate comparisons upstream.
 * - A signature that fails under the cached key is retried exactly once under a freshly resolved key
 *   (key rotation), and only if that key differs.
 */
import { ProtocolError, isProtocolError, type ProtocolErrorReason } from './errors.js'
import { verifyJwsSignature, type JsonObject, type ParsedJws, type SignaturePolicy } from './jws.js'

/**
 * Looks up the did:key that `did`'s DID document publishes under verification method `keyId` (e.g.
 * `#atproto`). Returns null when the document has no such entry. `forceRefresh` asks to bypass caches; it
 * is set on the single retry after a signature failure. Network failures should be thrown as-is.
 */
export type KeyResolver = (did: string, keyId: string, forceRefresh: boolean) => Promise<string | null>

/** Which single-use item a replay check is about, and until when it must be remembered. */
export interface ReplayEntry {
  kind: 'delegation' | 'client_attestation' | 'service_auth' | 'dpop'
  /** Scope of uniqueness: the token issuer (client_id for attestations, key thumbprint for DPoP). */
  iss: string
  jti: string
  /** Unix seconds after which the entry may be forgotten. */
  expiresAt: number
}

/** Records the entry and returns true if it had been seen before (i.e. this use is a replay). */
export type ReplayCheck = (entry: ReplayEntry) => Promise<boolean>

/** Current time in whole Unix seconds; `now` overrides the clock (tests, replays). */
export function unixNow(now?: number): number {
  const t = now ?? Date.now() / 1000
  if (!Number.isFinite(t)) throw new RangeError('now must be a finite number of seconds')
  return Math.floor(t)
}

/** A required, non-empty string claim. */
export function stringClaim(
  payload: JsonObject,
  name: string,
  reason: ProtocolErrorReason,
  what: string,
): string {
  const value = payload[name]
  if (typeof value !== 'string' || value.length === 0) {
    throw new ProtocolError(reason, `${what} has no "${name}" claim (non-empty string required)`)
  }
  return value
}

/** An optional string claim: absent is fine, present-but-not-a-string is malformed. */
export function optionalStringClaim(payload: JsonObject, name: string, what: string): string | undefined {
  const value = payload[name]
  if (value === undefined) return undefined
  if (typeof value !== 'string') {
    throw new ProtocolError('malformed_token', `${what} claim "${name}" must be a string`)
  }
  return value
}

/** A NumericDate claim (finite number of seconds). */
export function dateClaim(payload: JsonObject, name: string, what: string): number {
  const value = payload[name]
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new ProtocolError('malformed_token', `${what} has no numeric "${name}" claim`)
  }
  return value
}

export function optionalDateClaim(payload: JsonObject, name: string, what: string): number | undefined {
  return payload[name] === undefined ? undefined : dateClaim(payload, name, what)
}

/** Rejects once `now - skew >= exp` (so with skew 5 a token is accepted until 5 s after `exp`). */
export function checkNotExpired(exp: number, now: number, skewSec: number, what: string): void {
  if (now - skewSec >= exp) {
    throw new ProtocolError('token_expired', `${what} expired ${Math.floor(now - exp)} s ago`)
  }
}

async function trySignature(
  jws: ParsedJws,
  didKey: string,
  policy: SignaturePolicy,
  what: string,
  keyId: string,
): Promise<ProtocolError | null> {
  try {
    if (await verifyJwsSignature(jws, didKey, policy)) return null
    return new ProtocolError(
      'bad_token_signature',
      `${what} signature does not verify under the issuer's ${keyId} key`,
    )
  } catch (err) {
    if (isProtocolError(err)) return err
    throw err
  }
}

/**
 * Verifies `jws` under the key `did` publishes as `keyId`, re-resolving once with cache bypass on failure.
 * A missing key raises `missingKeyReason`.
 */
export async function verifyIssuerSignature(
  jws: ParsedJws,
  did: string,
  keyId: string,
  resolveKey: KeyResolver,
  opts: { policy: SignaturePolicy; what: string; missingKeyReason: ProtocolErrorReason },
): Promise<void> {
  const { policy, what, missingKeyReason } = opts
  const cached = await resolveKey(did, keyId, false)
  const first = cached === null ? null : await trySignature(jws, cached, policy, what, keyId)
  if (cached !== null && first === null) return

  const fresh = await resolveKey(did, keyId, true)
  if (fresh !== null && fresh !== cached) {
    const second = await trySignature(jws, fresh, policy, what, keyId)
    if (second === null) return
    throw second
  }
  if (first !== null) throw first
  throw new ProtocolError(missingKeyReason, `${what} issuer's DID document has no ${keyId} key`)
}

/** Runs the replay hook, if any; a seen entry is `token_replayed`. */
export async function checkReplay(
  seen: ReplayCheck | undefined,
  entry: ReplayEntry,
  what: string,
): Promise<void> {
  if (seen && (await seen(entry))) {
    throw new ProtocolError('token_replayed', `${what} has already been used (jti seen before)`)
  }
}
