/**
 * SpaceClient against a local XRPC host on 127.0.0.1 that checks DPoP the way a repo host does (with the
 * protocol core's verifier) and answers with canned outputs, errors and misbehaviour.
 */
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { decodeProtectedHeader, decodeJwt } from 'jose'
import { HttpClient } from '../../src/crawler/http-client.js'
import { SpaceClient, SPACE_METHODS, type SpaceCredentialAuth } from '../../src/crawler/space-client.js'
import { SpaceCallError } from '../../src/crawler/space-errors.js'
import type { ListReposPage } from '../../src/crawler/space-responses.js'
import { DEVNET_ENDPOINTS } from '../../src/identity/endpoint-guard.js'
import { accessTokenHash, generateDpopKey, verifyDpopProof, type DpopKey } from '../../src/protocol/dpop.js'
import { encodeBase64, fromHex, toHex } from '../../src/protocol/bytes.js'
import { openRepoCar } from '../../src/protocol/repo-car.js'
import { parseRepoOp, RepoOpsApplier } from '../../src/protocol/repo-ops.js'
import { loadVector } from '../vectors.js'

const SPACE = 'at://did:plc:spaceauthorityvectors234/space/com.example.group/main'
const ALICE = 'did:plc:alicevectorstestauthor23'
const CREDENTIAL = 'eyJ0eXAiOiJhdHByb3RvLXNwYWNlLWNyZWRlbnRpYWwrand0In0.eyJzdWIiOiJ4In0.c2lnbmF0dXJl'
const HASH = { $bytes: encodeBase64(new Uint8Array(32).fill(7)) }

interface Seen {
  method: string
  path: string
  query: URLSearchParams
  headers: http.IncomingHttpHeaders
  body: string
}

interface Reply {
  status?: number
  headers?: Record<string, string>
  json?: unknown
  raw?: string | Uint8Array
  /** Written one by one (chunked, no Content-Length). */
  chunks?: Uint8Array[]
}

type Route = (req: Seen, n: number) => Reply | Promise<Reply>

interface Host {
  origin: string
  seen: Seen[]
  route: Route
  close(): Promise<void>
}

async function xrpcHost(): Promise<Host> {
  const host: Host = { origin: '', seen: [], route: () => ({ status: 404 }), close: async () => {} }
  const server = http.createServer((req, res) => {
    let body = ''
    req.setEncoding('utf8')
    req.on('data', (c: string) => (body += c))
    req.on('end', async () => {
      const url = new URL(req.url ?? '/', host.origin)
      const seen = {
        method: req.method ?? '',
        path: url.pathname,
        query: url.searchParams,
        headers: req.headers,
        body,
      }
      host.seen.push(seen)
      const reply = await host.route(seen, host.seen.length)
      const payload = reply.raw ?? (reply.json === undefined ? '' : JSON.stringify(reply.json))
      res.writeHead(reply.status ?? 200, {
        'content-type': reply.json === undefined ? 'application/octet-stream' : 'application/json',
        ...reply.headers,
      })
      for (const chunk of reply.chunks ?? []) res.write(chunk)
      res.end(payload)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  host.origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  host.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    })
  return host
}

let host: Host
let httpClient: HttpClient
let client: SpaceClient
let dpopKey: DpopKey
let auth: SpaceCredentialAuth

beforeAll(async () => {
  dpopKey = await generateDpopKey()
  auth = { credential: CREDENTIAL, dpopKey }
})

beforeEach(async () => {
  host = await xrpcHost()
  httpClient = new HttpClient({ policy: DEVNET_ENDPOINTS })
  client = new SpaceClient({ http: httpClient })
})

afterEach(async () => {
  httpClient.close()
  await host.close()
})

/** What a repo host checks on a credential request; throws (-> test failure) when the request is wrong. */
async function checkCredentialRequest(req: Seen): Promise<void> {
  expect(req.headers.authorization).toBe(`DPoP ${CREDENTIAL}`)
  await verifyDpopProof(String(req.headers.dpop), {
    htm: req.method,
    htu: `${host.origin}${req.path}`,
    credential: { token: CREDENTIAL, jkt: dpopKey.jkt },
  })
}

async function failure(p: Promise<unknown>): Promise<SpaceCallError> {
  try {
    await p
  } catch (err) {
    if (err instanceof SpaceCallError) return err
    throw err
  }
  throw new Error('expected a SpaceCallError')
}

describe('DPoP on every request', () => {
  it('presents the credential with a proof bound to method, origin+path and the credential', async () => {
    host.route = async (req) => {
      await checkCredentialRequest(req)
      return { json: { repos: [] } }
    }
    await client.listRepos(host.origin, auth, { space: SPACE, limit: 10 })
    const req = host.seen[0]!
    expect(req.path).toBe(`/xrpc/${SPACE_METHODS.listRepos}`)
    expect(req.query.get('space')).toBe(SPACE)
    const header = decodeProtectedHeader(String(req.headers.dpop))
    expect(header).toMatchObject({ typ: 'dpop+jwt', alg: 'ES256', jwk: { kty: 'EC', crv: 'P-256' } })
    expect(header.jwk).not.toHaveProperty('d')
    const proof = decodeJwt(String(req.headers.dpop))
    expect(proof.htm).toBe('GET')
    expect(proof.htu).toBe(`${host.origin}/xrpc/${SPACE_METHODS.listRepos}`)
    expect(String(proof.htu)).not.toContain('?')
    expect(proof.ath).toBe(accessTokenHash(CREDENTIAL))
    expect(proof.jti).toMatch(/^[0-9a-f]{32}$/)
    expect(Math.abs(Number(proof.iat) - Date.now() / 1000)).toBeLessThan(5)
  })

  it('uses Bearer and no ath on the credential exchange, with a JSON body', async () => {
    host.route = async (req) => {
      expect(req.headers.authorization).toBe('Bearer delegation.token.here')
      await verifyDpopProof(String(req.headers.dpop), { htm: 'POST', htu: `${host.origin}${req.path}` })
      return { json: { credential: CREDENTIAL } }
    }
    const credential = await client.getSpaceCredential(host.origin, {
      space: SPACE,
      delegationToken: 'delegation.token.here',
      dpopKey,
      clientAttestation: 'att.jwt.sig',
    })
    expect(credential).toBe(CREDENTIAL)
    const req = host.seen[0]!
    expect(req.method).toBe('POST')
    expect(req.headers['content-type']).toBe('application/json')
    expect(JSON.parse(req.body)).toEqual({ space: SPACE, clientAttestation: 'att.jwt.sig' })
    expect(decodeJwt(String(req.headers.dpop)).ath).toBeUndefined()
  })

  it('retries once with a new proof after a DPoP timing error, dated by the host clock', async () => {
    const hostClock = new Date(Date.now() + 120_000)
    host.route = (_req, n) =>
      n === 1
        ? { status: 401, headers: { date: hostClock.toUTCString() }, json: { error: 'DpopProofExpired' } }
        : { json: { repos: [] } }
    await client.listRepos(host.origin, auth, { space: SPACE })
    expect(host.seen).toHaveLength(2)
    const [a, b] = host.seen.map((s) => decodeJwt(String(s.headers.dpop)))
    expect(a!.jti).not.toBe(b!.jti)
    expect(Math.abs(Number(b!.iat) - hostClock.getTime() / 1000)).toBeLessThan(5)
  })

  it('adopts a DPoP-Nonce on the retry', async () => {
    host.route = (_req, n) =>
      n === 1
        ? { status: 401, headers: { 'dpop-nonce': 'n-123' }, json: { error: 'UseDpopNonce' } }
        : { json: { repos: [] } }
    await client.listRepos(host.origin, auth, { space: SPACE })
    expect(decodeJwt(String(host.seen[1]!.headers.dpop)).nonce).toBe('n-123')
  })

  it('retries at most once, and never on a key mismatch', async () => {
    host.route = () => ({ status: 401, json: { error: 'BadDpopProof', message: 'jti replayed' } })
    const twice = await failure(client.listRepos(host.origin, auth, { space: SPACE }))
    expect(twice.kind).toBe('dpop_rejected')
    expect(host.seen).toHaveLength(2)

    host.seen.length = 0
    host.route = () => ({ status: 401, json: { error: 'DpopKeyMismatch' } })
    const once = await failure(client.listRepos(host.origin, auth, { space: SPACE }))
    expect(once.kind).toBe('dpop_rejected')
    expect(host.seen).toHaveLength(1)
  })
})

describe('error mapping', () => {
  it.each([
    [400, 'RepoNotFound', 'repo_not_found'],
    [400, 'RepoDeactivated', 'repo_deactivated'],
    [400, 'RepoTakendown', 'repo_takendown'],
    [400, 'SpaceDeleted', 'space_deleted'],
    [400, 'SpaceNotFound', 'space_not_found'],
    [400, 'InvalidCredential', 'credential_invalid'],
    [401, 'JwtExpired', 'credential_expired'],
    [401, 'BadJwtSignature', 'credential_invalid'],
    [400, 'UserNotAuthorized', 'user_not_authorized'],
    [400, 'MalformedCursor', 'malformed_cursor'],
    [400, 'SomethingNew', 'bad_request'],
    [403, 'Forbidden', 'not_authorized'],
    [501, 'MethodNotImplemented', 'not_supported'],
    [500, 'InternalServerError', 'unavailable'],
    [502, undefined, 'unavailable'],
  ])('%i %s -> %s', async (status, error, kind) => {
    host.route = () => ({ status, json: error === undefined ? undefined : { error, message: 'x' } })
    const err = await failure(client.getLatestCommit(host.origin, auth, { space: SPACE, repo: ALICE }))
    expect(err.kind).toBe(kind)
    expect(err.status).toBe(status)
    expect(err.method).toBe(SPACE_METHODS.getLatestCommit)
    expect(err.message).not.toContain(CREDENTIAL)
  })

  it('attributes auth failures on the exchange to the delegation token', async () => {
    host.route = () => ({ status: 401, json: { error: 'JwtExpired' } })
    const err = await failure(
      client.getSpaceCredential(host.origin, { space: SPACE, delegationToken: 'a.b.c', dpopKey }),
    )
    expect(err.kind).toBe('delegation_rejected')
    host.route = () => ({ status: 400, json: { error: 'AppNotAuthorized' } })
    const app = await failure(
      client.getSpaceCredential(host.origin, { space: SPACE, delegationToken: 'a.b.c', dpopKey }),
    )
    expect(app.kind).toBe('app_not_authorized')
  })

  it('passes rate limits through with Retry-After', async () => {
    host.route = () => ({
      status: 429,
      headers: { 'retry-after': '12' },
      json: { error: 'RateLimitExceeded' },
    })
    const err = await failure(client.listRepos(host.origin, auth, { space: SPACE }))
    expect(err.kind).toBe('rate_limited')
    expect(err.retryAfterMs).toBe(12_000)
    expect(err.retryable).toBe(true)
  })

  it.each([
    ['malformed JSON', { raw: '{"repos": [' }],
    ['a non-object', { json: [1, 2] }],
    [
      'a repo with a short hash',
      { json: { repos: [{ did: ALICE, rev: '3kbcq3p7ad422', hash: { $bytes: 'AAAA' } }] } },
    ],
    [
      'a repo whose did is not a DID',
      { json: { repos: [{ did: 'alice', rev: '3kbcq3p7ad422', hash: HASH }] } },
    ],
    ['an empty cursor', { json: { repos: [], cursor: '' } }],
  ])('rejects %s as bad_response', async (_name, reply) => {
    host.route = () => reply as Reply
    const err = await failure(client.listRepos(host.origin, auth, { space: SPACE }))
    expect(err.kind).toBe('bad_response')
  })
})

describe('listRepos paging', () => {
  const dids = Array.from({ length: 250 }, (_, i) => `did:plc:writer${String(i).padStart(18, '0')}`)

  function page(from: number, limit: number) {
    const repos = dids.slice(from, from + limit).map((did) => ({ did, rev: '3kbcq3p7ad422', hash: HASH }))
    return repos.length === limit ? { repos, cursor: repos[repos.length - 1]!.did } : { repos }
  }

  it('follows cursors until a short page', async () => {
    host.route = (req) => {
      const cursor = req.query.get('cursor')
      const limit = Number(req.query.get('limit'))
      return { json: page(cursor === null ? 0 : dids.indexOf(cursor) + 1, limit) }
    }
    const seen: string[] = []
    for await (const p of client.listReposPages(host.origin, auth, { space: SPACE, limit: 100 })) {
      seen.push(...p.repos.map((r) => r.did))
      expect(p.repos[0]?.hash).toEqual(new Uint8Array(32).fill(7))
    }
    expect(seen).toEqual(dids)
    expect(host.seen).toHaveLength(3)
  })

  it('stops on a short page even if the host sends a cursor', async () => {
    host.route = () => ({
      json: { repos: [{ did: ALICE, rev: '3kbcq3p7ad422', hash: HASH }], cursor: 'more' },
    })
    const pages = []
    for await (const p of client.listReposPages(host.origin, auth, { space: SPACE, limit: 10 })) pages.push(p)
    expect(pages).toHaveLength(1)
  })

  it('detects a cursor that does not advance', async () => {
    host.route = () => ({ json: { ...page(0, 2), cursor: 'stuck' } })
    const pages: ListReposPage[] = []
    const err = await failure(
      (async () => {
        for await (const p of client.listReposPages(host.origin, auth, { space: SPACE, limit: 2 }))
          pages.push(p)
      })(),
    )
    expect(err.kind).toBe('cursor_loop')
    expect(pages).toHaveLength(1)
    expect(host.seen).toHaveLength(2)
  })

  it('detects a cursor cycle', async () => {
    host.route = (req) => ({ json: { ...page(0, 2), cursor: req.query.get('cursor') === 'a' ? 'b' : 'a' } })
    const err = await failure(
      (async () => {
        for await (const _ of client.listReposPages(host.origin, auth, { space: SPACE, limit: 2 })) void _
      })(),
    )
    expect(err.kind).toBe('cursor_loop')
    expect(host.seen).toHaveLength(3)
  })

  it('stops after maxPages', async () => {
    host.route = (_req, n) => ({ json: { ...page(0, 2), cursor: `c${n}` } })
    const err = await failure(
      (async () => {
        for await (const _ of client.listReposPages(host.origin, auth, {
          space: SPACE,
          limit: 2,
          maxPages: 3,
        }))
          void _
      })(),
    )
    expect(err.kind).toBe('page_limit')
    expect(host.seen).toHaveLength(3)
  })
})

describe('listRepoOps', () => {
  const v = loadVector('listRepoOps')

  it('returns parsed ops and commit that reach the vector head', async () => {
    host.route = async (req) => {
      await checkCredentialRequest(req)
      return { json: v.response }
    }
    const page = await client.listRepoOps(host.origin, auth, {
      space: v.params.space,
      repo: v.params.author,
      since: '2222222222222',
      excludeValues: true,
    })
    expect(page.ops).toEqual(v.response.ops.map(parseRepoOp))
    expect(page.commit?.rev).toBe(v.response.commit.rev)
    const applier = new RepoOpsApplier(undefined, undefined)
    applier.apply(page.ops)
    expect(toHex(applier.digest())).toBe(v.finalDigest)
    expect(host.seen[0]!.query.get('since')).toBe('2222222222222')
    expect(host.seen[0]!.query.get('excludeValues')).toBe('true')
  })

  it('pages with a fixed since and the host cursor until a short page', async () => {
    const ops = v.response.ops as unknown[]
    host.route = (req) => {
      const start = req.query.get('cursor') === null ? 0 : Number(req.query.get('cursor')!.split('/')[1])
      const slice = ops.slice(start, start + 2)
      return slice.length === 2 && start + 2 < ops.length
        ? { json: { ops: slice, cursor: `rev/${start + 2}` } }
        : { json: { ops: slice, commit: v.response.commit } }
    }
    const pages = []
    for await (const p of client.listRepoOpsPages(host.origin, auth, {
      space: v.params.space,
      repo: v.params.author,
      since: '2222222222222',
      limit: 2,
    })) {
      pages.push(p)
    }
    expect(pages.flatMap((p) => p.ops)).toHaveLength(ops.length)
    expect(pages.at(-1)?.commit).toBeDefined()
    expect(host.seen.map((s) => s.query.get('since'))).toEqual(host.seen.map(() => '2222222222222'))
    expect(host.seen.map((s) => s.query.get('cursor'))).toEqual([null, 'rev/2', 'rev/4'])
  })

  it('rejects a cursor echoed back unchanged', async () => {
    host.route = (req) => ({ json: { ops: [], cursor: req.query.get('cursor') } })
    const err = await failure(
      client.listRepoOps(host.origin, auth, { space: v.params.space, repo: v.params.author, cursor: 'x/1' }),
    )
    expect(err.kind).toBe('cursor_loop')
  })

  it('rejects malformed ops and commits as bad_response', async () => {
    host.route = () => ({
      json: { ops: [{ rev: 'x', collection: 'nope', rkey: 'a', cid: null, prev: null }] },
    })
    const ops = await failure(client.listRepoOps(host.origin, auth, { space: SPACE, repo: ALICE }))
    expect(ops.kind).toBe('bad_response')
    host.route = () => ({ json: { ops: [], commit: { ...v.response.commit, ver: 'one' } } })
    const commit = await failure(client.listRepoOps(host.origin, auth, { space: SPACE, repo: ALICE }))
    expect(commit.kind).toBe('bad_response')
  })
})

describe('getRepo', () => {
  const car = loadVector('repo-car').positive[0]

  it('streams a CAR that openRepoCar verifies', async () => {
    host.route = async (req) => {
      await checkCredentialRequest(req)
      return { headers: { 'content-type': 'application/vnd.ipld.car' }, raw: fromHex(car.carHex) }
    }
    const body = await client.getRepo(host.origin, auth, { space: car.params.space, repo: car.params.author })
    const repo = await openRepoCar(body, car.params)
    let n = 0
    for await (const _ of repo.records()) n++
    expect(repo.head.rev).toBe(car.expected.rev)
    expect(n).toBe(repo.head.entries.length)
    expect(host.seen[0]!.headers.accept).toBe('application/vnd.ipld.car')
    expect(host.seen[0]!.query.get('excludeValues')).toBeNull()
  })

  it('refuses a body that is not a CAR', async () => {
    host.route = () => ({ json: { not: 'a car' } })
    const err = await failure(client.getRepo(host.origin, auth, { space: SPACE, repo: ALICE }))
    expect(err.kind).toBe('bad_response')
  })

  it('refuses a declared CAR length above the cap before reading', async () => {
    const small = new SpaceClient({ http: httpClient, carMaxBytes: 100 })
    host.route = () => ({
      headers: { 'content-type': 'application/vnd.ipld.car', 'content-length': '5000' },
      raw: new Uint8Array(5000),
    })
    await expect(small.getRepo(host.origin, auth, { space: SPACE, repo: ALICE })).rejects.toMatchObject({
      kind: 'bad_response',
      cause: { class: 'too_large' },
    })
  })

  it('cuts a streamed CAR at the cap; the transport error reaches the CAR reader unchanged', async () => {
    const small = new SpaceClient({ http: httpClient, carMaxBytes: 1000 })
    const bytes = fromHex(car.carHex)
    host.route = () => ({
      headers: { 'content-type': 'application/vnd.ipld.car' },
      chunks: [bytes.subarray(0, 600), bytes.subarray(600), new Uint8Array(2000)],
    })
    const body = await small.getRepo(host.origin, auth, { space: car.params.space, repo: car.params.author })
    await expect(
      (async () => {
        const repo = await openRepoCar(body, car.params)
        for await (const _ of repo.records()) void _
      })(),
    ).rejects.toMatchObject({ name: 'HostError', class: 'too_large' })
  })
})

describe('point reads and notifications', () => {
  const CID = 'bafyreidefdycgbfy3oglcb6ism3eqhyp5llsrpzxjsuac2gsy4mtrtx244'

  it('getRecord checks that the URI names the requested record', async () => {
    const uri = `${SPACE}/${ALICE}/com.example.post/3kbcq3p7ad400`
    host.route = () => ({ json: { uri, cid: CID, value: { text: 'hello' } } })
    const args = { space: SPACE, repo: ALICE, collection: 'com.example.post', rkey: '3kbcq3p7ad400' }
    await expect(client.getRecord(host.origin, auth, args)).resolves.toEqual({
      uri,
      cid: CID,
      value: { text: 'hello' },
    })
    const err = await failure(client.getRecord(host.origin, auth, { ...args, rkey: 'other' }))
    expect(err.kind).toBe('bad_response')
    host.route = () => ({ status: 400, json: { error: 'RecordNotFound' } })
    expect((await failure(client.getRecord(host.origin, auth, args))).kind).toBe('record_not_found')
  })

  it('listRecords validates entries', async () => {
    host.route = () => ({
      json: { records: [{ collection: 'com.example.post', rkey: 'a', cid: CID }], cursor: 'at://x' },
    })
    const page = await client.listRecords(host.origin, auth, {
      space: SPACE,
      repo: ALICE,
      excludeValues: true,
    })
    expect(page).toEqual({
      records: [{ collection: 'com.example.post', rkey: 'a', cid: CID }],
      cursor: 'at://x',
    })
    host.route = () => ({
      json: { records: [{ collection: 'com.example.post', rkey: 'a', cid: 'bafkqaaa' }] },
    })
    expect((await failure(client.listRecords(host.origin, auth, { space: SPACE, repo: ALICE }))).kind).toBe(
      'bad_response',
    )
  })

  it('registerNotify returns the expiry; unregisterNotify posts and ignores the body', async () => {
    host.route = async (req) => {
      await checkCredentialRequest(req)
      return req.path.endsWith('registerNotify') && !req.path.endsWith('unregisterNotify')
        ? { json: { expiresAt: '2030-01-02T03:04:05.000Z' } }
        : { raw: '' }
    }
    const service = 'did:web:syncer.example.com#atproto_space_syncer'
    const out = await client.registerNotify(host.origin, auth, { space: SPACE, service })
    expect(out.expiresAt.toISOString()).toBe('2030-01-02T03:04:05.000Z')
    await client.unregisterNotify(host.origin, auth, { space: SPACE, service })
    expect(host.seen.map((s) => [s.method, JSON.parse(s.body)])).toEqual([
      ['POST', { space: SPACE, service }],
      ['POST', { space: SPACE, service }],
    ])
    host.route = () => ({ status: 400, json: { error: 'ServiceNotResolvable' } })
    expect((await failure(client.registerNotify(host.origin, auth, { space: SPACE, service }))).kind).toBe(
      'service_not_resolvable',
    )
  })

  it('getSpace parses the policy unions', async () => {
    host.route = () => ({
      json: {
        uri: SPACE,
        policy: {
          $type: 'com.atproto.simplespace.defs#managingAppPolicy',
          managingApp: 'did:web:app.example#forum',
        },
        appAccess: {
          $type: 'com.atproto.simplespace.defs#allowList',
          allowed: ['https://app.example/client.json'],
        },
      },
    })
    await expect(client.getSpace(host.origin, auth, { space: SPACE })).resolves.toEqual({
      uri: SPACE,
      policy: { kind: 'managingApp', managingApp: 'did:web:app.example#forum' },
      appAccess: { kind: 'allowList', allowed: ['https://app.example/client.json'] },
    })
    host.route = () => ({ json: { uri: `${SPACE}x`, policy: {}, appAccess: {} } })
    expect((await failure(client.getSpace(host.origin, auth, { space: SPACE }))).kind).toBe('bad_response')
  })
})
