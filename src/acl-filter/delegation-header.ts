/**
 * The caller's delegation token for a space, passed to us in the `X-Space-Delegation` header so we can ask
 * the space's authority about them (spec §3.1, §6.4).
 *
 * Invariants: before it is sent anywhere the token must verify (signature by its issuer, not expired, the
 * authority's space-host audience) and be for exactly this space and this caller — a token minted for
 * someone else, or for another space, is refused here, so nobody can get admitted with another user's token.
 * The check is stateless (it never looks at what we index), so its answer reveals nothing about spaces.
 * Its jti is left unrecorded: the authority consumes it on the exchange.
 */
import { isIdentityError } from '../identity/identity-error.js'
import { verifyDelegationToken } from '../protocol/delegation-token.js'
import { isProtocolError } from '../protocol/errors.js'
import type { KeyResolver } from '../protocol/token-claims.js'

export const DELEGATION_HEADER = 'x-space-delegation'

export class DelegationTokenError extends Error {
  override readonly name = 'DelegationTokenError'
}

export async function checkDelegationToken(
  token: string,
  expected: { did: string; space: string; resolveKey: KeyResolver },
): Promise<void> {
  let iss: string
  try {
    iss = (await verifyDelegationToken(token, { resolveKey: expected.resolveKey, space: expected.space }))
      .claims.iss
  } catch (err) {
    if (isProtocolError(err))
      throw new DelegationTokenError(`${DELEGATION_HEADER}: ${err.message}`, { cause: err })
    if (isIdentityError(err)) {
      throw new DelegationTokenError(
        `${DELEGATION_HEADER}: the token issuer's DID document could not be fetched`,
        {
          cause: err,
        },
      )
    }
    throw err
  }
  if (iss !== expected.did) {
    throw new DelegationTokenError(
      `${DELEGATION_HEADER}: the delegation token was issued to another user than the caller`,
    )
  }
}
