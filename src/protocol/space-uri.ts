/**
 * Space references and space record URIs.
 *
 *   space ref : at://{spaceDid}/space/{spaceType}/{skey}
 *   record    : at://{spaceDid}/space/{spaceType}/{skey}/{authorDid}/{collection}/{rkey}
 *
 * Invariants: the literal segment `space` sits where a public collection NSID would be (an NSID has >= 2
 * dots, so no collision); authority and author are DIDs (never handles); skey and rkey follow record-key
 * syntax (<= 512 chars); ASCII only, no query, no fragment, no trailing slash, <= 8192 chars. The canonical
 * string is the one used in tokens, commit contexts and storage keys; space refs compare as exact strings,
 * so `formatSpaceUri(parseSpaceUri(s)) === s` for every accepted `s`.
 */
import { isValidDid, isValidNsid, isValidRecordKey } from '@atproto/syntax'
import { ProtocolError } from './errors.js'

export const MAX_AT_URI_LENGTH = 8192
export const MAX_KEY_LENGTH = 512

export interface SpaceRef {
  /** Authority DID: root of trust, issues credentials. */
  did: string
  /** Space type NSID. */
  type: string
  /** Space key (record-key syntax). */
  skey: string
}

export interface SpaceRecordRef extends SpaceRef {
  author: string
  collection: string
  rkey: string
}

const PREFIX = 'at://'

function checkedSegments(input: unknown, reason: 'invalid_space_uri' | 'invalid_record_uri'): string[] {
  const what = reason === 'invalid_space_uri' ? 'space URI' : 'space record URI'
  if (typeof input !== 'string') throw new ProtocolError(reason, `${what} must be a string`)
  if (input.length > MAX_AT_URI_LENGTH) {
    throw new ProtocolError(reason, `${what} is ${input.length} chars; the limit is ${MAX_AT_URI_LENGTH}`)
  }
  // eslint-disable-next-line no-control-regex
  if (!/^[\x21-\x7e]*$/.test(input)) {
    throw new ProtocolError(reason, `${what} must be printable ASCII without spaces`)
  }
  if (!input.startsWith(PREFIX)) throw new ProtocolError(reason, `${what} must start with "at://"`)
  if (/[?#]/.test(input)) throw new ProtocolError(reason, `${what} must not carry a query or fragment`)
  return input.slice(PREFIX.length).split('/')
}

function checkRef(
  did: string,
  literal: string,
  type: string,
  skey: string,
  reason: 'invalid_space_uri' | 'invalid_record_uri',
): SpaceRef {
  if (!isValidDid(did)) throw new ProtocolError(reason, `authority "${did}" is not a DID`)
  if (literal !== 'space')
    throw new ProtocolError(reason, `expected the literal segment "space" after the authority`)
  if (!isValidNsid(type)) throw new ProtocolError(reason, `space type "${type}" is not an NSID`)
  if (!isValidRecordKey(skey) || skey.length > MAX_KEY_LENGTH) {
    throw new ProtocolError(reason, `space key "${skey}" is not a valid record key`)
  }
  return { did, type, skey }
}

/** Parses a 3-part space ref; rejects 6-part record URIs and anything non-canonical. */
export function parseSpaceUri(input: unknown): SpaceRef {
  const segs = checkedSegments(input, 'invalid_space_uri')
  if (segs.length !== 4) {
    throw new ProtocolError(
      'invalid_space_uri',
      `space URI must be at://{did}/space/{type}/{skey} (got ${segs.length} path segments)`,
    )
  }
  const [did, literal, type, skey] = segs as [string, string, string, string]
  return checkRef(did, literal, type, skey, 'invalid_space_uri')
}

export function formatSpaceUri(ref: SpaceRef): string {
  return `${PREFIX}${ref.did}/space/${ref.type}/${ref.skey}`
}

/** Validates and returns the canonical space ref string. */
export function canonicalSpaceUri(input: unknown): string {
  return formatSpaceUri(parseSpaceUri(input))
}

export function parseSpaceRecordUri(input: unknown): SpaceRecordRef {
  const segs = checkedSegments(input, 'invalid_record_uri')
  if (segs.length !== 7) {
    throw new ProtocolError(
      'invalid_record_uri',
      `space record URI must be at://{did}/space/{type}/{skey}/{author}/{collection}/{rkey}`,
    )
  }
  const [did, literal, type, skey, author, collection, rkey] = segs as [
    string,
    string,
    string,
    string,
    string,
    string,
    string,
  ]
  const ref = checkRef(did, literal, type, skey, 'invalid_record_uri')
  if (!isValidDid(author)) throw new ProtocolError('invalid_record_uri', `author "${author}" is not a DID`)
  if (!isValidNsid(collection)) {
    throw new ProtocolError('invalid_record_uri', `collection "${collection}" is not an NSID`)
  }
  if (!isValidRecordKey(rkey) || rkey.length > MAX_KEY_LENGTH) {
    throw new ProtocolError('invalid_record_uri', `record key "${rkey}" is not valid`)
  }
  return { ...ref, author, collection, rkey }
}

export function formatSpaceRecordUri(ref: SpaceRecordRef): string {
  return `${formatSpaceUri(ref)}/${ref.author}/${ref.collection}/${ref.rkey}`
}
