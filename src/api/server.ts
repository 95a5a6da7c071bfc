/**
 * The API server: XRPC over HTTP (@atproto/xrpc-server) serving the merged spaces to callers who pass the
 * ACL filter, plus checkUserAccess for spaces spaceview manages, the admin methods and `/xrpc/_health`.
 * `/metrics` is served elsewhere (src/metrics); the crawler mounts its notification receivers
 * (com.atproto.space.notifyWrite, notifySpaceDeleted) on the same port with `mount`.
 *
 * Invariants:
 * - Every space-scoped method authenticates first (401), validates its parameters (400), then asks the ACL
 *   filter; refusals are indistinguishable from missing spaces (space-access.ts). Default deny.
 * - With `validateResponses` (tests, dev), outputs are validated against the lexicons before they are
 *   sent; in production they are not (as upstream runs it: the check costs more than the read it guards).
 *   Parameters and inputs are always validated.
 * - Queries are served by the lean lane (lean-queries.ts: no express, same validation and error answers)
 *   when the request has the canonical form; every method is also on the XRPC server for anything else.
 * - Unexpected errors are logged here (the library's own logger is off) and answered as a bare 500.
 * - Every request is timed into `spaceview_api_request_duration_seconds` by method (NSIDs we serve, else
 *   `other`) and status.
 * - The request path talks to Redis (replay checks, admissions, memberships) on its own connection, a
 *   duplicate of the one given with ioredis auto-pipelining on: the commands concurrent requests issue in
 *   one event-loop turn go out in one write instead of a syscall each. `close` disconnects it.
 */
import { readFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import {
  createServer as createXrpcServer,
  XRPCError,
  type Auth,
  type MethodConfigOrHandler,
  type Server,
} from '@atproto/xrpc-server'
import type { Redis } from 'ioredis'
import type { Logger } from 'pino'
import { AclFilter } from '../acl-filter/acl-filter.js'
import { AdmissionCache } from '../acl-filter/admission-cache.js'
import { AuthorityExchange } from '../acl-filter/authority-exchange.js'
import { CallerAuthenticator } from '../acl-filter/caller-authenticator.js'
import { identityKeyResolver, type DidDocuments } from '../acl-filter/key-resolver.js'
import { MembershipStore } from '../acl-filter/membership-store.js'
import { redisReplayCheck } from '../acl-filter/replay-store.js'
import type { Config } from '../config.js'
import { HttpClient } from '../crawler/http-client.js'
import { SpaceClient } from '../crawler/space-client.js'
import { DEVNET_ENDPOINTS, PUBLIC_ENDPOINTS } from '../identity/endpoint-guard.js'
import { apiMethodLabel, httpStatusLabel } from '../metrics/labels.js'
import { metrics as processMetrics, type Metrics } from '../metrics/metrics.js'
import { markRequestStart, type ApiContext } from './api-context.js'
import { CursorSeal } from './cursor-seal.js'
import { HEALTH_PATH, healthHandler } from './health.js'
import { LeanQueries } from './lean-queries.js'
import { loadLexicons, normalizeLexicon, NSID, packageRoot } from './lexicons.js'
import { addMemberMethod, listMembersMethod, removeMemberMethod } from './methods/admin-members.js'
import { checkUserAccessMethod } from './methods/check-user-access.js'
import { explainAccessMethod } from './methods/explain-access.js'
import { getRecordMethod } from './methods/get-record.js'
import { getSpaceMethod } from './methods/get-space.js'
import { getSyncStatusMethod } from './methods/get-sync-status.js'
import { listRecordsMethod } from './methods/list-records.js'
import { listSpacesMethod } from './methods/list-spaces.js'
import type { SpaceViewReader } from './space-view-reader.js'

export const DEFAULT_DENY_FLOOR_MS = 20
const JSON_BODY_LIMIT = 64 * 1024
const CLOSE_GRACE_MS = 5_000

export type ApiServerConfig = Pick<
  Config,
  | 'apiHost'
  | 'apiPort'
  | 'publicUrl'
  | 'serviceDid'
  | 'serviceFragment'
  | 'secretsKeyHex'
  | 'admissionTtlSec'
  | 'allowPrivateAddresses'
>

export interface StartApiServerOptions {
  config: ApiServerConfig
  store: SpaceViewReader
  identity: DidDocuments
  redis: Redis
  logger: Logger
  /** Bearer token of the dev.spaceview.admin.* methods; empty or absent disables them. */
  adminToken?: string
  /** Service id spaces name as `managingApp` to make spaceview their ACL (default `{serviceDid}#{serviceFragment}`). */
  managingAppId?: string
  /** Our client attestation for app-gated spaces, when spaceview has an OAuth client identity. */
  clientAttestation?: (spaceDid: string) => Promise<string>
  /** Client for the authority's getSpaceCredential (default: one over the guarded HTTP client). */
  spaceClient?: Pick<SpaceClient, 'getSpaceCredential'>
  metrics?: Metrics
  /** How long store facts are reused per process (ms, default 1000). */
  factsTtlMs?: number
  /** Minimum answer time of a refused space request (ms, default 20). */
  denyFloorMs?: number
  exchangeTimeoutMs?: number
  /** Validate outputs against the lexicons (default false; the tests turn it on). */
  validateResponses?: boolean
}

export interface ApiServer {
  /** Base URL the server listens on (e.g. http://127.0.0.1:2590). */
  readonly url: string
  /** The XRPC server, for anything `mount` does not cover (plain HTTP routes: `xrpc.routes.get(path, fn)`). */
  readonly xrpc: Server
  /** Call `acl.invalidate(space)` on a verified space deletion. */
  readonly acl: AclFilter
  /** Call `membership.clear(space)` on a verified space deletion. */
  readonly membership: MembershipStore
  /** Serves another XRPC method on this port. */
  mount(lexicon: unknown, config: MethodConfigOrHandler): void
  /**
   * A plain handler for exactly `method path` (any query string), answered straight from node:http ahead of
   * the XRPC server (timed like every request): for endpoints that parse and answer on their own, such as
   * the crawler's notifyWrite receiver, which is called once per write.
   */
  route(
    method: 'GET' | 'POST',
    path: string,
    handler: (req: IncomingMessage, res: ServerResponse) => void,
  ): void
  close(): Promise<void>
}

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version?: unknown }
  return typeof pkg.version === 'string' ? pkg.version : '0.0.0'
}

function nsidOf(req: IncomingMessage): string {
  const path = (req.url ?? '').split('?')[0] ?? ''
  return path.startsWith('/xrpc/') ? path.slice('/xrpc/'.length) : ''
}

function serviceAudiences(config: ApiServerConfig, managingAppId: string): string[] {
  if (config.serviceDid === '') {
    throw new Error('SPACEVIEW_SERVICE_DID must be set: callers address their service-auth tokens to it')
  }
  return [...new Set([config.serviceDid, `${config.serviceDid}#${config.serviceFragment}`, managingAppId])]
}

export async function startApiServer(opts: StartApiServerOptions): Promise<ApiServer> {
  const { config, logger } = opts
  const log = logger.child({ component: 'api' })
  const metrics = opts.metrics ?? processMetrics
  const managingAppId = opts.managingAppId ?? `${config.serviceDid}#${config.serviceFragment}`
  const resolveKey = identityKeyResolver(opts.identity)
  const redis = opts.redis.duplicate({ enableAutoPipelining: true })
  const replay = redisReplayCheck(redis)
  const membership = new MembershipStore(redis)
  const spaceClient =
    opts.spaceClient ??
    new SpaceClient({
      http: new HttpClient({ policy: config.allowPrivateAddresses ? DEVNET_ENDPOINTS : PUBLIC_ENDPOINTS }),
    })
  const acl = new AclFilter({
    facts: opts.store,
    membership,
    admissions: new AdmissionCache(redis),
    exchange: new AuthorityExchange({
      identity: opts.identity,
      client: spaceClient,
      resolveKey,
      ...(opts.clientAttestation === undefined ? {} : { clientAttestation: opts.clientAttestation }),
      ...(opts.exchangeTimeoutMs === undefined ? {} : { timeoutMs: opts.exchangeTimeoutMs }),
    }),
    managingAppIds: [managingAppId],
    admissionTtlSec: config.admissionTtlSec,
    ...(opts.factsTtlMs === undefined ? {} : { factsTtlMs: opts.factsTtlMs }),
    metrics,
    logger: log,
  })
  const ctx: ApiContext = {
    reader: opts.store,
    acl,
    authenticator: new CallerAuthenticator({
      audiences: serviceAudiences(config, managingAppId),
      publicUrl: config.publicUrl,
      resolveKey,
      replay,
    }),
    membership,
    resolveKey,
    cursors: new CursorSeal(config.secretsKeyHex),
    adminToken: opts.adminToken ?? '',
    denyFloorMs: opts.denyFloorMs ?? DEFAULT_DENY_FLOOR_MS,
    logger: log,
  }

  const validateResponse = opts.validateResponses ?? false
  const errorParser = (err: unknown): XRPCError => {
    const xrpcError = XRPCError.fromError(err)
    if (xrpcError.statusCode >= 500) log.error({ err }, 'request failed')
    return xrpcError
  }
  const xrpc = createXrpcServer(loadLexicons(), {
    validateResponse,
    payload: { jsonLimit: JSON_BODY_LIMIT },
    errorParser,
  })
  const lean = new LeanQueries(xrpc.lex, { validateResponse, errorParser })
  xrpc.router.disable('x-powered-by')
  // Express would hash every body for an ETag; API answers are per-caller and never revalidated.
  xrpc.router.set('etag', false)
  const served = new Set<string>(Object.values(NSID))
  // Timing and the uniform-denial clock start when the request arrives (first on either lane).
  const observe = (req: IncomingMessage, res: ServerResponse): void => {
    markRequestStart(req)
    const stop = metrics.apiRequestDuration.startTimer()
    res.once('finish', () => {
      stop({ method: apiMethodLabel(nsidOf(req), served), status: httpStatusLabel(res.statusCode) })
    })
  }
  xrpc.routes.use((req: IncomingMessage, res: ServerResponse, next: () => void) => {
    observe(req, res)
    next()
  })
  xrpc.routes.get(HEALTH_PATH, healthHandler({ redis, reader: opts.store, version: packageVersion() }))

  // Every method on the XRPC server; queries on the lean lane too.
  const method = <A extends Auth>(nsid: string, config: MethodConfigOrHandler<A>): void => {
    xrpc.method(nsid, config)
    if (xrpc.lex.getDef(nsid)?.type === 'query') lean.add(nsid, config)
  }
  method(NSID.listSpaces, listSpacesMethod(ctx))
  method(NSID.getSpace, getSpaceMethod(ctx))
  method(NSID.listRecords, listRecordsMethod(ctx))
  method(NSID.getRecord, getRecordMethod(ctx))
  method(NSID.getSyncStatus, getSyncStatusMethod(ctx))
  method(NSID.addMember, addMemberMethod(ctx))
  method(NSID.removeMember, removeMemberMethod(ctx))
  method(NSID.listMembers, listMembersMethod(ctx))
  method(NSID.explainAccess, explainAccessMethod(ctx))
  method(NSID.checkUserAccess, checkUserAccessMethod(ctx))

  // Last: whatever no route answered (plain HTTP routes go on `xrpc.routes`, which comes first).
  xrpc.router.use((_req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(404, { 'content-type': 'application/json; charset=utf-8' })
    res.end(JSON.stringify({ error: 'NotFound', message: 'this server answers XRPC under /xrpc/ only' }))
  })

  const plain = new Map<string, (req: IncomingMessage, res: ServerResponse) => void>()
  const http: HttpServer = createServer((req, res) => {
    const url = req.url ?? ''
    const q = url.indexOf('?')
    const handler = plain.get(`${req.method ?? ''} ${q === -1 ? url : url.slice(0, q)}`)
    if (handler !== undefined) {
      observe(req, res)
      return void handler(req, res)
    }
    const lane = lean.match(req)
    if (lane === undefined) return void xrpc.router(req, res)
    observe(req, res)
    void lean.serve(lane.route, lane.query, req, res)
  })
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject)
    http.listen(config.apiPort, config.apiHost, () => {
      http.off('error', reject)
      resolve()
    })
  })
  const { port } = http.address() as AddressInfo
  const host = config.apiHost.includes(':') ? `[${config.apiHost}]` : config.apiHost
  const url = `http://${host}:${port}`
  log.info({ url, managingAppId }, 'api listening')

  return {
    url,
    xrpc,
    acl,
    membership,
    mount(lexicon, config) {
      const doc = normalizeLexicon(lexicon)
      xrpc.addLexicon(doc)
      method(doc.id, config)
      served.add(doc.id)
    },
    route(method, path, handler) {
      plain.set(`${method} ${path}`, handler)
      if (path.startsWith('/xrpc/')) served.add(path.slice('/xrpc/'.length))
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        const force = setTimeout(() => http.closeAllConnections(), CLOSE_GRACE_MS)
        force.unref()
        http.close((err) => {
          clearTimeout(force)
          // Requests are done: let their last Redis replies arrive (a dropped one would reject unheard).
          const closed = redis.status === 'ready' ? redis.quit().catch(() => undefined) : redis.disconnect()
          void Promise.resolve(closed).then(() => (err ? reject(err) : resolve()))
        })
        http.closeIdleConnections()
      }),
  }
}
