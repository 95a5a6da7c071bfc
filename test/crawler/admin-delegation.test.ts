/**
 * dev.spaceview.admin.putDelegation end to end: an "app backend" (the test) mints a delegation token for the
 * indexer account on its devnet PDS and hands it to spaceview's API; spaceview exchanges it at the space's
 * authority and syncs the space. Refusals (admin auth, malformed input, tokens the authority refuses) leave
 * nothing behind.
 */
import { fetchDelegationToken } from '../../src/devnet/credential-client.js'
import { getSpaceStatus } from '../../src/crawler/space-status.js'
import pino from 'pino'
import { NSID } from '../../src/api/lexicons.js'
import { putDelegationMethod } from '../../src/api/methods/put-delegation.js'
import { acceptHandedDelegation } from '../../src/crawler/handed-delegation.js'
import { converged, mergedView, waitFor } from '../helpers/crawler-harness.js'
import { startServiceHarness, type ServiceHarness } from '../helpers/service-harness.js'

const ADMIN_TOKEN = 'admin-delegation-test-token' // test credential

describe('admin endpoint: handed delegation tokens', () => {
  let h: ServiceHarness

  beforeAll(async () => {
    h = await startServiceHarness({
      redisDb: 10,
      devnet: { spaces: 4, writersPerSpace: 2, records: 8, hosts: 2, allowListFraction: 0.5 },
      env: () => ({ SPACEVIEW_ADMIN_TOKEN: ADMIN_TOKEN, SPACEVIEW_SWEEP_INTERVAL_SEC: '3600' }),
    })
  }, 60_000)
  afterAll(async () => h?.close(), 30_000)

  const openSpace = () =>
    h.devnet.spaces().find((s) => s.appAccess.$type !== 'com.atproto.simplespace.defs#allowList')!
  const gatedSpace = () =>
    h.devnet.spaces().find((s) => s.appAccess.$type === 'com.atproto.simplespace.defs#allowList')!

  function mint(space: string): Promise<string> {
    return fetchDelegationToken(
      h.devnet.hostOf(h.devnet.indexer.did).origin,
      h.devnet.indexer.accessToken,
      space,
    )
  }

  async function put(body: unknown, auth: string | null = `Bearer ${ADMIN_TOKEN}`) {
    const res = await fetch(`${h.service.api!.url}/xrpc/${NSID.putDelegation}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(auth === null ? {} : { authorization: auth }) },
      body: JSON.stringify(body),
    })
    return { status: res.status, body: (await res.json()) as Record<string, unknown> }
  }

  async function nothingAdded(space: string): Promise<void> {
    expect(await h.service.ctx.sessions.hasSpace(space)).toBe(false)
    expect(await getSpaceStatus(h.redis, space)).toBeNull()
    expect(await h.redis.exists(`sv:cred:${space}`)).toBe(0)
  }

  it('refuses callers without the admin token, without spending the token; then syncs with it', async () => {
    const space = openSpace().uri
    const token = await mint(space)
    for (const auth of [null, 'Bearer wrong-token', `Basic ${ADMIN_TOKEN}`]) {
      const res = await put({ space, token }, auth)
      expect(res).toMatchObject({ status: 401, body: { error: 'AuthRequired' } })
    }
    await nothingAdded(space)
    // The token was never presented to the authority: it still works, and the (open) space syncs.
    const res = await put({ space, token })
    expect(res.status).toBe(200)
    await waitFor('open space synced', () => converged(h, [space]), 60_000)
    expect((await mergedView(h.store, space)).length).toBeGreaterThan(0)
  }, 90_000)

  it('is off when no admin token is configured', async () => {
    const method = putDelegationMethod({
      adminToken: '',
      logger: pino({ level: 'silent' }),
      accept: (handed) =>
        acceptHandedDelegation({ ...h.service.ctx, addSpace: (s) => h.service.crawler.addSpace(s) }, handed),
    })
    const auth = method.auth as (ctx: { req: unknown }) => Promise<unknown>
    for (const authorization of [undefined, 'Bearer ', `Bearer ${ADMIN_TOKEN}`]) {
      await expect(auth({ req: { headers: { authorization } } })).rejects.toMatchObject({
        customErrorName: 'AuthRequired',
      })
    }
  })

  it('answers InvalidRequest to malformed input and adds nothing', async () => {
    const space = gatedSpace().uri
    for (const body of [
      { space, token: 'not-a-jwt' },
      { space, token: 'a.b.c d' },
      { space: 'at://not a space', token: 'a.b.c' },
      { space, token: await mint(space), clientAttestation: 'garbage' },
      { space },
    ]) {
      const res = await put(body)
      expect(res).toMatchObject({ status: 400, body: { error: 'InvalidRequest' } })
    }
    await nothingAdded(space)
  })

  it("passes on the authority's refusal of a token and adds nothing", async () => {
    const space = gatedSpace().uri
    // Structurally a JWS, but not a delegation token the authority can verify.
    const forged = `${Buffer.from('{"alg":"ES256K"}').toString('base64url')}.e30.c2ln`
    const forgedRes = await put({ space, token: forged })
    expect(forgedRes.status).toBe(400)
    expect(forgedRes.body.error).toMatch(/^(BadJwt|InvalidDelegationToken)/)
    // A genuine token for an app-gated space without the app's attestation.
    const noAttestation = await put({ space, token: await mint(space) })
    expect(noAttestation).toMatchObject({ status: 400, body: { error: 'AppNotAuthorized' } })
    // A token for another space than the one named.
    const other = await put({ space, token: await mint(openSpace().uri) })
    expect(other.status).toBe(400)
    await nothingAdded(space)
  })

  it('exchanges a valid token (with attestation for a gated space) and syncs the space', async () => {
    const space = gatedSpace().uri
    const token = await mint(space)
    const clientAttestation = await h.devnet.clients.indexer.attest(space.split('/')[2]!)
    const res = await put({ space, token, clientAttestation })
    expect(res.status).toBe(200)
    expect(res.body.space).toBe(space)
    expect(Date.parse(res.body.credentialExpiresAt as string)).toBeGreaterThan(Date.now())
    expect(await h.service.ctx.sessions.hasSpace(space)).toBe(true)
    // No member session was stored: the credential came from the handed token alone.
    expect(await h.service.ctx.sessions.list(space)).toEqual([])
    await waitFor('handed space synced', () => converged(h, [space]), 60_000)
    expect((await mergedView(h.store, space)).length).toBeGreaterThan(0)
    expect((await getSpaceStatus(h.redis, space))?.status).toBe('active')
    // One-shot: the same token again is the authority's replay refusal, and the space stays synced.
    const again = await put({ space, token, clientAttestation })
    expect(again.status).toBe(400)
    expect(again.body.error).toBe('JwtReplayed')
    expect(await h.service.ctx.sessions.hasSpace(space)).toBe(true)
  }, 90_000)
})
