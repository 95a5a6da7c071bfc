/**
 * One PDS-like devnet host: an HTTP server on 127.0.0.1 that is the repo host of its accounts
 * (com.atproto.space read and write side, repo-host.ts) and the space host of the spaces those accounts
 * are authority of (credentials, writer set, notifications, simplespace, space-host.ts) — the same
 * arrangement as the reference PDS — and the OAuth authorization server of its accounts (oauth-server.ts).
 *
 * Invariants: the host's public origin is `http://127.0.0.1:{port}`; DPoP `htu` checks use it; every
 * XRPC request passes through the fault interceptor; anything outside /xrpc/ and the OAuth paths is 404.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Keypair } from '@atproto/crypto'
import type { Logger } from 'pino'
import type { AccountRegistry } from './accounts.js'
import type { AttestationVerifier } from './attestation-verifier.js'
import { FaultInterceptor, type Faults } from './faults.js'
import { HostAuth } from './host-auth.js'
import { DevnetOAuthServer } from './oauth-server.js'
import type { IdentityResolver } from './identity-resolver.js'
import type { Notifier } from './notifier.js'
import type { PermissionedRepo } from './permissioned-repo.js'
import { ReplayStore } from './replay-store.js'
import { RepoHost } from './repo-host.js'
import { RepoStore } from './repo-store.js'
import { SpaceHost } from './space-host.js'
import { TidClock } from './tid.js'
import { XrpcRouter } from './xrpc-router.js'

/** What every host shares with the rest of the network. */
export interface HostDeps {
  accounts: AccountRegistry
  resolver: IdentityResolver
  faults: Faults
  notifier: Notifier
  attestations: AttestationVerifier
  logger: Logger
  /** TEST KEY used by the forgedSignature fault to sign commits with the wrong key. */
  forger: Keypair
  /** Locates a repo on whichever host stores it (resolves `generated` writer hints). */
  findRepo(space: string, did: string): PermissionedRepo | undefined
  registrationTtlSec: number
  /** Lifetime of OAuth access tokens this host's authorization server issues. */
  oauthAccessTokenLifetimeSec: number
  /** Timeout of the authorization server's client metadata fetches. */
  outboundTimeoutMs: number
}

export interface HostContext extends HostDeps {
  index: number
  origin: string
  auth: HostAuth
  /** This host's OAuth authorization server (TEST ONLY: auto-approves). */
  oauth: DevnetOAuthServer
  clock: TidClock
  repos: RepoStore
}

export class Host {
  readonly repoHost: RepoHost
  readonly spaceHost: SpaceHost

  private constructor(
    readonly ctx: HostContext,
    private readonly server: Server,
    readonly router: XrpcRouter,
  ) {
    this.spaceHost = new SpaceHost(ctx, router)
    this.repoHost = new RepoHost(ctx, router, (did) => this.spaceHost.ownedSpaces(did))
  }

  get index(): number {
    return this.ctx.index
  }

  get origin(): string {
    return this.ctx.origin
  }

  static async start(index: number, port: number, deps: HostDeps): Promise<Host> {
    // Requests are routed once the origin (and so the DPoP htu) is known; nobody knows the port before.
    const server = createServer()
    server.keepAliveTimeout = 5000
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, '127.0.0.1', () => resolve())
    })
    const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    const oauth = new DevnetOAuthServer(origin, index, deps.accounts, {
      accessTokenLifetimeSec: deps.oauthAccessTokenLifetimeSec,
      fetchTimeoutMs: deps.outboundTimeoutMs,
    })
    const ctx: HostContext = {
      ...deps,
      index,
      origin,
      auth: new HostAuth(origin, deps.accounts, deps.resolver, new ReplayStore(), oauth),
      oauth,
      clock: new TidClock(index % 1024),
      repos: new RepoStore(),
    }
    const router = new XrpcRouter(index, origin, deps.logger, new FaultInterceptor(deps.faults))
    server.on('request', (req, res) => {
      if (req.url?.startsWith('/xrpc/')) {
        void router.handle(req, res)
        return
      }
      const path = (req.url ?? '/').split('?')[0] as string
      if (oauth.handles(path)) {
        void oauth.handle(req, res).catch(() => {
          if (!res.headersSent) res.writeHead(500).end()
        })
        return
      }
      res.writeHead(404, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ error: 'NotFound', message: 'devnet hosts only serve /xrpc/' }))
    })
    return new Host(ctx, server, router)
  }

  async close(): Promise<void> {
    this.server.closeAllConnections()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }
}
