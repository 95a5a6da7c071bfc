/**
 * Run-time fault switches. A fault names a misbehaviour (`kind`) and a scope (a host, a space, an account
 * DID, a set of XRPC methods), optionally a probability and a firing budget; devnet components ask
 * `match(kind, where)` at the point where that misbehaviour would happen. Transport faults (latency, 429,
 * 5xx, reset, trickle, oversized body) are applied around every XRPC handler by `FaultInterceptor`; content,
 * token, notification and identity faults are applied by the component that produces the content.
 *
 * Invariants:
 * - A fault matches only if every scope field it sets equals the request's value; unset fields match all.
 * - Decisions are reproducible: each fault draws from its own PRNG seeded by its id.
 * - `count` is a firing budget: the fault removes itself after that many firings.
 * - Faults never corrupt stored state; they only alter what one response (or one notification) carries.
 */
import type { ServerResponse } from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Interceptor, RequestScope } from './xrpc-router.js'
import { sendError, XrpcError } from './xrpc-router.js'
import { SeededRandom } from './seeded.js'

export const FAULT_KINDS = [
  'latency',
  'rateLimit',
  'serverError',
  'connectionReset',
  'slowBody',
  'oversizedBody',
  'truncatedCar',
  'forgedSignature',
  'wrongMac',
  'indexHashMismatch',
  'recordCidMismatch',
  'oplogGap',
  'sinceAheadOfHead',
  'endlessCursor',
  'dropNotifications',
  'fakeNotifications',
  'expiredTokens',
  'wrongAudienceTokens',
  'privateEndpoint',
] as const

export type FaultKind = (typeof FAULT_KINDS)[number]

export interface FaultScope {
  /** Repo host index the fault applies to (requests it serves, notifications it sends, its accounts' DID docs). */
  host?: number
  /** Exact space ref. */
  space?: string
  /** Account DID: the `repo` of a request or notification, or the DID whose document is altered. */
  did?: string
  /** XRPC method NSIDs the fault is limited to. */
  methods?: string[]
  /** Chance in [0, 1] that a matching event fires the fault (default 1). */
  probability?: number
  /** Remove the fault after it fired this many times. */
  count?: number
}

export interface FaultParams {
  /** latency: delay before the handler runs. */
  ms?: number
  /** rateLimit: Retry-After seconds. */
  retryAfterSec?: number
  /** serverError: HTTP status (5xx). */
  status?: number
  /** connectionReset: reset after this many body bytes (default: before any response). */
  afterBytes?: number
  /** slowBody: bytes per write and pause between writes. */
  chunkBytes?: number
  intervalMs?: number
  /** oversizedBody: extra bytes to stream. */
  bytes?: number
  /** truncatedCar: keep this many bytes of the CAR (default: half). */
  keepBytes?: number
  /** privateEndpoint: the endpoint to publish (default a link-local metadata address). */
  endpoint?: string
}

export type FaultSpec = FaultScope & FaultParams & { kind: FaultKind }

export interface Fault extends FaultSpec {
  id: string
  fired: number
}

/** The facts about an event that faults are matched against. */
export interface FaultTarget {
  host?: number
  space?: string
  did?: string
  method?: string
}

export const DEFAULT_PRIVATE_ENDPOINT = 'http://169.254.169.254'

export class Faults {
  private readonly faults = new Map<string, { fault: Fault; rng: SeededRandom }>()
  private nextId = 1

  constructor(private readonly seed: string) {}

  add(spec: FaultSpec): string {
    validateFaultSpec(spec)
    const id = `f${this.nextId++}`
    this.faults.set(id, { fault: { ...spec, id, fired: 0 }, rng: SeededRandom.from(this.seed, 'fault', id) })
    return id
  }

  remove(id: string): boolean {
    return this.faults.delete(id)
  }

  clear(): void {
    this.faults.clear()
  }

  list(): Fault[] {
    return [...this.faults.values()].map(({ fault }) => ({ ...fault }))
  }

  /** Returns the first fault of `kind` that matches and fires for this event (consuming budget), if any. */
  match(kind: FaultKind, target: FaultTarget): Fault | undefined {
    for (const entry of this.faults.values()) {
      const { fault, rng } = entry
      if (fault.kind !== kind || !scopeMatches(fault, target)) continue
      if (fault.probability !== undefined && rng.next() >= fault.probability) continue
      fault.fired++
      if (fault.count !== undefined && fault.fired >= fault.count) this.faults.delete(fault.id)
      return { ...fault }
    }
    return undefined
  }

  /** True when any fault of `kind` is installed (cheap pre-check for hot paths). */
  has(kind: FaultKind): boolean {
    for (const { fault } of this.faults.values()) if (fault.kind === kind) return true
    return false
  }
}

function scopeMatches(fault: FaultScope, target: FaultTarget): boolean {
  if (fault.host !== undefined && fault.host !== target.host) return false
  if (fault.space !== undefined && fault.space !== target.space) return false
  if (fault.did !== undefined && fault.did !== target.did) return false
  if (
    fault.methods !== undefined &&
    (target.method === undefined || !fault.methods.includes(target.method))
  ) {
    return false
  }
  return true
}

function validateFaultSpec(spec: FaultSpec): void {
  if (!(FAULT_KINDS as readonly string[]).includes(spec.kind)) {
    throw new Error(`unknown fault kind "${String(spec.kind)}"; use one of ${FAULT_KINDS.join(', ')}`)
  }
  for (const key of [
    'ms',
    'retryAfterSec',
    'afterBytes',
    'chunkBytes',
    'intervalMs',
    'bytes',
    'keepBytes',
    'count',
  ] as const) {
    const v = spec[key]
    if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v) || v < 0)) {
      throw new Error(`fault parameter "${key}" must be a non-negative number`)
    }
  }
  if (spec.probability !== undefined && !(spec.probability >= 0 && spec.probability <= 1)) {
    throw new Error('fault probability must be between 0 and 1')
  }
  if (spec.status !== undefined && !(spec.status >= 500 && spec.status <= 599)) {
    throw new Error('serverError status must be a 5xx code')
  }
  if (spec.kind === 'oversizedBody' && spec.bytes === undefined) {
    throw new Error('oversizedBody needs "bytes" (how much extra to send)')
  }
}

function target(scope: RequestScope): FaultTarget {
  const t: FaultTarget = { host: scope.host, method: scope.method }
  if (scope.space !== undefined) t.space = scope.space
  if (scope.repo !== undefined) t.did = scope.repo
  return t
}

function varint(n: number): Uint8Array {
  const out: number[] = []
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80)
    n = Math.floor(n / 0x80)
  }
  out.push(n)
  return Uint8Array.from(out)
}

/** Applies the transport faults around XRPC handlers. */
export class FaultInterceptor implements Interceptor {
  /** Responses that a connectionReset fault will cut after N body bytes. */
  private readonly resetAfter = new WeakMap<ServerResponse, number>()

  constructor(private readonly faults: Faults) {}

  async before(scope: RequestScope, res: ServerResponse): Promise<'continue' | 'handled'> {
    const t = target(scope)
    const latency = this.faults.match('latency', t)
    if (latency) await sleep(latency.ms ?? 1000)
    const reset = this.faults.has('connectionReset') ? this.faults.match('connectionReset', t) : undefined
    if (reset && reset.afterBytes === undefined) {
      res.socket?.resetAndDestroy()
      return 'handled'
    }
    if (reset) this.resetAfter.set(res, reset.afterBytes ?? 0)
    const limited = this.faults.match('rateLimit', t)
    if (limited) {
      const retryAfter = String(limited.retryAfterSec ?? 1)
      sendError(
        res,
        new XrpcError(429, 'RateLimitExceeded', 'Rate Limit Exceeded', {
          'retry-after': retryAfter,
          'ratelimit-limit': '3000',
          'ratelimit-remaining': '0',
          'ratelimit-reset': String(Math.floor(Date.now() / 1000) + Number(retryAfter)),
        }),
      )
      return 'handled'
    }
    const failed = this.faults.match('serverError', t)
    if (failed) {
      const status = failed.status ?? 500
      const error =
        status === 502 ? 'UpstreamFailure' : status === 503 ? 'NotEnoughResources' : 'InternalServerError'
      sendError(res, new XrpcError(status, error, `devnet fault: simulated ${status}`))
      return 'handled'
    }
    return 'continue'
  }

  async *body(
    scope: RequestScope,
    chunks: AsyncIterable<Uint8Array>,
    res: ServerResponse,
    contentType: string,
  ): AsyncIterable<Uint8Array> {
    const t = target(scope)
    const slow = this.faults.match('slowBody', t)
    const oversized = this.faults.match('oversizedBody', t)
    const resetAt = this.resetAfter.get(res)
    let sent = 0
    const emit = async function* (bytes: Uint8Array): AsyncIterable<Uint8Array> {
      const step = slow ? Math.max(1, slow.chunkBytes ?? 16) : bytes.length
      for (let off = 0; off < bytes.length; off += step) {
        const piece = bytes.subarray(off, off + step)
        if (resetAt !== undefined && sent + piece.length > resetAt) {
          yield piece.subarray(0, resetAt - sent)
          res.socket?.resetAndDestroy()
          return
        }
        sent += piece.length
        yield piece
        if (slow) await sleep(slow.intervalMs ?? 50)
      }
    }
    if (oversized && contentType.startsWith('application/json')) {
      // Leading whitespace keeps the JSON valid, so only a size cap can reject it.
      yield* padding(oversized.bytes ?? 0, 0x20, emit)
    }
    for await (const chunk of chunks) {
      yield* emit(chunk)
      if (res.destroyed) return
    }
    if (oversized && !contentType.startsWith('application/json')) {
      // One enormous block frame after the real content (a well-formed CID, then zeros): a streaming
      // reader must hit its size cap in the middle of the block.
      const cid = Uint8Array.from([0x01, 0x71, 0x12, 0x20, ...new Uint8Array(32)])
      const n = Math.max(oversized.bytes ?? 0, cid.length)
      yield* emit(varint(n))
      yield* emit(cid)
      yield* padding(n - cid.length, 0, emit)
    }
  }
}

async function* padding(
  n: number,
  byte: number,
  emit: (bytes: Uint8Array) => AsyncIterable<Uint8Array>,
): AsyncIterable<Uint8Array> {
  const block = new Uint8Array(64 * 1024).fill(byte)
  for (let left = n; left > 0; left -= block.length)
    yield* emit(block.subarray(0, Math.min(left, block.length)))
}
