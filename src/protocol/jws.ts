/**
 * Compact JWS (RFC 7515) for tokens signed by atproto keys: parse, verify against a did:key, and sign with an
 * @atproto/crypto keypair.
 *
 * Invariants:
 * - Input longer than MAX_JWS_LENGTH is rejected before any decoding.
 * - Exactly three segments of canonical, unpadded base64url; header and payload are JSON objects (UTF-8).
 * - Verification accepts only ES256K / ES256, the header `alg` must equal the did:key's key type, and the
 *   signature must be the 64-byte `r‖s` form (DER or any other length is rejected before crypto runs).
 * - `strict` signatures (space tokens) require low-S; `lenient` (service auth, as upstream verifies it) also
 *   accepts the high-S twin. Both reject DER.
 * - Errors are ProtocolErrors that describe the defect without echoing the token or key material.
 */
import type { Signer } from '@atproto/crypto'
import { ProtocolError } from './errors.js'
import { isAtprotoJwtAlg, type AtprotoJwtAlg } from './did-key.js'
import { signingKeyOf, verifyWithKeyOffThread } from './signature.js'

/** Upper bound on an encoded token; every token this protocol uses is well under 2 KiB. */
export const MAX_JWS_LENGTH = 8 * 1024

/** ECDSA signatures in JWS are the fixed-size concatenation r‖s (RFC 7518 §3.4). */
export const JWS_SIGNATURE_LENGTH = 64

export type JsonObject = Record<string, unknown>

/** `strict`: low-S required (space tokens). `lenient`: high-S accepted too (service auth). */
export type SignaturePolicy = 'strict' | 'lenient'

export interface ParsedJws {
  header: JsonObject
  payload: JsonObject
  /** ASCII bytes of `b64(header).b64(payload)`: what the signature covers. */
  signingInput: Uint8Array
  /** Raw signature bytes (not yet length-checked: non-EC algs have other sizes). */
  signature: Uint8Array
}

const BASE64URL = /^[A-Za-z0-9_-]*$/
const utf8 = new TextDecoder('utf-8', { fatal: true })

function decodeSegment(segment: string, part: string): Uint8Array {
  if (!BASE64URL.test(segment) || segment.length % 4 === 1) {
    throw new ProtocolError('malformed_token', `token ${part} is not unpadded base64url`)
  }
  const bytes = Buffer.from(segment, 'base64url')
  // Reject non-canonical encodings (stray low bits in the last character) so one token has one spelling.
  if (bytes.toString('base64url') !== segment) {
    throw new ProtocolError('malformed_token', `token ${part} is not canonical base64url`)
  }
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

function decodeJsonObject(segment: string, part: string): JsonObject {
  let value: unknown
  try {
    value = JSON.parse(utf8.decode(decodeSegment(segment, part)))
  } catch (err) {
    if (err instanceof ProtocolError) throw err
    throw new ProtocolError('malformed_token', `token ${part} is not UTF-8 JSON`)
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ProtocolError('malformed_token', `token ${part} is not a JSON object`)
  }
  return value as JsonObject
}

function splitCompact(token: unknown): [string, string, string] {
  if (typeof token !== 'string') throw new ProtocolError('malformed_token', 'token must be a string')
  if (token.length > MAX_JWS_LENGTH) {
    throw new ProtocolError(
      'malformed_token',
      `token is ${token.length} chars; the limit is ${MAX_JWS_LENGTH}`,
    )
  }
  const parts = token.split('.')
  if (parts.length !== 3) {
    throw new ProtocolError('malformed_token', `token must have 3 dot-separated parts, got ${parts.length}`)
  }
  return parts as [string, string, string]
}

/** Decodes a compact JWS without verifying anything but its shape. */
export function parseJws(token: unknown): ParsedJws {
  const [headerB64, payloadB64, signatureB64] = splitCompact(token)
  const header = decodeJsonObject(headerB64, 'header')
  const payload = decodeJsonObject(payloadB64, 'payload')
  const signature = decodeSegment(signatureB64, 'signature')
  if (signature.length === 0) throw new ProtocolError('malformed_token', 'token signature is empty')
  return {
    header,
    payload,
    signingInput: new TextEncoder().encode(`${headerB64}.${payloadB64}`),
    signature,
  }
}

/** Decodes only the (unverified) header, e.g. to route a request by `typ`. */
export function peekJwsHeader(token: unknown): JsonObject {
  return decodeJsonObject(splitCompact(token)[0], 'header')
}

/** Reads the header `alg`, which must be one atproto keys produce. */
export function atprotoAlgOf(jws: ParsedJws): AtprotoJwtAlg {
  const alg = jws.header['alg']
  if (!isAtprotoJwtAlg(alg)) {
    throw new ProtocolError('bad_token_alg', 'token "alg" must be ES256K or ES256')
  }
  return alg
}

/**
 * Checks the signature of `jws` under `didKey`, off the event loop for P-256 as DPoP proofs are (service
 * auth arrives with every request an app makes with it). Returns false for a well-formed signature that does not
 * verify; throws for an alg/key-type mismatch (`bad_token_alg`), a bad did:key (`invalid_did_key`), or a
 * signature that is not 64-byte r‖s (`bad_token_signature`).
 */
export async function verifyJwsSignature(
  jws: ParsedJws,
  didKey: string,
  policy: SignaturePolicy = 'strict',
): Promise<boolean> {
  const alg = atprotoAlgOf(jws)
  const key = signingKeyOf(didKey)
  if (alg !== key.alg) {
    throw new ProtocolError('bad_token_alg', `token "alg" is ${alg} but the signing key is a ${key.alg} key`)
  }
  if (jws.signature.length !== JWS_SIGNATURE_LENGTH) {
    throw new ProtocolError(
      'bad_token_signature',
      `token signature is ${jws.signature.length} bytes; expected ${JWS_SIGNATURE_LENGTH}-byte r||s (DER is not accepted)`,
    )
  }
  return verifyWithKeyOffThread(key, jws.signingInput, jws.signature, { allowHighS: policy === 'lenient' })
}

function jsonToBase64Url(value: JsonObject): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64url')
}

/**
 * Signs `payload` as a compact JWS with an atproto keypair. The header `alg` is always the keypair's own
 * (any `alg` passed in `header` is overwritten), so a token can never claim a different key type.
 */
export async function signJws(header: JsonObject, payload: JsonObject, signer: Signer): Promise<string> {
  if (!isAtprotoJwtAlg(signer.jwtAlg)) {
    throw new ProtocolError('bad_token_alg', 'signing key must be secp256k1 (ES256K) or P-256 (ES256)')
  }
  const { alg: _ignored, ...rest } = header
  const signingInput = `${jsonToBase64Url({ alg: signer.jwtAlg, ...rest })}.${jsonToBase64Url(payload)}`
  const signature = await signer.sign(new TextEncoder().encode(signingInput))
  return `${signingInput}.${Buffer.from(signature).toString('base64url')}`
}
