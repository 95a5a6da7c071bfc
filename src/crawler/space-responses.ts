/**
 * Shape checks for the JSON outputs of the space methods a syncer calls (lexicons in shared/spec).
 *
 * Hosts are untrusted, so every output is checked field by field before anything reads it: identifiers
 * through @atproto/syntax-backed validators, commits through `parseSignedCommit`, ops through
 * `parseRepoOp`, CIDs as CIDv1 dag-cbor. Invariants: a parser either returns a fully typed value or throws
 * (`ShapeError` or the protocol core's `ProtocolError`); one bad entry rejects the whole page, since a
 * host that lies about one entry is not trusted for its neighbours. Values are returned as the host's
 * claims: record values are not re-hashed here (the caller compares CIDs against authenticated state).
 */
import { decodeBase64 } from '../protocol/bytes.js'
import { parseSignedCommit, type SignedCommit } from '../protocol/commit.js'
import { assertDid, assertNsid, assertRecordKey, assertTid } from '../protocol/identifiers.js'
import { parseRecordCid } from '../protocol/record-codec.js'
import { parseRepoOp, type RepoOp } from '../protocol/repo-ops.js'
import { formatSpaceUri, parseSpaceRecordUri } from '../protocol/space-uri.js'

export class ShapeError extends Error {
  override readonly name = 'ShapeError'
}

type Json = Record<string, unknown>

const MAX_CURSOR_LENGTH = 1024
const JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/

function object(value: unknown, what: string): Json {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ShapeError(`${what} must be a JSON object`)
  }
  return value as Json
}

function array(value: unknown, what: string): unknown[] {
  if (!Array.isArray(value)) throw new ShapeError(`${what} must be an array`)
  return value
}

function string(value: unknown, what: string): string {
  if (typeof value !== 'string') throw new ShapeError(`${what} must be a string`)
  return value
}

function optionalCursor(value: unknown): string | undefined {
  if (value === undefined) return undefined
  const cursor = string(value, 'cursor')
  if (cursor.length === 0 || cursor.length > MAX_CURSOR_LENGTH) {
    throw new ShapeError(`cursor must be 1..${MAX_CURSOR_LENGTH} chars`)
  }
  return cursor
}

function withCursor<T extends object>(value: T, cursor: string | undefined): T & { cursor?: string } {
  return cursor === undefined ? value : { ...value, cursor }
}

function cidString(value: unknown, what: string): string {
  parseRecordCid(value, 'malformed_op', what)
  return value as string
}

export function parseCredentialOutput(body: unknown): string {
  const credential = string(object(body, 'output').credential, 'credential')
  if (!JWS.test(credential) || credential.length > 16 * 1024) {
    throw new ShapeError('credential must be a compact JWS')
  }
  return credential
}

/** One writer-set entry: unsigned hints from the authority (spec §4.3). */
export interface WriterHint {
  did: string
  rev: string
  /** sha256 of the LtHash state as last reported to the authority (32 bytes). */
  hash: Uint8Array
}

export interface ListReposPage {
  repos: WriterHint[]
  cursor?: string
}

function bytes32(value: unknown, what: string): Uint8Array {
  const b64 = object(value, what).$bytes
  const bytes = typeof b64 === 'string' ? decodeBase64(b64) : null
  if (bytes === null || bytes.length !== 32) throw new ShapeError(`${what} must be {"$bytes"} of 32 bytes`)
  return bytes
}

export function parseListReposOutput(body: unknown): ListReposPage {
  const out = object(body, 'output')
  const repos = array(out.repos, 'repos').map((raw, i) => {
    const entry = object(raw, `repos[${i}]`)
    assertDid(entry.did, `repos[${i}].did`)
    assertTid(entry.rev, `repos[${i}].rev`)
    return { did: entry.did, rev: entry.rev, hash: bytes32(entry.hash, `repos[${i}].hash`) }
  })
  return withCursor({ repos }, optionalCursor(out.cursor))
}

export interface RepoOpsPage {
  ops: RepoOp[]
  /** Present when the page reaches the head of the oplog (spec §4.5); not yet verified. */
  commit?: SignedCommit
  cursor?: string
}

export function parseListRepoOpsOutput(body: unknown): RepoOpsPage {
  const out = object(body, 'output')
  const page: RepoOpsPage = { ops: array(out.ops, 'ops').map(parseRepoOp) }
  if (out.commit !== undefined) page.commit = parseSignedCommit(out.commit)
  return withCursor(page, optionalCursor(out.cursor))
}

export function parseLatestCommitOutput(body: unknown): SignedCommit {
  return parseSignedCommit(object(body, 'output').commit)
}

export interface FetchedRecord {
  uri: string
  cid: string
  /** JSON-form value as the host claims it; check against `cid` before trusting. */
  value: Json
}

/** getRecord output; the URI must name exactly the record that was asked for. */
export function parseGetRecordOutput(
  body: unknown,
  want: { space: string; repo: string; collection: string; rkey: string },
): FetchedRecord {
  const out = object(body, 'output')
  const uri = string(out.uri, 'uri')
  const ref = parseSpaceRecordUri(uri)
  const space = formatSpaceUri(ref)
  if (
    space !== want.space ||
    ref.author !== want.repo ||
    ref.collection !== want.collection ||
    ref.rkey !== want.rkey
  ) {
    throw new ShapeError('uri names a different record than the one requested')
  }
  return { uri, cid: cidString(out.cid, 'cid'), value: object(out.value, 'value') }
}

export interface ListedRecord {
  collection: string
  rkey: string
  cid: string
  /** Absent with excludeValues; a host claim until checked against `cid`. */
  value?: Json
}

export interface ListRecordsPage {
  records: ListedRecord[]
  cursor?: string
}

export function parseListRecordsOutput(body: unknown): ListRecordsPage {
  const out = object(body, 'output')
  const records = array(out.records, 'records').map((raw, i) => {
    const entry = object(raw, `records[${i}]`)
    assertNsid(entry.collection, `records[${i}].collection`)
    assertRecordKey(entry.rkey, `records[${i}].rkey`)
    const record: ListedRecord = {
      collection: entry.collection,
      rkey: entry.rkey,
      cid: cidString(entry.cid, `records[${i}].cid`),
    }
    if (entry.value !== undefined) record.value = object(entry.value, `records[${i}].value`)
    return record
  })
  return withCursor({ records }, optionalCursor(out.cursor))
}

export function parseRegisterNotifyOutput(body: unknown): { expiresAt: Date } {
  const text = string(object(body, 'output').expiresAt, 'expiresAt')
  const at = Date.parse(text)
  if (!/^\d{4}-\d{2}-\d{2}T/.test(text) || Number.isNaN(at))
    throw new ShapeError('expiresAt must be an ISO datetime')
  return { expiresAt: new Date(at) }
}

export type SpacePolicy =
  | { kind: 'public' }
  | { kind: 'memberList' }
  | { kind: 'managingApp'; managingApp: string }
  | { kind: 'unknown'; type: string }

export type AppAccess =
  { kind: 'open' } | { kind: 'allowList'; allowed: string[] } | { kind: 'unknown'; type: string }

export interface SpaceConfig {
  uri: string
  policy: SpacePolicy
  appAccess: AppAccess
}

const DEFS = 'com.atproto.simplespace.defs#'

function unionType(value: Json, what: string): string {
  const type = string(value.$type, `${what}.$type`)
  if (type.length > 256) throw new ShapeError(`${what}.$type is too long`)
  return type
}

function parsePolicy(raw: unknown): SpacePolicy {
  const value = object(raw, 'policy')
  const type = unionType(value, 'policy')
  if (type === `${DEFS}publicPolicy`) return { kind: 'public' }
  if (type === `${DEFS}memberListPolicy`) return { kind: 'memberList' }
  if (type === `${DEFS}managingAppPolicy`) {
    return { kind: 'managingApp', managingApp: string(value.managingApp, 'policy.managingApp') }
  }
  return { kind: 'unknown', type }
}

function parseAppAccess(raw: unknown): AppAccess {
  const value = object(raw, 'appAccess')
  const type = unionType(value, 'appAccess')
  if (type === `${DEFS}open`) return { kind: 'open' }
  if (type === `${DEFS}allowList`) {
    const allowed = array(value.allowed, 'appAccess.allowed').map((c, i) =>
      string(c, `appAccess.allowed[${i}]`),
    )
    return { kind: 'allowList', allowed }
  }
  return { kind: 'unknown', type }
}

/** simplespace.getSpace output; `uri` must be the space that was asked for. */
export function parseGetSpaceOutput(body: unknown, space: string): SpaceConfig {
  const out = object(body, 'output')
  if (out.uri !== space) throw new ShapeError('uri names a different space than the one requested')
  return { uri: space, policy: parsePolicy(out.policy), appAccess: parseAppAccess(out.appAccess) }
}
