/**
 * Shared fixtures for the token and DPoP tests: the deterministic TEST KEYS from
 * ../shared/spec/vectors/commit.json (never real keys), a DID-document-like key resolver, and helpers that
 * forge signatures in the shapes verifiers must reject (high-S twin, DER) or re-sign arbitrary claims.
 */
import { P256Keypair, Secp256k1Keypair, type Keypair } from '@atproto/crypto'
import { ProtocolError, type ProtocolErrorReason } from '../../src/protocol/errors.js'
import { signJws, type JsonObject } from '../../src/protocol/jws.js'
import type { KeyResolver } from '../../src/protocol/token-claims.js'
import { loadVector } from '../vectors.js'

const vector = loadVector('commit')

export interface TestKey {
  label: 'secp256k1' | 'p256' | 'secp256k1Other'
  alg: 'ES256K' | 'ES256'
  keypair: Keypair
  didKey: string
}

/** TEST KEYS ONLY: deterministic private keys published in the shared vectors. */
export async function loadTestKeys(): Promise<{ k256: TestKey; p256: TestKey; k256Other: TestKey }> {
  const k = vector.keys
  const k256 = await Secp256k1Keypair.import(k.secp256k1.privateKeyHex)
  const p256 = await P256Keypair.import(k.p256.privateKeyHex)
  const other = await Secp256k1Keypair.import(k.secp256k1Other.privateKeyHex)
  return {
    k256: { label: 'secp256k1', alg: 'ES256K', keypair: k256, didKey: k.secp256k1.didKey },
    p256: { label: 'p256', alg: 'ES256', keypair: p256, didKey: k.p256.didKey },
    k256Other: { label: 'secp256k1Other', alg: 'ES256K', keypair: other, didKey: k.secp256k1Other.didKey },
  }
}

export const NOW = 1_800_000_000
export const AUTHORITY = 'did:plc:testauthority000000000000'
export const USER = 'did:plc:testuser0000000000000000'
export const SPACE = `at://${AUTHORITY}/space/com.example.forum/main`
export const OTHER_SPACE = `at://${AUTHORITY}/space/com.example.forum/other`

/** A resolver over `{did: {"#atproto": didKey, ...}}`; `fresh` is what a cache-bypassing lookup sees. */
export function docResolver(
  docs: Record<string, Record<string, string>>,
  fresh?: Record<string, Record<string, string>>,
): KeyResolver & { calls: Array<[string, string, boolean]> } {
  const calls: Array<[string, string, boolean]> = []
  const resolver = async (did: string, keyId: string, forceRefresh: boolean): Promise<string | null> => {
    calls.push([did, keyId, forceRefresh])
    const source = forceRefresh && fresh ? fresh : docs
    return source[did]?.[keyId] ?? null
  }
  return Object.assign(resolver, { calls })
}

/** Awaits `p` and returns the ProtocolError reason it rejected with, or 'ok'. */
export async function outcome(p: Promise<unknown>): Promise<ProtocolErrorReason | 'ok'> {
  try {
    await p
    return 'ok'
  } catch (err) {
    if (err instanceof ProtocolError) return err.reason
    throw err
  }
}

const ORDERS: Record<'ES256K' | 'ES256', bigint> = {
  ES256K: 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n,
  ES256: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
}

const toBig = (b: Uint8Array): bigint => BigInt('0x' + Buffer.from(b).toString('hex'))
const to32 = (n: bigint): Buffer => Buffer.from(n.toString(16).padStart(64, '0'), 'hex')

function splitToken(token: string): [string, string, Buffer] {
  const [h, p, s] = token.split('.') as [string, string, string]
  return [h, p, Buffer.from(s, 'base64url')]
}

/** Replaces s with n − s: the same signature in its high-S (malleable) form. */
export function toHighS(token: string, alg: 'ES256K' | 'ES256'): string {
  const [h, p, sig] = splitToken(token)
  const s = toBig(sig.subarray(32))
  const high = Buffer.concat([sig.subarray(0, 32), to32(ORDERS[alg] - s)])
  return `${h}.${p}.${high.toString('base64url')}`
}

function derInt(b: Buffer): Buffer {
  let i = 0
  while (i < b.length - 1 && b[i] === 0) i++
  let v = b.subarray(i)
  if ((v[0] ?? 0) & 0x80) v = Buffer.concat([Buffer.from([0]), v])
  return Buffer.concat([Buffer.from([0x02, v.length]), v])
}

/** Re-encodes the 64-byte r‖s signature as ASN.1 DER (a valid signature in a forbidden encoding). */
export function toDer(token: string): string {
  const [h, p, sig] = splitToken(token)
  const body = Buffer.concat([derInt(sig.subarray(0, 32)), derInt(sig.subarray(32))])
  const der = Buffer.concat([Buffer.from([0x30, body.length]), body])
  return `${h}.${p}.${der.toString('base64url')}`
}

export function decodePart(token: string, index: 0 | 1): JsonObject {
  return JSON.parse(Buffer.from(token.split('.')[index] as string, 'base64url').toString('utf8'))
}

/** Changes the payload but keeps the original signature. */
export function tamperPayload(token: string, edit: (p: JsonObject) => void): string {
  const [h, , s] = token.split('.') as [string, string, string]
  const payload = decodePart(token, 1)
  edit(payload)
  return `${h}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${s}`
}

/** Re-signs a token's (edited) header and payload with `key`: a validly signed token with other claims. */
export async function resign(
  token: string,
  key: Keypair,
  edit: { header?: (h: JsonObject) => void; payload?: (p: JsonObject) => void },
): Promise<string> {
  const header = decodePart(token, 0)
  const payload = decodePart(token, 1)
  edit.header?.(header)
  edit.payload?.(payload)
  return signJws(header, payload, key)
}
