/**
 * A `com.atproto.sync.subscribeRepos` event stream carrying the account-level events a permissioned-data
 * syncer needs: `#account` (activation, deactivation, takedown, deletion) and `#identity` (key rotation,
 * host change). Permissioned records never appear here.
 *
 * Wire format (what @atproto/sync's Firehose consumes): one binary WebSocket message per event, the
 * concatenation of two DAG-CBOR values, a header `{op: 1, t: "#account"}` and the body
 * `{seq, did, time, active, status?}` / `{seq, did, time, handle?}`; errors are `{op: -1}` + `{error,
 * message}`. Invariants: `seq` strictly increases; a `cursor` replays retained events with seq > cursor
 * before live ones; a cursor beyond the head is answered with a FutureCursor error frame.
 */
import type { IncomingMessage, Server } from 'node:http'
import type { Duplex } from 'node:stream'
import { encode } from '@atproto/lex-cbor'
import { WebSocketServer, type WebSocket } from 'ws'
import type { AccountStatus } from './accounts.js'

export const SUBSCRIBE_REPOS_PATH = '/xrpc/com.atproto.sync.subscribeRepos'

export type FirehoseEvent =
  | { t: '#account'; body: { seq: number; did: string; time: string; active: boolean; status?: string } }
  | { t: '#identity'; body: { seq: number; did: string; time: string; handle?: string } }

function frame(header: Record<string, unknown>, body: Record<string, unknown>): Buffer {
  const enc = (v: Record<string, unknown>) => encode(v as Parameters<typeof encode>[0])
  return Buffer.concat([enc(header), enc(body)])
}

export class Firehose {
  private readonly events: FirehoseEvent[] = []
  private readonly wss = new WebSocketServer({ noServer: true })
  private seq = 0

  constructor(private readonly backlog = 100_000) {}

  /** Routes WebSocket upgrades for subscribeRepos on `server` to this stream. */
  attach(server: Server): void {
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const url = new URL(req.url ?? '/', 'http://relay')
      if (url.pathname !== SUBSCRIBE_REPOS_PATH) {
        socket.destroy()
        return
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => this.subscribe(ws, url.searchParams.get('cursor')))
    })
  }

  private subscribe(ws: WebSocket, cursorParam: string | null): void {
    if (cursorParam !== null) {
      const cursor = Number(cursorParam)
      if (!Number.isInteger(cursor) || cursor > this.seq) {
        ws.send(frame({ op: -1 }, { error: 'FutureCursor', message: 'Cursor in the future.' }))
        ws.close()
        return
      }
      for (const evt of this.events) if (evt.body.seq > cursor) ws.send(frame({ op: 1, t: evt.t }, evt.body))
    }
  }

  private emit(evt: FirehoseEvent): void {
    this.events.push(evt)
    if (this.events.length > this.backlog) this.events.shift()
    const bytes = frame({ op: 1, t: evt.t }, evt.body)
    for (const ws of this.wss.clients) if (ws.readyState === ws.OPEN) ws.send(bytes)
  }

  /** Emits `#account`; `active` follows from the status, as a PDS reports it. */
  account(did: string, status: AccountStatus): number {
    const seq = ++this.seq
    const body: { seq: number; did: string; time: string; active: boolean; status?: string } = {
      seq,
      did,
      time: new Date().toISOString(),
      active: status === 'active',
    }
    if (status !== 'active') body.status = status
    this.emit({ t: '#account', body })
    return seq
  }

  /** Emits `#identity` (the consumer re-resolves the DID document). */
  identity(did: string, handle?: string): number {
    const seq = ++this.seq
    this.emit({
      t: '#identity',
      body: { seq, did, time: new Date().toISOString(), ...(handle ? { handle } : {}) },
    })
    return seq
  }

  async close(): Promise<void> {
    for (const ws of this.wss.clients) ws.terminate()
    await new Promise<void>((resolve) => this.wss.close(() => resolve()))
  }
}
