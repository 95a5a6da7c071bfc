/**
 * Redis for a load-test run, and how busy it was.
 *
 * By default the run starts its own redis-server on a free loopback port (no persistence, no replication),
 * so commandstats and the server's CPU belong to this run alone — a shared Redis also serves other
 * programs' commands, which would be counted as spaceview's. `--redis-url` uses an existing server instead
 * (its figures then include whatever else it serves, and the report says so).
 *
 * Time share: INFO commandstats gives, per command, calls and microseconds spent executing it; the delta
 * between two snapshots divided by the wall time between them is the fraction of time Redis' (single)
 * command thread was busy with this run's commands.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'
import { Redis } from 'ioredis'

export interface CommandStat {
  calls: number
  usec: number
}

export type CommandStats = Map<string, CommandStat>

/** Parses the `# Commandstats` section of INFO. */
export function parseCommandStats(info: string): CommandStats {
  const out: CommandStats = new Map()
  for (const line of info.split(/\r?\n/)) {
    const m = /^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/.exec(line)
    if (m) out.set(m[1] as string, { calls: Number(m[2]), usec: Number(m[3]) })
  }
  return out
}

export interface RedisShare {
  calls: number
  /** ms Redis spent executing commands in the window. */
  busyMs: number
  /** busyMs / window. */
  share: number
  /** Commands by time spent, largest first. */
  top: Array<{ command: string; calls: number; ms: number }>
}

/** What happened between two commandstats snapshots over `windowMs` of wall time. */
export function commandStatsDelta(before: CommandStats, after: CommandStats, windowMs: number): RedisShare {
  let calls = 0
  let usec = 0
  const top: RedisShare['top'] = []
  for (const [command, a] of after) {
    const b = before.get(command) ?? { calls: 0, usec: 0 }
    const dc = a.calls - b.calls
    const du = a.usec - b.usec
    if (dc <= 0 && du <= 0) continue
    calls += dc
    usec += du
    top.push({ command, calls: dc, ms: Math.round(du / 100) / 10 })
  }
  top.sort((x, y) => y.ms - x.ms)
  const busyMs = usec / 1000
  return {
    calls,
    busyMs: Math.round(busyMs),
    share: windowMs > 0 ? Math.round((busyMs / windowMs) * 1000) / 1000 : 0,
    top: top.slice(0, 8),
  }
}

export interface RedisService {
  /** Base URL without a database number. */
  url: string
  /** PID when this run owns the server. */
  pid: number | undefined
  private: boolean
  commandStats(): Promise<CommandStats>
  /** Empties one database (only ever ours). */
  flushDb(db: number): Promise<void>
  close(): Promise<void>
}

/** A free TCP port on 127.0.0.1 (closed again before returning; good enough on a quiet loopback). */
export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

async function waitForPing(url: string, child: ChildProcess | undefined, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
    // Refused connections while the server starts are expected; connect() reports them, not the emitter.
    client.on('error', () => undefined)
    try {
      await client.connect()
      await client.ping()
      return
    } catch (err) {
      if (child?.exitCode !== null && child?.exitCode !== undefined) {
        throw new Error(`redis-server exited with code ${child.exitCode} before accepting connections`, {
          cause: err,
        })
      }
      if (Date.now() > end)
        throw new Error(`Redis at ${url} is not reachable: ${(err as Error).message}`, { cause: err })
    } finally {
      client.disconnect()
    }
    await new Promise((r) => setTimeout(r, 100))
  }
}

/** Starts a private redis-server, or connects to `url` when given. */
export async function startRedis(url?: string): Promise<RedisService> {
  let child: ChildProcess | undefined
  let base = url?.replace(/\/+$/, '')
  if (!base) {
    const port = await freePort()
    child = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--protected-mode',
        'yes',
      ],
      { stdio: 'ignore' },
    )
    await new Promise<void>((resolve, reject) => {
      child!.once('spawn', () => resolve())
      child!.once('error', (err) =>
        reject(new Error(`cannot start redis-server (${err.message}); install it or pass --redis-url`)),
      )
    })
    base = `redis://127.0.0.1:${port}`
  }
  await waitForPing(base, child)
  const admin = new Redis(base, { maxRetriesPerRequest: 1 })
  return {
    url: base,
    pid: child?.pid,
    private: child !== undefined,
    async commandStats() {
      return parseCommandStats(await admin.info('commandstats'))
    },
    async flushDb(db: number) {
      const c = new Redis(`${base}/${db}`, { maxRetriesPerRequest: 1 })
      try {
        await c.flushdb()
      } finally {
        c.disconnect()
      }
    },
    async close() {
      admin.disconnect()
      if (child && child.exitCode === null) {
        const exited = new Promise<void>((resolve) => child!.once('exit', () => resolve()))
        child.kill('SIGTERM')
        await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))])
        if (child.exitCode === null) child.kill('SIGKILL')
      }
    },
  }
}
