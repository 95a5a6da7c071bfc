/**
 * The baseline's process: the sequential syncer (baseline-syncer.ts) with its own embedded merge store, its
 * own Redis database (sessions and credentials), a notifyWrite receiver and a plain `GET /listRecords`
 * (no authentication, no ACL: the straightforward read API) on a loopback port, driven by the orchestrator
 * over IPC. Kept apart from spaceview's process so neither one's memory, CPU or event loop
 * is charged to the other.
 *
 * Commands (child-ipc.ts): addSpaces, backfill, register, follow, stats, revs, countRecords, stop.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { recordView } from '../../src/api/views.js'
import { loadConfig } from '../../src/config.js'
import { buildSyncContext } from '../../src/crawler/build-context.js'
import { NOTIFY_WRITE } from '../../src/crawler/notify-receiver.js'
import type { MemberSession } from '../../src/crawler/session-store.js'
import { MergeStore } from '../../src/merge/store.js'
import { createMetrics } from '../../src/metrics/metrics.js'
import { BaselineSyncer, type BaselineCounters } from './baseline-syncer.js'
import { serveIpc } from './child-ipc.js'
import { ClickHouseTimer } from './clickhouse-timer.js'
import { VisibilityLog } from './visibility.js'
import { Vitals } from './vitals.js'

export interface BaselineStats {
  visibility: ReturnType<VisibilityLog['drain']>
  clickhouse: ReturnType<ClickHouseTimer['snapshot']>
  vitals: ReturnType<Vitals['snapshot']>
  counters: BaselineCounters
  backlog: number
}

async function main(): Promise<void> {
  const vitals = new Vitals('baseline')
  const logger = vitals.logger()
  const config = loadConfig()
  const store = await MergeStore.open(
    {
      clickhouse: { transport: 'embedded', path: join(config.dataDir, 'clickhouse'), database: 'baseline' },
      batch: { maxRows: 50_000, maxDelayMs: 1 },
      readStrategy: 'final',
    },
    { logger },
  )
  const timer = new ClickHouseTimer()
  timer.instrument(store.clickhouse)
  const redis = new Redis(config.redisUrl, { maxRetriesPerRequest: null })
  const ctx = buildSyncContext({ config, store, redis, logger, metrics: createMetrics(), serviceId: '' })
  const log = new VisibilityLog()
  const syncer = new BaselineSyncer(ctx, store, log)

  let notify: ((req: IncomingMessage, res: ServerResponse) => void) | undefined
  const server = createServer((req, res) => {
    if (req.method === 'POST' && req.url === `/xrpc/${NOTIFY_WRITE}` && notify) return notify(req, res)
    // The straightforward read API: the page straight from the store, no authentication, no ACL.
    if (req.method === 'GET' && req.url?.startsWith('/listRecords?')) {
      const url = new URL(req.url, 'http://localhost')
      store
        .listRecords({
          space: url.searchParams.get('space') ?? '',
          limit: Number(url.searchParams.get('limit') ?? 50),
        })
        .then((page) => {
          res.writeHead(200, { 'content-type': 'application/json' })
          res.end(JSON.stringify({ records: page.records.map(recordView), cursor: page.cursor }))
        })
        .catch((err: Error) => {
          res.writeHead(500, { 'content-type': 'application/json' })
          res.end(JSON.stringify({ error: err.message }))
        })
      return
    }
    res.writeHead(notify ? 404 : 503, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ error: notify ? 'NotFound' : 'NotReady' }))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))

  serveIpc(
    {
      async addSpaces(args) {
        const { spaces, session } = args as { spaces: string[]; session: MemberSession }
        await syncer.addSpaces(spaces, session)
        return spaces.length
      },
      async backfill(args) {
        const { spaces, deadline } = args as { spaces: string[]; deadline: number }
        return syncer.backfill(spaces, deadline)
      },
      async register(args) {
        const { spaces, serviceId } = args as { spaces: string[]; serviceId: string }
        notify = syncer.notifyHandler(serviceId)
        await syncer.register(spaces, serviceId)
        return true
      },
      follow(args) {
        syncer.follow((args as { mode: 'notify' | 'poll' }).mode)
        return true
      },
      async stopFollowing() {
        await syncer.stop()
        return true
      },
      stats(): BaselineStats {
        return {
          visibility: log.drain(),
          clickhouse: timer.snapshot(),
          vitals: vitals.snapshot(),
          counters: syncer.counters,
          backlog: syncer.backlog,
        }
      },
      revs(args) {
        return syncer.revs((args as { repos: Array<[string, string]> }).repos)
      },
      async countRecords(args) {
        const out: number[] = []
        for (const s of (args as { spaces: string[] }).spaces) out.push(await store.countRecords(s))
        return out
      },
      expect(args) {
        log.expect((args as { records: number }).records)
        return true
      },
      async stop() {
        setImmediate(() => {
          void (async () => {
            await syncer.stop()
            server.close()
            await store.close().catch(() => undefined)
            redis.disconnect()
            process.exit(0)
          })()
        })
        return true
      },
    },
    { notifyUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, pid: process.pid },
  )
}

main().catch((err: Error) => {
  process.stderr.write(`baseline process failed: ${err.stack ?? err.message}\n`)
  process.exit(1)
})
