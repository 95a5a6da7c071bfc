/**
 * The devnet admin HTTP API on the network server, for driving a running devnet from another process (the
 * CLI case). Every route needs `Authorization: Bearer <admin token>` (printed at startup).
 *
 *   GET    /admin/faults                      list installed faults
 *   POST   /admin/faults                      install one (body: FaultSpec JSON) → {id}
 *   DELETE /admin/faults[/{id}]               remove one, or all
 *   POST   /admin/accounts/{did}/status       body {status: active|deactivated|takendown|deleted}
 *   POST   /admin/accounts/{did}/rotate-key   → {didKey}
 *   GET    /admin/spaces                      live spaces with writer sets
 *   GET    /admin/ground-truth?space=…        merged current records of a space
 *   POST   /admin/fake-notification           body {space, repo?}
 *   POST   /admin/write-driver                body WriteDriverOptions; DELETE stops every driver
 *   GET    /admin/stats                       notification and write-driver counters
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AccountStatus } from './accounts.js'
import type { Devnet } from './devnet.js'
import type { FaultSpec } from './faults.js'
import type { WriteDriverOptions } from './write-driver.js'

const STATUSES: readonly AccountStatus[] = ['active', 'deactivated', 'takendown', 'deleted']

class AdminError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message)
  }
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = []
  for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk)
  if (chunks.length === 0) return {}
  try {
    const value = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error()
    return value as Record<string, unknown>
  } catch {
    throw new AdminError(400, 'body must be a JSON object')
  }
}

export class AdminApi {
  constructor(private readonly devnet: Devnet) {}

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' })
      res.end(JSON.stringify(body))
    }
    try {
      if (req.headers['authorization'] !== `Bearer ${this.devnet.adminToken}`) {
        throw new AdminError(
          401,
          'admin routes need "Authorization: Bearer <admin token>" (printed at startup)',
        )
      }
      send(200, await this.route(req))
    } catch (err) {
      if (err instanceof AdminError) send(err.status, { error: 'AdminError', message: err.message })
      else send(400, { error: 'AdminError', message: (err as Error).message })
    }
  }

  private async route(req: IncomingMessage): Promise<unknown> {
    const url = new URL(req.url ?? '/', this.devnet.plcUrl)
    const path = url.pathname.replace(/\/$/, '')
    const method = req.method ?? 'GET'
    const d = this.devnet
    if (path === '/admin/faults' && method === 'GET') return { faults: d.faults.list() }
    if (path === '/admin/faults' && method === 'POST')
      return { id: d.faults.add((await readJson(req)) as unknown as FaultSpec) }
    if (path === '/admin/faults' && method === 'DELETE') {
      d.faults.clear()
      return {}
    }
    const fault = /^\/admin\/faults\/([^/]+)$/.exec(path)
    if (fault && method === 'DELETE') return { removed: d.faults.remove(fault[1] as string) }
    const account = /^\/admin\/accounts\/([^/]+)\/(status|rotate-key)$/.exec(path)
    if (account && method === 'POST') {
      const did = decodeURIComponent(account[1] as string)
      if (!d.accounts.get(did)) throw new AdminError(404, `no devnet account ${did}`)
      if (account[2] === 'rotate-key') return { didKey: await d.rotateKey(did) }
      const status = (await readJson(req))['status'] as AccountStatus
      if (!STATUSES.includes(status))
        throw new AdminError(400, `status must be one of ${STATUSES.join(', ')}`)
      return { seq: d.setAccountStatus(did, status) }
    }
    if (path === '/admin/spaces' && method === 'GET') return { spaces: d.spaces() }
    if (path === '/admin/ground-truth' && method === 'GET') {
      const space = url.searchParams.get('space')
      if (!space) throw new AdminError(400, 'ground-truth needs ?space=<space ref>')
      return { deleted: d.isDeleted(space), records: d.groundTruth(space) }
    }
    if (path === '/admin/fake-notification' && method === 'POST') {
      const body = await readJson(req)
      const fake = d.injectFakeNotification(String(body['space']), body['repo'] as string | undefined)
      return { repo: fake.repo, rev: fake.rev, hash: Buffer.from(fake.hash).toString('base64') }
    }
    if (path === '/admin/write-driver' && method === 'POST') {
      d.startWriteDriver((await readJson(req)) as unknown as WriteDriverOptions)
      return { running: d.writeDrivers.length }
    }
    if (path === '/admin/write-driver' && method === 'DELETE') {
      await Promise.all(d.writeDrivers.map((w) => w.stop()))
      return { running: 0 }
    }
    if (path === '/admin/stats' && method === 'GET') {
      return { notifications: d.notifications, writeDrivers: d.writeDrivers.map((w) => w.stats) }
    }
    throw new AdminError(404, `no admin route ${method} ${path}`)
  }
}
