import { generateDpopKey } from '../../src/protocol/dpop.js'
import { MAX_JWS_LENGTH } from '../../src/protocol/jws.js'
import {
  SPACE_CREDENTIAL_TYP,
  createSpaceCredential,
  verifySpaceCredential,
} from '../../src/protocol/space-credential.js'
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
const dpopKey = await generateDpopKey()

describe.each([['k256'], ['p256']] as const)('space credential signed by the %s test key', (which) => {
  const key: TestKey = keys[which]
  const resolveKey = docResolver({ [AUTHORITY]: { '#atproto': key.didKey } })
  const mint = () => createSpaceCredential({ keypair: key.keypair, space: SPACE, jkt: dpopKey.jkt, now: NOW })
  const verify = (token: string, now = NOW + 10) =>
    verifySpaceCredential(token, { resolveKey, now, space: SPACE })

  it('round-trips with the wire shape the spec gives', async () => {
    const token = await mint()
    expect(decodePart(token, 0)).toEqual({ alg: key.alg, typ: SPACE_CREDENTIAL_TYP, kid: '#atproto' })
    const payload = decodePart(token, 1)
    expect(payload).toEqual({
      iss: AUTHORITY,
      sub: SPACE,
      cnf: { jkt: dpopKey.jkt },
      iat: NOW,
      exp: NOW + 7200,
      jti: expect.stringMatching(/^[0-9a-f]{32}$/),
    })
    expect(payload['aud']).toBeUndefined()
    const verified = await verify(token)
    expect(verified.jkt).toBe(dpopKey.jkt)
    expect(verified.claims.exp).toBe(NOW + 7200)
    expect(verified.space.did).toBe(AUTHORITY)
    expect(verified.keyId).toBe('#atproto')
  })

  it('is valid within the 5 s skew after exp and expired beyond it', async () => {
    const token = await mint()
    expect(await outcome(verify(token, NOW + 7200 + 4))).toBe('ok')
    expect(await outcome(verify(token, NOW + 7200 + 5))).toBe('token_expired')
  })

  it('rejects high-S, DER and tampered tokens', async () => {
    const token = await mint()
    expect(await outcome(verify(toHighS(token, key.alg)))).toBe('bad_token_signature')
    expect(await outcome(verify(toDer(token)))).toBe('bad_token_signature')
    const other = await generateDpopKey()
    expect(await outcome(verify(tamperPayload(token, (p) => (p['cnf'] = { jkt: other.jkt }))))).toBe(
      'bad_token_signature',
    )
  })
})

describe('space credential negatives', () => {
  const key = keys.k256
  const resolveKey = docResolver({
    [AUTHORITY]: { '#atproto': key.didKey },
    [USER]: { '#atproto': key.didKey },
  })
  const verify = (token: string, opts: { space?: string } = {}) =>
    verifySpaceCredential(token, { resolveKey, now: NOW + 10, ...opts })
  let good: string
  beforeAll(async () => {
    good = await createSpaceCredential({ keypair: key.keypair, space: SPACE, jkt: dpopKey.jkt, now: NOW })
  })
  const edit = (e: Parameters<typeof resign>[2]) => resign(good, key.keypair, e)

  it.each([
    [
      'wrong typ (delegation)',
      { header: (h) => (h['typ'] = 'atproto-space-delegation+jwt') },
      'bad_token_type',
    ],
    ['typ JWT', { header: (h) => (h['typ'] = 'JWT') }, 'bad_token_type'],
    ['missing kid', { header: (h) => delete h['kid'] }, 'bad_token_kid'],
    ['kid naming another key', { header: (h) => (h['kid'] = '#atproto_pds') }, 'bad_token_kid'],
    ['missing cnf', { payload: (p) => delete p['cnf'] }, 'bad_token_cnf'],
    ['cnf without jkt', { payload: (p) => (p['cnf'] = {}) }, 'bad_token_cnf'],
    ['non-string jkt', { payload: (p) => (p['cnf'] = { jkt: 5 }) }, 'bad_token_cnf'],
    ['iss that is not the space authority', { payload: (p) => (p['iss'] = USER) }, 'bad_token_issuer'],
    ['missing iss', { payload: (p) => delete p['iss'] }, 'bad_token_issuer'],
    [
      '6-part record URI as sub',
      { payload: (p) => (p['sub'] = `${SPACE}/${USER}/app.x.y/abc`) },
      'bad_token_subject',
    ],
    ['missing exp', { payload: (p) => delete p['exp'] }, 'malformed_token'],
  ] as Array<[string, Parameters<typeof resign>[2], string]>)('rejects %s', async (_name, e, reason) => {
    expect(await outcome(verify(await edit(e)))).toBe(reason)
  })

  it('rejects a credential whose iss is a user signing for a space that is not theirs', async () => {
    // Signed validly by USER's own key, naming AUTHORITY's space: only the authority may issue for it.
    const forged = await edit({ payload: (p) => (p['iss'] = USER) })
    expect(await outcome(verify(forged))).toBe('bad_token_issuer')
  })

  it('checks the requested space exactly', async () => {
    expect(await outcome(verify(good, { space: SPACE }))).toBe('ok')
    expect(await outcome(verify(good, { space: OTHER_SPACE }))).toBe('bad_token_subject')
  })

  it('resolves exactly the key kid names: #atproto_space present → used; absent → rejected', async () => {
    const viaSpaceKey = await createSpaceCredential({
      keypair: keys.p256.keypair,
      space: SPACE,
      jkt: dpopKey.jkt,
      kid: '#atproto_space',
      now: NOW,
    })
    const withSpaceKey = docResolver({
      [AUTHORITY]: { '#atproto': key.didKey, '#atproto_space': keys.p256.didKey },
    })
    const verified = await verifySpaceCredential(viaSpaceKey, { resolveKey: withSpaceKey, now: NOW + 10 })
    expect(verified.keyId).toBe('#atproto_space')
    expect(withSpaceKey.calls).toEqual([[AUTHORITY, '#atproto_space', false]])
    expect(await outcome(verify(viaSpaceKey))).toBe('bad_token_kid')
  })

  it('rejects a credential signed by a key the authority does not publish', async () => {
    const forged = await createSpaceCredential({
      keypair: keys.k256Other.keypair,
      space: SPACE,
      jkt: dpopKey.jkt,
      now: NOW,
    })
    expect(await outcome(verify(forged))).toBe('bad_token_signature')
  })

  it('rejects alg/key mismatch', async () => {
    const p256Signed = await createSpaceCredential({
      keypair: keys.p256.keypair,
      space: SPACE,
      jkt: dpopKey.jkt,
      now: NOW,
    })
    expect(await outcome(verify(p256Signed))).toBe('bad_token_alg')
  })

  it('rejects an oversized token', async () => {
    expect(await outcome(verify(await edit({ payload: (p) => (p['x'] = 'y'.repeat(MAX_JWS_LENGTH)) })))).toBe(
      'malformed_token',
    )
  })

  it('refuses to mint without a thumbprint-shaped jkt or for a non-space sub', async () => {
    expect(
      await outcome(createSpaceCredential({ keypair: key.keypair, space: SPACE, jkt: 'short', now: NOW })),
    ).toBe('bad_token_cnf')
    expect(
      await outcome(
        createSpaceCredential({ keypair: key.keypair, space: 'at://x', jkt: dpopKey.jkt, now: NOW }),
      ),
    ).toBe('invalid_space_uri')
  })
})
