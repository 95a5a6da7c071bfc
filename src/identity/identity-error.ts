/**
 * Typed failures of resolving a DID and reading what the crawler needs from its document.
 *
 * `reason` is a short stable code (bounded metric label); `message` says what is wrong and what to do.
 * Invariant: `unreachable` is the only reason worth retrying unchanged (its `cause` is the HostError with
 * the transport class); every other reason is a statement about the document and holds until the DID's
 * owner changes it.
 */
export const IDENTITY_ERROR_REASONS = [
  'invalid_did',
  'unsupported_did_method',
  'did_not_found',
  'malformed_document',
  'missing_key',
  'bad_key',
  'missing_service',
  'wrong_service_type',
  'bad_endpoint',
  'unreachable',
] as const

export type IdentityErrorReason = (typeof IDENTITY_ERROR_REASONS)[number]

export class IdentityError extends Error {
  override readonly name = 'IdentityError'
  constructor(
    readonly reason: IdentityErrorReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options)
  }

  /** Whether resolving again later may succeed without the DID document changing. */
  get retryable(): boolean {
    return this.reason === 'unreachable'
  }

  toJSON(): { error: IdentityErrorReason; message: string } {
    return { error: this.reason, message: this.message }
  }
}

export function isIdentityError(err: unknown): err is IdentityError {
  return err instanceof IdentityError
}
