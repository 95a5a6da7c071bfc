/**
 * DPoP (RFC 9449) as space credentials use it: the holder's P-256 key signs a fresh proof per request, and
 * the credential's `cnf.jkt` pins which key that must be.
 *
 *   header  {alg: "ES256", typ: "dpop+jwt", jwk: {kty: "EC", crv: "P-256", x, y}}
 *   payload {jti, htm, htu: origin + path, iat, ath?: b64url(sha256(credential)), nonce?}
 *
 * Invariants:
 * - Only ES256 over a public P-256 JWK (a `d` member is rejected); the signature is checked with that JWK,
 *   in the JWS form (64-byte r‖s), high-S accepted as JOSE libraries sign it; verified with node:crypto on
 *   a key decoded once per JWK (signature.ts), not WebCrypto's per-call import, on libuv's thread pool so
 *   that a server's event loop is not spent on it.
 * - `htu` is built as `URL.origin + URL.pathname` (query and fragment stripped); the verifier normalises the
 *   request URL the same way and compares the proof's `htu` verbatim, so a proof whose `htu` carries a
 *   query never matches.
 * - `iat` is accepted in [now − 65, now + 5] (60 s max age plus 5 s skew either way).
 * - `ath` is required and must match when a credential is presented, and forbidden on the credential
 *   exchange (no credential yet).
 * - With a credential, the RFC 7638 SHA-256 thumbprint of the proof key must equal its `cnf.jkt`
 *   (`dpop_key_mismatch`). A proof is single-use: its `jti` is returned and, with `seen`, checked.
 * - Proofs are signed synchronously with node:crypto (OpenSSL) on a KeyObject derived once per key: one
 *   proof per host request, and WebCrypto's sign cost a millisecond of main-thread time each.
 */
import { exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose'
import { createHash, KeyObject, randomBytes, sign } from 'node:crypto'
import { ProtocolError, isProtocolError } from './errors.js'
import { parseJws, type JsonObject, type ParsedJws } from './jws.js'
import { p256KeyOfJwk, verifyWithKeyOffThread } from './signature.js'
import { checkReplay, unixNow, type ReplayCheck } from './token-claims.js'

export const DPOP_TYP = 'dpop+jwt'
export const DPOP_ALG = 'ES256'
export const DPOP_MAX_AGE_SEC = 60
export const DPOP_CLOCK_SKEW_SEC = 5

/** The public half of a DPoP key, exactly the members RFC 7638 hashes. */
export interface DpopPublicJwk {
  kty: 'EC'
  crv: 'P-256'
  x: string
  y: string
}

/** A holder's DPoP key: keep it for the life of the credential bound to `jkt`. */
export interface DpopKey {
  privateKey: CryptoKey
  publicJwk: DpopPublicJwk
  /** RFC 7638 SHA-256 thumbprint of `publicJwk`, base64url: the credential's `cnf.jkt`. */
  jkt: string
}

const B64URL_32 = /^[A-Za-z0-9_-]{43}$/

/**
 * RFC 7638 SHA-256 thumbprint (base64url, no padding) of a public P-256 JWK: the hash of its required
 * members in lexicographic order without whitespace. Computed here rather than with jose's, which goes
 * through WebCrypto's asynchronous digest (a thread-pool round trip per DPoP proof); the tests check the
 * two agree.
 */
export function jwkThumbprint(jwk: DpopPublicJwk): string {
  const canonical = JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y })
  return createHash('sha256').update(canonical).digest('base64url')
}

/** Validates a JWK as a public P-256 key and keeps only its RFC 7638 members. */
export function toDpopPublicJwk(value: unknown, allowPrivate = false): DpopPublicJwk {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ProtocolError('bad_dpop_proof', 'DPoP "jwk" must be a JSON object')
  }
  const jwk = value as JsonObject
  if (jwk['kty'] !== 'EC' || jwk['crv'] !== 'P-256') {
    throw new ProtocolError('bad_dpop_proof', 'DPoP key must be an EC P-256 key')
  }
  const { x, y } = jwk
  if (typeof x !== 'string' || typeof y !== 'string' || !B64URL_32.test(x) || !B64URL_32.test(y)) {
    throw new ProtocolError('bad_dpop_proof', 'DPoP key coordinates must be 32-byte base64url values')
  }
  if (!allowPrivate && jwk['d'] !== undefined) {
    throw new ProtocolError('bad_dpop_proof', 'DPoP "jwk" must be a public key (it carries "d")')
  }
  return { kty: 'EC', crv: 'P-256', x, y }
}

/** Generates a fresh, exportable P-256 DPoP key. */
export async function generateDpopKey(): Promise<DpopKey> {
  const { privateKey, publicKey } = await generateKeyPair(DPOP_ALG, { extractable: true })
  const publicJwk = toDpopPublicJwk(await exportJWK(publicKey))
  return { privateKey, publicJwk, jkt: jwkThumbprint(publicJwk) }
}

/** Private JWK of a DPoP key, for storing it alongside its credential. Treat the result as a secret. */
export async function exportDpopKey(key: DpopKey): Promise<JWK> {
  return exportJWK(key.privateKey)
}

/** Restores a key saved with `exportDpopKey`. */
export async function importDpopKey(privateJwk: JWK): Promise<DpopKey> {
  const publicJwk = toDpopPublicJwk(privateJwk, true)
  if (typeof privateJwk.d !== 'string')
    throw new ProtocolError('bad_dpop_proof', 'DPoP private JWK has no "d"')
  const privateKey = await importJWK({ ...publicJwk, d: privateJwk.d }, DPOP_ALG, { extractable: true })
  if (privateKey instanceof Uint8Array || privateKey.type !== 'private') {
    throw new ProtocolError('bad_dpop_proof', 'DPoP private JWK did not import as a private key')
  }
  return { privateKey, publicJwk, jkt: jwkThumbprint(publicJwk) }
}

/** `htu` form of a request URL: origin + path, no query, no fragment. */
export function normalizeHtu(url: string): string {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw new ProtocolError('bad_dpop_proof', 'DPoP target is not an absolute URL')
  }
  return parsed.origin + parsed.pathname
}

/** `ath`: base64url (unpadded) SHA-256 of the ASCII credential string. */
export function accessTokenHash(credential: string): string {
  return createHash('sha256').update(credential, 'utf8').digest('base64url')
}

export interface CreateDpopProofOptions {
  /** HTTP method, e.g. `GET` for queries and `POST` for procedures. */
  htm: string
  /** Request URL; query and fragment are stripped. */
  htu: string
  /** The credential the request presents; adds `ath`. Omit on the credential exchange. */
  credential?: string
  /** Server-provided `DPoP-Nonce`, if one was demanded. */
  nonce?: string
  now?: number
  jti?: string
}

/** The node:crypto form of each DPoP private key, made on first use. */
const signingKeys = new WeakMap<CryptoKey, KeyObject>()

function signingKeyOf(key: DpopKey): KeyObject {
  let k = signingKeys.get(key.privateKey)
  if (!k) {
    k = KeyObject.from(key.privateKey)
    signingKeys.set(key.privateKey, k)
  }
  return k
}

const jsonB64 = (value: JsonObject): string =>
  Buffer.from(JSON.stringify(value), 'utf8').toString('base64url')

export async function createDpopProof(key: DpopKey, opts: CreateDpopProofOptions): Promise<string> {
  const payload: JsonObject = {
    jti: opts.jti ?? randomBytes(16).toString('hex'),
    htm: opts.htm,
    htu: normalizeHtu(opts.htu),
    iat: unixNow(opts.now),
  }
  if (opts.credential !== undefined) payload['ath'] = accessTokenHash(opts.credential)
  if (opts.nonce !== undefined) payload['nonce'] = opts.nonce
  const header = { alg: DPOP_ALG, typ: DPOP_TYP, jwk: { ...key.publicJwk } }
  const input = `${jsonB64(header)}.${jsonB64(payload)}`
  const sig = sign('sha256', Buffer.from(input, 'ascii'), {
    key: signingKeyOf(key),
    dsaEncoding: 'ieee-p1363',
  })
  return `${input}.${sig.toString('base64url')}`
}

export interface VerifyDpopProofOptions {
  /** Method of the request being authorised. */
  htm: string
  /** Full URL of the request as this server is publicly addressed (normalised before comparison). */
  htu: string
  /** The presented credential and its `cnf.jkt`; absent on the credential exchange (then `ath` is forbidden). */
  credential?: { token: string; jkt: string }
  /** When this server issued a nonce, the proof must echo it. */
  nonce?: string
  now?: number
  /** Replay store for proof jtis (retain until the returned `expiresAt`). */
  seen?: ReplayCheck
}

export interface VerifiedDpopProof {
  jti: string
  jkt: string
  htm: string
  htu: string
  iat: number
  /** After this (Unix seconds) the proof can no longer pass the `iat` window, so its jti may be forgotten. */
  expiresAt: number
}

function parseProof(proof: string): { jws: ParsedJws; payload: JsonObject; jwk: DpopPublicJwk } {
  let jws: ParsedJws
  try {
    jws = parseJws(proof)
  } catch (err) {
    if (isProtocolError(err)) throw new ProtocolError('bad_dpop_proof', `DPoP proof: ${err.message}`)
    throw err
  }
  const { header, payload } = jws
  if (header['typ'] !== DPOP_TYP)
    throw new ProtocolError('bad_dpop_proof', `DPoP proof "typ" must be "${DPOP_TYP}"`)
  if (header['alg'] !== DPOP_ALG)
    throw new ProtocolError('bad_dpop_proof', `DPoP proof "alg" must be ${DPOP_ALG}`)
  return { jws, payload, jwk: toDpopPublicJwk(header['jwk']) }
}

/**
 * Any valid ECDSA signature, as JOSE libraries accept it (high-S too), in the 64-byte JWS form. Checked off
 * the event loop: a server verifies one fresh proof per request, and this was its largest single cost.
 */
async function proofSignatureVerifies(jws: ParsedJws, jwk: DpopPublicJwk): Promise<boolean> {
  let key
  try {
    key = p256KeyOfJwk(jwk.x, jwk.y)
  } catch {
    return false
  }
  return verifyWithKeyOffThread(key, jws.signingInput, jws.signature, { allowHighS: true })
}

async function checkProofSignature(jws: ParsedJws, jwk: DpopPublicJwk): Promise<void> {
  if (!(await proofSignatureVerifies(jws, jwk))) {
    throw new ProtocolError('bad_dpop_proof', 'DPoP proof signature does not verify under its own "jwk"')
  }
}

function proofClaim(payload: JsonObject, name: 'jti' | 'htm' | 'htu'): string {
  const value = payload[name]
  if (typeof value !== 'string' || value.length === 0) {
    throw new ProtocolError('bad_dpop_proof', `DPoP proof has no "${name}" string`)
  }
  return value
}

function checkIat(payload: JsonObject, now: number): number {
  const iat = payload['iat']
  if (typeof iat !== 'number' || !Number.isFinite(iat)) {
    throw new ProtocolError('bad_dpop_proof', 'DPoP proof has no numeric "iat"')
  }
  if (iat > now + DPOP_CLOCK_SKEW_SEC) {
    throw new ProtocolError('bad_dpop_proof', `DPoP proof "iat" is ${Math.ceil(iat - now)} s in the future`)
  }
  if (now - iat > DPOP_MAX_AGE_SEC + DPOP_CLOCK_SKEW_SEC) {
    throw new ProtocolError(
      'bad_dpop_proof',
      `DPoP proof is ${Math.floor(now - iat)} s old; the limit is ${DPOP_MAX_AGE_SEC} s`,
    )
  }
  return iat
}

function checkAth(payload: JsonObject, credential: string | undefined): void {
  const ath = payload['ath']
  if (credential === undefined) {
    if (ath !== undefined) {
      throw new ProtocolError(
        'bad_dpop_proof',
        'DPoP proof must not carry "ath" when no credential is presented',
      )
    }
    return
  }
  if (ath === undefined)
    throw new ProtocolError('bad_dpop_proof', 'DPoP proof has no "ath" for the presented credential')
  if (ath !== accessTokenHash(credential)) {
    throw new ProtocolError('bad_dpop_proof', 'DPoP proof "ath" does not match the presented credential')
  }
}

/** Checks a DPoP proof as a repo host (or our own API) would; see the module header for the rules. */
export async function verifyDpopProof(
  proof: string,
  opts: VerifyDpopProofOptions,
): Promise<VerifiedDpopProof> {
  const { jws, payload, jwk } = parseProof(proof)
  await checkProofSignature(jws, jwk)
  const jti = proofClaim(payload, 'jti')
  const htm = proofClaim(payload, 'htm')
  const htu = proofClaim(payload, 'htu')
  const iat = checkIat(payload, unixNow(opts.now))
  if (htm !== opts.htm)
    throw new ProtocolError('bad_dpop_proof', 'DPoP proof "htm" does not match the request method')
  if (htu !== normalizeHtu(opts.htu)) {
    throw new ProtocolError(
      'bad_dpop_proof',
      'DPoP proof "htu" does not match the request URL (origin + path)',
    )
  }
  checkAth(payload, opts.credential?.token)
  if (opts.nonce !== undefined && payload['nonce'] !== opts.nonce) {
    throw new ProtocolError('bad_dpop_proof', 'DPoP proof does not carry the current server nonce')
  }
  const jkt = jwkThumbprint(jwk)
  if (opts.credential !== undefined && jkt !== opts.credential.jkt) {
    throw new ProtocolError(
      'dpop_key_mismatch',
      'DPoP proof is signed by a key other than the one the credential is bound to',
    )
  }
  const expiresAt = iat + DPOP_MAX_AGE_SEC + DPOP_CLOCK_SKEW_SEC
  await checkReplay(opts.seen, { kind: 'dpop', iss: jkt, jti, expiresAt }, 'DPoP proof')
  return { jti, jkt, htm, htu, iat, expiresAt }
}
