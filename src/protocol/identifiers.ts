/**
 * Validators for the atproto identifiers a host sends us: DID, NSID, record key, TID. Thin wrappers over
 * @atproto/syntax that raise typed ProtocolErrors (so a bad identifier in a host response is reported like
 * any other protocol failure) and a TID comparison helper. TIDs are 13-char base32-sortable strings, so
 * string order is time order.
 */
import { isValidDid, isValidNsid, isValidRecordKey, isValidTid } from '@atproto/syntax'
import { ProtocolError } from './errors.js'
import { MAX_KEY_LENGTH } from './space-uri.js'

export function assertDid(value: unknown, what = 'DID'): asserts value is string {
  if (!isValidDid(value)) throw new ProtocolError('invalid_did', `${what} is not a valid DID`)
}

export function assertNsid(value: unknown, what = 'collection'): asserts value is string {
  if (!isValidNsid(value)) throw new ProtocolError('invalid_nsid', `${what} is not a valid NSID`)
}

export function assertRecordKey(value: unknown, what = 'record key'): asserts value is string {
  if (!isValidRecordKey(value) || (value as string).length > MAX_KEY_LENGTH) {
    throw new ProtocolError('invalid_rkey', `${what} is not a valid record key`)
  }
}

export function assertTid(value: unknown, what = 'rev'): asserts value is string {
  if (!isValidTid(value)) throw new ProtocolError('invalid_tid', `${what} is not a valid TID`)
}

/** Compares two TIDs (lexicographic order is chronological order). */
export function compareTid(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

const S32 = '234567abcdefghijklmnopqrstuvwxyz'

/** Milliseconds since the epoch encoded in a TID (its first 11 characters are microseconds). */
export function tidTimestampMs(tid: string): number {
  assertTid(tid)
  let micros = 0
  for (const ch of tid.slice(0, 11)) micros = micros * 32 + S32.indexOf(ch)
  return Math.floor(micros / 1000)
}
