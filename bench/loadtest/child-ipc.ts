/**
 * Request/response over Node's IPC channel between the load-test orchestrator and the processes under
 * test (spaceview, baseline). Each measured system runs in a process of its own so its memory, CPU and
 * event loop are its own, and devnet (in the orchestrator) cannot steal its event-loop time.
 *
 * Protocol: the child sends `{ type: 'ready', info }` once it serves; the parent sends
 * `{ id, cmd, args }`; the child answers `{ id, ok: true, result }` or `{ id, ok: false, error }`.
 * Messages use the 'advanced' serialization (structured clone), so typed arrays and Maps cross as such.
 *
 * Invariants: every request has a timeout; a child that exits fails every pending request at once (no
 * hang); `stop()` asks politely, then SIGKILLs only that child's pid after a grace period.
 */
import { fork, type ChildProcess } from 'node:child_process'

export interface IpcRequest {
  id: number
  cmd: string
  args?: unknown
}

export type IpcResponse = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string }

export interface IpcReady {
  type: 'ready'
  info: Record<string, unknown>
}

type Handler = (args: unknown) => Promise<unknown> | unknown

/** Child side: serves `handlers` and announces readiness with `info`. */
export function serveIpc(handlers: Record<string, Handler>, info: Record<string, unknown>): void {
  if (!process.send) throw new Error('this module runs as a child of the load-test orchestrator (IPC)')
  process.on('message', (msg: IpcRequest) => {
    const handler = handlers[msg.cmd]
    const reply = (r: IpcResponse) => process.connected && process.send?.(r)
    if (!handler) {
      reply({ id: msg.id, ok: false, error: `unknown command ${msg.cmd}` })
      return
    }
    Promise.resolve()
      .then(() => handler(msg.args))
      .then(
        (result) => reply({ id: msg.id, ok: true, result }),
        (err: unknown) => reply({ id: msg.id, ok: false, error: (err as Error)?.stack ?? String(err) }),
      )
  })
  // The orchestrator going away (crash, Ctrl-C) must not leave this process running.
  process.on('disconnect', () => process.exit(3))
  process.send({ type: 'ready', info } satisfies IpcReady)
}

export class ChildHandle {
  private nextId = 1
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>()
  readonly exited: Promise<number | null>
  private exitCode: number | null | undefined

  private constructor(
    readonly name: string,
    private readonly child: ChildProcess,
    readonly info: Record<string, unknown>,
  ) {
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exitCode = code
        const reason = new Error(`${name} process exited (${signal ?? `code ${code}`})`)
        for (const p of this.pending.values()) p.reject(reason)
        this.pending.clear()
        resolve(code)
      })
    })
    child.on('message', (msg: IpcResponse) => {
      const p = this.pending.get(msg.id)
      if (!p) return
      this.pending.delete(msg.id)
      if (msg.ok) p.resolve(msg.result)
      else p.reject(new Error(`${name}: ${msg.error}`))
    })
  }

  get pid(): number {
    return this.child.pid as number
  }

  /** Forks `file` (a module of this package) and waits for its ready message. */
  static async start(
    name: string,
    file: string,
    opts: { env: NodeJS.ProcessEnv; execArgv?: string[]; readyTimeoutMs?: number },
  ): Promise<ChildHandle> {
    const child = fork(file, [], {
      env: opts.env,
      // Keep the loader flags (tsx when run from sources) and add ours (e.g. --cpu-prof).
      execArgv: [...process.execArgv, ...(opts.execArgv ?? [])],
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    })
    const info = await new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${name} did not start within ${opts.readyTimeoutMs ?? 120_000} ms`)),
        opts.readyTimeoutMs ?? 120_000,
      )
      child.once('error', reject)
      child.once('exit', (code) => reject(new Error(`${name} exited with code ${code} while starting`)))
      child.on('message', (msg: IpcReady) => {
        if (msg?.type === 'ready') {
          clearTimeout(timer)
          resolve(msg.info)
        }
      })
    }).catch((err: Error) => {
      if (child.exitCode === null) child.kill('SIGKILL')
      throw err
    })
    return new ChildHandle(name, child, info)
  }

  request<T>(cmd: string, args?: unknown, timeoutMs = 600_000): Promise<T> {
    if (this.exitCode !== undefined) return Promise.reject(new Error(`${this.name} has exited`))
    const id = this.nextId++
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id)
        reject(new Error(`${this.name}: "${cmd}" timed out after ${timeoutMs} ms`))
      }, timeoutMs)
      this.pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer)
          resolve(v as T)
        },
        reject: (e) => {
          clearTimeout(timer)
          reject(e)
        },
      })
      this.child.send({ id, cmd, args } satisfies IpcRequest)
    })
  }

  /** Asks the child to shut down (it answers, then exits); kills it if it has not exited in `graceMs`. */
  async stop(graceMs = 30_000): Promise<void> {
    if (this.exitCode !== undefined) return
    await this.request('stop', undefined, graceMs).catch(() => undefined)
    const exited = await Promise.race([this.exited.then(() => true), sleep(graceMs).then(() => false)])
    if (!exited && this.child.exitCode === null) {
      this.child.kill('SIGKILL')
      await this.exited
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref())
}

/**
 * Path of a sibling module of `fromUrl` named `name` (no extension): `.ts` when running from sources
 * (tsx), `.js` when compiled, so forks and workers load the same flavour as their parent.
 */
export function siblingModule(fromUrl: string, name: string): URL {
  const ext = fromUrl.endsWith('.ts') ? '.ts' : '.js'
  return new URL(`${name}${ext}`, fromUrl)
}
