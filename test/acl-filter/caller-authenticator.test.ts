// The caller authenticator from the attacker's side: every way a service-auth JWT or a credential + DPoP
// proof can be wrong is refused with its own reason; replays are caught through the real Redis store.
import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { CallerAuthError, type CallerAuthReason } from '../../src/acl-filter/caller.js'
import { CallerAuthenticator } from '../../src/acl-filter/caller-authenticator.js'
import { redisReplayCheck } from '../../src/acl-filter/replay-store.js'
import { IdentityError } from '../../src/identity/identity-error.js'
import { createDpopProof, generateDpopKey } from '../../src/protocol/dpop.js'
import { createServiceAuth } from '../../src/protocol/service-auth.js'
import { createSpaceCredential } from '../../src/protocol/space-credential.js'
import type { KeyResolver } from '../../src/protocol/token-claims.js'
import {
  AUTHORITY,
  OTHER_SPACE,
  SPACE,
  USER,
  docResolver,
  loadTestKeys,
  resign,
} from '../protocol/token-fixtures.js'

const keys = await loadTestKeys()
const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { lazyConnect: true })
const replay = redisReplayCheck(redis, `spaceview-test:${randomBytes(6).toString('hex')}:jti:`)
const AUD = 'did:web:spaceview.test'
const AUD_FRAG = `${AUD}#atproto_space_syncer`
const PUBLIC_URL = 'https://spaceview.test'
const LXM = 'dev.spaceview.listRecords'
const PATH = `/xrpc/${LXM}`
const now = () => Math.floor(Date.now() / 1000)

const docs = { [USER]: { '#atproto': keys.k256.didKey }, [AUTHORITY]: { '#atproto': keys.p256.didKey } }

function authenticator(resolveKey: KeyResolver = docResolver(docs)): CallerAuthenticator {
  return new CallerAuthenticator({ audiences: [AUD, AUD_FRAG], publicUrl: PUBLIC_URL, resolveKey, replay })
}

async function reason(p: Promise<unknown>): Promise<CallerAuthReason | 'ok'> {
  try {
    await p
    return 'ok'
  } catch (err) {
    if (err instanceof CallerAuthError) return err.reason
    throw err
  }
}

const jwt = (opts: Partial<Parameters<typeof createServiceAuth>[0]> = {}) =>
  createServiceAuth({ keypair: keys.k256.keypair, iss: USER, aud: AUD, lxm: LXM, ...opts })
const bearer = (token: string) => ({ method: 'GET', path: PATH, authorization: `Bearer ${token}` })

afterAll(() => redis.quit())

describe('service auth (Bearer JWT)', () => {
  const auth = authenticator()

  it('authenticates a user by the DID that signed for our audience and this method', async () => {
    await expect(auth.authenticate(bearer(await jwt()), LXM)).resolves.toEqual({ kind: 'user', did: USER })
    await expect(auth.authenticate(bearer(await jwt({ aud: AUD_FRAG })), LXM)).resolves.toEqual({
      kind: 'user',
      did: USER,
    })
  })

  it('refuses missing and unknown Authorization', async () => {
    expect(await reason(auth.authenticate({ method: 'GET', path: PATH }, LXM))).toBe('missing')
    expect(
      await reason(auth.authenticate({ method: 'GET', path: PATH, authorization: 'Basic abc' }, LXM)),
    ).toBe('unsupported_scheme')
    expect(await reason(auth.authenticate({ method: 'GET', path: PATH, authorization: 'Bearer' }, LXM))).toBe(
      'unsupported_scheme',
    )
    expect(await reason(auth.authenticate(bearer('not.a.jwt'), LXM))).toBe('malformed_token')
  })

  it.each([
    ['expired', () => jwt({ now: now() - 120 }), 'token_expired'],
    ['not yet valid (iat ahead)', () => jwt({ now: now() + 120 }), 'token_not_yet_valid'],
    ['addressed to another service', () => jwt({ aud: 'did:web:other.example' }), 'bad_token_audience'],
    ['for another method', () => jwt({ lxm: 'dev.spaceview.getRecord' }), 'bad_token_lxm'],
    ['without lxm', () => jwt({ lxm: undefined }), 'bad_token_lxm'],
    ['valid for too long', () => jwt({ expiresInSec: 3600 }), 'token_lifetime_too_long'],
    ['signed by another key', () => jwt({ keypair: keys.k256Other.keypair }), 'bad_token_signature'],
    ['issued by a DID#service', () => jwt({ iss: `${USER}#atproto_labeler` }), 'bad_token_issuer'],
    ['issued by an unknown DID', () => jwt({ iss: 'did:plc:nobodyhere0000000000000' }), 'bad_token_issuer'],
  ] as const)('refuses a token %s', async (_name, make, want) => {
    expect(await reason(auth.authenticate(bearer(await make()), LXM))).toBe(want)
  })

  it('refuses a token whose nbf lies ahead', async () => {
    const token = await resign(await jwt(), keys.k256.keypair, { payload: (p) => void (p.nbf = now() + 60) })
    expect(await reason(auth.authenticate(bearer(token), LXM))).toBe('token_not_yet_valid')
  })

  it('refuses a space credential presented as Bearer', async () => {
    const key = await generateDpopKey()
    const credential = await createSpaceCredential({ keypair: keys.p256.keypair, space: SPACE, jkt: key.jkt })
    expect(await reason(auth.authenticate(bearer(credential), LXM))).toBe('bad_token_type')
  })

  it('accepts a jti once across authenticators (replay store in Redis)', async () => {
    const token = await jwt()
    await expect(auth.authenticate(bearer(token), LXM)).resolves.toMatchObject({ did: USER })
    expect(await reason(authenticator().authenticate(bearer(token), LXM))).toBe('token_replayed')
    expect(await reason(auth.authenticate(bearer(token), LXM))).toBe('token_replayed')
  })

  it('does not burn the jti of a token refused before its signature was checked', async () => {
    const good = await jwt()
    const forged = await resign(good, keys.k256Other.keypair, {})
    expect(await reason(auth.authenticate(bearer(forged), LXM))).toBe('bad_token_signature')
    await expect(auth.authenticate(bearer(good), LXM)).resolves.toMatchObject({ did: USER })
  })

  it('fails closed when the issuer DID document cannot be fetched', async () => {
    const down: KeyResolver = async () => {
      throw new IdentityError('unreachable', 'PLC directory down')
    }
    expect(await reason(authenticator(down).authenticate(bearer(await jwt()), LXM))).toBe(
      'issuer_unresolvable',
    )
  })
})

const dpopKey = await generateDpopKey()
const credential = await createSpaceCredential({ keypair: keys.p256.keypair, space: SPACE, jkt: dpopKey.jkt })

describe('space credential + DPoP', () => {
  const request = async (opts: { proof?: string | null; cred?: string; path?: string } = {}) => {
    const cred = opts.cred ?? credential
    const proof =
      opts.proof === undefined
        ? await createDpopProof(dpopKey, { htm: 'GET', htu: `${PUBLIC_URL}${PATH}`, credential: cred })
        : opts.proof
    return {
      method: 'GET',
      path: opts.path ?? PATH,
      authorization: `DPoP ${cred}`,
      ...(proof === null ? {} : { dpop: proof }),
    }
  }

  it('authenticates the holder of the bound key for the credential space', async () => {
    const caller = await authenticator().authenticate(await request(), LXM)
    expect(caller).toMatchObject({ kind: 'space_credential', space: SPACE })
    expect(caller.kind === 'space_credential' && caller.expiresAt).toBeGreaterThan(Date.now())
  })

  it('verifies a credential once and then only the proofs', async () => {
    const resolver = docResolver(docs)
    const auth = authenticator(resolver)
    await auth.authenticate(await request(), LXM)
    await auth.authenticate(await request(), LXM)
    expect(resolver.calls.filter(([did]) => did === AUTHORITY)).toHaveLength(1)
  })

  it('refuses a missing, replayed, foreign-key or misdirected proof', async () => {
    const auth = authenticator()
    expect(await reason(auth.authenticate(await request({ proof: null }), LXM))).toBe('missing_dpop_proof')
    const once = await request()
    await auth.authenticate(once, LXM)
    expect(await reason(auth.authenticate(once, LXM))).toBe('bad_dpop_proof')
    const thief = await generateDpopKey()
    const stolen = await createDpopProof(thief, { htm: 'GET', htu: `${PUBLIC_URL}${PATH}`, credential })
    expect(await reason(auth.authenticate(await request({ proof: stolen }), LXM))).toBe('dpop_key_mismatch')
    const elsewhere = await createDpopProof(dpopKey, {
      htm: 'GET',
      htu: `https://other.test${PATH}`,
      credential,
    })
    expect(await reason(auth.authenticate(await request({ proof: elsewhere }), LXM))).toBe('bad_dpop_proof')
    const noAth = await createDpopProof(dpopKey, { htm: 'GET', htu: `${PUBLIC_URL}${PATH}` })
    expect(await reason(auth.authenticate(await request({ proof: noAth }), LXM))).toBe('bad_dpop_proof')
    const post = await createDpopProof(dpopKey, { htm: 'POST', htu: `${PUBLIC_URL}${PATH}`, credential })
    expect(await reason(auth.authenticate(await request({ proof: post }), LXM))).toBe('bad_dpop_proof')
  })

  it('refuses expired, forged and wrongly issued credentials', async () => {
    const auth = authenticator()
    const expired = await createSpaceCredential({
      keypair: keys.p256.keypair,
      space: SPACE,
      jkt: dpopKey.jkt,
      now: now() - 7300,
    })
    expect(await reason(auth.authenticate(await request({ cred: expired }), LXM))).toBe('token_expired')
    const forged = await createSpaceCredential({
      keypair: keys.k256Other.keypair,
      space: SPACE,
      jkt: dpopKey.jkt,
    })
    expect(await reason(auth.authenticate(await request({ cred: forged }), LXM))).toBe('bad_token_alg')
    const foreign = await resign(credential, keys.p256.keypair, { payload: (p) => void (p.iss = USER) })
    expect(await reason(auth.authenticate(await request({ cred: foreign }), LXM))).toBe('bad_token_issuer')
  })

  it('serves a cached credential only until it expires, and never a replayed proof', async () => {
    let at = Date.now()
    const resolver = docResolver(docs)
    const auth = new CallerAuthenticator({
      audiences: [AUD],
      publicUrl: PUBLIC_URL,
      resolveKey: resolver,
      replay,
      clock: () => at,
    })
    const short = await createSpaceCredential({
      keypair: keys.p256.keypair,
      space: SPACE,
      jkt: dpopKey.jkt,
      now: at / 1000,
      expiresInSec: 60,
    })
    const fresh = async () => ({
      method: 'GET',
      path: PATH,
      authorization: `DPoP ${short}`,
      dpop: await createDpopProof(dpopKey, {
        htm: 'GET',
        htu: `${PUBLIC_URL}${PATH}`,
        credential: short,
        now: at / 1000,
      }),
    })
    const once = await fresh()
    expect(await reason(auth.authenticate(once, LXM))).toBe('ok')
    expect(await reason(auth.authenticate(once, LXM))).toBe('bad_dpop_proof')
    at += 59_000
    expect(await reason(auth.authenticate(await fresh(), LXM))).toBe('ok')
    expect(resolver.calls.filter(([did]) => did === AUTHORITY)).toHaveLength(1)
    // Past `exp` (and the verifier's skew): the cached entry must not admit it.
    at += 10_000
    expect(await reason(auth.authenticate(await fresh(), LXM))).toBe('token_expired')
  })

  it('reports the space the credential is for, whatever space is asked about later', async () => {
    const other = await createSpaceCredential({
      keypair: keys.p256.keypair,
      space: OTHER_SPACE,
      jkt: dpopKey.jkt,
    })
    await expect(authenticator().authenticate(await request({ cred: other }), LXM)).resolves.toMatchObject({
      space: OTHER_SPACE,
    })
  })
})
