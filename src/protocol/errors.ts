/**
 * Typed failures of the protocol core.
 *
 * Every check that can reject input from the network throws a `ProtocolError` whose `reason` is a short,
 * stable, machine-readable code (used as a bounded metric label and in the CLI's JSON output) and whose
 * `message` tells a human what was wrong. Reasons are grouped by the stage that raises them so that an
 * operator can tell "the host lied about the CAR" from "the token expired".
 */

export const PROTOCOL_ERROR_REASONS = [
  // identifiers
  'invalid_space_uri',
  'invalid_record_uri',
  'invalid_did',
  'invalid_nsid',
  'invalid_rkey',
  'invalid_tid',
  // commits
  'malformed_commit',
  'unsupported_commit_version',
  'rev_mismatch',
  'bad_mac',
  'bad_signature',
  'invalid_did_key',
  // CAR
  'car_too_large',
  'car_truncated',
  'malformed_car',
  'bad_car_header',
  'commit_not_first',
  'index_not_second',
  'malformed_index',
  'index_hash_mismatch',
  'block_cid_mismatch',
  'unexpected_block',
  'missing_records',
  'record_cid_mismatch',
  // incremental ops
  'malformed_op',
  'ops_out_of_order',
  'ops_rev_mismatch',
  'since_ahead_of_head',
  'ops_hash_mismatch',
  // tokens and DPoP
  'malformed_token',
  'bad_token_type',
  'bad_token_alg',
  'bad_token_kid',
  'bad_token_signature',
  'token_expired',
  'token_not_yet_valid',
  'bad_token_issuer',
  'bad_token_subject',
  'bad_token_audience',
  'bad_token_lxm',
  'bad_token_cnf',
  'bad_dpop_proof',
  'dpop_key_mismatch',
  'token_replayed',
  'token_lifetime_too_long',
] as const

export type ProtocolErrorReason = (typeof PROTOCOL_ERROR_REASONS)[number]

export class ProtocolError extends Error {
  override readonly name = 'ProtocolError'
  constructor(
    readonly reason: ProtocolErrorReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options)
  }

  toJSON(): { error: ProtocolErrorReason; message: string } {
    return { error: this.reason, message: this.message }
  }
}

/** Throws a ProtocolError with `reason` unless `cond` holds. */
export function ensure(cond: unknown, reason: ProtocolErrorReason, message: string): asserts cond {
  if (!cond) throw new ProtocolError(reason, message)
}

export function isProtocolError(err: unknown): err is ProtocolError {
  return err instanceof ProtocolError
}
