/**
 * Builds a crawler SyncContext from configuration: the hostile-host HTTP client (endpoint policy from
 * config: production refuses private addresses, devnet allows loopback), DID resolution, the space
 * client, sessions (password and OAuth) and credentials sealed with the secrets key, the per-host limiter
 * and this process's host gate in front of it.
 */
import { randomBytes } from 'node:crypto'
import type { Redis } from 'ioredis'
import type { Logger } from 'pino'
import type { Config } from '../config.js'
import { DEVNET_ENDPOINTS, PUBLIC_ENDPOINTS } from '../identity/endpoint-guard.js'
import { IdentityResolver } from '../identity/did-resolver.js'
import type { Metrics } from '../metrics/metrics.js'
import { HttpClient } from './http-client.js'
import { SpaceClient } from './space-client.js'
import { SecretBox } from './secret-box.js'
import { SessionStore } from './session-store.js'
import { HostResolver } from './host-resolver.js'
import { DelegationSource } from './delegation-source.js'
import { OAuthSessions } from './oauth-sessions.js'
import { CredentialManager } from './credential-manager.js'
import { HostLimiter } from './host-limiter.js'
import { HostGate } from './host-gate.js'
import type { SyncContext } from './sync-context.js'
import type { SyncStore } from '../merge/sync-store.js'
import { createClientAttestation } from '../protocol/client-attestation.js'
import type { JWK } from 'jose'

function clientAttester(clientId: string, keyJson: string): (spaceDid: string) => Promise<string> {
  let jwk: JWK
  try {
    jwk = JSON.parse(keyJson) as JWK
  } catch {
    throw new Error('SPACEVIEW_CLIENT_KEY must be a private JWK as JSON')
  }
  if (!jwk.d || !jwk.kid) throw new Error('SPACEVIEW_CLIENT_KEY must be a private JWK with "d" and "kid"')
  const alg = (jwk.alg ?? 'ES256') as 'ES256'
  return (spaceDid) =>
    createClientAttestation({ privateKey: jwk, alg, kid: jwk.kid as string, clientId, spaceDid })
}

/** Longest a job waits for a local host slot before it defers itself like a limiter refusal. */
const HOST_GATE_WAIT_MS = 2_000

export interface BuiltContext extends SyncContext {
  identity: IdentityResolver
  /** The guarded client everything above uses, for other outbound calls of this process (firehose DIDs). */
  http: HttpClient
  /** OAuth member sessions (login start/callback on the API role; delegation tokens everywhere). */
  oauth: OAuthSessions
}

export function buildSyncContext(deps: {
  config: Config
  store: SyncStore
  redis: Redis
  logger: Logger
  metrics: Metrics
  serviceId: string
}): BuiltContext {
  const { config, redis, metrics } = deps
  if (!config.secretsKeyHex) {
    deps.logger.warn(
      'SPACEVIEW_SECRETS_KEY is not set: using a random key, so stored sessions do not survive a restart',
    )
  }
  const box = new SecretBox(config.secretsKeyHex || randomBytes(32).toString('hex'))
  const http = new HttpClient({ policy: config.allowPrivateAddresses ? DEVNET_ENDPOINTS : PUBLIC_ENDPOINTS })
  const identity = new IdentityResolver({
    http,
    plcUrl: config.plcUrl,
    cacheEntries: config.didCacheEntries,
  })
  const hosts = new HostResolver(identity)
  const client = new SpaceClient({
    http,
    carMaxBytes: config.maxCarBytes,
    observe: (method, outcome, seconds) => metrics.hostRequestDuration.observe({ method, outcome }, seconds),
  })
  const sessions = new SessionStore(redis, box)
  const oauth = new OAuthSessions({ config, redis, box, http, sessions, logger: deps.logger })
  const creds = new CredentialManager({
    redis,
    box,
    sessions,
    client,
    hosts,
    delegation: new DelegationSource(http, hosts, oauth),
    ...(config.clientId && config.clientKeyJwk
      ? { attest: clientAttester(config.clientId, config.clientKeyJwk) }
      : {}),
    events: {
      refreshed: () => metrics.credentialRefreshes.inc(),
      failed: (reason) => metrics.credentialRefreshFailures.inc({ reason: reason as 'not_authorized' }),
    },
  })
  const limiter = new HostLimiter(redis, {
    concurrency: config.hostConcurrency,
    requestsPerSec: config.hostRequestsPerSec,
  })
  // Local slots = the host's cap: one process alone is never admitted less than the limiter would grant.
  // Waiters: up to a quarter of the worker slots per host, so the repos of one busy host queue here in order
  // instead of being deferred (each deferral adds >= 50 ms plus jitter), while a saturated host still
  // cannot tie up every worker.
  const gate = new HostGate({
    cap: config.hostConcurrency,
    maxWaitMs: HOST_GATE_WAIT_MS,
    maxWaiters: Math.max(config.hostConcurrency, Math.floor(config.workerConcurrency / 4)),
  })
  return {
    store: deps.store,
    client,
    creds,
    hosts,
    limiter,
    gate,
    sessions,
    redis,
    logger: deps.logger,
    metrics,
    serviceId: deps.serviceId,
    maxCarBytes: config.maxCarBytes,
    pageLimit: 1000,
    identity,
    http,
    oauth,
  }
}
