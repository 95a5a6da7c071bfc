/**
 * The API's XRPC errors. Conventions: 400 `InvalidRequest` with a message that names the bad parameter;
 * 401 for authentication (named after the reference implementation's AuthRequired family, spec §8.2);
 * 400 `SpaceNotFound` for every space the caller may not read.
 *
 * Invariant: "does not exist" and "may not read" are one answer — `spaceNotFound()` has a fixed status, name
 * and message (no URI echoed, no reason), so the two are byte-for-byte identical and a caller cannot probe
 * which spaces exist. Authentication failures happen before any space is looked at, so their detail leaks
 * nothing about spaces.
 */
import { AuthRequiredError, InvalidRequestError, type XRPCError } from '@atproto/xrpc-server'
import type { CallerAuthError, CallerAuthReason } from '../acl-filter/caller.js'

export const SPACE_NOT_FOUND_MESSAGE =
  'space not found, or not readable by the caller (where the space authority decides access, send your delegation token for the space in X-Space-Delegation)'

export function spaceNotFound(): XRPCError {
  return new InvalidRequestError(SPACE_NOT_FOUND_MESSAGE, 'SpaceNotFound')
}

export function recordNotFound(): XRPCError {
  return new InvalidRequestError('record not found in this space', 'RecordNotFound')
}

export function invalidRequest(message: string): XRPCError {
  return new InvalidRequestError(message)
}

export function invalidDelegationToken(message: string): XRPCError {
  return new InvalidRequestError(message, 'InvalidDelegationToken')
}

export function adminAuthRequired(): XRPCError {
  return new AuthRequiredError('admin methods need "Authorization: Bearer <admin token>"', 'AuthRequired')
}

const AUTH_ERROR_NAMES: Partial<Record<CallerAuthReason, string>> = {
  missing: 'AuthRequired',
  unsupported_scheme: 'InvalidToken',
  missing_dpop_proof: 'MissingDpopProof',
  issuer_unresolvable: 'AuthRequired',
  token_expired: 'JwtExpired',
  token_replayed: 'JwtReplayed',
  bad_token_type: 'BadJwtType',
  bad_token_issuer: 'BadJwtIss',
  bad_token_subject: 'BadJwtSub',
  bad_token_audience: 'BadJwtAudience',
  bad_token_lxm: 'BadJwtLexiconMethod',
  bad_token_signature: 'BadJwtSignature',
  bad_token_cnf: 'BadJwtCnf',
  bad_dpop_proof: 'BadDpopProof',
  dpop_key_mismatch: 'DpopKeyMismatch',
}

/** 401 for a request that could not be authenticated. */
export function authError(err: CallerAuthError): XRPCError {
  return new AuthRequiredError(err.message, AUTH_ERROR_NAMES[err.reason] ?? 'BadJwt')
}
