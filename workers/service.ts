/**
 * Composes a spaceview process from configuration. Every entry point (npm start, `spaceview api`,
 * `spaceview worker`) is this with different roles:
 *
 *   api      the XRPC API behind the ACL, the notifyWrite/notifySpaceDeleted receivers, the admin ways to
 *            authorise a space (handed delegation tokens, OAuth login start + callback), /metrics, and —
 *            with the embedded store — the store owner that worker processes write through
 *   crawler  BullMQ workers for the given queues (all by default)
 *
 * Store: with CLICKHOUSE_URL every process opens the ClickHouse server itself; with the embedded engine
 * (chdb, one process per data directory) the api process owns it and crawler-only processes use the
 * store RPC. Data flows one way: crawler → verify → merge → store ← api ← acl-filter.
 */
import { Redis } from 'ioredis'
import pino, { type Logger } from 'pino'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Config } from '../src/config.js'
import { MergeStore } from '../src/merge/store.js'
import { mergeConfigFromEnv } from '../src/merge/config.js'
import { RemoteStore, STORE_RPC_PATH, storeRpcHandler, storeRpcToken } from '../src/merge/store-rpc.js'
import type { SyncStore } from '../src/merge/sync-store.js'
import { metrics } from '../src/metrics/metrics.js'
import { mergeObserver } from '../src/metrics/merge-observer.js'
import { createMetricsServer, type MetricsServer } from '../src/metrics/server.js'
import { collectQueueMetrics } from '../src/metrics/queue-metrics.js'
import { buildSyncContext, type BuiltContext } from '../src/crawler/build-context.js'
import { Crawler } from '../src/crawler/crawler.js'
import type { QueueName } from '../src/crawler/queues.js'
import { handleNotification, NOTIFY_SPACE_DELETED, NOTIFY_WRITE } from '../src/crawler/notify-receiver.js'
import { VerifiedTokens } from '../src/crawler/verified-tokens.js'
import { startAccountEvents } from '../src/crawler/account-events.js'
import { guardedFetch } from '../src/identity/guarded-fetch.js'
import { spacesOfAuthor } from '../src/crawler/space-sweep.js'
import { startApiServer, type ApiServer } from '../src/api/server.js'
import { identityKeyResolver } from '../src/acl-filter/key-resolver.js'
import { NSID } from '../src/api/lexicons.js'
import { putDelegationMethod } from '../src/api/methods/put-delegation.js'
import { oauthCallbackHandler, startOAuthLoginMethod } from '../src/api/methods/start-oauth-login.js'
import { OAUTH_CALLBACK_PATH } from '../src/crawler/oauth-sessions.js'
import { acceptHandedDelegation } from '../src/crawler/handed-delegation.js'
import { applyHeapGrowth } from './heap-growth.js'

export interface ServiceOptions {
  api: boolean
  /** Queues to work on; [] runs no workers (the process may still enqueue). */
  queues: QueueName[]
  logger?: Logger
  /** Skip the metrics server (tests, or a second process on one machine). */
  metrics?: boolean
}

export interface Service {
  config: Config
  ctx: BuiltContext
  crawler: Crawler
  api?: ApiServer
  store: SyncStore
  mergeStore?: MergeStore
  metricsServer?: MetricsServer
  close(): Promise<void>
}

async function readBody(req: IncomingMessage, limit: number): Promise<Uint8Array> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > limit) break
    chunks.push(chunk)
  }
  return Buffer.concat(chunks)
}

export async function startService(config: Config, opts: ServiceOptions): Promise<Service> {
  applyHeapGrowth(config.heapGrowingPercent)
  const logger = opts.logger ?? pino({ level: config.logLevel })
  const redis = new Redis(config.redisUrl, { maxRetriesPerRequest: null })
  const ownsStore = opts.api || config.clickhouseUrl !== ''
  const mergeStore = ownsStore
    ? await MergeStore.open(mergeConfigFromEnv({ ...process.env, SPACEVIEW_DATA_DIR: config.dataDir }), {
        logger,
        observer: mergeObserver(metrics),
      })
    : undefined
  const store: SyncStore = mergeStore ?? new RemoteStore(config.storeUrl, storeRpcToken(config.secretsKeyHex))
  const serviceId = config.serviceDid ? `${config.serviceDid}#${config.serviceFragment}` : ''
  const ctx = buildSyncContext({ config, store, redis, logger, metrics, serviceId })
  const crawler = new Crawler(ctx, redis, {
    work: opts.queues,
    concurrency: config.workerConcurrency,
    queueConcurrency: { 'repo-sync': config.syncConcurrency },
    attempts: config.jobAttempts,
    sweepIntervalSec: config.sweepIntervalSec,
    notifyRenewSec: config.notifyRenewSec,
  })
  if (opts.queues.length) crawler.start()

  let api: ApiServer | undefined
  if (opts.api && mergeStore) {
    api = await startApiServer({
      config,
      store: mergeStore,
      identity: ctx.identity,
      redis,
      logger,
      adminToken: config.adminToken,
    })
    const resolveKey = identityKeyResolver(ctx.identity)
    const notifyDeps = {
      serviceId,
      resolveKey,
      verifiedTokens: new VerifiedTokens(),
      store: mergeStore,
      metrics,
      isSynced: (space: string) => ctx.sessions.hasSpace(space),
      enqueueSync: (space: string, repo: string, hintAt: number) => crawler.hint(space, repo, hintAt),
      spaceDeleted: async (space: string) => {
        await crawler.spaceDeleted(space)
        await api?.acl.invalidate(space)
        await api?.membership.clear(space)
      },
    }
    for (const nsid of [NOTIFY_WRITE, NOTIFY_SPACE_DELETED]) {
      // Once per write across the network: answered ahead of the XRPC server's express stack.
      api.route('POST', `/xrpc/${nsid}`, (req: IncomingMessage, res: ServerResponse) => {
        void (async () => {
          const reply = await handleNotification(
            notifyDeps,
            nsid,
            req.headers.authorization,
            await readBody(req, 64 * 1024),
          )
          res.writeHead(reply.status, { 'content-type': 'application/json' })
          res.end(JSON.stringify(reply.body))
        })().catch((err) => {
          logger.error({ err: (err as Error).message }, 'notification handling failed')
          if (!res.headersSent) res.writeHead(500).end()
        })
      })
    }
    const addSpace = (s: string) => crawler.addSpace(s)
    const handedDeps = { creds: ctx.creds, sessions: ctx.sessions, addSpace }
    api.xrpc.method(
      NSID.putDelegation,
      putDelegationMethod({
        adminToken: config.adminToken,
        logger,
        accept: (handed) => acceptHandedDelegation(handedDeps, handed),
      }),
    )
    api.xrpc.method(
      NSID.startOAuthLogin,
      startOAuthLoginMethod({ adminToken: config.adminToken, oauth: ctx.oauth }),
    )
    api.xrpc.routes.get(OAUTH_CALLBACK_PATH, oauthCallbackHandler({ oauth: ctx.oauth, addSpace, logger }))
    if (config.secretsKeyHex) {
      const handler = storeRpcHandler(mergeStore, storeRpcToken(config.secretsKeyHex))
      api.xrpc.routes.post(
        `${STORE_RPC_PATH}:method`,
        (req: IncomingMessage, res: ServerResponse) => void handler(req, res),
      )
    }
  }

  let stopEvents: (() => Promise<void>) | undefined
  if (config.firehoseUrls.length && opts.queues.length) {
    const deps = {
      store,
      logger,
      refreshIdentity: async (did: string) => void (await ctx.identity.refresh(did)),
      spacesOf: (did: string) => spacesOfAuthor(ctx, did),
      enqueueSync: (space: string, repo: string) => crawler.enqueueSync(space, repo, 'account'),
    }
    // #identity events are resolved through our guarded client (the endpoint policy of every resolution).
    stopEvents = startAccountEvents(deps, config.firehoseUrls, config.plcUrl, guardedFetch(ctx.http))
  }

  const metricsServer =
    opts.metrics === false
      ? undefined
      : await createMetricsServer(config.metricsPort, {
          beforeScrape: () => collectQueueMetrics(Object.values(crawler.queues)),
          onError: (err) => logger.warn({ err: (err as Error).message }, 'metrics collection failed'),
        })

  return {
    config,
    ctx,
    crawler,
    ...(api ? { api } : {}),
    store,
    ...(mergeStore ? { mergeStore } : {}),
    ...(metricsServer ? { metricsServer } : {}),
    async close() {
      await stopEvents?.()
      await crawler.close()
      await api?.close()
      await metricsServer?.close()
      await mergeStore?.close()
      redis.disconnect()
    },
  }
}
