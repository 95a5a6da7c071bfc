/**
 * End-to-end fixture for the API tests: a devnet (real DID directory, real space hosts answering
 * getSpaceCredential and calling checkUserAccess), the real MergeStore on embedded ClickHouse, real Redis,
 * and the API server on 127.0.0.1 — everything talks real HTTP. Helpers create accounts and spaces (at the
 * authority and in the store), write records, mint service-auth JWTs and delegation tokens, and make raw
 * requests so tests see exact status codes and bodies.
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { pino } from 'pino'
import { startApiServer, type ApiServer, type StartApiServerOptions } from '../../src/api/server.js'
import { loadConfig } from '../../src/config.js'
import { HttpClient } from '../../src/crawler/http-client.js'
import type { Account } from '../../src/devnet/accounts.js'
import { fetchDelegationToken } from '../../src/devnet/credential-client.js'
import { startDevnet, SYNCER_FRAGMENT, type Devnet } from '../../src/devnet/devnet.js'
import { OPEN_ACCESS, type AppAccess, type Policy } from '../../src/devnet/space-config.js'
import { TidClock } from '../../src/devnet/tid.js'
import { IdentityResolver } from '../../src/identity/did-resolver.js'
import { DEVNET_ENDPOINTS } from '../../src/identity/endpoint-guard.js'
import { MergeStore } from '../../src/merge/index.js'
import { createMetrics, type Metrics } from '../../src/metrics/metrics.js'
import { createDelegationToken } from '../../src/protocol/delegation-token.js'
import { encodeRecordJson } from '../../src/protocol/record-codec.js'
import { createServiceAuth } from '../../src/protocol/service-auth.js'

export interface Reply {
  status: number
  text: string
  json: Record<string, unknown>
  headers: Headers
}

export interface Harness {
  devnet: Devnet
  store: MergeStore
  api: ApiServer
  metrics: Metrics
  serviceDid: string
  /** The service id a space names as managingApp to make spaceview its ACL. */
  managingAppId: string
  adminToken: string
  account(label: string): Account
  createSpace(
    authority: Account,
    skey: string,
    policy: Policy,
    members?: Account[],
    appAccess?: AppAccess,
  ): Promise<string>
  writeRecords(
    space: string,
    author: Account,
    records: Array<{ collection: string; rkey: string; value: object }>,
  ): Promise<void>
  serviceAuth(
    account: Account,
    lxm: string,
    opts?: { aud?: string; now?: number; expiresInSec?: number },
  ): Promise<string>
  /** A delegation token from the account's own PDS (real getDelegationToken). */
  delegation(account: Account, space: string): Promise<string>
  /** A delegation token signed locally with the account's key (for crafted cases). */
  signedDelegation(account: Account, space: string, now?: number): Promise<string>
  get(
    nsid: string,
    params: Record<string, string | number | boolean>,
    headers?: Record<string, string>,
  ): Promise<Reply>
  post(nsid: string, body: unknown, headers?: Record<string, string>): Promise<Reply>
  /** GET as `account` with a fresh service-auth JWT for this method. */
  asUser(
    account: Account,
    nsid: string,
    params: Record<string, string | number | boolean>,
    headers?: Record<string, string>,
  ): Promise<Reply>
  close(): Promise<void>
}

async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

async function reply(res: Response): Promise<Reply> {
  const text = await res.text()
  let json: Record<string, unknown> = {}
  try {
    json = JSON.parse(text) as Record<string, unknown>
  } catch {
    // Non-JSON bodies are compared as text.
  }
  return { status: res.status, text, json, headers: res.headers }
}

export async function startHarness(
  opts: { admissionTtlSec?: number } & Partial<
    Pick<StartApiServerOptions, 'factsTtlMs' | 'denyFloorMs'>
  > = {},
): Promise<Harness> {
  const seed = `api-${randomBytes(6).toString('hex')}`
  const devnet = await startDevnet({ seed, spaces: 0, hosts: 2 })
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const { did: serviceDid } = devnet.publishSyncer(url, 'spaceview')
  const dataDir = mkdtempSync(join(tmpdir(), 'spaceview-api-'))
  const store = await MergeStore.open({
    clickhouse: { transport: 'embedded', path: dataDir, database: `api_${process.pid}` },
    batch: { maxRows: 10_000, maxDelayMs: 2 },
    readStrategy: 'final',
  })
  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379')
  const metrics = createMetrics()
  const adminToken = randomBytes(16).toString('hex')
  const config = loadConfig({
    SPACEVIEW_API_PORT: String(port),
    SPACEVIEW_API_HOST: '127.0.0.1',
    SPACEVIEW_PUBLIC_URL: url,
    SPACEVIEW_SERVICE_DID: serviceDid,
    SPACEVIEW_SECRETS_KEY: randomBytes(32).toString('hex'),
    SPACEVIEW_ADMISSION_TTL_SEC: String(opts.admissionTtlSec ?? 300),
    SPACEVIEW_ALLOW_PRIVATE_ADDRESSES: 'true',
    SPACEVIEW_DATA_DIR: dataDir,
  })
  const identity = new IdentityResolver({
    http: new HttpClient({ policy: DEVNET_ENDPOINTS }),
    plcUrl: devnet.plcUrl,
    minRefreshIntervalMs: 0,
  })
  const api = await startApiServer({
    config,
    store,
    identity,
    redis,
    logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
    adminToken,
    metrics,
    validateResponses: true,
    ...(opts.factsTtlMs === undefined ? {} : { factsTtlMs: opts.factsTtlMs }),
    ...(opts.denyFloorMs === undefined ? {} : { denyFloorMs: opts.denyFloorMs }),
  })
  const clock = new TidClock(7)
  const managedSpaces: string[] = []

  const get: Harness['get'] = async (nsid, params, headers = {}) => {
    const query = new URLSearchParams(
      Object.entries(params).map(([k, v]): [string, string] => [k, String(v)]),
    )
    return reply(await fetch(`${api.url}/xrpc/${nsid}?${query}`, { headers }))
  }
  const serviceAuth: Harness['serviceAuth'] = async (account, lxm, o = {}) =>
    createServiceAuth({
      keypair: await devnet.accounts.keypair(account),
      iss: account.did,
      aud: o.aud ?? serviceDid,
      lxm,
      ...(o.now === undefined ? {} : { now: o.now }),
      ...(o.expiresInSec === undefined ? {} : { expiresInSec: o.expiresInSec }),
    })

  return {
    devnet,
    store,
    api,
    metrics,
    serviceDid,
    managingAppId: `${serviceDid}#${SYNCER_FRAGMENT}`,
    adminToken,
    account: (label) => devnet.accounts.create(`${label}-${randomBytes(3).toString('hex')}`, 0),
    async createSpace(authority, skey, policy, members = [], appAccess = OPEN_ACCESS) {
      const uri = `at://${authority.did}/space/com.example.forum/${skey}`
      const hosted = (devnet.hosts[authority.host] ?? devnet.hosts[0])!.spaceHost.create(
        uri,
        policy,
        appAccess,
      )
      for (const m of members) hosted.members.add(m.did)
      await store.upsertSpace(uri)
      await store.setAccessSnapshot(uri, { policy, appAccess, members: null })
      managedSpaces.push(uri)
      return uri
    },
    async writeRecords(space, author, records) {
      await store.replaceRepo({
        space,
        author: author.did,
        rev: clock.next(),
        ltState: new Uint8Array(2048),
        commitHash: new Uint8Array(32),
        records: records.map((r) => ({ ...r, cid: encodeRecordJson(r.value).cid.toString() })),
      })
    },
    serviceAuth,
    async delegation(account, space) {
      const pds = devnet.hostOf(account.did).origin
      return fetchDelegationToken(pds, account.accessToken, space)
    },
    async signedDelegation(account, space, now) {
      const keypair = await devnet.accounts.keypair(account)
      return createDelegationToken({
        keypair,
        iss: account.did,
        space,
        ...(now === undefined ? {} : { now }),
      })
    },
    get,
    async post(nsid, body, headers = {}) {
      return reply(
        await fetch(`${api.url}/xrpc/${nsid}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...headers },
          body: JSON.stringify(body),
        }),
      )
    },
    async asUser(account, nsid, params, headers = {}) {
      return get(nsid, params, { authorization: `Bearer ${await serviceAuth(account, nsid)}`, ...headers })
    },
    async close() {
      for (const space of managedSpaces) await api.membership.clear(space)
      await api.close()
      await redis.quit()
      await store.close()
      await devnet.close()
      rmSync(dataDir, { recursive: true, force: true })
    },
  }
}
