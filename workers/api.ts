/**
 * `spaceview api`: the API process — XRPC API behind the ACL, notification receivers, /metrics, and (with
 * the embedded store) the store owner that worker processes write through. Runs until SIGINT/SIGTERM.
 */
import { parseArgs } from 'node:util'
import { loadConfig } from '../src/config.js'
import { QUEUE_NAMES, type QueueName } from '../src/crawler/queues.js'
import { startService } from './service.js'
import { untilSignal } from './signals.js'

export const API_HELP = `Usage: spaceview api [--with-workers [queues]]

Serves the merged spaces over XRPC (dev.spaceview.*) to callers who pass the ACL, receives
com.atproto.space.notifyWrite / notifySpaceDeleted from space hosts, and exposes /metrics on METRICS_PORT.
With the embedded ClickHouse (no CLICKHOUSE_URL) this process owns the store and 'spaceview worker'
processes write through it.

Options:
  --with-workers [q,...]  also run crawler workers here (all queues, or the comma-separated list)

Configuration is read from environment variables; see README "Configuration".`

export function parseQueues(raw: string | undefined): QueueName[] {
  const all: QueueName[] = QUEUE_NAMES.filter((q) => q !== 'dead-letter')
  if (raw === undefined || raw === '' || raw === 'all') return all
  const list = raw.split(',').map((q) => q.trim())
  for (const q of list) {
    if (!(all as string[]).includes(q)) throw new Error(`unknown queue "${q}"; queues are: ${all.join(', ')}`)
  }
  return list as QueueName[]
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { 'with-workers': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  })
  if (values.help) {
    console.log(API_HELP)
    return 0
  }
  const config = loadConfig()
  const queues = values['with-workers'] === undefined ? [] : parseQueues(values['with-workers'])
  const service = await startService(config, { api: true, queues })
  console.log(`spaceview api on ${service.api?.url}; metrics on ${service.metricsServer?.url}`)
  await untilSignal()
  await service.close()
  return 0
}
