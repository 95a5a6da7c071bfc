// Makes sure the services the tests talk to are up: Redis (REDIS_URL, default redis://127.0.0.1:6379).
// If nothing answers and a local redis-server binary exists, starts one without persistence (as the CI
// machine does). ClickHouse needs nothing: tests use the in-process engine (chdb).
import { createConnection } from 'node:net'
import { spawnSync } from 'node:child_process'
import { guardNodeVersion } from './node-guard.mjs'

guardNodeVersion()

const url = new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379')
const host = url.hostname
const port = Number(url.port || 6379)

function ping() {
  return new Promise((resolve) => {
    const sock = createConnection({ host, port })
    sock.setTimeout(1000)
    sock.once('connect', () => sock.write('PING\r\n'))
    sock.once('data', (d) => {
      sock.destroy()
      resolve(d.toString().startsWith('+PONG'))
    })
    sock.once('error', () => resolve(false))
    sock.once('timeout', () => {
      sock.destroy()
      resolve(false)
    })
  })
}

if (await ping()) process.exit(0)
const local = host === '127.0.0.1' || host === 'localhost'
const which = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' })
if (!local || which.status !== 0) {
  console.error(
    `Redis is not answering at ${host}:${port}. Start it (e.g. \`redis-server --daemonize yes\`), ` +
      `install it (\`apt-get install redis-server\`), or point REDIS_URL at a running server.`,
  )
  process.exit(1)
}
console.error(`Redis not answering at ${host}:${port}; starting a local redis-server (no persistence).`)
spawnSync('redis-server', ['--daemonize', 'yes', '--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no'], { stdio: 'inherit' })
for (let i = 0; i < 50; i++) {
  if (await ping()) process.exit(0)
  await new Promise((r) => setTimeout(r, 100))
}
console.error('redis-server was started but does not answer; see its log.')
process.exit(1)
