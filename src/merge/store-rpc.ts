/**
 * The merge store over loopback HTTP, for crawler processes that cannot open the store themselves.
 *
 * The embedded engine (chdb) lets one process hold a data directory, so with the embedded default the
 * API process owns the store and worker processes write through it: `storeRpcHandler` serves the
 * crawler's store calls (SyncStore) on POST /internal/store/<method>, and `RemoteStore` is the client.
 * With a ClickHouse server every process opens the store directly and this is not used.
 *
 * Invariants: only the methods of SyncStore are exposed; every call carries a bearer token derived from
 * the deployment's secrets key (compared in constant time); bytes travel as {"$b64": ...} so LtHash
 * states and commit hashes arrive bit-exact; a failed call is an error on the client, never a silent
 * success, so a worker's job retries rather than losing a write.
 */
import { createHmac, timingSafeEqual } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { SyncStore } from './sync-store.js'

export const STORE_RPC_PATH = '/internal/store/'
const MAX_BODY = 256 * 1024 * 1024
const METHODS = [
  'getRepoState',
  'applyRepoUpdate',
  'replaceRepo',
  'setRepoStatus',
  'setAccountStatus',
  'upsertSpace',
  'getSpace',
  'deleteSpace',
  'setAccessSnapshot',
] as const satisfies readonly (keyof SyncStore)[]
type Method = (typeof METHODS)[number]

/** The bearer token for store calls, derived from the secrets key so no extra secret is configured. */
export function storeRpcToken(secretsKeyHex: string): string {
  return createHmac('sha256', Buffer.from(secretsKeyHex, 'hex')).update('spaceview store rpc').digest('hex')
}

function encode(value: unknown): unknown {
  if (value instanceof Uint8Array) return { $b64: Buffer.from(value).toString('base64') }
  if (value instanceof Date) return { $date: value.toISOString() }
  if (Array.isArray(value)) return value.map(encode)
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, encode(v)]))
  }
  return value
}

function decode(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(decode)
  if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>
    if (typeof o.$b64 === 'string' && Object.keys(o).length === 1)
      return new Uint8Array(Buffer.from(o.$b64, 'base64'))
    if (typeof o.$date === 'string' && Object.keys(o).length === 1) return new Date(o.$date)
    return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, decode(v)]))
  }
  return value
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > MAX_BODY) throw new Error('store call body too large')
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8')
}

/** Handler for POST /internal/store/<method> (mount on the process that owns the store). */
export function storeRpcHandler(store: SyncStore, token: string) {
  const expected = Buffer.from(`Bearer ${token}`)
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' })
      res.end(JSON.stringify(body))
    }
    const auth = Buffer.from(req.headers.authorization ?? '')
    if (auth.length !== expected.length || !timingSafeEqual(auth, expected))
      return reply(401, { error: 'AuthRequired' })
    const method = (req.url ?? '').split('?')[0]!.slice(STORE_RPC_PATH.length) as Method
    if (req.method !== 'POST' || !METHODS.includes(method)) return reply(404, { error: 'MethodNotFound' })
    try {
      const args = decode(JSON.parse(await readBody(req))) as unknown[]
      const fn = store[method] as (...a: unknown[]) => Promise<unknown>
      const out = await fn.apply(store, args)
      reply(200, { result: encode(out ?? null) })
    } catch (err) {
      reply(500, { error: 'StoreError', message: (err as Error).message })
    }
  }
}

/** SyncStore over loopback HTTP to the process that owns the store. */
export class RemoteStore implements SyncStore {
  constructor(
    private readonly baseUrl: string,
    private readonly token: string,
  ) {}

  private async call<T>(method: Method, args: unknown[]): Promise<T> {
    const res = await fetch(new URL(`${STORE_RPC_PATH}${method}`, this.baseUrl), {
      method: 'POST',
      headers: { authorization: `Bearer ${this.token}`, 'content-type': 'application/json' },
      body: JSON.stringify(encode(args)),
    })
    const body = (await res.json()) as { result?: unknown; message?: string; error?: string }
    if (!res.ok)
      throw new Error(`store ${method} failed (${res.status}): ${body.message ?? body.error ?? 'no detail'}`)
    return decode(body.result) as T
  }

  getRepoState: SyncStore['getRepoState'] = (...a) => this.call('getRepoState', a)
  applyRepoUpdate: SyncStore['applyRepoUpdate'] = (...a) => this.call('applyRepoUpdate', a)
  replaceRepo: SyncStore['replaceRepo'] = (...a) => this.call('replaceRepo', a)
  setRepoStatus: SyncStore['setRepoStatus'] = (...a) => this.call('setRepoStatus', a)
  setAccountStatus: SyncStore['setAccountStatus'] = (...a) => this.call('setAccountStatus', a)
  upsertSpace: SyncStore['upsertSpace'] = (...a) => this.call('upsertSpace', a)
  getSpace: SyncStore['getSpace'] = (...a) => this.call('getSpace', a)
  deleteSpace: SyncStore['deleteSpace'] = (...a) => this.call('deleteSpace', a)
  setAccessSnapshot: SyncStore['setAccessSnapshot'] = (...a) => this.call('setAccessSnapshot', a)
}
