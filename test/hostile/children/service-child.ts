// A spaceview process for the process-fault scenarios, configured entirely by environment variables (as
// `spaceview api` / `spaceview worker` are): HOSTILE_ROLE=store runs the API and store owner, =worker runs
// the crawler workers writing through it. HOSTILE_SKEW_MS shifts this process's clock (a host whose clock
// is off), everything else is production code. Prints "ready" once started; SIGTERM closes it cleanly.
// Usage: node --import tsx test/hostile/children/service-child.ts
import pino from 'pino'
import { loadConfig } from '../../../src/config.js'
import { startService } from '../../../workers/service.js'

const skew = Number(process.env.HOSTILE_SKEW_MS ?? '0')
if (skew !== 0) {
  const realNow = Date.now.bind(Date)
  Date.now = () => realNow() + skew
}
const role = process.env.HOSTILE_ROLE
if (role !== 'store' && role !== 'worker') throw new Error('HOSTILE_ROLE must be store or worker')

const service = await startService(loadConfig(), {
  api: role === 'store',
  queues:
    role === 'store' ? [] : ['space-bootstrap', 'repo-sync', 'repo-recovery', 'sweep', 'notify-renewal'],
  logger: pino({ level: process.env.LOG_LEVEL ?? 'silent' }),
  metrics: true,
})
process.stdout.write('ready\n')
process.once('SIGTERM', () => {
  void service.close().then(() => process.exit(0))
})
