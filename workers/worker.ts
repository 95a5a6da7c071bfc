/**
 * `spaceview worker`: crawler workers for some or all queues. Any number of worker processes share the
 * work through Redis; the result is the same as one process.
 */
import { parseArgs } from 'node:util'
import { loadConfig } from '../src/config.js'
import { startService } from './service.js'
import { parseQueues } from './api.js'
import { untilSignal } from './signals.js'

export const WORKER_HELP = `Usage: spaceview worker [--queues q1,q2,...]

Runs BullMQ workers for the crawler queues (default: all of space-bootstrap, repo-sync, repo-recovery,
sweep, notify-renewal). Start as many as you like; they share the queues in Redis (REDIS_URL).
With a ClickHouse server (CLICKHOUSE_URL) workers write to it directly; with the embedded store they
write through the 'spaceview api' process (SPACEVIEW_STORE_URL, same SPACEVIEW_SECRETS_KEY).

Options:
  --queues <list>   comma-separated queue names (or SPACEVIEW_WORKER_QUEUES)`

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { queues: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  })
  if (values.help) {
    console.log(WORKER_HELP)
    return 0
  }
  const config = loadConfig()
  if (!config.clickhouseUrl && !config.secretsKeyHex) {
    throw new Error(
      'with the embedded store, workers need SPACEVIEW_SECRETS_KEY (the same as the api process) to reach it',
    )
  }
  const service = await startService(config, {
    api: false,
    queues: parseQueues(values.queues ?? process.env.SPACEVIEW_WORKER_QUEUES),
    metrics: process.env.METRICS_PORT !== undefined,
  })
  console.log(`spaceview worker (pid ${process.pid}) on queues: ${values.queues ?? 'all'}`)
  await untilSignal()
  await service.close()
  return 0
}
