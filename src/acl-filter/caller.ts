/**
 * Who is calling: the result of authenticating one API request, and why authentication failed.
 *
 * Invariants: a `user` caller is a bare DID proven by a service-auth JWT signed with that DID's current
 * `#atproto` key; a `space_credential` caller proved possession of the DPoP key a space credential is bound
 * to and may read that one space only (the credential names no user). Authentication says nothing about
 * admission: that is the ACL filter's decision, per space.
 */
import type { ProtocolErrorReason } from '../protocol/errors.js'

export type Caller =
  | { kind: 'user'; did: string }
  | {
      kind: 'space_credential'
      /** Canonical space ref the credential is for (its `sub`). */
      space: string
      /** Credential expiry, Unix ms. */
      expiresAt: number
    }

/**
 * Why a request could not be authenticated: a protocol-level token/proof reason, or one of
 * - `missing`: no Authorization header;
 * - `unsupported_scheme`: an Authorization scheme other than Bearer or DPoP;
 * - `missing_dpop_proof`: a credential without its DPoP header;
 * - `issuer_unresolvable`: the signer's DID document could not be fetched (fail closed).
 */
export type CallerAuthReason =
  ProtocolErrorReason | 'missing' | 'unsupported_scheme' | 'missing_dpop_proof' | 'issuer_unresolvable'

export class CallerAuthError extends Error {
  override readonly name = 'CallerAuthError'
  constructor(
    readonly reason: CallerAuthReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options)
  }
}

export function isCallerAuthError(err: unknown): err is CallerAuthError {
  return err instanceof CallerAuthError
}
