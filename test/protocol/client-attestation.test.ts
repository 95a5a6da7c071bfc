import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JSONWebKeySet, type JWK } from 'jose'
import {
  CLIENT_ATTESTATION_TYP,
  createClientAttestation,
  verifyClientAttestation,
} from '../../src/protocol/client-attestation.js'
import type { ReplayEntry } from '../../src/protocol/token-claims.js'
import { AUTHORITY, NOW, decodePart, outcome, tamperPayload } from './token-fixtures.js'

const CLIENT_ID = 'https://app.example.com/oauth-client-metadata.json'
const AUD = `${AUTHORITY}#atproto_space_host`

interface ClientKey {
  alg: 'ES256' | 'EdDSA'
  kid: string
  privateKey: CryptoKey
  publicJwk: JWK
}

// TEST KEYS: generated per run for the app's (client's) JWKS.
async function clientKey(alg: 'ES256' | 'EdDSA', kid: string): Promise<ClientKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true })
  return { alg, kid, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, use: 'sig' } }
}

const es256 = await clientKey('ES256', 'es-key-1')
const ed = await clientKey('EdDSA', 'ed-key-1')
const stranger = await clientKey('ES256', 'es-key-1') // same kid, key not in the JWKS
const jwks: JSONWebKeySet = { keys: [es256.publicJwk, ed.publicJwk] }

const verify = (token: string, extra: Partial<Parameters<typeof verifyClientAttestation>[1]> = {}) =>
  verifyClientAttestation(token, { jwks, spaceDid: AUTHORITY, clientId: CLIENT_ID, now: NOW + 1, ...extra })

/** Signs arbitrary claims with a client key (to build validly signed tokens with bad claims). */
async function forge(
  key: ClientKey,
  payload: Record<string, unknown>,
  header: Record<string, unknown> = {},
): Promise<string> {
  return new SignJWT(payload)
    .setProtectedHeader({ alg: key.alg, typ: CLIENT_ATTESTATION_TYP, kid: key.kid, ...header })
    .sign(key.privateKey)
}

const baseClaims = () => ({ iss: CLIENT_ID, sub: CLIENT_ID, aud: AUD, iat: NOW, exp: NOW + 60, jti: 'j-1' })

describe.each([[es256], [ed]])('client attestation with a $alg client key', (key) => {
  it('round-trips and returns the verified client_id', async () => {
    const token = await createClientAttestation({
      privateKey: key.privateKey,
      alg: key.alg,
      kid: key.kid,
      clientId: CLIENT_ID,
      spaceDid: AUTHORITY,
      now: NOW,
    })
    expect(decodePart(token, 0)).toEqual({ alg: key.alg, typ: CLIENT_ATTESTATION_TYP, kid: key.kid })
    expect(decodePart(token, 1)).toEqual({
      iss: CLIENT_ID,
      sub: CLIENT_ID,
      aud: AUD,
      iat: NOW,
      exp: NOW + 60,
      jti: expect.stringMatching(/^[0-9a-f]{32}$/),
    })
    const verified = await verify(token)
    expect(verified.clientId).toBe(CLIENT_ID)
    expect(verified.claims.exp).toBe(NOW + 60)
  })

  it('rejects a tampered payload', async () => {
    const token = tamperPayload(await forge(key, baseClaims()), (p) => (p['jti'] = 'j-2'))
    expect(await outcome(verify(token))).toBe('bad_token_signature')
  })
})

describe('client attestation negatives', () => {
  it.each([
    ['wrong typ', {}, { typ: 'JWT' }, 'bad_token_type'],
    ['iss != sub', { sub: 'https://other.example.com/client.json' }, {}, 'bad_token_issuer'],
    [
      'unexpected client_id',
      { iss: 'https://evil.example/c.json', sub: 'https://evil.example/c.json' },
      {},
      'bad_token_issuer',
    ],
    ['aud of another authority', { aud: 'did:plc:other#atproto_space_host' }, {}, 'bad_token_audience'],
    ['bare-DID aud', { aud: AUTHORITY }, {}, 'bad_token_audience'],
    ['missing exp', { exp: undefined }, {}, 'malformed_token'],
    ['missing jti', { jti: undefined }, {}, 'malformed_token'],
    ['kid not in the JWKS', {}, { kid: 'nope' }, 'bad_token_kid'],
    ['nbf in the future', { nbf: NOW + 100 }, {}, 'token_not_yet_valid'],
  ] as Array<[string, Record<string, unknown>, Record<string, unknown>, string]>)(
    'rejects %s',
    async (_name, claims, header, reason) => {
      const payload: Record<string, unknown> = { ...baseClaims(), ...claims }
      for (const k of Object.keys(payload)) if (payload[k] === undefined) delete payload[k]
      expect(await outcome(verify(await forge(es256, payload, header)))).toBe(reason)
    },
  )

  it('applies no clock skew: valid at exp − 1, expired at exp', async () => {
    const token = await forge(es256, baseClaims())
    expect(await outcome(verify(token, { now: NOW + 59 }))).toBe('ok')
    expect(await outcome(verify(token, { now: NOW + 60 }))).toBe('token_expired')
  })

  it('rejects a token signed by a key outside the JWKS that reuses a published kid', async () => {
    expect(await outcome(verify(await forge(stranger, baseClaims())))).toBe('bad_token_signature')
  })

  it('tries every key when several fit (no kid)', async () => {
    const second = await clientKey('ES256', 'es-key-2')
    const token = await new SignJWT(baseClaims())
      .setProtectedHeader({ alg: 'ES256', typ: CLIENT_ATTESTATION_TYP })
      .sign(second.privateKey)
    const both = { keys: [es256.publicJwk, second.publicJwk] }
    expect(await outcome(verify(token, { jwks: both }))).toBe('ok')
    expect(await outcome(verify(token, { jwks: { keys: [es256.publicJwk, ed.publicJwk] } }))).toBe(
      'bad_token_signature',
    )
  })

  it('rejects an HMAC or unsigned alg', async () => {
    const secret = new Uint8Array(32).fill(7)
    const hs = await new SignJWT(baseClaims())
      .setProtectedHeader({ alg: 'HS256', typ: CLIENT_ATTESTATION_TYP })
      .sign(secret)
    expect(await outcome(verify(hs))).toBe('bad_token_alg')
    const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: CLIENT_ATTESTATION_TYP })).toString('base64url')}.${hs.split('.')[1]}.AA`
    expect(await outcome(verify(none))).toBe('bad_token_alg')
  })

  it('refuses a JWKS carrying a private key', async () => {
    const leaked = { keys: [{ ...(await exportJWK(es256.privateKey)), kid: es256.kid }] }
    expect(await outcome(verify(await forge(es256, baseClaims()), { jwks: leaked }))).toBe('bad_token_kid')
  })

  it('is single-use per (client_id, jti) until exp', async () => {
    const seenSet = new Set<string>()
    const entries: ReplayEntry[] = []
    const seen = async (e: ReplayEntry) => {
      entries.push(e)
      const k = `${e.iss} ${e.jti}`
      const hit = seenSet.has(k)
      seenSet.add(k)
      return hit
    }
    const token = await forge(es256, baseClaims())
    expect(await outcome(verify(token, { seen }))).toBe('ok')
    expect(await outcome(verify(token, { seen }))).toBe('token_replayed')
    expect(entries[0]).toEqual({
      kind: 'client_attestation',
      iss: CLIENT_ID,
      jti: 'j-1',
      expiresAt: NOW + 60,
    })
  })

  it('rejects an oversized token', async () => {
    expect(await outcome(verify(await forge(es256, { ...baseClaims(), pad: 'x'.repeat(9000) })))).toBe(
      'malformed_token',
    )
  })
})
