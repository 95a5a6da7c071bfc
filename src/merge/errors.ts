/**
 * Typed failures of the merge store. `reason` is a short stable code (usable as a metric label); `message`
 * says what was wrong and what to do about it. Failures of ClickHouse itself are passed through unchanged
 * (they carry the server's code and type), because retrying them is the caller's decision.
 */

export const MERGE_ERROR_REASONS = ['invalid_input', 'bad_cursor', 'closed', 'config'] as const

export type MergeErrorReason = (typeof MERGE_ERROR_REASONS)[number]

export class MergeError extends Error {
  override readonly name = 'MergeError'
  constructor(
    readonly reason: MergeErrorReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options)
  }
}

/** Throws a MergeError('invalid_input') unless `cond` holds. */
export function ensureInput(cond: unknown, message: string): asserts cond {
  if (!cond) throw new MergeError('invalid_input', message)
}
