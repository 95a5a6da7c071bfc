/**
 * Shared helpers for the devnet tests: a lexicon validator over ../shared/spec/lexicons (read at test time,
 * never copied), XRPC calls with the three auth modes devnet accepts, and credential setup.
 *
 * The installed @atproto/lexicon predates permissioned data: it does not know the `space-ref` string
 * format and rejects 6-part space record URIs as `at-uri`. The validator therefore drops those two formats
 * from the schemas and checks the affected fields with the protocol parsers instead.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { jsonToLex, Lexicons, type LexiconDoc } from '@atproto/lexicon'
import { generateDpopKey, type DpopKey } from '../../src/protocol/dpop.js'
import { canonicalSpaceUri, parseSpaceRecordUri } from '../../src/protocol/space-uri.js'
import { credentialFetch } from '../../src/devnet/credential-client.js'
import type { Devnet } from '../../src/devnet/devnet.js'

export const LEXICON_DIR = resolve(
  process.env.SPACEVIEW_LEXICONS ?? join(process.cwd(), '..', 'shared', 'spec', 'lexicons'),
)

function stripFormats(
  node: unknown,
  found: { uri: Set<string>; spaceRef: Set<string> },
  path: string,
): unknown {
  if (Array.isArray(node)) return node.map((n, i) => stripFormats(n, found, `${path}/${i}`))
  if (node && typeof node === 'object') {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(node)) {
      if (k === 'format' && (v === 'at-uri' || v === 'space-ref')) {
        ;(v === 'at-uri' ? found.uri : found.spaceRef).add(path)
        continue
      }
      out[k] = stripFormats(v, found, `${path}/${k}`)
    }
    return out
  }
  return node
}

export function loadLexiconDocs(): LexiconDoc[] {
  const docs: LexiconDoc[] = []
  for (const ns of ['space', 'simplespace']) {
    const dir = join(LEXICON_DIR, 'com', 'atproto', ns)
    for (const file of readdirSync(dir).sort()) docs.push(JSON.parse(readFileSync(join(dir, file), 'utf8')))
  }
  return docs
}

const found = { uri: new Set<string>(), spaceRef: new Set<string>() }
export const lexicons = new Lexicons(loadLexiconDocs().map((d) => stripFormats(d, found, d.id) as LexiconDoc))

/** Walks output JSON and checks record URIs and space refs the stripped schemas no longer check. */
function checkUris(value: unknown, key = ''): void {
  if (Array.isArray(value)) return value.forEach((v) => checkUris(v, key))
  if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === 'value') continue // record content is opaque
      checkUris(v, k)
    }
    return
  }
  if (typeof value !== 'string') return
  if (key === 'uri' && value.split('/').length === 9) parseSpaceRecordUri(value)
  else if (key === 'uri' || key === 'space') expect(canonicalSpaceUri(value)).toBe(value)
}

/** Validates an XRPC JSON output against the upstream lexicon (plus the URI checks above). */
export function assertValidOutput(nsid: string, json: unknown): void {
  lexicons.assertValidXrpcOutput(nsid, jsonToLex(json as never))
  checkUris(json)
}

export function assertValidInput(nsid: string, json: unknown): void {
  lexicons.assertValidXrpcInput(nsid, jsonToLex(json as never))
}

export type Auth = { credential: string; dpopKey: DpopKey } | { bearer: string } | undefined

export interface CallResult {
  status: number
  body: any // eslint-disable-line @typescript-eslint/no-explicit-any
  headers: Headers
  bytes: Uint8Array
}

/** One XRPC call; never throws on an XRPC error (tests assert on status and body). */
export async function xrpc(
  host: string,
  nsid: string,
  opts: {
    params?: Record<string, string | number | boolean | undefined>
    body?: unknown
    auth?: Auth
    method?: 'GET' | 'POST'
  } = {},
): Promise<CallResult> {
  const method = opts.method ?? (opts.body !== undefined ? 'POST' : 'GET')
  const search = new URLSearchParams()
  for (const [k, v] of Object.entries(opts.params ?? {})) if (v !== undefined) search.set(k, String(v))
  const url = `${host}/xrpc/${nsid}${search.size ? `?${search}` : ''}`
  let res: Response
  if (opts.auth && 'credential' in opts.auth) {
    res = await credentialFetch(url, {
      ...opts.auth,
      method,
      ...(opts.body !== undefined ? { body: opts.body } : {}),
    })
  } else {
    const headers: Record<string, string> = {}
    if (opts.auth) headers['authorization'] = `Bearer ${opts.auth.bearer}`
    if (opts.body !== undefined) headers['content-type'] = 'application/json'
    res = await fetch(url, {
      method,
      headers,
      ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
    })
  }
  const bytes = new Uint8Array(await res.arrayBuffer())
  const type = res.headers.get('content-type') ?? ''
  const text = Buffer.from(bytes).toString('utf8')
  const body = type.startsWith('application/json') && text ? JSON.parse(text) : undefined
  return { status: res.status, body, headers: res.headers, bytes }
}

/** A credential for `space` obtained by the indexer through the HTTP flow, with its DPoP key. */
export async function credentialFor(
  devnet: Devnet,
  space: string,
): Promise<{ credential: string; dpopKey: DpopKey }> {
  const dpopKey = await generateDpopKey()
  const { credential } = await devnet.obtainCredential(space, dpopKey)
  return { credential, dpopKey }
}

/** Streams a response body as chunks (for openRepoCar). */
export async function* chunks(bytes: Uint8Array, size = 997): AsyncIterable<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size)
}

export interface ReceivedNotification {
  nsid: string
  body: any // eslint-disable-line @typescript-eslint/no-explicit-any
  iss?: string
  /** Why service-auth verification failed, if it did. */
  rejected?: string
}

export interface TestSyncer {
  did: string
  serviceId: string
  endpoint: string
  received: ReceivedNotification[]
  /** Resolves once at least `n` notifications arrived (or rejects after `ms`). */
  waitFor(n: number, ms?: number): Promise<void>
  close(): Promise<void>
}

/**
 * A notification receiver like a syncer's: a DID published in devnet's directory with an
 * #atproto_space_syncer service, verifying each inbound call's service auth (aud = its service id, lxm =
 * the method, signature by the issuer's #atproto key resolved through @atproto/identity with plcUrl).
 */
export async function startSyncer(devnet: Devnet): Promise<TestSyncer> {
  const { createServer } = await import('node:http')
  const { DidResolver } = await import('@atproto/identity')
  const { verifyServiceAuth } = await import('../../src/protocol/service-auth.js')
  const resolver = new DidResolver({ plcUrl: devnet.plcUrl, fetch: globalThis.fetch })
  const received: ReceivedNotification[] = []
  let serviceId = ''
  const server = createServer((req, res) => {
    const parts: Buffer[] = []
    req.on('data', (c: Buffer) => parts.push(c))
    req.on('end', async () => {
      const nsid = (req.url ?? '').replace(/^\/xrpc\//, '').split('?')[0] as string
      const entry: ReceivedNotification = { nsid, body: JSON.parse(Buffer.concat(parts).toString() || '{}') }
      try {
        const token = (req.headers['authorization'] ?? '').replace(/^Bearer /, '')
        const v = await verifyServiceAuth(token, {
          audience: serviceId,
          lxm: nsid,
          resolveKey: async (did, _keyId, force) => resolver.resolveAtprotoKey(did, force),
        })
        entry.iss = v.claims.iss
      } catch (err) {
        entry.rejected = (err as Error).message
      }
      received.push(entry)
      res.writeHead(entry.rejected ? 401 : 200)
      res.end()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
  const endpoint = `http://127.0.0.1:${(server.address() as import('node:net').AddressInfo).port}`
  const published = devnet.publishSyncer(endpoint)
  serviceId = published.serviceId
  return {
    did: published.did,
    serviceId,
    endpoint,
    received,
    async waitFor(n, ms = 5000) {
      const until = Date.now() + ms
      while (received.length < n) {
        if (Date.now() > until) throw new Error(`expected ${n} notifications, got ${received.length}`)
        await new Promise((r) => setTimeout(r, 10))
      }
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}
