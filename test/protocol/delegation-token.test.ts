import {
  DELEGATION_TOKEN_TYP,
  createDelegationToken,
  verifyDelegationToken,
} from '../../src/protocol/delegation-token.js'
import { MAX_JWS_LENGTH } from '../../src/protocol/jws.js'
import { spaceHostAudience } from '../../src/protocol/space-token.js'
import type { ReplayEntry } from '../../src/protocol/token-claims.js'
import {
  AUTHORITY,
  NOW,
  OTHER_SPACE,
  SPACE,
  USER,
  decodePart,
  docResolver,
  loadTestKeys,
  outcome,
  resign,
  tamperPayload,
  toDer,
  toHighS,
  type TestKey,
} from './token-fixtures.js'

const keys = await loadTestKeys()

describe.each([['k256'], ['p256']] as const)('delegation token signed by the %s test key', (which) => {
  const key: TestKey = keys[which]
  const resolveKey = docResolver({ [USER]: { '#atproto': key.didKey } })
  const mint = (extra: Partial<Parameters<typeof createDelegationToken>[0]> = {}) =>
    createDelegationToken({ keypair: key.keypair, iss: USER, space: SPACE, now: NOW, ...extra })
  const verify = (token: string, now = NOW + 1) =>
    verifyDelegationToken(token, { resolveKey, now, space: SPACE })

  it('round-trips with the wire shape the spec gives', async () => {
    const token = await mint({ jti: '0123456789abcdef0123456789abcdef' })
    expect(decodePart(token, 0)).toEqual({ alg: key.alg, typ: DELEGATION_TOKEN_TYP, kid: '#atproto' })
    expect(decodePart(token, 1)).toEqual({
      iss: USER,
      sub: SPACE,
      aud: `${AUTHORITY}#atproto_space_host`,
      iat: NOW,
      exp: NOW + 60,
      jti: '0123456789abcdef0123456789abcdef',
    })
    const verified = await verify(token)
    expect(verified.claims.iss).toBe(USER)
    expect(verified.claims.jti).toBe('0123456789abcdef0123456789abcdef')
    expect(verified.space).toEqual({ did: AUTHORITY, type: 'com.example.forum', skey: 'main' })
    expect(verified.keyId).toBe('#atproto')
  })

  it('generates a 32-hex jti', async () => {
    expect(decodePart(await mint(), 1)['jti']).toMatch(/^[0-9a-f]{32}$/)
  })

  it('is still valid within the 5 s skew after exp, and expired at exp + 5', async () => {
    const token = await mint()
    expect(await outcome(verify(token, NOW + 60 + 4))).toBe('ok')
    expect(await outcome(verify(token, NOW + 60 + 5))).toBe('token_expired')
    expect(await outcome(verify(token, NOW + 3600))).toBe('token_expired')
  })

  it('rejects a high-S signature and a DER signature', async () => {
    const token = await mint()
    expect(await outcome(verify(toHighS(token, key.alg)))).toBe('bad_token_signature')
    expect(await outcome(verify(toDer(token)))).toBe('bad_token_signature')
  })

  it('rejects a tampered payload', async () => {
    const token = tamperPayload(await mint(), (p) => (p['exp'] = NOW + 6000))
    expect(await outcome(verify(token))).toBe('bad_token_signature')
  })
})

describe('delegation token negatives', () => {
  const key = keys.k256
  const resolveKey = docResolver({ [USER]: { '#atproto': key.didKey } })
  const verify = (token: string, opts: { space?: string } = {}) =>
    verifyDelegationToken(token, { resolveKey, now: NOW + 1, ...opts })
  let good: string
  beforeAll(async () => {
    good = await createDelegationToken({ keypair: key.keypair, iss: USER, space: SPACE, now: NOW })
  })
  const edit = (e: Parameters<typeof resign>[2]) => resign(good, key.keypair, e)

  it.each([
    ['wrong typ', { header: (h) => (h['typ'] = 'atproto-space-credential+jwt') }, 'bad_token_type'],
    ['missing typ', { header: (h) => delete h['typ'] }, 'bad_token_type'],
    ['missing kid', { header: (h) => delete h['kid'] }, 'bad_token_kid'],
    ['unknown kid', { header: (h) => (h['kid'] = '#atproto_label') }, 'bad_token_kid'],
    [
      'aud of another authority',
      { payload: (p) => (p['aud'] = 'did:plc:someoneelse#atproto_space_host') },
      'bad_token_audience',
    ],
    ['bare-DID aud', { payload: (p) => (p['aud'] = AUTHORITY) }, 'bad_token_audience'],
    ['missing aud', { payload: (p) => delete p['aud'] }, 'bad_token_audience'],
    [
      'sub that is not a space ref',
      { payload: (p) => (p['sub'] = `${SPACE}/${USER}/app.x.y/abc`) },
      'bad_token_subject',
    ],
    ['missing sub', { payload: (p) => delete p['sub'] }, 'bad_token_subject'],
    ['iss that is not a DID', { payload: (p) => (p['iss'] = 'alice.example.com') }, 'bad_token_issuer'],
    ['missing jti', { payload: (p) => delete p['jti'] }, 'malformed_token'],
    ['missing exp', { payload: (p) => delete p['exp'] }, 'malformed_token'],
    ['string exp', { payload: (p) => (p['exp'] = String(NOW + 60)) }, 'malformed_token'],
  ] as Array<[string, Parameters<typeof resign>[2], string]>)('rejects %s', async (_name, e, reason) => {
    expect(await outcome(verify(await edit(e)))).toBe(reason)
  })

  it('accepts kid #atproto_space (and without "#") when that key exists, and uses exactly that key', async () => {
    const spaceKeyResolver = docResolver({
      [USER]: { '#atproto': keys.p256.didKey, '#atproto_space': key.didKey },
    })
    for (const kid of ['#atproto_space', 'atproto_space']) {
      const token = await edit({ header: (h) => (h['kid'] = kid) })
      const verified = await verifyDelegationToken(token, { resolveKey: spaceKeyResolver, now: NOW + 1 })
      expect(verified.keyId).toBe('#atproto_space')
    }
    expect(spaceKeyResolver.calls.every(([, keyId]) => keyId === '#atproto_space')).toBe(true)
  })

  it('rejects kid #atproto_space when the DID document has no such key (no fallback to #atproto)', async () => {
    const token = await edit({ header: (h) => (h['kid'] = '#atproto_space') })
    expect(await outcome(verify(token))).toBe('bad_token_kid')
  })

  it('rejects a token whose issuer has no key at all', async () => {
    const token = await createDelegationToken({
      keypair: key.keypair,
      iss: 'did:plc:nobody',
      space: SPACE,
      now: NOW,
    })
    expect(await outcome(verify(token))).toBe('bad_token_kid')
  })

  it('rejects a token signed by a key the issuer does not publish', async () => {
    const token = await createDelegationToken({
      keypair: keys.k256Other.keypair,
      iss: USER,
      space: SPACE,
      now: NOW,
    })
    expect(await outcome(verify(token))).toBe('bad_token_signature')
  })

  it('rejects alg/key mismatch (P-256 signature, secp256k1 key published)', async () => {
    const token = await createDelegationToken({
      keypair: keys.p256.keypair,
      iss: USER,
      space: SPACE,
      now: NOW,
    })
    expect(await outcome(verify(token))).toBe('bad_token_alg')
  })

  it('re-resolves once after a failure and accepts a rotated key', async () => {
    const rotated = docResolver(
      { [USER]: { '#atproto': keys.p256.didKey } },
      { [USER]: { '#atproto': key.didKey } },
    )
    const verified = await verifyDelegationToken(good, { resolveKey: rotated, now: NOW + 1 })
    expect(verified.claims.iss).toBe(USER)
    expect(rotated.calls).toEqual([
      [USER, '#atproto', false],
      [USER, '#atproto', true],
    ])
  })

  it('checks the requested space exactly', async () => {
    expect(await outcome(verify(good, { space: SPACE }))).toBe('ok')
    expect(await outcome(verify(good, { space: OTHER_SPACE }))).toBe('bad_token_subject')
  })

  it('rejects an oversized token', async () => {
    const token = await edit({ payload: (p) => (p['pad'] = 'x'.repeat(MAX_JWS_LENGTH)) })
    expect(await outcome(verify(token))).toBe('malformed_token')
  })

  it('is single-use per (iss, jti) through the replay hook, retained until exp + skew', async () => {
    const store = new Set<string>()
    const entries: ReplayEntry[] = []
    const seen = async (e: ReplayEntry) => {
      entries.push(e)
      const k = `${e.iss} ${e.jti}`
      if (store.has(k)) return true
      store.add(k)
      return false
    }
    const opts = { resolveKey, now: NOW + 1, seen }
    expect(await outcome(verifyDelegationToken(good, opts))).toBe('ok')
    expect(await outcome(verifyDelegationToken(good, opts))).toBe('token_replayed')
    expect(entries[0]).toEqual({
      kind: 'delegation',
      iss: USER,
      jti: decodePart(good, 1)['jti'],
      expiresAt: NOW + 60 + 5,
    })
  })

  it('does not consult the replay store for a token that fails verification', async () => {
    let calls = 0
    const seen = async () => (calls++, false)
    const forged = await createDelegationToken({
      keypair: keys.k256Other.keypair,
      iss: USER,
      space: SPACE,
      now: NOW,
    })
    expect(await outcome(verifyDelegationToken(forged, { resolveKey, now: NOW + 1, seen }))).toBe(
      'bad_token_signature',
    )
    expect(calls).toBe(0)
  })

  it('never puts the token, its segments or key material into error messages', async () => {
    const bad = [
      await edit({ payload: (p) => (p['sub'] = `at://${'did:plc:' + 'q'.repeat(40)}/nope`) }),
      await edit({ header: (h) => (h['kid'] = '#atproto_secret_key_name') }),
      toHighS(good, key.alg),
      await createDelegationToken({ keypair: keys.p256.keypair, iss: USER, space: SPACE, now: NOW }),
    ]
    for (const token of bad) {
      const err = await verify(token).then(
        () => null,
        (e: unknown) => e as Error,
      )
      expect(err).not.toBeNull()
      for (const secret of [token, ...token.split('.'), key.didKey, keys.p256.didKey, 'qqqqqqqqqq']) {
        expect(err?.message).not.toContain(secret)
      }
    }
  })

  it('derives the audience from the space authority', () => {
    expect(spaceHostAudience(AUTHORITY)).toBe(`${AUTHORITY}#atproto_space_host`)
  })
})
