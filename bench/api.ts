/**
 * `tsx bench/api.ts`: dev.spaceview.listRecords through the ACL filter at a fixed request rate on loopback,
 * next to the same query without it, in one run. Rows (each at the same offered rate, same space, same page):
 *   - no_acl            the same read and views mounted without authentication or admission (baseline)
 *   - acl_credential    a service reading with a space credential + fresh DPoP proof per request
 *   - acl_service_auth  users (secp256k1 keys, like PDS accounts) with a fresh service-auth JWT per request,
 *                       admitted to an authority-decided space through a cached admission (Redis)
 * Open loop: request i is due at start + i/rate and its latency counts from then (no coordinated omission);
 * at most --max-inflight requests are outstanding, later ones are dropped and counted. The load generator
 * runs in a worker thread. Loopback only; bounded by --seconds per row and rate × seconds requests.
 * Target: p99 < 20 ms at 2,000 req/s. Last line: one JSON object with the figures.
 * Flags: --rate N (2000) --seconds N (5) --limit N (records per page, 20) --max-inflight N (256)
 *        --rows a,b (which rows to run, default all three; e.g. to profile one)
 *        --store memory|chdb (memory: an in-process reader, so the row differences are API + auth + ACL;
 *        chdb: the real MergeStore on embedded ClickHouse) --validate-responses true|false (false, as served
 *        in production; true is how the tests run).
 * Columns: p50/p99 latency, answered req/s, and CPU per answered request: `cpu ms/req` the server process
 * (all its threads but the load generator's), `thread` the server's event-loop thread alone (what caps
 * the rate), `loadgen` the load generator's thread (which shares the cores).
 */
import { generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Worker } from 'node:worker_threads'
import { formatDidKey, Secp256k1Keypair } from '@atproto/crypto'
import { Redis } from 'ioredis'
import { pino } from 'pino'
import { AdmissionCache } from '../src/acl-filter/admission-cache.js'
import { startApiServer, type ApiServer } from '../src/api/server.js'
import type { SpaceViewReader } from '../src/api/space-view-reader.js'
import { recordView } from '../src/api/views.js'
import { loadConfig } from '../src/config.js'
import { HttpClient } from '../src/crawler/http-client.js'
import { IdentityResolver } from '../src/identity/did-resolver.js'
import { DEVNET_ENDPOINTS } from '../src/identity/endpoint-guard.js'
import {
  MergeStore,
  type AccessSnapshot,
  type ListRecordsQuery,
  type StoredRecord,
} from '../src/merge/index.js'
import { createMetrics } from '../src/metrics/metrics.js'
import { createDpopProof, generateDpopKey } from '../src/protocol/dpop.js'
import { encodeRecordJson } from '../src/protocol/record-codec.js'
import { createSpaceCredential } from '../src/protocol/space-credential.js'
import { benchArgs } from './bench-args.js'

const USAGE = `
npm run bench:api -- [flags]    listRecords through the ACL filter at a fixed rate (loopback, bounded)

  --rate <n>                 offered requests per second per row (default 2000)
  --seconds <n>              seconds per row (default 5)
  --limit <n>                records per page (default 20)
  --max-inflight <n>         outstanding requests before later ones are dropped (default 256)
  --rows <a,b>               rows to run: no_acl, acl_credential, acl_service_auth (default all)
  --store memory|chdb        in-process reader, or the real MergeStore on embedded ClickHouse (default memory)
  --validate-responses <b>   true|false: check every answer against the lexicon (default false)
  --help                     this text

Target: listRecords with ACL p99 < 20 ms at 2,000 req/s. The last line printed is one JSON object.
`
const values = benchArgs(USAGE, {
  rate: { type: 'string' },
  seconds: { type: 'string' },
  limit: { type: 'string' },
  'max-inflight': { type: 'string' },
  store: { type: 'string' },
  'validate-responses': { type: 'string' },
  rows: { type: 'string' },
})
const ROW_NAMES = ['no_acl', 'acl_credential', 'acl_service_auth'] as const
type RowName = (typeof ROW_NAMES)[number]
const ROWS = (values.rows ?? ROW_NAMES.join(',')).split(',') as RowName[]
if (ROWS.length === 0 || ROWS.some((r) => !ROW_NAMES.includes(r))) {
  throw new Error(`--rows takes a comma-separated subset of ${ROW_NAMES.join(', ')}`)
}
const RATE = Number(values.rate ?? 2000)
const SECONDS = Number(values.seconds ?? 5)
const LIMIT = Number(values.limit ?? 20)
const MAX_INFLIGHT = Number(values['max-inflight'] ?? 256)
const STORE = values.store ?? 'memory'
const VALIDATE = (values['validate-responses'] ?? 'false') === 'true'
if (!(RATE > 0 && SECONDS > 0 && SECONDS <= 60 && LIMIT >= 1 && LIMIT <= 100 && MAX_INFLIGHT > 0)) {
  throw new Error('--rate > 0, --seconds 1..60, --limit 1..100, --max-inflight > 0')
}
if (STORE !== 'memory' && STORE !== 'chdb') throw new Error('--store must be memory or chdb')
const COUNT = Math.round(RATE * SECONDS)
const USERS = 200
const RECORDS = 2000
const AUTHORS = 10
const POST = 'com.example.bench.post'
const DEFS = 'com.atproto.simplespace.defs#'

const log = (msg: string) => process.stderr.write(`${msg}\n`)

// ---------------------------------------------------------------------------------------- identities

interface BenchKey {
  did: string
  privateKey: KeyObject
  didKey: string
}

function secp256k1Identity(label: string): BenchKey {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'secp256k1' })
  const jwk = publicKey.export({ format: 'jwk' })
  const x = Buffer.from(jwk.x as string, 'base64url')
  const y = Buffer.from(jwk.y as string, 'base64url')
  const compressed = Buffer.concat([Buffer.from([(y.at(-1) as number) & 1 ? 3 : 2]), x])
  const did = `did:plc:${label.padEnd(24, 'a').slice(0, 24)}`
  return { did, privateKey, didKey: formatDidKey('ES256K', compressed) }
}

/** A PLC-style directory (`GET /{did}`) for the bench identities, on loopback. */
async function startDirectory(keys: BenchKey[]): Promise<{ url: string; server: Server }> {
  const docs = new Map(
    keys.map((k) => [
      k.did,
      JSON.stringify({
        '@context': ['https://www.w3.org/ns/did/v1'],
        id: k.did,
        verificationMethod: [
          {
            id: `${k.did}#atproto`,
            type: 'Multikey',
            controller: k.did,
            publicKeyMultibase: k.didKey.slice(8),
          },
        ],
        service: [],
      }),
    ]),
  )
  const server = createServer((req, res) => {
    const doc = docs.get(decodeURIComponent((req.url ?? '/').slice(1)))
    res.writeHead(doc ? 200 : 404, { 'content-type': 'application/json' })
    res.end(doc ?? '{}')
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server }
}

function serviceAuthJwt(user: BenchKey, aud: string, lxm: string): string {
  const iat = Math.floor(Date.now() / 1000)
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url')
  const input = `${b64({ typ: 'JWT', alg: 'ES256K' })}.${b64({ iat, iss: user.did, aud, exp: iat + 60, lxm, jti: randomBytes(16).toString('hex') })}`
  const sig = sign('sha256', Buffer.from(input), { key: user.privateKey, dsaEncoding: 'ieee-p1363' })
  return `${input}.${sig.toString('base64url')}`
}

// ---------------------------------------------------------------------------------------- memory reader

/** The store contract (space-view-reader.ts) over arrays, for isolating API + auth + ACL costs. */
class MemoryReader implements SpaceViewReader {
  private readonly records: StoredRecord[] = []

  constructor(
    private readonly space: string,
    private readonly access: AccessSnapshot,
  ) {}

  add(r: StoredRecord): void {
    this.records.push(r)
    const key = (x: StoredRecord) => `${x.collection}\n${x.author}\n${x.rkey}`
    this.records.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0))
  }

  async getSpace(space: string) {
    return space === this.space
      ? { space, epoch: 1, status: 'active' as const, changedAt: new Date(0).toISOString() }
      : null
  }
  async getAccessSnapshot(space: string) {
    return space === this.space ? this.access : null
  }
  async getAccountStatus() {
    return 'active' as const
  }
  async listRecords(q: ListRecordsQuery) {
    if (q.space !== this.space) return { records: [] }
    const start = q.cursor === undefined ? 0 : Number(q.cursor)
    const limit = q.limit ?? 50
    const records = this.records.slice(start, start + limit)
    return records.length === limit ? { records, cursor: String(start + limit) } : { records }
  }
  async getRecord(space: string, author: string, collection: string, rkey: string) {
    return (
      this.records.find(
        (r) => r.space === space && r.author === author && r.collection === collection && r.rkey === rkey,
      ) ?? null
    )
  }
  async countRecords(space: string) {
    return space === this.space ? this.records.length : 0
  }
  async listSpaces() {
    return { spaces: [(await this.getSpace(this.space))!] }
  }
  async listRepoStates() {
    return { repos: [] }
  }
}

// ---------------------------------------------------------------------------------------- load generator

interface Planned {
  path: string
  headers: Record<string, string>
}

interface RowResult {
  sent: number
  ok: number
  errors: number
  dropped: number
  p50Ms: number
  p99Ms: number
  throughput: number
  /** Server event-loop thread CPU per answered request (ms): what bounds the rate on one core. */
  serverThreadCpuMsPerReq: number
  /** Whole-process CPU minus the load generator's thread, per answered request (ms; adds GC and libuv threads). */
  serverCpuMsPerReq: number
  /** The load generator's own thread CPU per request (ms): it shares the machine's cores with the server. */
  loadgenCpuMsPerReq: number
}

/** Runs in a worker (eval'd, CommonJS): fires `requests` open-loop at `rate` and reports latencies. */
function loadGenerator(): void {
  /* eslint-disable @typescript-eslint/no-require-imports */
  const http = require('node:http') as typeof import('node:http')
  const { parentPort, workerData } = require('node:worker_threads') as typeof import('node:worker_threads')
  /* eslint-enable @typescript-eslint/no-require-imports */
  const { origin, requests, rate, maxInflight } = workerData as {
    origin: string
    requests: Array<{ path: string; headers: Record<string, string> }>
    rate: number
    maxInflight: number
  }
  const url = new URL(origin)
  const agent = new http.Agent({ keepAlive: true, maxSockets: maxInflight })
  const latencies: number[] = []
  let errors = 0
  let dropped = 0
  let inflight = 0
  let next = 0
  let done = 0
  const start = performance.now() + 50
  const cpu0 = process.threadCpuUsage()
  const finish = () => {
    const elapsed = (performance.now() - start) / 1000
    const cpu = process.threadCpuUsage(cpu0)
    parentPort?.postMessage({ latencies, errors, dropped, elapsed, loadgenCpuUs: cpu.user + cpu.system })
    agent.destroy()
  }
  const fire = (i: number, due: number) => {
    const req = requests[i] as { path: string; headers: Record<string, string> }
    inflight++
    const r = http.request(
      { host: url.hostname, port: url.port, path: req.path, headers: req.headers, agent },
      (res) => {
        res.resume()
        res.on('end', () => {
          inflight--
          if (res.statusCode === 200) latencies.push(performance.now() - due)
          else errors++
          if (++done === requests.length) finish()
        })
      },
    )
    r.on('error', () => {
      inflight--
      errors++
      if (++done === requests.length) finish()
    })
    r.end()
  }
  const tick = () => {
    const now = performance.now()
    while (next < requests.length && start + (next * 1000) / rate <= now) {
      const due = start + (next * 1000) / rate
      if (inflight >= maxInflight) {
        dropped++
        if (++done === requests.length) finish()
      } else fire(next, due)
      next++
    }
    if (next < requests.length) setTimeout(tick, 1)
  }
  setTimeout(tick, 50)
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] as number
}

async function runRow(origin: string, requests: Planned[]): Promise<RowResult> {
  // tsx (esbuild keepNames) may wrap nested functions in a `__name` helper the eval'd copy lacks.
  const worker = new Worker(`const __name = (f) => f;\n(${loadGenerator.toString()})()`, {
    eval: true,
    workerData: { origin, requests, rate: RATE, maxInflight: MAX_INFLIGHT },
  })
  const thread0 = process.threadCpuUsage()
  const process0 = process.cpuUsage()
  const out = await new Promise<{
    latencies: number[]
    errors: number
    dropped: number
    elapsed: number
    loadgenCpuUs: number
  }>((resolve, reject) => {
    worker.once('message', resolve)
    worker.once('error', reject)
  })
  const thread = process.threadCpuUsage(thread0)
  const proc = process.cpuUsage(process0)
  await worker.terminate()
  const answered = Math.max(1, out.latencies.length + out.errors)
  // The first tenth warms up JIT, connections and caches; it is sent but not measured.
  const measured = out.latencies.slice(Math.floor(out.latencies.length / 10)).sort((a, b) => a - b)
  const round = (n: number) => Math.round(n * 100) / 100
  return {
    sent: requests.length - out.dropped,
    ok: out.latencies.length,
    errors: out.errors,
    dropped: out.dropped,
    p50Ms: round(percentile(measured, 0.5)),
    p99Ms: round(percentile(measured, 0.99)),
    throughput: Math.round(out.latencies.length / out.elapsed),
    serverThreadCpuMsPerReq: round((thread.user + thread.system) / 1000 / answered),
    serverCpuMsPerReq: round((proc.user + proc.system - out.loadgenCpuUs) / 1000 / answered),
    loadgenCpuMsPerReq: round(out.loadgenCpuUs / 1000 / answered),
  }
}

/**
 * The ACL filter by itself, in process: `admit` for admitted users (rule 7, cached admission in Redis; store
 * facts cached), 32 at a time — what the filter adds to a request once the caller is authenticated.
 */
async function measureDecisions(api: ApiServer, users: BenchKey[], space: string) {
  const n = Math.min(COUNT, 10_000)
  const latencies: number[] = []
  let next = 0
  const t0 = performance.now()
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (next < n) {
        const user = users[next++ % users.length] as BenchKey
        const started = performance.now()
        const decision = await api.acl.admit({ kind: 'user', did: user.did }, space)
        if (decision.outcome !== 'allow') throw new Error(`bench user refused: ${decision.reason}`)
        latencies.push(performance.now() - started)
      }
    }),
  )
  const elapsed = (performance.now() - t0) / 1000
  latencies.sort((a, b) => a - b)
  const round = (x: number) => Math.round(x * 1000) / 1000
  return {
    decisions: n,
    p50Ms: round(percentile(latencies, 0.5)),
    p99Ms: round(percentile(latencies, 0.99)),
    perSecond: Math.round(n / elapsed),
  }
}

// ---------------------------------------------------------------------------------------- setup

async function main(): Promise<void> {
  const authority = secp256k1Identity('benchauthority')
  const users = Array.from({ length: USERS }, (_, i) => secp256k1Identity(`benchuser${i}`))
  const directory = await startDirectory([authority, ...users])
  const space = `at://${authority.did}/space/com.example.bench/main`
  const access: AccessSnapshot = {
    policy: { $type: `${DEFS}memberListPolicy` },
    appAccess: { $type: `${DEFS}open` },
    members: null,
    fetchedAt: new Date().toISOString(),
  }
  const records: StoredRecord[] = []
  for (let i = 0; i < RECORDS; i++) {
    const author = users[i % AUTHORS] as BenchKey
    const value = { $type: POST, text: `bench post ${i}`, createdAt: '2026-01-01T00:00:00.000Z' }
    const rkey = (1e12 + i).toString(36)
    records.push({
      uri: `${space}/${author.did}/${POST}/${rkey}`,
      space,
      author: author.did,
      collection: POST,
      rkey,
      cid: encodeRecordJson(value).cid.toString(),
      value,
      rev: '3lenb7yw2s22b',
      indexedAt: new Date().toISOString(),
    })
  }

  let reader: SpaceViewReader
  let cleanup = async () => {}
  if (STORE === 'memory') {
    const memory = new MemoryReader(space, access)
    for (const r of records) memory.add(r)
    reader = memory
  } else {
    const dir = mkdtempSync(join(tmpdir(), 'spaceview-bench-api-'))
    const store = await MergeStore.open({
      clickhouse: { transport: 'embedded', path: dir, database: 'bench_api' },
      batch: { maxRows: 50_000, maxDelayMs: 5 },
      readStrategy: 'final',
    })
    await store.upsertSpace(space)
    await store.setAccessSnapshot(space, {
      policy: access.policy,
      appAccess: access.appAccess,
      members: null,
    })
    for (let a = 0; a < AUTHORS; a++) {
      const mine = records.filter((r) => r.author === users[a]?.did)
      await store.replaceRepo({
        space,
        author: (users[a] as BenchKey).did,
        rev: '3lenb7yw2s22b',
        ltState: new Uint8Array(2048),
        commitHash: new Uint8Array(32),
        records: mine.map((r) => ({ collection: r.collection, rkey: r.rkey, cid: r.cid, value: r.value })),
      })
    }
    reader = store
    cleanup = async () => {
      await store.close()
      rmSync(dir, { recursive: true, force: true })
    }
  }

  const probe = createServer()
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
  const port = (probe.address() as AddressInfo).port
  await new Promise<void>((resolve) => probe.close(() => resolve()))
  const origin = `http://127.0.0.1:${port}`
  const serviceDid = 'did:web:bench.spaceview.invalid'
  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379')
  const identity = new IdentityResolver({
    http: new HttpClient({ policy: DEVNET_ENDPOINTS }),
    plcUrl: directory.url,
  })
  // Steady state: DID documents are cached (1 h), so no row pays for first resolutions.
  await Promise.all([authority, ...users].map((k) => identity.resolve(k.did)))
  const api: ApiServer = await startApiServer({
    config: loadConfig({
      SPACEVIEW_API_PORT: String(port),
      SPACEVIEW_API_HOST: '127.0.0.1',
      SPACEVIEW_PUBLIC_URL: origin,
      SPACEVIEW_SERVICE_DID: serviceDid,
      SPACEVIEW_SECRETS_KEY: randomBytes(32).toString('hex'),
      SPACEVIEW_ALLOW_PRIVATE_ADDRESSES: 'true',
    }),
    store: reader,
    identity,
    redis,
    logger: pino({ level: 'silent' }),
    metrics: createMetrics(),
    validateResponses: VALIDATE,
  })

  // Baseline: the same read, views and output validation, without authentication or admission.
  api.mount(
    {
      lexicon: 1,
      id: 'dev.spaceview.bench.listRecordsNoAcl',
      defs: {
        main: {
          type: 'query',
          parameters: {
            type: 'params',
            required: ['space'],
            properties: { space: { type: 'string' }, limit: { type: 'integer', minimum: 1, maximum: 100 } },
          },
          output: {
            encoding: 'application/json',
            schema: {
              type: 'object',
              required: ['records'],
              properties: {
                records: { type: 'array', items: { type: 'ref', ref: 'dev.spaceview.defs#recordView' } },
                cursor: { type: 'string' },
              },
            },
          },
        },
      },
    },
    {
      handler: async ({ params }) => {
        const page = await reader.listRecords({
          space: String(params.space),
          limit: Number(params.limit ?? 50),
        })
        return { encoding: 'application/json', body: { records: page.records.map(recordView) } }
      },
    },
  )

  // Every user holds a live admission granted by the authority (the steady state of rule 7).
  const admissions = new AdmissionCache(redis)
  for (const u of users) await admissions.put(u.did, { space, epoch: 1, expiresAt: Date.now() + 10 * 60_000 })

  const query = `space=${encodeURIComponent(space)}&limit=${LIMIT}`
  const lxm = 'dev.spaceview.listRecords'
  const dpopKey = await generateDpopKey()
  const credential = await createSpaceCredential({
    keypair: await Secp256k1Keypair.import(
      Buffer.from(authority.privateKey.export({ format: 'jwk' }).d as string, 'base64url'),
    ),
    space,
    jkt: dpopKey.jkt,
  })
  const plan: Record<RowName, () => Promise<Planned[]>> = {
    no_acl: async () =>
      Array.from({ length: COUNT }, () => ({
        path: `/xrpc/dev.spaceview.bench.listRecordsNoAcl?${query}`,
        headers: {},
      })),
    acl_credential: async () => {
      const row: Planned[] = []
      for (let i = 0; i < COUNT; i++) {
        const proof = await createDpopProof(dpopKey, { htm: 'GET', htu: `${origin}/xrpc/${lxm}`, credential })
        row.push({
          path: `/xrpc/${lxm}?${query}`,
          headers: { authorization: `DPoP ${credential}`, dpop: proof },
        })
      }
      return row
    },
    acl_service_auth: async () =>
      Array.from({ length: COUNT }, (_, i) => ({
        path: `/xrpc/${lxm}?${query}`,
        headers: { authorization: `Bearer ${serviceAuthJwt(users[i % USERS] as BenchKey, serviceDid, lxm)}` },
      })),
  }
  log(`preparing ${COUNT} requests per row (tokens and proofs are signed ahead of time)`)
  const planned = new Map<RowName, Planned[]>()
  for (const name of ROWS) planned.set(name, await plan[name]())

  log('acl_decision: the ACL filter alone, in process')
  const aclDecision = await measureDecisions(api, users, space)
  const results: Record<string, RowResult> = {}
  for (const [name, requests] of planned) {
    log(`${name}: ${COUNT} requests at ${RATE}/s`)
    results[name] = await runRow(origin, requests)
    await new Promise((r) => setTimeout(r, 500))
  }

  for (const u of users) await redis.del(`spaceview:adm:${u.did}`)
  await api.close()
  await redis.quit()
  await new Promise<void>((resolve) => directory.server.close(() => resolve()))
  await cleanup()

  const pad = (s: string | number, n: number) => String(s).padStart(n)
  log(
    `\nlistRecords (limit ${LIMIT}) at ${RATE} req/s offered for ${SECONDS} s, store=${STORE}, validate=${VALIDATE}, max in-flight ${MAX_INFLIGHT}`,
  )
  log(
    `${'row'.padEnd(18)}${pad('p50 ms', 9)}${pad('p99 ms', 9)}${pad('req/s', 8)}${pad('ok', 7)}${pad('errors', 8)}${pad('dropped', 9)}${pad('cpu ms/req', 12)}${pad('thread', 8)}${pad('loadgen', 9)}`,
  )
  log(
    `${'acl_decision'.padEnd(18)}${pad(aclDecision.p50Ms, 9)}${pad(aclDecision.p99Ms, 9)}${pad(aclDecision.perSecond, 8)}` +
      '  (ACL filter alone, in process, 32 concurrent)',
  )
  for (const [name, r] of Object.entries(results)) {
    log(
      `${name.padEnd(18)}${pad(r.p50Ms, 9)}${pad(r.p99Ms, 9)}${pad(r.throughput, 8)}${pad(r.ok, 7)}${pad(r.errors, 8)}${pad(r.dropped, 9)}` +
        `${pad(r.serverCpuMsPerReq, 12)}${pad(r.serverThreadCpuMsPerReq, 8)}${pad(r.loadgenCpuMsPerReq, 9)}`,
    )
  }
  const target = (r: RowResult | undefined) =>
    r !== undefined && r.p99Ms < 20 && r.dropped === 0 && r.errors === 0
  console.log(
    JSON.stringify({
      bench: 'api.listRecords',
      store: STORE,
      validateResponses: VALIDATE,
      rate: RATE,
      seconds: SECONDS,
      limit: LIMIT,
      rows: results,
      aclDecision,
      target: { p99Ms: 20, rate: 2000 },
      meetsTarget: {
        acl_credential: target(results.acl_credential),
        acl_service_auth: target(results.acl_service_auth),
      },
    }),
  )
}

await main()
