/**
 * A minimal atproto OAuth authorization server for devnet accounts, one per devnet host (each host is its
 * own issuer, like a self-hosted PDS), so a syncer can hold real OAuth member sessions
 * (@atproto/oauth-client) against devnet:
 *
 * - `/.well-known/oauth-protected-resource` (resource = the host's origin, one authorization server: itself)
 *   and `/.well-known/oauth-authorization-server` (issuer = the host's origin);
 * - PAR (`/oauth/par`, required), `/oauth/authorize`, `/oauth/token` (authorization_code with PKCE S256,
 *   refresh_token with rotation), `/oauth/revoke`;
 * - client authentication `none` (loopback client ids) or `private_key_jwt` (client metadata fetched from the
 *   client_id URL, assertion checked against its JWKS, jti single use);
 * - DPoP-bound, opaque access tokens (`token_type` DPoP, `sub` = the account DID, scope incl. `atproto`);
 *   every DPoP proof must carry the server nonce (`use_dpop_nonce` as 400 JSON on the authorization server,
 *   401 `WWW-Authenticate: DPoP error="use_dpop_nonce"` on the resource side), as the client expects.
 *
 * TEST ONLY: `/oauth/authorize` approves at once, without any user interaction, for the devnet account named
 * by the request's `login_hint` (handle or DID) if it lives on this host. Nonces do not rotate; tokens and
 * sessions live in memory. Never expose this outside a test network.
 */
import { createHash, randomBytes } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import {
  atprotoLoopbackClientMetadata,
  CLIENT_ASSERTION_TYPE_JWT_BEARER,
  isOAuthClientIdLoopback,
  oauthClientMetadataSchema,
  type OAuthClientMetadata,
} from '@atproto/oauth-client-node'
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose'
import { verifyDpopProof } from '../protocol/dpop.js'
import { isProtocolError } from '../protocol/errors.js'
import { parseJws } from '../protocol/jws.js'
import type { Account, AccountRegistry } from './accounts.js'
import { ReplayStore } from './replay-store.js'

export const OAUTH_PATHS = {
  protectedResource: '/.well-known/oauth-protected-resource',
  authorizationServer: '/.well-known/oauth-authorization-server',
  par: '/oauth/par',
  authorize: '/oauth/authorize',
  token: '/oauth/token',
  revoke: '/oauth/revoke',
} as const

const REQUEST_TTL_SEC = 300
const CODE_TTL_SEC = 60
const REFRESH_TTL_SEC = 30 * 86_400
const BODY_LIMIT = 64 * 1024

/** An OAuth protocol error: the JSON body `{error, error_description}` with its status and headers. */
export class OAuthError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    description: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(description)
  }
}

interface PushedRequest {
  clientId: string
  redirectUri: string
  codeChallenge: string
  state: string
  scope: string
  loginHint?: string
  jkt: string
  expiresAt: number
}

interface IssuedCode {
  request: PushedRequest
  did: string
  expiresAt: number
}

interface Grant {
  did: string
  clientId: string
  scope: string
  jkt: string
  accessToken: string
  accessExpiresAt: number
  refreshToken: string
  refreshExpiresAt: number
}

export interface OAuthServerStats {
  /** Tokens issued by grant type. */
  authorizationCode: number
  refreshToken: number
  revoked: number
}

const ACCESS_TOKEN_PREFIX = 'dvat'
const now = () => Math.floor(Date.now() / 1000)
const opaque = (prefix: string) => `${prefix}-${randomBytes(24).toString('base64url')}`

export class DevnetOAuthServer {
  readonly stats: OAuthServerStats = { authorizationCode: 0, refreshToken: 0, revoked: 0 }
  /** The DPoP nonce every proof must carry (fixed per host: TEST ONLY). */
  private readonly nonce = randomBytes(16).toString('base64url')
  private readonly requests = new Map<string, PushedRequest>()
  private readonly codes = new Map<string, IssuedCode>()
  private readonly byAccess = new Map<string, Grant>()
  private readonly byRefresh = new Map<string, Grant>()
  private readonly replay = new ReplayStore()

  constructor(
    /** The host's origin: issuer, resource identifier and DPoP `htu` base. */
    private readonly issuer: string,
    private readonly hostIndex: number,
    private readonly accounts: AccountRegistry,
    private readonly opts: { accessTokenLifetimeSec: number; fetchTimeoutMs: number },
  ) {}

  handles(path: string): boolean {
    return (Object.values(OAUTH_PATHS) as string[]).includes(path)
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.issuer)
    try {
      switch (url.pathname) {
        case OAUTH_PATHS.protectedResource:
          return json(res, 200, {
            resource: this.issuer,
            authorization_servers: [this.issuer],
            scopes_supported: [],
            bearer_methods_supported: ['header'],
          })
        case OAUTH_PATHS.authorizationServer:
          return json(res, 200, this.metadata())
        case OAUTH_PATHS.authorize:
          return this.authorize(url, res)
      }
      if (req.method !== 'POST') throw new OAuthError(405, 'invalid_request', 'POST required')
      const form = new URLSearchParams(await readBody(req))
      switch (url.pathname) {
        case OAUTH_PATHS.par:
          return json(res, 201, await this.par(req, form), this.nonceHeader())
        case OAUTH_PATHS.token:
          return json(res, 200, await this.token(req, form), this.nonceHeader())
        case OAUTH_PATHS.revoke:
          await this.clientAuth(form)
          this.revokeToken(form.get('token') ?? '')
          return json(res, 200, {}, this.nonceHeader())
      }
      throw new OAuthError(404, 'invalid_request', 'no such endpoint')
    } catch (err) {
      if (!(err instanceof OAuthError)) throw err
      json(res, err.status, { error: err.error, error_description: err.message }, err.headers)
    }
  }

  private metadata(): Record<string, unknown> {
    const i = this.issuer
    return {
      issuer: i,
      authorization_endpoint: `${i}${OAUTH_PATHS.authorize}`,
      token_endpoint: `${i}${OAUTH_PATHS.token}`,
      pushed_authorization_request_endpoint: `${i}${OAUTH_PATHS.par}`,
      revocation_endpoint: `${i}${OAUTH_PATHS.revoke}`,
      require_pushed_authorization_requests: true,
      response_types_supported: ['code'],
      response_modes_supported: ['query'],
      grant_types_supported: ['authorization_code', 'refresh_token'],
      code_challenge_methods_supported: ['S256'],
      scopes_supported: ['atproto', 'transition:generic'],
      subject_types_supported: ['public'],
      token_endpoint_auth_methods_supported: ['none', 'private_key_jwt'],
      token_endpoint_auth_signing_alg_values_supported: ['ES256'],
      dpop_signing_alg_values_supported: ['ES256'],
      authorization_response_iss_parameter_supported: true,
      client_id_metadata_document_supported: true,
      protected_resources: [i],
    }
  }

  private nonceHeader(): Record<string, string> {
    return { 'dpop-nonce': this.nonce }
  }

  /** The DPoP proof of a token-endpoint request (nonce first, as the client expects); returns its jkt. */
  private async asProof(req: IncomingMessage, path: string): Promise<string> {
    const proof = req.headers['dpop']
    if (typeof proof !== 'string') throw new OAuthError(400, 'invalid_dpop_proof', 'DPoP proof required')
    if (proofNonce(proof) !== this.nonce) {
      throw new OAuthError(
        400,
        'use_dpop_nonce',
        'DPoP proof must carry the server nonce',
        this.nonceHeader(),
      )
    }
    try {
      const v = await verifyDpopProof(proof, {
        htm: 'POST',
        htu: `${this.issuer}${path}`,
        nonce: this.nonce,
        seen: this.replay.check,
      })
      return v.jkt
    } catch (err) {
      if (!isProtocolError(err)) throw err
      throw new OAuthError(400, 'invalid_dpop_proof', err.message)
    }
  }

  private async clientMetadata(clientId: string): Promise<OAuthClientMetadata> {
    if (isOAuthClientIdLoopback(clientId)) {
      try {
        return oauthClientMetadataSchema.parse(atprotoLoopbackClientMetadata(clientId))
      } catch {
        throw new OAuthError(400, 'invalid_client', 'malformed loopback client_id')
      }
    }
    let body: unknown
    try {
      const res = await fetch(clientId, {
        redirect: 'error',
        signal: AbortSignal.timeout(this.opts.fetchTimeoutMs),
      })
      if (!res.ok) throw new Error(`HTTP ${res.status}`)
      body = await res.json()
    } catch (err) {
      throw new OAuthError(400, 'invalid_client', `cannot fetch client metadata: ${(err as Error).message}`)
    }
    const parsed = oauthClientMetadataSchema.safeParse(body)
    if (!parsed.success || parsed.data.client_id !== clientId) {
      throw new OAuthError(400, 'invalid_client', 'client metadata is malformed or names another client_id')
    }
    return parsed.data
  }

  /** Client authentication per the client's metadata (none, or private_key_jwt against its JWKS). */
  private async clientAuth(form: URLSearchParams): Promise<OAuthClientMetadata> {
    const clientId = form.get('client_id')
    if (!clientId) throw new OAuthError(400, 'invalid_request', 'client_id required')
    const meta = await this.clientMetadata(clientId)
    const method = meta.token_endpoint_auth_method
    if (method === 'none') return meta
    if (method !== 'private_key_jwt') throw new OAuthError(400, 'invalid_client', `unsupported ${method}`)
    const assertion = form.get('client_assertion')
    if (form.get('client_assertion_type') !== CLIENT_ASSERTION_TYPE_JWT_BEARER || !assertion) {
      throw new OAuthError(400, 'invalid_client', 'private_key_jwt client assertion required')
    }
    let jwks = meta.jwks as JSONWebKeySet | undefined
    if (!jwks && meta.jwks_uri) {
      const res = await fetch(meta.jwks_uri, { signal: AbortSignal.timeout(this.opts.fetchTimeoutMs) })
      jwks = (await res.json()) as JSONWebKeySet
    }
    if (!jwks) throw new OAuthError(400, 'invalid_client', 'client publishes no JWKS')
    try {
      const { payload } = await jwtVerify(assertion, createLocalJWKSet(jwks), {
        issuer: clientId,
        subject: clientId,
        audience: this.issuer,
        algorithms: ['ES256'],
        maxTokenAge: 300,
      })
      const replayed = await this.replay.check({
        kind: 'client_attestation',
        iss: clientId,
        jti: String(payload.jti ?? ''),
        expiresAt: payload.exp ?? now() + 300,
      })
      if (!payload.jti || replayed) throw new Error('assertion jti missing or replayed')
    } catch (err) {
      throw new OAuthError(400, 'invalid_client', `client assertion refused: ${(err as Error).message}`)
    }
    return meta
  }

  private async par(req: IncomingMessage, form: URLSearchParams): Promise<Record<string, unknown>> {
    const jkt = await this.asProof(req, OAUTH_PATHS.par)
    const meta = await this.clientAuth(form)
    const redirectUri = form.get('redirect_uri') ?? ''
    if (!meta.redirect_uris.includes(redirectUri as never)) {
      throw new OAuthError(400, 'invalid_request', 'redirect_uri is not registered for this client')
    }
    if (form.get('response_type') !== 'code')
      throw new OAuthError(400, 'unsupported_response_type', 'code only')
    if (form.get('code_challenge_method') !== 'S256' || !form.get('code_challenge')) {
      throw new OAuthError(400, 'invalid_request', 'PKCE with S256 is required')
    }
    const scope = form.get('scope') ?? ''
    const allowed = new Set((meta.scope ?? '').split(' '))
    if (!scope.split(' ').includes('atproto') || scope.split(' ').some((s) => !allowed.has(s))) {
      throw new OAuthError(
        400,
        'invalid_scope',
        'scope must include atproto and stay within the client scope',
      )
    }
    const requestUri = `urn:ietf:params:oauth:request_uri:${opaque('req')}`
    const loginHint = form.get('login_hint')
    this.requests.set(requestUri, {
      clientId: meta.client_id as string,
      redirectUri,
      codeChallenge: form.get('code_challenge') as string,
      state: form.get('state') ?? '',
      scope,
      ...(loginHint ? { loginHint } : {}),
      jkt,
      expiresAt: now() + REQUEST_TTL_SEC,
    })
    return { request_uri: requestUri, expires_in: REQUEST_TTL_SEC }
  }

  /** TEST ONLY: approves at once for the devnet account named by login_hint. */
  private authorize(url: URL, res: ServerResponse): void {
    const requestUri = url.searchParams.get('request_uri') ?? ''
    const request = this.requests.get(requestUri)
    this.requests.delete(requestUri)
    if (!request || request.expiresAt < now() || request.clientId !== url.searchParams.get('client_id')) {
      throw new OAuthError(400, 'invalid_request', 'unknown or expired request_uri')
    }
    const redirect = new URL(request.redirectUri)
    redirect.searchParams.set('state', request.state)
    redirect.searchParams.set('iss', this.issuer)
    const account = request.loginHint ? this.findAccount(request.loginHint) : undefined
    if (!account) {
      redirect.searchParams.set('error', 'access_denied')
      redirect.searchParams.set('error_description', 'login_hint names no active account on this host')
    } else {
      const code = opaque('code')
      this.codes.set(code, { request, did: account.did, expiresAt: now() + CODE_TTL_SEC })
      redirect.searchParams.set('code', code)
    }
    res.writeHead(302, { location: redirect.href, 'cache-control': 'no-store' })
    res.end()
  }

  private findAccount(hint: string): Account | undefined {
    const account = hint.startsWith('did:')
      ? this.accounts.get(hint)
      : this.accounts.byHandle(hint.replace(/^@/, '').toLowerCase())
    return account && account.host === this.hostIndex && account.status === 'active' ? account : undefined
  }

  private async token(req: IncomingMessage, form: URLSearchParams): Promise<Record<string, unknown>> {
    const jkt = await this.asProof(req, OAUTH_PATHS.token)
    const meta = await this.clientAuth(form)
    const clientId = meta.client_id as string
    const grantType = form.get('grant_type')
    if (grantType === 'authorization_code') {
      const code = this.codes.get(form.get('code') ?? '')
      this.codes.delete(form.get('code') ?? '')
      if (!code || code.expiresAt < now() || code.request.clientId !== clientId) {
        throw new OAuthError(400, 'invalid_grant', 'unknown, used or expired code')
      }
      if (form.get('redirect_uri') !== code.request.redirectUri) {
        throw new OAuthError(400, 'invalid_grant', 'redirect_uri differs from the authorization request')
      }
      const verifier = form.get('code_verifier') ?? ''
      if (createHash('sha256').update(verifier).digest('base64url') !== code.request.codeChallenge) {
        throw new OAuthError(400, 'invalid_grant', 'PKCE code_verifier does not match')
      }
      if (jkt !== code.request.jkt)
        throw new OAuthError(400, 'invalid_dpop_proof', 'DPoP key differs from PAR')
      this.stats.authorizationCode++
      return this.issue({ did: code.did, clientId, scope: code.request.scope, jkt })
    }
    if (grantType === 'refresh_token') {
      const grant = this.byRefresh.get(form.get('refresh_token') ?? '')
      if (!grant || grant.refreshExpiresAt < now() || grant.clientId !== clientId) {
        throw new OAuthError(400, 'invalid_grant', 'unknown, revoked or expired refresh token')
      }
      if (grant.jkt !== jkt)
        throw new OAuthError(400, 'invalid_dpop_proof', 'DPoP key differs from the grant')
      this.drop(grant)
      this.stats.refreshToken++
      return this.issue(grant)
    }
    throw new OAuthError(400, 'unsupported_grant_type', 'authorization_code or refresh_token')
  }

  private issue(base: Pick<Grant, 'did' | 'clientId' | 'scope' | 'jkt'>): Record<string, unknown> {
    const grant: Grant = {
      ...base,
      accessToken: opaque(ACCESS_TOKEN_PREFIX),
      accessExpiresAt: now() + this.opts.accessTokenLifetimeSec,
      refreshToken: opaque('dvrt'),
      refreshExpiresAt: now() + REFRESH_TTL_SEC,
    }
    this.byAccess.set(grant.accessToken, grant)
    this.byRefresh.set(grant.refreshToken, grant)
    return {
      access_token: grant.accessToken,
      token_type: 'DPoP',
      expires_in: this.opts.accessTokenLifetimeSec,
      refresh_token: grant.refreshToken,
      scope: grant.scope,
      sub: grant.did,
    }
  }

  private drop(grant: Grant): void {
    this.byAccess.delete(grant.accessToken)
    this.byRefresh.delete(grant.refreshToken)
  }

  private revokeToken(token: string): void {
    const grant = this.byAccess.get(token) ?? this.byRefresh.get(token)
    if (grant) {
      this.drop(grant)
      this.stats.revoked++
    }
  }

  /** Revokes every OAuth session of an account on this host (its access and refresh tokens); returns how many. */
  revokeAccount(did: string): number {
    let n = 0
    for (const grant of [...this.byRefresh.values()]) {
      if (grant.did !== did) continue
      this.drop(grant)
      n++
    }
    this.stats.revoked += n
    return n
  }

  /** Whether a token has the shape of this devnet's OAuth access tokens (issued, expired or revoked). */
  isAccessTokenShaped(token: string): boolean {
    return token.startsWith(`${ACCESS_TOKEN_PREFIX}-`)
  }

  /**
   * Resource-side check of `Authorization: DPoP <access token>` + proof (ath, jkt binding, nonce). Throws
   * OAuthError 401 with the `WWW-Authenticate: DPoP` error the client acts on (use_dpop_nonce, invalid_token).
   */
  async verifyAccess(token: string, proof: string | undefined, htm: string, htu: string): Promise<Account> {
    const challenge = (error: string, description: string, extra: Record<string, string> = {}) =>
      new OAuthError(401, error, description, {
        'www-authenticate': `DPoP error="${error}", error_description="${description}"`,
        ...extra,
      })
    if (!proof) throw challenge('invalid_dpop_proof', 'DPoP proof required')
    if (proofNonce(proof) !== this.nonce) {
      throw challenge('use_dpop_nonce', 'DPoP proof must carry the server nonce', this.nonceHeader())
    }
    const grant = this.byAccess.get(token)
    if (!grant || grant.accessExpiresAt < now()) throw challenge('invalid_token', 'unknown or expired token')
    try {
      await verifyDpopProof(proof, {
        htm,
        htu,
        credential: { token, jkt: grant.jkt },
        nonce: this.nonce,
        seen: this.replay.check,
      })
    } catch (err) {
      if (!isProtocolError(err)) throw err
      throw challenge('invalid_dpop_proof', err.message)
    }
    const account = this.accounts.get(grant.did)
    if (!account) throw challenge('invalid_token', 'account is gone')
    return account
  }
}

function proofNonce(proof: string): unknown {
  try {
    return parseJws(proof).payload['nonce']
  } catch {
    return undefined
  }
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > BODY_LIMIT) throw new OAuthError(413, 'invalid_request', 'request body too large')
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8')
}

function json(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { ...headers, 'content-type': 'application/json', 'cache-control': 'no-store' })
  res.end(JSON.stringify(body))
}
