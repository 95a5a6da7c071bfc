// The lean query lane (src/api/lean-queries.ts) from the caller's side: for every request an attacker can
// shape — missing, malformed, repeated and unknown parameters, bad or missing auth, HEAD — the lean answer
// must be byte-for-byte the @atproto/xrpc-server answer. The library's answer for the same method is reached
// with a trailing slash (`/xrpc/{nsid}/`), which the lean lane never takes and express routes like the bare
// path. Real HTTP, real Redis, the real MergeStore.
import { NSID } from '../../src/api/lexicons.js'
import type { Account } from '../../src/devnet/accounts.js'
import { PUBLIC_POLICY } from '../../src/devnet/space-config.js'
import { startHarness, type Harness } from './harness.js'

const POST = 'com.example.forum.post'

let h: Harness
let authority: Account, reader: Account
let open: string

beforeAll(async () => {
  h = await startHarness()
  authority = h.account('authority')
  reader = h.account('reader')
  open = await h.createSpace(authority, 'open', PUBLIC_POLICY)
  await h.writeRecords(
    open,
    authority,
    Array.from({ length: 3 }, (_, i) => ({
      collection: POST,
      rkey: `r${i}`,
      value: { $type: POST, text: `${i}` },
    })),
  )
}, 120_000)

afterAll(() => h?.close())

interface Answer {
  status: number
  text: string
  contentType: string | null
  contentLength: string | null
}

async function answer(path: string, init: RequestInit = {}): Promise<Answer> {
  const res = await fetch(`${h.api.url}${path}`, init)
  return {
    status: res.status,
    text: await res.text(),
    contentType: res.headers.get('content-type'),
    contentLength: res.headers.get('content-length'),
  }
}

/** The lean answer and the library's answer to the same query string and headers. */
async function bothLanes(
  nsid: string,
  query: string,
  init: (lane: 'lean' | 'xrpc') => RequestInit = () => ({}),
) {
  return {
    lean: await answer(`/xrpc/${nsid}?${query}`, init('lean')),
    xrpc: await answer(`/xrpc/${nsid}/?${query}`, init('xrpc')),
  }
}

describe('lean query lane answers exactly like the XRPC server', () => {
  it('refuses malformed parameters with the same 400s, before authentication', async () => {
    const space = encodeURIComponent(open)
    for (const query of [
      '',
      `space=${space}&limit=0`,
      `space=${space}&limit=abc`,
      `space=${space}&limit=101`,
      `space=${space}&collection=not%20an%20nsid`,
      `space=${space}&author=nobody`,
      `space=${space}&cursor=${'x'.repeat(3000)}`,
      `space=${space}&__proto__=1`,
      `space=${space}&%5F%5Fproto%5F%5F=1`,
    ]) {
      const { lean, xrpc } = await bothLanes(NSID.listRecords, query)
      expect(lean.status).toBe(400)
      expect(lean).toEqual(xrpc)
    }
    const { lean, xrpc } = await bothLanes(NSID.getRecord, 'uri=')
    expect(lean.status).toBe(400)
    expect(lean).toEqual(xrpc)
  })

  it('decodes repeated, unknown and boolean parameters the same way, then asks for authentication', async () => {
    const space = encodeURIComponent(open)
    for (const query of [
      `space=${space}`,
      `space=${space}&limit=2&limit=3`,
      `space=${space}&unknown=1`,
      `space=${space}&reverse=yes`,
      `space=${space}&space=${space}`,
    ]) {
      const { lean, xrpc } = await bothLanes(NSID.listRecords, query)
      expect(lean).toEqual(xrpc)
    }
    const missing = await bothLanes(NSID.listRecords, `space=${space}`)
    expect(missing.lean.status).toBe(401)
  })

  it('refuses bad credentials with the same 401s', async () => {
    const query = `space=${encodeURIComponent(open)}`
    for (const authorization of ['Bearer garbage', 'Basic dXNlcjpwYXNz', 'DPoP x.y.z', 'Bearer']) {
      const { lean, xrpc } = await bothLanes(NSID.listRecords, query, () => ({ headers: { authorization } }))
      expect(lean.status).toBe(401)
      expect(lean).toEqual(xrpc)
    }
  })

  it('serves an admitted caller the same page, and HEAD the same headers without a body', async () => {
    const query = `space=${encodeURIComponent(open)}&limit=2`
    // Service-auth tokens are single-use: each lane gets its own.
    const tokens = {
      lean: await h.serviceAuth(reader, NSID.listRecords),
      xrpc: await h.serviceAuth(reader, NSID.listRecords),
    }
    const { lean, xrpc } = await bothLanes(NSID.listRecords, query, (lane) => ({
      headers: { authorization: `Bearer ${tokens[lane]}` },
    }))
    expect(lean.status).toBe(200)
    expect(lean).toEqual(xrpc)
    expect((JSON.parse(lean.text) as { records: unknown[] }).records).toHaveLength(2)

    const head = {
      lean: await answer(`/xrpc/${NSID.listRecords}?${query}`, { method: 'HEAD' }),
      xrpc: await answer(`/xrpc/${NSID.listRecords}/?${query}`, { method: 'HEAD' }),
    }
    expect(head.lean).toEqual(head.xrpc)
    expect(head.lean.text).toBe('')
  })

  it('leaves other HTTP methods to the XRPC server', async () => {
    const post = await answer(`/xrpc/${NSID.listRecords}?space=${encodeURIComponent(open)}`, {
      method: 'POST',
    })
    expect(post.status).toBe(400)
    expect(JSON.parse(post.text)).toEqual({
      error: 'InvalidRequest',
      message: 'Incorrect HTTP method (POST) expected GET',
    })
  })
})
