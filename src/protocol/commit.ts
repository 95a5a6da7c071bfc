/**
 * Signed commits: the per-response statement "repo (space, author) is at `rev` with set hash `hash`".
 *
 *   ctx  = "atproto-space-v1" || u16be-prefixed(space) || (author) || (rev) || (ikm)
 *   key  = HKDF-SHA256-Expand(prk = ikm, info = ctx, 32)          (no Extract step)
 *   mac  = HMAC-SHA256(key, hash)
 *   sig  = ECDSA(author #atproto key, sha256(ctx)), 64-byte compact, low-S
 *
 * The signature binds (space, author, rev, ikm) but not the hash; the MAC binds the hash to that signed
 * context. `ikm` is fresh per response, so two commits for the same state differ byte-wise: compare states
 * by (rev, hash), never by commit bytes. Verification order follows the reference: ver, rev binding,
 * MAC, signature. A commit is only trusted after `verifyCommit` resolves.
 */
import { createHmac } from 'node:crypto'
import { expand } from '@noble/hashes/hkdf.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { bytesEqual, decodeBase64, encodeBase64 } from './bytes.js'
import { ProtocolError } from './errors.js'
import { verifyDidKeySignature } from './signature.js'

export const COMMIT_VERSION = 1
const CTX_TAG = new TextEncoder().encode('atproto-space-v1')

export interface SignedCommit {
  ver: number
  rev: string
  hash: Uint8Array
  ikm: Uint8Array
  sig: Uint8Array
  mac: Uint8Array
}

export interface CommitContext {
  space: string
  author: string
  rev: string
  ikm: Uint8Array
}

/** Anything that signs bytes the way @atproto/crypto keypairs do (sha256, compact, low-S). */
export interface CommitSigner {
  sign(data: Uint8Array): Promise<Uint8Array>
}

const FIELD_SIZES = { hash: 32, ikm: 32, sig: 64, mac: 32 } as const

function lengthPrefixed(field: string, bytes: Uint8Array): Uint8Array {
  if (bytes.length > 0xffff) {
    throw new ProtocolError('malformed_commit', `commit context field ${field} exceeds 65535 bytes`)
  }
  const out = new Uint8Array(2 + bytes.length)
  out[0] = bytes.length >> 8
  out[1] = bytes.length & 0xff
  out.set(bytes, 2)
  return out
}

/** The exact context bytes that the signature covers and the MAC key is derived from. */
export function encodeCommitContext(ctx: CommitContext): Uint8Array {
  const enc = new TextEncoder()
  const parts = [
    CTX_TAG,
    lengthPrefixed('space', enc.encode(ctx.space)),
    lengthPrefixed('author', enc.encode(ctx.author)),
    lengthPrefixed('rev', enc.encode(ctx.rev)),
    lengthPrefixed('ikm', ctx.ikm),
  ]
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let off = 0
  for (const p of parts) {
    out.set(p, off)
    off += p.length
  }
  return out
}

export function deriveMacKey(ikm: Uint8Array, ctxBytes: Uint8Array): Uint8Array {
  return expand(sha256, ikm, ctxBytes, 32)
}

export function computeMac(key: Uint8Array, hash: Uint8Array): Uint8Array {
  return new Uint8Array(createHmac('sha256', key).update(hash).digest())
}

function asBytes(value: unknown, field: keyof typeof FIELD_SIZES): Uint8Array {
  let bytes: Uint8Array | null = null
  if (value instanceof Uint8Array) bytes = value
  else if (value && typeof value === 'object' && typeof (value as { $bytes?: unknown }).$bytes === 'string') {
    bytes = decodeBase64((value as { $bytes: string }).$bytes)
  }
  if (!bytes) throw new ProtocolError('malformed_commit', `commit field ${field} must be bytes`)
  if (bytes.length !== FIELD_SIZES[field]) {
    throw new ProtocolError(
      'malformed_commit',
      `commit field ${field} must be ${FIELD_SIZES[field]} bytes, got ${bytes.length}`,
    )
  }
  return bytes
}

/**
 * Schema-checks a decoded commit: the DAG-CBOR block form (byte strings) or the XRPC JSON form
 * ({"$bytes"}, optionally with `$type` com.atproto.space.defs#signedCommit).
 */
export function parseSignedCommit(value: unknown): SignedCommit {
  if (!value || typeof value !== 'object' || Array.isArray(value) || value instanceof Uint8Array) {
    throw new ProtocolError('malformed_commit', 'commit must be a map')
  }
  const obj = value as Record<string, unknown>
  for (const key of Object.keys(obj)) {
    if (!['ver', 'rev', 'hash', 'ikm', 'sig', 'mac', '$type'].includes(key)) {
      throw new ProtocolError('malformed_commit', `commit has unexpected field "${key}"`)
    }
  }
  if (obj.$type !== undefined && obj.$type !== 'com.atproto.space.defs#signedCommit') {
    throw new ProtocolError('malformed_commit', `commit has unexpected $type`)
  }
  if (typeof obj.ver !== 'number' || !Number.isInteger(obj.ver)) {
    throw new ProtocolError('malformed_commit', 'commit field ver must be an integer')
  }
  if (obj.ver !== COMMIT_VERSION) {
    throw new ProtocolError(
      'unsupported_commit_version',
      `commit version ${obj.ver} is not supported (want 1)`,
    )
  }
  // The rev is bound by the signature; its TID syntax is not part of verification (the spec's own
  // appendix vector uses a rev outside the TID alphabet), so only shape and size are checked here.
  if (typeof obj.rev !== 'string' || !/^[\x21-\x7e]{1,64}$/.test(obj.rev)) {
    throw new ProtocolError('malformed_commit', 'commit field rev must be a short ASCII string')
  }
  return {
    ver: obj.ver,
    rev: obj.rev,
    hash: asBytes(obj.hash, 'hash'),
    ikm: asBytes(obj.ikm, 'ikm'),
    sig: asBytes(obj.sig, 'sig'),
    mac: asBytes(obj.mac, 'mac'),
  }
}

/** Object for DAG-CBOR encoding (CAR block); key order is fixed by the encoder. */
export function commitToCbor(commit: SignedCommit): Record<string, unknown> {
  const { ver, rev, hash, ikm, sig, mac } = commit
  return { ver, rev, hash, ikm, sig, mac }
}

/** XRPC JSON form as listRepoOps returns it (getLatestCommit adds `$type`). */
export function commitToJson(commit: SignedCommit): Record<string, unknown> {
  const b = (x: Uint8Array) => ({ $bytes: encodeBase64(x) })
  return {
    ver: commit.ver,
    hash: b(commit.hash),
    ikm: b(commit.ikm),
    sig: b(commit.sig),
    mac: b(commit.mac),
    rev: commit.rev,
  }
}

export interface VerifyCommitInput {
  commit: SignedCommit
  space: string
  /** The repo DID we asked for (never taken from the response). */
  author: string
  /** The author's #atproto key as did:key. */
  didKey: string
  /** When the caller knows which rev it expects (e.g. bound elsewhere), it must match. */
  expectedRev?: string
}

/** Verifies version, rev binding, MAC and signature, in the reference order. */
export async function verifyCommit(input: VerifyCommitInput): Promise<void> {
  const { commit } = input
  if (commit.ver !== COMMIT_VERSION) {
    throw new ProtocolError('unsupported_commit_version', `commit version ${commit.ver} is not supported`)
  }
  if (input.expectedRev !== undefined && input.expectedRev !== commit.rev) {
    throw new ProtocolError(
      'rev_mismatch',
      `commit rev ${commit.rev} does not match expected ${input.expectedRev}`,
    )
  }
  const ctx = encodeCommitContext({
    space: input.space,
    author: input.author,
    rev: commit.rev,
    ikm: commit.ikm,
  })
  const mac = computeMac(deriveMacKey(commit.ikm, ctx), commit.hash)
  if (!bytesEqual(mac, commit.mac)) {
    throw new ProtocolError('bad_mac', 'commit MAC does not match its hash for this space, author and rev')
  }
  // Throws invalid_did_key for a key that does not decode; false for anything that is not its signature.
  const ok = verifyDidKeySignature(input.didKey, ctx, commit.sig)
  if (!ok) throw new ProtocolError('bad_signature', `commit signature is not valid for ${input.author}'s key`)
}

export interface CreateCommitInput {
  space: string
  author: string
  rev: string
  hash: Uint8Array
  signer: CommitSigner
  /** Fresh random per response unless given (tests pin it). */
  ikm?: Uint8Array
}

/** Builds and signs a commit the way a repo host does (used by devnet and tests). */
export async function createSignedCommit(input: CreateCommitInput): Promise<SignedCommit> {
  const ikm = input.ikm ?? crypto.getRandomValues(new Uint8Array(32))
  const ctx = encodeCommitContext({ space: input.space, author: input.author, rev: input.rev, ikm })
  const mac = computeMac(deriveMacKey(ikm, ctx), input.hash)
  const sig = await input.signer.sign(ctx)
  return { ver: COMMIT_VERSION, rev: input.rev, hash: input.hash, ikm, sig, mac }
}
