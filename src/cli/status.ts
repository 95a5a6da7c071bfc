/**
 * `spaceview status`: per space — crawl status, writers, how many repos are synced / behind /
 * recovering / failed, the last error, and the lag (how far our verified rev trails the writer-set hint).
 * Reads Redis (statuses, writer hints, dead letters) and the store (repo states): directly with a
 * ClickHouse server, else through the running api process's store RPC.
 */
import { Redis } from 'ioredis'
import { loadConfig } from '../config.js'
import { MergeStore } from '../merge/store.js'
import { mergeConfigFromEnv } from '../merge/config.js'
import { RemoteStore, storeRpcToken } from '../merge/store-rpc.js'
import type { SyncStore } from '../merge/sync-store.js'
import { allSpaceStatuses } from '../crawler/space-status.js'
import { knownWriters } from '../crawler/space-sweep.js'
import { tidTimestampMs } from '../protocol/identifiers.js'
import { parseCommandArgs } from './args.js'

export const STATUS_HELP = `Usage: spaceview status [--json] [--space <uri>]

Shows, for every space spaceview syncs: its status (bootstrapping, active, needs_authorization, failed,
deleted), writers, repos synced / behind / recovering / failed, the last error and the sync lag.
Needs REDIS_URL, and the store: CLICKHOUSE_URL, or a running 'spaceview api' (SPACEVIEW_STORE_URL with
the same SPACEVIEW_SECRETS_KEY).`

export interface SpaceStatusRow {
  space: string
  status: string
  reason?: string
  writers: number
  synced: number
  behind: number
  recovering: number
  failed: number
  lastError?: string
  lagSec: number
}

export async function collectStatus(
  redis: Redis,
  store: Pick<SyncStore, 'getRepoState'>,
  only?: string,
): Promise<SpaceStatusRow[]> {
  const statuses = await allSpaceStatuses(redis)
  const spaces = only ? [only] : Object.keys(statuses).sort()
  const rows: SpaceStatusRow[] = []
  for (const space of spaces) {
    const st = statuses[space]
    const writers = await knownWriters({ redis }, space)
    const row: SpaceStatusRow = {
      space,
      status: st?.status ?? 'unknown',
      writers: Object.keys(writers).length,
      synced: 0,
      behind: 0,
      recovering: 0,
      failed: 0,
      lagSec: 0,
    }
    if (st?.reason) row.reason = st.reason
    for (const [did, hint] of Object.entries(writers)) {
      const local = await store.getRepoState(space, did)
      if (local?.status === 'failed') {
        row.failed++
        if (local.reason) row.lastError = `${did}: ${local.reason}`
      } else if (local?.status === 'recovering') row.recovering++
      else if (local?.rev === hint.rev) row.synced++
      else row.behind++
      if (local?.rev && hint.rev > local.rev) {
        row.lagSec = Math.max(row.lagSec, (tidTimestampMs(hint.rev) - tidTimestampMs(local.rev)) / 1000)
      } else if (!local?.rev)
        row.lagSec = Math.max(row.lagSec, (Date.now() - tidTimestampMs(hint.rev)) / 1000)
    }
    rows.push(row)
  }
  return rows
}

export function formatStatus(rows: SpaceStatusRow[]): string {
  if (!rows.length)
    return 'no spaces yet: add one with `spaceview add-space` (npm start adds the devnet spaces)'
  const lines = ['status               writers synced behind recov failed   lag(s)  space']
  for (const r of rows) {
    lines.push(
      `${r.status.padEnd(20)} ${String(r.writers).padStart(7)} ${String(r.synced).padStart(6)} ${String(r.behind).padStart(6)} ${String(r.recovering).padStart(5)} ${String(r.failed).padStart(6)} ${r.lagSec.toFixed(0).padStart(8)}  ${r.space}`,
    )
    if (r.reason) lines.push(`${''.padEnd(21)}space: ${r.reason}`)
    if (r.lastError) lines.push(`${''.padEnd(21)}last error: ${r.lastError}`)
  }
  return lines.join('\n')
}

export async function statusCommand(argv: string[], out: (s: string) => void): Promise<number> {
  const { values } = parseCommandArgs('status', argv, {
    json: { type: 'boolean' },
    space: { type: 'string' },
  })
  if (values.help) {
    out(STATUS_HELP)
    return 0
  }
  const config = loadConfig()
  const redis = new Redis(config.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 })
  let merge: MergeStore | undefined
  try {
    await redis.connect()
    if (config.clickhouseUrl) merge = await MergeStore.open(mergeConfigFromEnv(), { migrate: false })
    else if (!config.secretsKeyHex)
      throw new Error(
        'set SPACEVIEW_SECRETS_KEY (as the api process has it) or CLICKHOUSE_URL to read repo states',
      )
    const store = merge ?? new RemoteStore(config.storeUrl, storeRpcToken(config.secretsKeyHex))
    const rows = await collectStatus(redis, store, values.space)
    out(values.json ? JSON.stringify(rows, null, 2) : formatStatus(rows))
    return 0
  } finally {
    await merge?.close()
    redis.disconnect()
  }
}
