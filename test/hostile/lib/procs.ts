/**
 * Child processes for the process-fault scenarios: a redis-server of the suite's own (never the machine's
 * shared one on 6379) that can be killed and restarted from its last snapshot, and spaceview store-owner and
 * worker processes (children/service-child.ts) that can be SIGKILLed mid-job. Only PIDs started here are
 * ever signalled.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'
import { join } from 'node:path'

export const ROOT = join(import.meta.dirname, '..', '..', '..')
const CHILD = join(ROOT, 'test', 'hostile', 'children', 'service-child.ts')

export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

function waitForLine(child: ChildProcess, line: string, what: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = ''
    let err = ''
    const timer = setTimeout(
      () => reject(new Error(`${what} did not print "${line}" within ${timeoutMs} ms: ${err.slice(-2000)}`)),
      timeoutMs,
    )
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()))
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString()
      if (out.includes(line)) {
        clearTimeout(timer)
        resolve()
      }
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`${what} exited (${code}) before "${line}": ${err.slice(-2000)}`))
    })
  })
}

export interface Proc {
  child: ChildProcess
  kill(signal?: NodeJS.Signals): Promise<void>
}

function handle(child: ChildProcess): Proc {
  return {
    child,
    kill: (signal = 'SIGKILL') =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve()
        child.once('exit', () => resolve())
        child.kill(signal)
      }),
  }
}

/** redis-server on `port`, no persistence of its own; `dir` is where an explicit SAVE writes its snapshot. */
export async function startRedis(port: number, dir: string): Promise<Proc> {
  const child = spawn(
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
      '--dir',
      dir,
      '--dbfilename',
      'dump.rdb',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  await waitForLine(child, 'Ready to accept connections', 'redis-server', 15_000)
  return handle(child)
}

/** A spaceview store-owner or worker process with the given environment. */
export async function startService(role: 'store' | 'worker', env: Record<string, string>): Promise<Proc> {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD], {
    cwd: ROOT,
    env: { ...process.env, ...env, HOSTILE_ROLE: role },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  await waitForLine(child, 'ready', `spaceview ${role}`, 120_000)
  return handle(child)
}

/** Counter values from a Prometheus text exposition, summed over series matching `labels`. */
export function counter(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue
    sum += Number(line.slice(line.lastIndexOf(' ') + 1))
  }
  return sum
}

export async function scrape(port: number): Promise<string> {
  try {
    return await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
  } catch {
    return ''
  }
}
