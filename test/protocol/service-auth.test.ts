import { MAX_JWS_LENGTH } from '../../src/protocol/jws.js'
import {
  createServiceAuth,
  serviceAuthKeyId,
  splitIssuer,
  verifyServiceAuth,
} from '../../src/protocol/service-auth.js'
import type { KeyResolver, ReplayEntry } from '../../src/protocol/token-claims.js'
import {
  AUTHORITY,
  NOW,
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
const SYNCER = 'did:web:syncer.example.com#atproto_space_syncer'
const NOTIFY = 'com.atproto.space.notifyWrite'

describe.each([['k256'], ['p256']] as const)('service auth signed by the %s test key', (which) => {
  const key: TestKey = keys[which]
  const resolveKey = docResolver({ [AUTHORITY]: { '#atproto': key.didKey } })
  const mint = () =>
    createServiceAuth({ keypair: key.keypair, iss: AUTHORITY, aud: SYNCER, lxm: NOTIFY, now: NOW })
  const verify = (token: string, now = NOW + 1) =>
    verifyServiceAuth(token, { audience: SYNCER, lxm: NOTIFY, issuer: AUTHORITY, resolveKey, now })

  it('round-trips with the standard shape', async () => {
    const token = await mint()
    expect(decodePart(token, 0)).toEqual({ alg: key.alg, typ: 'JWT' })
    expect(decodePart(token, 1)).toEqual({
      iat: NOW,
      iss: AUTHORITY,
      aud: SYNCER,
      exp: NOW + 60,
      lxm: NOTIFY,
      jti: expect.stringMatching(/^[0-9a-f]{32}$/),
    })
    const verified = await verify(token)
    expect(verified.issuerDid).toBe(AUTHORITY)
    expect(verified.claims.lxm).toBe(NOTIFY)
    expect(verified.claims.jti).toMatch(/^[0-9a-f]{32}$/)
  })

  it('accepts the high-S twin (lenient, like upstream) but not DER', async () => {
    const token = await mint()
    expect(await outcome(verify(toHighS(token, key.alg)))).toBe('ok')
    expect(await outcome(verify(toDer(token)))).toBe('bad_token_signature')
  })

  it('has no clock skew: valid at exp, expired one second later', async () => {
    const token = await mint()
    expect(await outcome(verify(token, NOW + 60))).toBe('ok')
    expect(await outcome(verify(token, NOW + 61))).toBe('token_expired')
  })

  it('rejects a tampered payload', async () => {
    const token = tamperPayload(await mint(), (p) => (p['exp'] = NOW + 55))
    expect(await outcome(verify(token))).toBe('bad_token_signature')
  })
})

describe('service auth negatives', () => {
  const key = keys.k256
  const resolveKey = docResolver({
    [AUTHORITY]: { '#atproto': key.didKey, '#atproto_label': keys.p256.didKey },
  })
  type Opts = Partial<Parameters<typeof verifyServiceAuth>[1]>
  const verify = (token: string, opts: Opts = {}) =>
    verifyServiceAuth(token, { audience: SYNCER, lxm: NOTIFY, resolveKey, now: NOW + 1, ...opts })
  let good: string
  beforeAll(async () => {
    good = await createServiceAuth({
      keypair: key.keypair,
      iss: AUTHORITY,
      aud: SYNCER,
      lxm: NOTIFY,
      now: NOW,
    })
  })
  const edit = (e: Parameters<typeof resign>[2]) => resign(good, key.keypair, e)

  it.each([
    ['typ at+jwt', { header: (h) => (h['typ'] = 'at+jwt') }, 'bad_token_type'],
    ['typ refresh+jwt', { header: (h) => (h['typ'] = 'refresh+jwt') }, 'bad_token_type'],
    ['typ dpop+jwt', { header: (h) => (h['typ'] = 'dpop+jwt') }, 'bad_token_type'],
    [
      'typ of a space credential',
      { header: (h) => (h['typ'] = 'atproto-space-credential+jwt') },
      'bad_token_type',
    ],
    ['wrong aud', { payload: (p) => (p['aud'] = 'did:web:syncer.example.com') }, 'bad_token_audience'],
    ['missing aud', { payload: (p) => delete p['aud'] }, 'bad_token_audience'],
    ['wrong lxm', { payload: (p) => (p['lxm'] = 'com.atproto.space.notifySpaceDeleted') }, 'bad_token_lxm'],
    ['missing lxm', { payload: (p) => delete p['lxm'] }, 'bad_token_lxm'],
    ['iss that is not a DID', { payload: (p) => (p['iss'] = 'https://evil.example') }, 'bad_token_issuer'],
    ['iss with an empty fragment', { payload: (p) => (p['iss'] = `${AUTHORITY}#`) }, 'bad_token_issuer'],
    ['iss with two fragments', { payload: (p) => (p['iss'] = `${AUTHORITY}#a#b`) }, 'bad_token_issuer'],
    ['missing exp', { payload: (p) => delete p['exp'] }, 'malformed_token'],
    ['non-string lxm', { payload: (p) => (p['lxm'] = 7) }, 'malformed_token'],
    ['alg none', { header: (h) => (h['alg'] = 'none') }, 'bad_token_alg'],
  ] as Array<[string, Parameters<typeof resign>[2], string]>)('rejects %s', async (_name, e, reason) => {
    // resign() sets alg from the key, so patch "alg none" in after signing.
    let token = await edit(e)
    if (_name === 'alg none') {
      const [, p, s] = token.split('.')
      token = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${p}.${s}`
    }
    expect(await outcome(verify(token))).toBe(reason)
  })

  it('accepts an absent typ and lower-case jwt', async () => {
    expect(await outcome(verify(await edit({ header: (h) => delete h['typ'] })))).toBe('ok')
    expect(await outcome(verify(await edit({ header: (h) => (h['typ'] = 'jwt') })))).toBe('ok')
  })

  it('skips the lxm check only when none is expected', async () => {
    const noLxm = await edit({ payload: (p) => delete p['lxm'] })
    expect(await outcome(verify(noLxm, { lxm: undefined }))).toBe('ok')
  })

  it('checks the expected issuer exactly', async () => {
    expect(await outcome(verify(good, { issuer: AUTHORITY }))).toBe('ok')
    expect(await outcome(verify(good, { issuer: 'did:plc:someoneelse' }))).toBe('bad_token_issuer')
  })

  it('resolves a fragment issuer by its DID; #atproto_labeler uses #atproto_label', async () => {
    const withFrag = await edit({ payload: (p) => (p['iss'] = `${AUTHORITY}#atproto_space_host`) })
    expect((await verify(withFrag)).issuerDid).toBe(AUTHORITY)
    const labeler = await createServiceAuth({
      keypair: keys.p256.keypair,
      iss: `${AUTHORITY}#atproto_labeler`,
      aud: SYNCER,
      lxm: NOTIFY,
      now: NOW,
    })
    expect(await outcome(verify(labeler))).toBe('ok')
    expect(serviceAuthKeyId('atproto_labeler')).toBe('#atproto_label')
    expect(serviceAuthKeyId(undefined)).toBe('#atproto')
    expect(splitIssuer(`${AUTHORITY}#x`)).toEqual({ did: AUTHORITY, fragment: 'x' })
  })

  it('rejects an issuer without a published key, and a key the issuer does not publish', async () => {
    const stranger = await createServiceAuth({
      keypair: key.keypair,
      iss: 'did:plc:nobody',
      aud: SYNCER,
      lxm: NOTIFY,
      now: NOW,
    })
    expect(await outcome(verify(stranger))).toBe('bad_token_issuer')
    const forged = await createServiceAuth({
      keypair: keys.k256Other.keypair,
      iss: AUTHORITY,
      aud: SYNCER,
      lxm: NOTIFY,
      now: NOW,
    })
    expect(await outcome(verify(forged))).toBe('bad_token_signature')
  })

  it('rejects alg/key mismatch', async () => {
    const p256Signed = await createServiceAuth({
      keypair: keys.p256.keypair,
      iss: AUTHORITY,
      aud: SYNCER,
      lxm: NOTIFY,
      now: NOW,
    })
    expect(await outcome(verify(p256Signed))).toBe('bad_token_alg')
  })

  it('enforces an optional maximum remaining lifetime', async () => {
    const long = await createServiceAuth({
      keypair: key.keypair,
      iss: AUTHORITY,
      aud: SYNCER,
      lxm: NOTIFY,
      now: NOW,
      expiresInSec: 3600,
    })
    expect(await outcome(verify(long))).toBe('ok')
    expect(await outcome(verify(long, { maxLifetimeSec: 300 }))).toBe('token_lifetime_too_long')
    expect(await outcome(verify(good, { maxLifetimeSec: 300 }))).toBe('ok')
  })

  it('returns the jti for replay tracking and detects replays through the hook', async () => {
    const store = new Set<string>()
    const entries: ReplayEntry[] = []
    const seen = async (e: ReplayEntry) => {
      entries.push(e)
      const hit = store.has(e.jti)
      store.add(e.jti)
      return hit
    }
    expect(await outcome(verify(good, { seen }))).toBe('ok')
    expect(await outcome(verify(good, { seen }))).toBe('token_replayed')
    expect(entries[0]).toEqual({
      kind: 'service_auth',
      iss: AUTHORITY,
      jti: decodePart(good, 1)['jti'],
      expiresAt: NOW + 60,
    })
    const noJti = await edit({ payload: (p) => delete p['jti'] })
    expect(await outcome(verify(noJti))).toBe('ok')
    expect(await outcome(verify(noJti, { seen }))).toBe('malformed_token')
  })

  it('a signature memo skips the signature check only: every claim is checked on each use', async () => {
    let lookups = 0
    const counting: KeyResolver = (did, keyId, fresh) => {
      lookups++
      return resolveKey(did, keyId, fresh)
    }
    const remembered = new Set<string>()
    const signatureMemo = {
      has: (t: string) => remembered.has(t),
      add: (t: string) => void remembered.add(t),
    }
    const memoized = (token: string, opts: Opts = {}) =>
      verify(token, { resolveKey: counting, signatureMemo, ...opts })
    expect(await outcome(memoized(good))).toBe('ok')
    expect(lookups).toBe(1)
    expect(await outcome(memoized(good))).toBe('ok')
    expect(lookups).toBe(1) // a hit: no key lookup, no signature check
    expect(await outcome(memoized(good, { now: NOW + 61 }))).toBe('token_expired')
    expect(await outcome(memoized(good, { audience: 'did:web:other.example#atproto_space_syncer' }))).toBe(
      'bad_token_audience',
    )
    expect(await outcome(memoized(good, { lxm: 'com.atproto.space.notifySpaceDeleted' }))).toBe(
      'bad_token_lxm',
    )
    // A token whose signature fails is checked every time and never remembered.
    const forged = await resign(good, keys.p256.keypair, {})
    expect(await outcome(memoized(forged))).not.toBe('ok')
    const afterFirst = lookups
    expect(await outcome(memoized(forged))).not.toBe('ok')
    expect(lookups).toBeGreaterThan(afterFirst)
    expect(remembered.has(forged)).toBe(false)
  })

  it('rejects an oversized token', async () => {
    expect(await outcome(verify(await edit({ payload: (p) => (p['x'] = 'y'.repeat(MAX_JWS_LENGTH)) })))).toBe(
      'malformed_token',
    )
  })
})
