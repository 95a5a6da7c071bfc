import { SignJWT, calculateJwkThumbprint, exportJWK } from 'jose'
import { createHash } from 'node:crypto'
import {
  DPOP_TYP,
  accessTokenHash,
  createDpopProof,
  exportDpopKey,
  generateDpopKey,
  importDpopKey,
  jwkThumbprint,
  normalizeHtu,
  verifyDpopProof,
  type DpopKey,
} from '../../src/protocol/dpop.js'
import { createSpaceCredential, verifySpaceCredential } from '../../src/protocol/space-credential.js'
import type { ReplayEntry } from '../../src/protocol/token-claims.js'
import { AUTHORITY, NOW, SPACE, decodePart, docResolver, loadTestKeys, outcome } from './token-fixtures.js'

const keys = await loadTestKeys()
const HOST = 'https://pds.example.com'
const LIST_OPS = `${HOST}/xrpc/com.atproto.space.listRepoOps`
const EXCHANGE = `${HOST}/xrpc/com.atproto.space.getSpaceCredential`

// TEST KEYS: fresh P-256 DPoP keys per run.
const holder = await generateDpopKey()
const intruder = await generateDpopKey()

async function credentialFor(key: DpopKey): Promise<string> {
  return createSpaceCredential({ keypair: keys.k256.keypair, space: SPACE, jkt: key.jkt, now: NOW })
}

/** Signs arbitrary proof claims/header with a DPoP key (for validly signed but wrong proofs). */
async function forgeProof(
  key: DpopKey,
  payload: Record<string, unknown>,
  header: Record<string, unknown> = {},
) {
  return new SignJWT(payload)
    .setProtectedHeader({ alg: 'ES256', typ: DPOP_TYP, jwk: { ...key.publicJwk }, ...header })
    .sign(key.privateKey)
}

describe('DPoP keys and thumbprints', () => {
  it('generates a P-256 key whose jkt is the RFC 7638 SHA-256 thumbprint over crv,kty,x,y', async () => {
    expect(holder.publicJwk).toEqual({
      kty: 'EC',
      crv: 'P-256',
      x: expect.any(String),
      y: expect.any(String),
    })
    const { x, y } = holder.publicJwk
    const canonical = `{"crv":"P-256","kty":"EC","x":"${x}","y":"${y}"}`
    const expected = createHash('sha256').update(canonical).digest('base64url')
    expect(holder.jkt).toBe(expected)
    expect(jwkThumbprint(holder.publicJwk)).toBe(expected)
    expect(await calculateJwkThumbprint({ ...holder.publicJwk }, 'sha256')).toBe(expected)
    expect(holder.jkt).not.toBe(intruder.jkt)
  })

  it('matches the RFC 7638 §3.1 example thumbprint (via jose, for an RSA key)', async () => {
    const rfcKey = {
      kty: 'RSA',
      e: 'AQAB',
      n:
        '0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMs' +
        'tn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5' +
        'hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw',
    }
    expect(await calculateJwkThumbprint(rfcKey, 'sha256')).toBe('NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs')
  })

  it('exports and re-imports a key with the same thumbprint and signing ability', async () => {
    const saved = await exportDpopKey(holder)
    expect(saved.d).toEqual(expect.any(String))
    const restored = await importDpopKey(saved)
    expect(restored.jkt).toBe(holder.jkt)
    const proof = await createDpopProof(restored, { htm: 'GET', htu: LIST_OPS, now: NOW })
    expect((await verifyDpopProof(proof, { htm: 'GET', htu: LIST_OPS, now: NOW })).jkt).toBe(holder.jkt)
  })

  it('computes ath as unpadded base64url SHA-256 of the credential string', () => {
    expect(accessTokenHash('abc')).toBe('ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0')
  })
})

describe('DPoP proof creation', () => {
  it('builds the header and payload the spec gives, with htu stripped of query and fragment', async () => {
    const credential = await credentialFor(holder)
    const proof = await createDpopProof(holder, {
      htm: 'GET',
      htu: `${LIST_OPS}?space=at%3A%2F%2Fx&limit=5#frag`,
      credential,
      now: NOW,
    })
    const header = decodePart(proof, 0)
    expect(header).toEqual({ alg: 'ES256', typ: 'dpop+jwt', jwk: holder.publicJwk })
    expect(header['jwk']).not.toHaveProperty('d')
    expect(decodePart(proof, 1)).toEqual({
      jti: expect.stringMatching(/^[0-9a-f]{32}$/),
      htm: 'GET',
      htu: LIST_OPS,
      iat: NOW,
      ath: accessTokenHash(credential),
    })
  })

  it('omits ath on the credential exchange and carries a server nonce when given', async () => {
    const proof = await createDpopProof(holder, { htm: 'POST', htu: EXCHANGE, nonce: 'n-1', now: NOW })
    const payload = decodePart(proof, 1)
    expect(payload).not.toHaveProperty('ath')
    expect(payload['nonce']).toBe('n-1')
  })

  it('normalises htu to origin + path', () => {
    expect(normalizeHtu('HTTPS://PDS.Example.com:443/xrpc/a.b.c?x=1#y')).toBe(
      'https://pds.example.com/xrpc/a.b.c',
    )
    expect(normalizeHtu('http://localhost:2583/xrpc/m')).toBe('http://localhost:2583/xrpc/m')
    expect(() => normalizeHtu('/xrpc/relative')).toThrow(
      expect.objectContaining({ reason: 'bad_dpop_proof' }),
    )
  })
})

describe('DPoP proof verification with a credential (repo host)', () => {
  let credential: string
  beforeAll(async () => {
    credential = await credentialFor(holder)
  })
  const verify = (proof: string, extra: Partial<Parameters<typeof verifyDpopProof>[1]> = {}) =>
    verifyDpopProof(proof, {
      htm: 'GET',
      htu: LIST_OPS,
      credential: { token: credential, jkt: holder.jkt },
      now: NOW,
      ...extra,
    })
  const claims = (over: Record<string, unknown> = {}) => ({
    jti: 'j',
    htm: 'GET',
    htu: LIST_OPS,
    iat: NOW,
    ath: accessTokenHash(credential),
    ...over,
  })

  it('accepts a proof bound to the credential, for the request URL with any query', async () => {
    const proof = await createDpopProof(holder, { htm: 'GET', htu: LIST_OPS, credential, now: NOW })
    const verified = await verify(proof, { htu: `${LIST_OPS}?space=x&since=y` })
    expect(verified.jkt).toBe(holder.jkt)
    expect(verified.jti).toMatch(/^[0-9a-f]{32}$/)
    expect(verified.expiresAt).toBe(NOW + 65)
  })

  it('ties together with credential verification (cnf.jkt → DPoP binding)', async () => {
    const resolveKey = docResolver({ [AUTHORITY]: { '#atproto': keys.k256.didKey } })
    const { jkt } = await verifySpaceCredential(credential, { resolveKey, now: NOW, space: SPACE })
    const proof = await createDpopProof(holder, { htm: 'GET', htu: LIST_OPS, credential, now: NOW })
    expect(await outcome(verify(proof, { credential: { token: credential, jkt } }))).toBe('ok')
  })

  it('rejects a proof whose htu carries a query (compared verbatim after normalising the request)', async () => {
    const proof = await forgeProof(holder, claims({ htu: `${LIST_OPS}?space=x` }))
    expect(await outcome(verify(proof, { htu: `${LIST_OPS}?space=x` }))).toBe('bad_dpop_proof')
  })

  it.each([
    ['another path', { htu: `${HOST}/xrpc/com.atproto.space.getRecord` }],
    ['another host', { htu: `https://other.example.com/xrpc/com.atproto.space.listRepoOps` }],
    ['wrong htm', { htm: 'POST' }],
    ['lower-case htm', { htm: 'get' }],
    ['missing jti', { jti: undefined }],
    ['missing iat', { iat: undefined }],
    ['missing ath', { ath: undefined }],
    ['ath of another credential', { ath: accessTokenHash('something-else') }],
    ['stale nonce', { nonce: 'old' }],
  ])('rejects %s', async (_name, over) => {
    const payload: Record<string, unknown> = claims(over)
    for (const k of Object.keys(payload)) if (payload[k] === undefined) delete payload[k]
    const nonce = 'nonce' in over ? { nonce: 'current' } : {}
    expect(await outcome(verify(await forgeProof(holder, payload), nonce))).toBe('bad_dpop_proof')
  })

  it('accepts iat in [now − 65, now + 5] and rejects outside', async () => {
    const at = async (iat: number) => outcome(verify(await forgeProof(holder, claims({ iat })), { now: NOW }))
    expect(await at(NOW - 65)).toBe('ok')
    expect(await at(NOW - 66)).toBe('bad_dpop_proof')
    expect(await at(NOW + 5)).toBe('ok')
    expect(await at(NOW + 6)).toBe('bad_dpop_proof')
  })

  it('rejects a proof signed by a key other than the bound one (DpopKeyMismatch)', async () => {
    const proof = await createDpopProof(intruder, { htm: 'GET', htu: LIST_OPS, credential, now: NOW })
    expect(await outcome(verify(proof))).toBe('dpop_key_mismatch')
  })

  it('rejects a header jwk that does not match the signing key', async () => {
    const proof = await new SignJWT(claims())
      .setProtectedHeader({ alg: 'ES256', typ: DPOP_TYP, jwk: { ...holder.publicJwk } })
      .sign(intruder.privateKey)
    expect(await outcome(verify(proof))).toBe('bad_dpop_proof')
  })

  it.each([
    ['wrong typ', { typ: 'JWT' }],
    ['missing jwk', { jwk: undefined }],
    ['jwk with a private part', { jwk: 'PRIVATE' }],
    ['jwk on another curve', { jwk: { kty: 'EC', crv: 'P-384', x: 'a', y: 'b' } }],
  ])('rejects a header with %s', async (_name, over) => {
    const header: Record<string, unknown> = { ...over }
    if (header['jwk'] === 'PRIVATE') header['jwk'] = await exportJWK(holder.privateKey)
    const payload = claims()
    const proof =
      header['jwk'] === undefined && 'jwk' in header
        ? await new SignJWT(payload)
            .setProtectedHeader({ alg: 'ES256', typ: DPOP_TYP })
            .sign(holder.privateKey)
        : await forgeProof(holder, payload, header)
    expect(await outcome(verify(proof))).toBe('bad_dpop_proof')
  })

  it('rejects ES256K / HS256 proofs and tampered proofs', async () => {
    const good = await forgeProof(holder, claims())
    const [h, p, s] = good.split('.') as [string, string, string]
    const reheader = (alg: string) => {
      const header = { ...decodePart(good, 0), alg }
      return `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${p}.${s}`
    }
    expect(await outcome(verify(reheader('ES256K')))).toBe('bad_dpop_proof')
    expect(await outcome(verify(reheader('HS256')))).toBe('bad_dpop_proof')
    const tampered = `${h}.${Buffer.from(JSON.stringify(claims({ jti: 'other' }))).toString('base64url')}.${s}`
    expect(await outcome(verify(tampered))).toBe('bad_dpop_proof')
    expect(await outcome(verify(`${h}.${p}`))).toBe('bad_dpop_proof')
  })

  it('returns the jti, and detects a replayed proof through the hook', async () => {
    const store = new Set<string>()
    const entries: ReplayEntry[] = []
    const seen = async (e: ReplayEntry) => {
      entries.push(e)
      const hit = store.has(e.jti)
      store.add(e.jti)
      return hit
    }
    const proof = await createDpopProof(holder, {
      htm: 'GET',
      htu: LIST_OPS,
      credential,
      now: NOW,
      jti: 'a'.repeat(32),
    })
    expect((await verify(proof, { seen })).jti).toBe('a'.repeat(32))
    expect(await outcome(verify(proof, { seen }))).toBe('token_replayed')
    expect(entries[0]).toEqual({ kind: 'dpop', iss: holder.jkt, jti: 'a'.repeat(32), expiresAt: NOW + 65 })
  })
})

describe('DPoP proof verification on the credential exchange (no credential)', () => {
  const verify = (proof: string) => verifyDpopProof(proof, { htm: 'POST', htu: EXCHANGE, now: NOW })

  it('accepts a proof without ath and reports its key thumbprint for the credential cnf', async () => {
    const proof = await createDpopProof(holder, { htm: 'POST', htu: EXCHANGE, now: NOW })
    expect((await verify(proof)).jkt).toBe(holder.jkt)
  })

  it('rejects a proof that carries ath', async () => {
    const proof = await createDpopProof(holder, {
      htm: 'POST',
      htu: EXCHANGE,
      credential: 'delegation-token',
      now: NOW,
    })
    expect(await outcome(verify(proof))).toBe('bad_dpop_proof')
  })

  it('tolerates a nonce the server did not ask for', async () => {
    const proof = await createDpopProof(holder, {
      htm: 'POST',
      htu: EXCHANGE,
      nonce: 'unsolicited',
      now: NOW,
    })
    expect(await outcome(verify(proof))).toBe('ok')
  })
})
