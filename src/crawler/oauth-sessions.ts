/**
 * atproto OAuth member sessions (@atproto/oauth-client-node): how a member lets spaceview mint delegation
 * tokens for a space without handing over an app password.
 *
 * - Client identity: a confidential client (`private_key_jwt`) when SPACEVIEW_CLIENT_ID is an https client
 *   metadata URL and SPACEVIEW_CLIENT_KEY its private JWK (the document must list the redirect URI
 *   `{SPACEVIEW_PUBLIC_URL}/oauth/callback` and the key's public half); otherwise a loopback (development)
 *   client, which the library only accepts for http://127.0.0.1 redirect URIs.
 * - Login: `startLogin(identifier, space)` (admin endpoint) returns the authorization URL; the member's
 *   browser comes back to the callback, `completeLogin` stores the session and makes it the space's
 *   session (`{kind: 'oauth', did}`) and queues the bootstrap.
 * - Use: `fetch(did, path)` restores the session (the library refreshes tokens itself, under a Redis lock
 *   shared by every process) and calls the member's PDS with DPoP-bound tokens.
 *
 * Invariants: the library's state and session stores live in Redis sealed with SecretBox (key name as
 * associated data; states expire after 10 minutes); tokens, codes and DPoP keys are never logged or
 * returned; every request goes through the guarded HTTP client (endpoint policy), and plain http is
 * allowed only in devnet mode (SPACEVIEW_ALLOW_PRIVATE_ADDRESSES). A session the authorization server no
 * longer honours surfaces as OAuthSessionRefusedError, which the credential manager treats as a refused
 * session.
 */
import { randomBytes } from 'node:crypto'
import type { Redis } from 'ioredis'
import type { Logger } from 'pino'
import {
  buildAtprotoLoopbackClientId,
  isExpectedSessionError,
  JoseKey,
  NodeOAuthClient,
  type NodeSavedSession,
  type NodeSavedState,
  type OAuthClientMetadataInput,
  type RuntimeLock,
} from '@atproto/oauth-client-node'
import type { Config } from '../config.js'
import { guardedRequestFetch } from '../identity/guarded-fetch.js'
import { canonicalSpaceUri } from '../protocol/space-uri.js'
import type { HttpClient } from './http-client.js'
import type { SecretBox } from './secret-box.js'
import type { SessionStore } from './session-store.js'

export const OAUTH_CALLBACK_PATH = '/oauth/callback'
/** What spaceview asks for: atproto plus generic XRPC access (getDelegationToken on the member's PDS). */
export const OAUTH_SCOPE = 'atproto transition:generic'

const STATE_TTL_SEC = 600
const LOCK_MS = 30_000
const stateKey = (state: string) => `sv:oauth-state:${state}`
const sessionKey = (did: string) => `sv:oauth-session:${did}`
const lockKey = (name: string) => `sv:oauth-lock:${name}`
const RELEASE_IF_OWNER = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0`

/** The member's authorization server no longer honours the session (revoked, expired, refused refresh). */
export class OAuthSessionRefusedError extends Error {
  override readonly name = 'OAuthSessionRefusedError'
  constructor(
    readonly did: string,
    readonly reason: string,
  ) {
    super(`the OAuth session of ${did} is no longer usable (${reason}); the member must log in again`)
  }
}

/** A login that could not be started or completed; `message` is safe to show (no tokens, no codes). */
export class OAuthLoginError extends Error {
  override readonly name = 'OAuthLoginError'
}

export interface OAuthSessionsDeps {
  config: Pick<Config, 'publicUrl' | 'clientId' | 'clientKeyJwk' | 'plcUrl' | 'allowPrivateAddresses'>
  redis: Redis
  box: SecretBox
  http: HttpClient
  sessions: SessionStore
  logger: Logger
}

/** A SimpleStore of the library, as JSON sealed in Redis under `key(id)`. */
function sealedStore<V>(redis: Redis, box: SecretBox, key: (id: string) => string, ttlSec?: number) {
  return {
    async get(id: string): Promise<V | undefined> {
      const raw = await redis.get(key(id))
      const plain = raw === null ? null : box.open(raw, key(id))
      return plain === null ? undefined : (JSON.parse(plain) as V)
    },
    async set(id: string, value: V): Promise<void> {
      const sealed = box.seal(JSON.stringify(value), key(id))
      if (ttlSec === undefined) await redis.set(key(id), sealed)
      else await redis.set(key(id), sealed, 'EX', ttlSec)
    },
    async del(id: string): Promise<void> {
      await redis.del(key(id))
    },
  }
}

/** The library's request lock, in Redis: one refresh of a session at a time across every process. */
function redisLock(redis: Redis): RuntimeLock {
  return async (name, fn) => {
    const token = randomBytes(12).toString('hex')
    const deadline = Date.now() + LOCK_MS
    while ((await redis.set(lockKey(name), token, 'PX', LOCK_MS, 'NX')) !== 'OK') {
      if (Date.now() > deadline) throw new Error(`OAuth lock ${name} not released in ${LOCK_MS} ms`)
      await new Promise((r) => setTimeout(r, 50))
    }
    try {
      return await fn()
    } finally {
      await redis.eval(RELEASE_IF_OWNER, 1, lockKey(name), token)
    }
  }
}

export class OAuthSessions {
  private client?: Promise<NodeOAuthClient>

  constructor(private readonly deps: OAuthSessionsDeps) {}

  /** Where the authorization server sends the member back. */
  get redirectUri(): string {
    return new URL(OAUTH_CALLBACK_PATH, this.deps.config.publicUrl).href
  }

  private getClient(): Promise<NodeOAuthClient> {
    this.client ??= this.createClient()
    return this.client
  }

  private async createClient(): Promise<NodeOAuthClient> {
    const { config, redis, box, http } = this.deps
    const confidential = config.clientId.startsWith('https://') && config.clientKeyJwk !== ''
    let clientMetadata: OAuthClientMetadataInput
    let keyset: JoseKey[] | undefined
    if (confidential) {
      const jwk = JSON.parse(config.clientKeyJwk) as { kid?: string }
      keyset = [await JoseKey.fromJWK(config.clientKeyJwk, jwk.kid)]
      clientMetadata = {
        client_id: config.clientId,
        client_name: 'spaceview',
        application_type: 'web',
        redirect_uris: [this.redirectUri as `https://${string}`],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        scope: OAUTH_SCOPE,
        token_endpoint_auth_method: 'private_key_jwt',
        token_endpoint_auth_signing_alg: 'ES256',
        dpop_bound_access_tokens: true,
      }
    } else {
      clientMetadata = {
        client_id: buildAtprotoLoopbackClientId({ scope: OAUTH_SCOPE, redirect_uris: [this.redirectUri] }),
        redirect_uris: [this.redirectUri as `http://127.0.0.1:${string}`],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        scope: OAUTH_SCOPE,
        token_endpoint_auth_method: 'none',
        application_type: 'native',
        dpop_bound_access_tokens: true,
      }
    }
    return new NodeOAuthClient({
      clientMetadata,
      ...(keyset ? { keyset } : {}),
      fetch: guardedRequestFetch(http),
      allowHttp: config.allowPrivateAddresses,
      plcDirectoryUrl: config.plcUrl,
      stateStore: sealedStore<NodeSavedState>(redis, box, stateKey, STATE_TTL_SEC),
      sessionStore: sealedStore<NodeSavedSession>(redis, box, sessionKey),
      requestLock: redisLock(redis),
    })
  }

  /** The authorization URL for a member (handle or DID) to approve syncing `space`. */
  async startLogin(identifier: string, space: string): Promise<URL> {
    const canonical = canonicalSpaceUri(space)
    try {
      return await (
        await this.getClient()
      ).authorize(identifier, {
        scope: OAUTH_SCOPE,
        state: JSON.stringify({ space: canonical }),
      })
    } catch (err) {
      throw new OAuthLoginError(`cannot start an OAuth login for ${identifier}: ${(err as Error).message}`, {
        cause: err,
      })
    }
  }

  /**
   * Completes a login from the callback's query; the session becomes the member's session for the space it
   * was started for, and the space is synced (`addSpace` queues its bootstrap).
   */
  async completeLogin(
    params: URLSearchParams,
    addSpace: (space: string) => Promise<void>,
  ): Promise<{ did: string; space: string }> {
    let did: string
    let space: string
    try {
      const { session, state } = await (await this.getClient()).callback(params)
      did = session.did
      space = canonicalSpaceUri((JSON.parse(state ?? '{}') as { space?: unknown }).space)
    } catch (err) {
      throw new OAuthLoginError(`the OAuth login did not complete: ${(err as Error).message}`, { cause: err })
    }
    await this.deps.sessions.addSpace(space, { kind: 'oauth', did })
    await addSpace(space)
    this.deps.logger.info({ space, did }, 'OAuth member session stored; space synced')
    return { did, space }
  }

  /**
   * A request on the member's PDS through their OAuth session (DPoP-bound; expired tokens are refreshed by
   * the library). Throws OAuthSessionRefusedError when the session is gone or refused.
   */
  async fetch(did: string, pathAndQuery: string): Promise<Response> {
    const client = await this.getClient()
    try {
      const session = await client.restore(did)
      return await session.fetchHandler(pathAndQuery, { headers: { accept: 'application/json' } })
    } catch (err) {
      if (isExpectedSessionError(err)) throw new OAuthSessionRefusedError(did, (err as Error).name)
      throw err
    }
  }
}
