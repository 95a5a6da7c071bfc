/**
 * Rules common to the two DID-signed space tokens (delegation token and space credential): header checks,
 * `kid` handling, expiry skew, the subject (a space ref) and the space-host audience string.
 *
 * Invariants (reference implementation behaviour):
 * - `typ` is compared exactly; `alg` is ES256K or ES256 and must match the signing key's type.
 * - `kid` is required and names the exact verification method: `#atproto` or `#atproto_space` (leading `#`
 *   optional on the wire). There is no fallback from one to the other.
 * - Expiry is accepted until `exp + 5 s`; `iat`/`nbf` are not checked.
 * - `sub` is a canonical 3-part space ref; space refs compare as exact strings.
 */
import { ProtocolError } from './errors.js'
import { atprotoAlgOf, parseJws, type ParsedJws } from './jws.js'
import { parseSpaceUri, type SpaceRef } from './space-uri.js'
import { stringClaim } from './token-claims.js'

export const SPACE_TOKEN_CLOCK_SKEW_SEC = 5

/** The two verification methods a space token may be signed with. */
export type SpaceKeyId = '#atproto' | '#atproto_space'

/** The audience of delegation tokens and client attestations: the authority acting as space host. */
export function spaceHostAudience(spaceDid: string): string {
  return `${spaceDid}#atproto_space_host`
}

/** Normalises a header `kid` to `#atproto` / `#atproto_space`; anything else is `bad_token_kid`. */
export function spaceKeyIdOf(kid: unknown, what: string): SpaceKeyId {
  if (kid === undefined) throw new ProtocolError('bad_token_kid', `${what} header has no "kid"`)
  if (typeof kid !== 'string')
    throw new ProtocolError('bad_token_kid', `${what} header "kid" must be a string`)
  const id = kid.startsWith('#') ? kid.slice(1) : kid
  if (id === 'atproto') return '#atproto'
  if (id === 'atproto_space') return '#atproto_space'
  throw new ProtocolError('bad_token_kid', `${what} header "kid" must be #atproto or #atproto_space`)
}

/** Parses a space token and checks the header fields that do not need a key. */
export function parseSpaceToken(
  token: unknown,
  typ: string,
  what: string,
): { jws: ParsedJws; keyId: SpaceKeyId } {
  const jws = parseJws(token)
  if (jws.header['typ'] !== typ) {
    throw new ProtocolError('bad_token_type', `${what} header "typ" must be "${typ}"`)
  }
  atprotoAlgOf(jws)
  return { jws, keyId: spaceKeyIdOf(jws.header['kid'], what) }
}

/** Reads `sub` and parses it as a space ref (`bad_token_subject` if it is not one). */
export function spaceSubject(jws: ParsedJws, what: string): { sub: string; space: SpaceRef } {
  const sub = stringClaim(jws.payload, 'sub', 'bad_token_subject', what)
  try {
    return { sub, space: parseSpaceUri(sub) }
  } catch (err) {
    if (!(err instanceof ProtocolError)) throw err
    // The parser's detail quotes parts of `sub`; keep token contents out of the message.
    throw new ProtocolError('bad_token_subject', `${what} "sub" is not a canonical space ref (${err.reason})`)
  }
}

/** When the caller names a space, `sub` must be exactly that string. */
export function checkExpectedSpace(sub: string, expected: string | undefined, what: string): void {
  if (expected !== undefined && sub !== expected) {
    throw new ProtocolError('bad_token_subject', `${what} is for a different space than the one requested`)
  }
}
