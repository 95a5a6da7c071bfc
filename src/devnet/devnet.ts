/**
 * Devnet: a conformant simulated permissioned-data network on loopback, for testing the syncer against real
 * HTTP, real signatures and scripted misbehaviour. `startDevnet(options)` starts:
 *
 * - a network server: the did:plc-style DID directory (`GET /{did}`), the subscribeRepos relay stream
 *   (#account / #identity), devnet-hosted OAuth client metadata (`/clients/…`), the managing app
 *   (checkUserAccess) and the admin API (`/admin/…`, Bearer admin token);
 * - H PDS-like hosts, each the repo host of its accounts and the space host of the spaces they own;
 * - the generated network (see generator.ts), installed into those hosts.
 *
 * Auth in devnet: reads use real space credentials + DPoP; getSpaceCredential uses real delegation tokens +
 * DPoP; hosts talk to each other with real service auth. Where a real app would hold an OAuth session
 * (writes, getDelegationToken, listSpaces, simplespace management, own-repo reads) devnet accepts
 * `Authorization: Bearer <account access token>` (tokens are listed on each account, TEST credentials) or a
 * real OAuth session from the host's authorization server (`DPoP <access token>`, oauth-server.ts).
 *
 * Invariants: every address is 127.0.0.1; generated content is reproducible from the seed; state lives in
 * memory only and compactly (see permissioned-repo.ts); `settle()` waits for in-flight notifications.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { randomBytes } from 'node:crypto'
import { pino, type Logger } from 'pino'
import type { DpopKey } from '../protocol/dpop.js'
import { formatSpaceRecordUri, parseSpaceUri } from '../protocol/space-uri.js'
import { AccountRegistry, type Account, type AccountStatus } from './accounts.js'
import { AdminApi } from './admin.js'
import { AttestationVerifier } from './attestation-verifier.js'
import { ClientRegistry, type DevnetClient } from './client-registry.js'
import { obtainSpaceCredential, type ObtainedCredential } from './credential-client.js'
import { DidDirectory } from './did-directory.js'
import { DEFAULT_ENCODED_RECORD_CACHE_BYTES, EncodedRecordCache } from './encoded-record-cache.js'
import { Faults } from './faults.js'
import { Firehose } from './firehose.js'
import { checkShape, createPool, DEFAULT_NETWORK, planSpaces, type NetworkShape } from './generator.js'
import { Host } from './host.js'
import { IdentityResolver } from './identity-resolver.js'
import { ManagingApp } from './managing-app.js'
import { Notifier, type NotifierStats } from './notifier.js'
import { PermissionedRepo } from './permissioned-repo.js'
import { ReplayStore } from './replay-store.js'
import { deriveDid, deriveTestKeypair } from './seeded.js'
import type { AppAccess, Policy, WriterHint } from './space-config.js'
import { WriteDriver, type WriteDriverOptions } from './write-driver.js'

export interface DevnetOptions extends Partial<Omit<NetworkShape, 'seed'>> {
  seed?: string
  /** Port of the network server (0 = ephemeral). */
  port?: number
  /** Port of each host, by index (missing = ephemeral). */
  hostPorts?: number[]
  /** notify registration lifetime (default 24 h). */
  registrationTtlSec?: number
  /** Timeout of devnet's own outbound calls (notifications, checkUserAccess, client metadata). */
  outboundTimeoutMs?: number
  logger?: Logger
  /** Bearer token for /admin (default random). */
  adminToken?: string
  /** Lifetime of the OAuth access tokens the hosts' authorization servers issue (default 1 h). */
  oauthAccessTokenLifetimeSec?: number
  /** Budget of the cache of encoded generated records, in bytes (default 256 MiB; 0 = no caching). */
  encodedRecordCacheBytes?: number
}

export interface SpaceInfo {
  uri: string
  authority: string
  host: number
  policy: Policy
  appAccess: AppAccess
  /** The writer set (what listRepos serves), DID-ascending. */
  writers: string[]
  members: string[]
}

export interface GroundTruthRecord {
  uri: string
  author: string
  collection: string
  rkey: string
  cid: string
  value: Record<string, unknown>
}

export interface GroundTruthOptions {
  /** Include authors that are deactivated, taken down or deleted (hidden by a conformant syncer). */
  includeInactive?: boolean
  /** Include repos in this space that the authority never listed (non-admitted writers). */
  includeUnlisted?: boolean
}

export const SYNCER_FRAGMENT = 'atproto_space_syncer'

/** Everything startDevnet wires together. */
export interface DevnetParts {
  seed: string
  shape: NetworkShape
  plcUrl: string
  adminToken: string
  accounts: AccountRegistry
  hosts: readonly Host[]
  pool: readonly Account[]
  indexer: Account
  clients: { indexer: DevnetClient; other: DevnetClient }
  managingApp: ManagingApp
  faults: Faults
  firehose: Firehose
  directory: DidDirectory
  encodedRecords: EncodedRecordCache
  notifier: Notifier
  server: Server
}

export class Devnet {
  readonly seed: string
  readonly shape: NetworkShape
  /** The DID directory's URL (give it to @atproto/identity as `plcUrl`); also serves /admin and /clients. */
  readonly plcUrl: string
  readonly adminToken: string
  readonly accounts: AccountRegistry
  readonly hosts: readonly Host[]
  /** The generated accounts `u0…`, by index. */
  readonly pool: readonly Account[]
  /** An account admitted to every generated space, for the syncer under test (TEST credentials). */
  readonly indexer: Account
  /** Devnet-hosted OAuth clients: `indexer` (inline jwks) and `other` (jwks_uri). */
  readonly clients: { indexer: DevnetClient; other: DevnetClient }
  readonly managingApp: ManagingApp
  readonly faults: Faults
  readonly firehose: Firehose
  readonly directory: DidDirectory
  /** Encoded generated records shared by every host's repos (see encoded-record-cache.ts). */
  readonly encodedRecords: EncodedRecordCache
  private readonly notifier: Notifier
  private readonly server: Server
  private readonly driverSet = new Set<WriteDriver>()

  constructor(parts: DevnetParts) {
    this.seed = parts.seed
    this.shape = parts.shape
    this.plcUrl = parts.plcUrl
    this.adminToken = parts.adminToken
    this.accounts = parts.accounts
    this.hosts = parts.hosts
    this.pool = parts.pool
    this.indexer = parts.indexer
    this.clients = parts.clients
    this.managingApp = parts.managingApp
    this.faults = parts.faults
    this.firehose = parts.firehose
    this.directory = parts.directory
    this.encodedRecords = parts.encodedRecords
    this.notifier = parts.notifier
    this.server = parts.server
  }

  /** WebSocket service URL for @atproto/sync's Firehose (`service` option). */
  get relayUrl(): string {
    return this.plcUrl.replace(/^http/, 'ws')
  }

  get adminUrl(): string {
    return `${this.plcUrl}/admin`
  }

  hostOf(did: string): Host {
    const host = this.hosts[this.accounts.require(did).host]
    if (!host) throw new Error(`${did} has no host`)
    return host
  }

  /** The repo (space, did) wherever it is stored. */
  repo(space: string, did: string): PermissionedRepo | undefined {
    const account = this.accounts.get(did)
    return account ? this.hosts[account.host]?.ctx.repos.get(space, did) : undefined
  }

  /** Live spaces on every host, URI-ascending. */
  spaces(): SpaceInfo[] {
    const out: SpaceInfo[] = []
    for (const host of this.hosts) {
      for (const s of host.spaceHost.allSpaces()) out.push(this.describe(host, s.uri) as SpaceInfo)
    }
    return out.sort((a, b) => (a.uri < b.uri ? -1 : 1))
  }

  /** The host of a space's authority (its space host), if the authority is a devnet account. */
  private spaceHostOf(uri: string): Host | undefined {
    return this.hosts[this.accounts.get(parseSpaceUri(uri).did)?.host ?? -1]
  }

  space(uri: string): SpaceInfo | undefined {
    const host = this.spaceHostOf(uri)
    return host ? this.describe(host, uri) : undefined
  }

  private describe(host: Host, uri: string): SpaceInfo | undefined {
    const s = host.spaceHost.get(uri)
    if (!s) return undefined
    return {
      uri,
      authority: s.authority,
      host: host.index,
      policy: s.policy,
      appAccess: s.appAccess,
      writers: [...s.writers.keys()].sort(),
      members: [...s.members].sort(),
    }
  }

  /** True once the space was deleted (and not re-created): getSpaceCredential answers SpaceDeleted. */
  isDeleted(uri: string): boolean {
    return this.spaceHostOf(uri)?.spaceHost.isDeleted(uri) ?? false
  }

  /** The authority's (rev, hash) hint for a writer, as listRepos would serve it. */
  writerHint(space: string, did: string): WriterHint | undefined {
    const host = this.spaceHostOf(space)
    const s = host?.spaceHost.get(space)
    return s && host ? host.spaceHost.writerHint(s, did) : undefined
  }

  /** Head (rev, hash) of a repo at its host: the truth a syncer must converge to. */
  repoHead(space: string, did: string): { rev: string; hash: Uint8Array } | undefined {
    const repo = this.repo(space, did)
    return repo?.exists ? { rev: repo.rev as string, hash: repo.digest() } : undefined
  }

  /**
   * The merged content of a space: every current record of every listed writer whose account is active
   * (options widen this), URI-ascending. A deleted space has none. Values are devnet's own: read-only.
   */
  groundTruth(space: string, opts: GroundTruthOptions = {}): GroundTruthRecord[] {
    const info = this.space(space)
    if (!info) return []
    const authors = new Set(info.writers)
    if (opts.includeUnlisted) {
      for (const host of this.hosts)
        for (const repo of host.ctx.repos.values()) if (repo.space === space) authors.add(repo.did)
    }
    const ref = parseSpaceUri(space)
    const out: GroundTruthRecord[] = []
    for (const did of authors) {
      const account = this.accounts.get(did)
      if (!account || (!opts.includeInactive && account.status !== 'active')) continue
      for (const r of this.repo(space, did)?.records() ?? []) {
        const uri = formatSpaceRecordUri({ ...ref, author: did, collection: r.collection, rkey: r.rkey })
        out.push({ uri, author: did, collection: r.collection, rkey: r.rkey, cid: r.cid, value: r.value })
      }
    }
    return out.sort((a, b) => (a.uri < b.uri ? -1 : a.uri > b.uri ? 1 : 0))
  }

  /** Changes an account's status at its host and emits the matching #account event. */
  setAccountStatus(did: string, status: AccountStatus): number {
    const account = this.accounts.require(did)
    account.status = status
    return this.firehose.account(did, status)
  }

  /** Rotates an account's #atproto key (TEST KEY) and emits #identity; returns the new did:key. */
  async rotateKey(did: string): Promise<string> {
    const account = this.accounts.require(did)
    const key = await this.accounts.rotateKey(account)
    this.firehose.identity(did, account.handle)
    return key
  }

  /**
   * Publishes a DID (did:plc-style, resolvable through devnet) for a syncer whose notification endpoint is
   * `endpoint`; register `serviceId` with registerNotify.
   */
  publishSyncer(
    endpoint: string,
    label = `syncer-${randomBytes(4).toString('hex')}`,
  ): { did: string; serviceId: string } {
    const did = deriveDid(this.seed, `service:${label}`)
    this.directory.publish(did, label, [{ id: SYNCER_FRAGMENT, type: 'SpaceSyncer', endpoint }])
    return { did, serviceId: `${did}#${SYNCER_FRAGMENT}` }
  }

  /**
   * Obtains a space credential through the real HTTP flow (delegation token on the account's PDS, then
   * getSpaceCredential at the space host), as the indexer unless another account is named. App-gated spaces
   * get an attestation from the indexer client.
   */
  async obtainCredential(
    space: string,
    dpopKey: DpopKey,
    opts: { account?: Account; client?: DevnetClient } = {},
  ): Promise<ObtainedCredential> {
    const account = opts.account ?? this.indexer
    const client = opts.client ?? this.clients.indexer
    const gated = this.space(space)?.appAccess.$type === 'com.atproto.simplespace.defs#allowList'
    return obtainSpaceCredential({
      plcUrl: this.plcUrl,
      account,
      space,
      dpopKey,
      ...(gated ? { clientAttestation: (spaceDid: string) => client.attest(spaceDid) } : {}),
    })
  }

  /** Revokes every OAuth session of an account at its host's authorization server; returns how many. */
  revokeOAuthSessions(did: string): number {
    return this.hostOf(did).ctx.oauth.revokeAccount(did)
  }

  /** Sends registered services a notifyWrite for a write that never happened. */
  injectFakeNotification(space: string, repo?: string): { repo: string; rev: string; hash: Uint8Array } {
    const host = this.spaceHostOf(space)
    if (!host) throw new Error(`${space} has no devnet authority`)
    return host.spaceHost.injectFakeNotification(space, repo)
  }

  /**
   * Computes every repo's set hash now (otherwise done lazily on first use); this encodes every generated
   * record, and keeps what fits in the encoded-record cache for the reads that follow.
   */
  async materialize(
    onProgress?: (done: number, total: number) => void,
  ): Promise<{ repos: number; ms: number }> {
    const started = performance.now()
    const repos = this.hosts.flatMap((h) => [...h.ctx.repos.values()])
    for (let i = 0; i < repos.length; i++) {
      ;(repos[i] as PermissionedRepo).digest()
      if (i % 200 === 199) {
        onProgress?.(i + 1, repos.length)
        await new Promise((resolve) => setImmediate(resolve))
      }
    }
    onProgress?.(repos.length, repos.length)
    return { repos: repos.length, ms: performance.now() - started }
  }

  /** Starts sustained writes through the real HTTP write path (notifications included). */
  startWriteDriver(opts: WriteDriverOptions): WriteDriver {
    const driver = new WriteDriver(this, opts)
    this.driverSet.add(driver)
    void driver.done.finally(() => this.driverSet.delete(driver))
    return driver
  }

  get writeDrivers(): WriteDriver[] {
    return [...this.driverSet]
  }

  get notifications(): NotifierStats {
    return this.notifier.stats
  }

  /** Resolves once no notification is in flight. */
  settle(): Promise<void> {
    return this.notifier.settle()
  }

  async close(): Promise<void> {
    await Promise.all([...this.driverSet].map((d) => d.stop()))
    await this.notifier.settle()
    await this.firehose.close()
    this.server.closeAllConnections()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
    await Promise.all(this.hosts.map((h) => h.close()))
  }
}

async function listen(server: Server, port: number): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => resolve())
  })
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

export async function startDevnet(options: DevnetOptions = {}): Promise<Devnet> {
  const seed = options.seed ?? 'devnet'
  const {
    seed: _ignored,
    port,
    hostPorts,
    registrationTtlSec,
    outboundTimeoutMs,
    logger: given,
    adminToken: token,
    oauthAccessTokenLifetimeSec,
    encodedRecordCacheBytes,
    ...rest
  } = options
  const shape: NetworkShape = { ...DEFAULT_NETWORK, ...stripUndefined(rest), seed }
  checkShape(shape)
  const logger = given ?? pino({ level: 'silent' })
  const adminToken = token ?? randomBytes(16).toString('hex')

  // The network server's routes are attached once its origin (and so the client ids) is known.
  const server = createServer()
  const plcUrl = await listen(server, port ?? 0)

  const hosts: Host[] = []
  try {
    const faults = new Faults(seed)
    const accounts = new AccountRegistry(seed)
    const hostOrigins: string[] = []
    const directory = new DidDirectory(seed, accounts, (i) => hostOrigins[i] ?? 'http://127.0.0.1:0', faults)
    const resolver = new IdentityResolver(directory, outboundTimeoutMs)
    const notifier = new Notifier(accounts, resolver, faults, logger, outboundTimeoutMs)
    const firehose = new Firehose()
    firehose.attach(server)
    const clientRegistry = new ClientRegistry(seed, plcUrl)
    const clients = {
      indexer: clientRegistry.register('indexer'),
      other: clientRegistry.register('other', { jwksByReference: true }),
    }
    const managingDid = deriveDid(seed, 'service:managing-app')
    directory.publish(managingDid, 'managing-app', [
      { id: 'devnet_manager', type: 'DevnetManagingApp', endpoint: plcUrl },
    ])
    const managingApp = new ManagingApp(managingDid, resolver)

    const deps = {
      accounts,
      resolver,
      faults,
      notifier,
      attestations: new AttestationVerifier(new ReplayStore(), outboundTimeoutMs),
      logger,
      forger: await deriveTestKeypair(seed, 'forger'),
      findRepo: (space: string, did: string) => {
        const account = accounts.get(did)
        return account ? hosts[account.host]?.ctx.repos.get(space, did) : undefined
      },
      registrationTtlSec: registrationTtlSec ?? 86_400,
      oauthAccessTokenLifetimeSec: oauthAccessTokenLifetimeSec ?? 3600,
      outboundTimeoutMs: outboundTimeoutMs ?? 5000,
    }
    for (let i = 0; i < shape.hosts; i++) {
      const host = await Host.start(i, hostPorts?.[i] ?? 0, deps)
      hosts.push(host)
      hostOrigins.push(host.origin)
    }

    const encodedRecords = new EncodedRecordCache(
      encodedRecordCacheBytes ?? DEFAULT_ENCODED_RECORD_CACHE_BYTES,
    )
    const pool = createPool(shape, accounts)
    const indexer = accounts.create('indexer', 0)
    managingApp.authorizeEverywhere(indexer.did)
    const planned = planSpaces(shape, pool, {
      indexer,
      managingApp: managingApp.serviceId,
      allowedClients: [clients.indexer.clientId, clients.other.clientId],
    })
    for (const p of planned) {
      const spaceHost = (hosts[p.authority.host] as Host).spaceHost
      const space = spaceHost.create(p.uri, p.policy, p.appAccess)
      for (const did of p.members) space.members.add(did)
      for (const { writer, history } of p.writers) {
        space.writers.set(writer.did, 'generated')
        managingApp.authorize(p.uri, writer.did)
        ;(hosts[writer.host] as Host).ctx.repos.add(
          new PermissionedRepo(p.uri, writer.did, history, encodedRecords),
        )
      }
    }

    const devnet = new Devnet({
      seed,
      shape,
      plcUrl,
      adminToken,
      accounts,
      hosts,
      pool,
      indexer,
      clients,
      managingApp,
      faults,
      firehose,
      directory,
      encodedRecords,
      notifier,
      server,
    })
    const admin = new AdminApi(devnet)
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      const path = (req.url ?? '/').split('?')[0] as string
      if (/^\/did(:|%3A)/i.test(path)) void directory.handle(req, res)
      else if (path === '/xrpc/com.atproto.simplespace.checkUserAccess') void managingApp.handle(req, res)
      else if (path.startsWith('/clients/')) clientRegistry.handle(req, res)
      else if (path.startsWith('/admin')) void admin.handle(req, res)
      else {
        res.writeHead(404, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ error: 'NotFound', message: `devnet network server has no ${path}` }))
      }
    })
    return devnet
  } catch (err) {
    // A port in use or a bad option half-way: release what was started before reporting.
    await Promise.all(hosts.map((h) => h.close()))
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
    throw err
  }
}

function stripUndefined<T extends object>(obj: T): Partial<T> {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined)) as Partial<T>
}
