/**
 * OAuth member sessions end to end over loopback HTTP: spaceview's OAuth client (@atproto/oauth-client-node,
 * loopback client) against devnet's authorization server. An admin starts a login for the indexer account,
 * the test plays the member's browser (follows the auto-approving authorize redirect back to spaceview's
 * callback), and spaceview then syncs the space with delegation tokens minted through the OAuth session.
 * Devnet's access tokens live 3 s, so refreshes happen within the test; revoking the session at devnet
 * turns the space needs_authorization.
 */
import { createServer } from 'node:net'
import { NSID } from '../../src/api/lexicons.js'
import { NeedsAuthorizationError } from '../../src/crawler/credential-manager.js'
import { getSpaceStatus } from '../../src/crawler/space-status.js'
import { converged, mergedView, waitFor } from '../helpers/crawler-harness.js'
import { startServiceHarness, type ServiceHarness } from '../helpers/service-harness.js'

const ADMIN_TOKEN = 'oauth-sessions-test-token' // test credential
const TOKEN_LIFETIME_SEC = 3

async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

describe('OAuth member sessions against devnet', () => {
  let h: ServiceHarness
  let space: string

  beforeAll(async () => {
    // The loopback client id names the redirect URI, so the API's port must be known before it starts.
    const port = String(await freePort())
    h = await startServiceHarness({
      redisDb: 11,
      devnet: {
        spaces: 2,
        writersPerSpace: 2,
        records: 8,
        hosts: 2,
        allowListFraction: 0,
        oauthAccessTokenLifetimeSec: TOKEN_LIFETIME_SEC,
      },
      env: () => ({
        SPACEVIEW_ADMIN_TOKEN: ADMIN_TOKEN,
        SPACEVIEW_API_PORT: port,
        SPACEVIEW_PUBLIC_URL: `http://127.0.0.1:${port}`,
        SPACEVIEW_STORE_URL: `http://127.0.0.1:${port}`,
        SPACEVIEW_SWEEP_INTERVAL_SEC: '3600',
      }),
    })
    space = h.devnet.spaces()[0]!.uri
  }, 60_000)
  afterAll(async () => h?.close(), 30_000)

  const oauthStats = () => h.devnet.hostOf(h.devnet.indexer.did).ctx.oauth.stats

  async function startLogin(body: unknown, auth = `Bearer ${ADMIN_TOKEN}`) {
    const res = await fetch(`${h.service.api!.url}/xrpc/${NSID.startOAuthLogin}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: auth },
      body: JSON.stringify(body),
    })
    return { status: res.status, body: (await res.json()) as Record<string, unknown> }
  }

  it('refuses to start a login without the admin token', async () => {
    const res = await startLogin({ space, identifier: h.devnet.indexer.did }, 'Bearer nope')
    expect(res).toMatchObject({ status: 401, body: { error: 'AuthRequired' } })
  })

  it('logs a member in, stores the session sealed, and syncs the space through it', async () => {
    const did = h.devnet.indexer.did
    const started = await startLogin({ space, identifier: did })
    expect(started.status).toBe(200)
    const authorizationUrl = new URL(started.body.authorizationUrl as string)
    expect(authorizationUrl.origin).toBe(h.devnet.hostOf(did).origin)
    expect(authorizationUrl.searchParams.get('request_uri')).toMatch(/^urn:ietf:params:oauth:request_uri:/)

    // The member's browser: devnet approves at once and redirects to spaceview's callback.
    const approve = await fetch(authorizationUrl, { redirect: 'manual' })
    expect(approve.status).toBe(302)
    const callback = new URL(approve.headers.get('location')!)
    expect(callback.origin + callback.pathname).toBe(`${h.service.api!.url}/oauth/callback`)
    expect(callback.searchParams.get('iss')).toBe(h.devnet.hostOf(did).origin)
    const done = await fetch(callback)
    expect(done.status).toBe(200)
    expect(await done.text()).toContain(space)
    expect(oauthStats().authorizationCode).toBe(1)

    // The space's session is an OAuth reference; tokens and DPoP key are sealed in the client's store.
    expect(await h.service.ctx.sessions.usable(space)).toEqual([{ kind: 'oauth', did }])
    const sealed = await h.redis.get(`sv:oauth-session:${did}`)
    expect(sealed).not.toBeNull()
    for (const plain of ['dvat-', 'dvrt-', 'access_token', 'refresh_token', '"d"']) {
      expect(sealed).not.toContain(plain)
      expect(Buffer.from(sealed!, 'base64').toString('latin1')).not.toContain(plain)
    }

    await waitFor('space synced through the OAuth session', () => converged(h, [space]), 60_000)
    expect((await mergedView(h.store, space)).length).toBeGreaterThan(0)
    expect((await getSpaceStatus(h.redis, space))?.status).toBe('active')
  }, 90_000)

  it('refreshes the access token after it expired', async () => {
    await new Promise((r) => setTimeout(r, (TOKEN_LIFETIME_SEC + 1) * 1000))
    const refreshes = oauthStats().refreshToken
    await h.service.ctx.creds.invalidate(space)
    const held = await h.service.ctx.creds.get(space)
    expect(held.expiresAt).toBeGreaterThan(Date.now() / 1000)
    expect(oauthStats().refreshToken).toBeGreaterThan(refreshes)
    expect(await h.service.ctx.sessions.list(space)).toEqual([{ did: h.devnet.indexer.did }])
  }, 30_000)

  it('marks a session revoked at devnet refused, and the space needs authorization', async () => {
    const did = h.devnet.indexer.did
    expect(h.devnet.revokeOAuthSessions(did)).toBeGreaterThan(0)
    await h.service.ctx.creds.invalidate(space)
    await expect(h.service.ctx.creds.get(space)).rejects.toBeInstanceOf(NeedsAuthorizationError)
    expect(await h.service.ctx.sessions.list(space)).toEqual([{ did, refused: 'not_authorized' }])
    // The library dropped the dead session from its sealed store.
    expect(await h.redis.exists(`sv:oauth-session:${did}`)).toBe(0)
    // The crawler's next bootstrap of the space reports it.
    await h.service.crawler.addSpace(space)
    await waitFor('needs_authorization', async () => {
      return (await getSpaceStatus(h.redis, space))?.status === 'needs_authorization'
    })
    // Data already synced stays.
    expect((await mergedView(h.store, space)).length).toBeGreaterThan(0)
  }, 60_000)
})
