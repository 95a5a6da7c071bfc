/**
 * Starting and killing `spaceview worker` child processes (test/helpers/worker-child.ts) from a test. Only
 * processes started here are ever signalled, by their own handle.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'

const ROOT = join(import.meta.dirname, '..', '..')
const ENTRY = join(ROOT, 'test', 'helpers', 'worker-child.ts')

export interface WorkerProcess {
  pid: number
  /** Sends `signal` (default SIGKILL) and resolves once the process has exited. */
  kill(signal?: NodeJS.Signals): Promise<void>
  /** stderr so far (for failure messages). */
  stderr(): string
}

/** Starts a worker with `env` (added to this process's) and resolves once it reports it is running. */
export async function startWorkerProcess(
  env: Record<string, string>,
  args: string[] = [],
): Promise<WorkerProcess> {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', ENTRY, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()))
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`worker did not start within 60 s: ${err.slice(-2000)}`)),
      60_000,
    )
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString()
      if (out.includes('spaceview worker (pid')) {
        clearTimeout(timer)
        resolve()
      }
    })
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      reject(new Error(`worker exited (${code ?? signal}) before starting: ${err.slice(-2000)}`))
    })
  })
  return {
    pid: child.pid!,
    stderr: () => err,
    kill: (signal = 'SIGKILL') =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve()
        child.once('exit', () => resolve())
        child.kill(signal)
      }),
  }
}
