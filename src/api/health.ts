/**
 * `GET /xrpc/_health`: liveness and readiness for load balancers. 200 when Redis (replay store, admissions,
 * memberships) and the store answer within the budget, 503 otherwise.
 *
 * Invariant: the body names components and their state only — no URIs, DIDs, counts or error text.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Redis } from 'ioredis'
import type { SpaceViewReader } from './space-view-reader.js'

export const HEALTH_PATH = '/xrpc/_health'
const BUDGET_MS = 2_000
/** A well-formed space ref nothing is stored under: reading it exercises the store without touching data. */
const PROBE_SPACE = 'at://did:web:health.invalid/space/dev.spaceview.health/probe'

async function within(check: () => Promise<unknown>): Promise<'ok' | 'unavailable'> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timeout')), BUDGET_MS)
  })
  try {
    await Promise.race([check(), timeout])
    return 'ok'
  } catch {
    return 'unavailable'
  } finally {
    clearTimeout(timer)
  }
}

export function healthHandler(deps: {
  redis: Redis
  reader: Pick<SpaceViewReader, 'getSpace'>
  version: string
}) {
  return async (_req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const [redis, store] = await Promise.all([
      within(() => deps.redis.ping()),
      within(() => deps.reader.getSpace(PROBE_SPACE)),
    ])
    const ok = redis === 'ok' && store === 'ok'
    const body = JSON.stringify({ version: deps.version, redis, store })
    res.writeHead(ok ? 200 : 503, {
      'content-type': 'application/json; charset=utf-8',
      'cache-control': 'no-store',
    })
    res.end(body)
  }
}
