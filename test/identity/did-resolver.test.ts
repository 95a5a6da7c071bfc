/**
 * IdentityResolver against a local PLC directory and a local did:web host (both on 127.0.0.1).
 */
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { Secp256k1Keypair } from '@atproto/crypto'
import { HttpClient } from '../../src/crawler/http-client.js'
import { IdentityResolver } from '../../src/identity/did-resolver.js'
import { DEVNET_ENDPOINTS, PUBLIC_ENDPOINTS, type LookupAll } from '../../src/identity/endpoint-guard.js'
import { IdentityError } from '../../src/identity/identity-error.js'

const DID = 'did:plc:ewvi7nxzyoun6zhxrhs64oiz'

interface Reply {
  status: number
  body: string
  delayMs?: number
}

interface Directory {
  origin: string
  port: number
  hits: string[]
  reply: (path: string) => Reply
  close(): Promise<void>
}

async function directory(): Promise<Directory> {
  const dir: Directory = {
    origin: '',
    port: 0,
    hits: [],
    reply: () => ({ status: 404, body: '' }),
    close: async () => {},
  }
  const server = http.createServer((req, res) => {
    const path = decodeURIComponent(req.url ?? '')
    dir.hits.push(path)
    const r = dir.reply(path)
    setTimeout(() => {
      res.writeHead(r.status, { 'content-type': 'application/json' })
      res.end(r.body)
    }, r.delayMs ?? 0)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  dir.port = (server.address() as AddressInfo).port
  dir.origin = `http://127.0.0.1:${dir.port}`
  dir.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    })
  return dir
}

async function docFor(did: string, pds = 'https://pds.example.com') {
  const key = await Secp256k1Keypair.create()
  const doc = {
    id: did,
    verificationMethod: [
      { id: `${did}#atproto`, type: 'Multikey', controller: did, publicKeyMultibase: key.did().slice(8) },
    ],
    service: [{ id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: pds }],
  }
  return { doc, didKey: key.did() }
}

const loopbackLookup: LookupAll = async (host) => {
  if (host === 'localhost') return [{ address: '127.0.0.1', family: 4 }]
  if (host === 'lan.test') return [{ address: '10.0.0.1', family: 4 }]
  throw Object.assign(new Error('no such host'), { code: 'ENOTFOUND' })
}

let dir: Directory
let httpClient: HttpClient

beforeEach(async () => {
  dir = await directory()
  httpClient = new HttpClient({ policy: DEVNET_ENDPOINTS, lookup: loopbackLookup })
})

afterEach(async () => {
  httpClient.close()
  await dir.close()
})

function resolver(
  opts: { minRefreshIntervalMs?: number; http?: HttpClient; cacheEntries?: number } = {},
): IdentityResolver {
  return new IdentityResolver({ http: opts.http ?? httpClient, plcUrl: dir.origin, timeoutMs: 2000, ...opts })
}

async function reason(p: Promise<unknown>): Promise<string> {
  try {
    await p
  } catch (err) {
    if (err instanceof IdentityError) return err.reason
    throw err
  }
  return 'ok'
}

describe('IdentityResolver: did:plc', () => {
  it('keeps at most cacheEntries documents, dropping the least recently used', async () => {
    const dids = [
      'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa',
      'did:plc:bbbbbbbbbbbbbbbbbbbbbbbb',
      'did:plc:cccccccccccccccccccccccc',
    ]
    const docs = new Map<string, unknown>()
    for (const d of dids) docs.set(`/${d}`, (await docFor(d)).doc)
    dir.reply = (path) => ({ status: 200, body: JSON.stringify(docs.get(path)) })
    const r = resolver({ cacheEntries: 2 })
    await r.resolve(dids[0]!)
    await r.resolve(dids[1]!)
    await r.resolve(dids[0]!) // a is now the most recently used
    expect(dir.hits).toHaveLength(2)
    await r.resolve(dids[2]!) // evicts b, keeps a
    await r.resolve(dids[0]!)
    expect(dir.hits).toHaveLength(3)
    await r.resolve(dids[1]!)
    expect(dir.hits.map((h) => h.slice(1))).toEqual([dids[0], dids[1], dids[2], dids[1]])
  })

  it('resolves, caches, and refreshes after a key rotation', async () => {
    const first = await docFor(DID)
    dir.reply = () => ({ status: 200, body: JSON.stringify(first.doc) })
    const r = resolver({ minRefreshIntervalMs: 0 })
    const view = await r.resolve(DID)
    expect(view.signingKey()).toBe(first.didKey)
    expect(view.pdsEndpoint()).toBe('https://pds.example.com')
    await r.resolve(DID)
    expect(dir.hits).toEqual([`/${DID}`])

    const rotated = await docFor(DID)
    dir.reply = () => ({ status: 200, body: JSON.stringify(rotated.doc) })
    expect((await r.resolve(DID)).signingKey()).toBe(first.didKey)
    expect((await r.refresh(DID)).signingKey()).toBe(rotated.didKey)
    expect(dir.hits).toHaveLength(2)
    // The refresh updated the cache.
    expect((await r.resolve(DID)).signingKey()).toBe(rotated.didKey)
    expect(dir.hits).toHaveLength(2)
  })

  it('does not refetch on a refresh right after a fetch', async () => {
    const { doc } = await docFor(DID)
    dir.reply = () => ({ status: 200, body: JSON.stringify(doc) })
    const r = resolver({ minRefreshIntervalMs: 60_000 })
    await r.resolve(DID)
    await r.refresh(DID)
    expect(dir.hits).toHaveLength(1)
  })

  it('shares one lookup between concurrent callers', async () => {
    const { doc } = await docFor(DID)
    dir.reply = () => ({ status: 200, body: JSON.stringify(doc), delayMs: 50 })
    const r = resolver()
    await Promise.all([r.resolve(DID), r.resolve(DID), r.resolve(DID)])
    expect(dir.hits).toHaveLength(1)
  })

  it.each([
    [{ status: 404, body: '' }, 'did_not_found'],
    [{ status: 410, body: '{"message":"DID not available"}' }, 'did_not_found'],
    [{ status: 500, body: '' }, 'unreachable'],
    [{ status: 503, body: '' }, 'unreachable'],
    [{ status: 200, body: '{"id": ' }, 'malformed_document'],
    [{ status: 200, body: '{"id":"did:plc:someoneelse"}' }, 'malformed_document'],
    [{ status: 200, body: '[]' }, 'malformed_document'],
  ])('maps %j to %s', async (reply, expected) => {
    dir.reply = () => reply
    expect(await reason(resolver().resolve(DID))).toBe(expected)
  })

  it('marks only unreachable as retryable', async () => {
    dir.reply = () => ({ status: 502, body: '' })
    const err = await resolver()
      .resolve(DID)
      .catch((e: unknown) => e)
    expect(err).toBeInstanceOf(IdentityError)
    expect((err as IdentityError).retryable).toBe(true)
  })

  it('refuses DIDs it cannot or must not resolve', async () => {
    expect(await reason(resolver().resolve('not-a-did'))).toBe('invalid_did')
    expect(
      await reason(resolver().resolve('did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme')),
    ).toBe('unsupported_did_method')
    expect(dir.hits).toHaveLength(0)
  })

  it('refuses a PLC directory on loopback under the public policy, without contacting it', async () => {
    const strict = new HttpClient({ policy: PUBLIC_ENDPOINTS })
    try {
      expect(await reason(resolver({ http: strict }).resolve(DID))).toBe('bad_endpoint')
      expect(dir.hits).toHaveLength(0)
    } finally {
      strict.close()
    }
  })
})

describe('IdentityResolver: did:web', () => {
  it('resolves did:web:localhost%3Aport on a devnet', async () => {
    const did = `did:web:localhost%3A${dir.port}`
    const { doc, didKey } = await docFor(did, `http://localhost:${dir.port}`)
    dir.reply = (path) =>
      path === '/.well-known/did.json'
        ? { status: 200, body: JSON.stringify(doc) }
        : { status: 404, body: '' }
    const view = await resolver().resolve(did)
    expect(view.signingKey()).toBe(didKey)
    expect(view.pdsEndpoint()).toBe(`http://localhost:${dir.port}`)
  })

  it('reports a did:web host that is down as unreachable, not as a missing DID', async () => {
    const did = `did:web:localhost%3A${dir.port}`
    dir.reply = () => ({ status: 503, body: '' })
    expect(await reason(resolver().resolve(did))).toBe('unreachable')
  })

  it('refuses did:web hosts on non-public addresses under the public policy', async () => {
    const strict = new HttpClient({ policy: PUBLIC_ENDPOINTS, lookup: loopbackLookup })
    try {
      expect(await reason(resolver({ http: strict }).resolve(`did:web:localhost%3A${dir.port}`))).toBe(
        'bad_endpoint',
      )
      expect(await reason(resolver({ http: strict }).resolve('did:web:lan.test'))).toBe('bad_endpoint')
      expect(dir.hits).toHaveLength(0)
    } finally {
      strict.close()
    }
  })
})
