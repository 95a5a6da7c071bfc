/**
 * API read load: dev.spaceview.listRecords through the ACL at a fixed offered rate, and the same page from
 * the no-ACL endpoint of the same process (its baseline), with the open-loop generator of load-worker.ts.
 *
 * Callers present a space credential + a fresh DPoP proof per request, the way a space-credential holder
 * reads (bench/api.ts's `acl_credential` row). Proofs are signed before the window opens, with node:crypto
 * (the same ES256 JWS as src/protocol/dpop.ts, which the tests check with verifyDpopProof), so the
 * generator spends no CPU on signing while it measures. Each proof's `iat` is its planned send time
 * shifted back by the signing time, so every proof is equally old when sent — well inside the 60 s max
 * age, which is why an API window is capped at 50 s.
 */
import { createHash, createSign, KeyObject, randomBytes } from 'node:crypto'
import { Worker } from 'node:worker_threads'
import type { DpopKey } from '../../src/protocol/dpop.js'
import { siblingModule } from './child-ipc.js'
import type { LoadWorkerInput, LoadWorkerOutput } from './load-worker.js'
import { summarize, type LatencySummary } from './stats.js'

export const LIST_RECORDS = 'dev.spaceview.listRecords'

export interface ApiTarget {
  space: string
  credential: string
  key: DpopKey
}

export interface PlannedRequest {
  path: string
  headers: Record<string, string>
}

const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url')

/** Signs DPoP proofs for one key with node:crypto (synchronous, ~10x faster than WebCrypto per proof). */
export class FastDpopSigner {
  private readonly header: string
  private readonly privateKey: KeyObject

  constructor(key: DpopKey) {
    this.privateKey = KeyObject.from(key.privateKey)
    this.header = b64({ alg: 'ES256', typ: 'dpop+jwt', jwk: { ...key.publicJwk } })
  }

  proof(opts: { htm: string; htu: string; credential: string; iat: number }): string {
    const payload = b64({
      jti: randomBytes(16).toString('hex'),
      htm: opts.htm,
      htu: opts.htu,
      iat: Math.floor(opts.iat),
      ath: createHash('sha256').update(opts.credential).digest('base64url'),
    })
    const input = `${this.header}.${payload}`
    const sig = createSign('SHA256').update(input).sign({ key: this.privateKey, dsaEncoding: 'ieee-p1363' })
    return `${input}.${sig.toString('base64url')}`
  }
}

/** `count` listRecords requests with the ACL, cycling through `targets`, first due at iatBase. */
export function planAclRequests(opts: {
  publicUrl: string
  targets: ApiTarget[]
  count: number
  rate: number
  limit: number
  /** Unix seconds to stamp as the `iat` of request 0. */
  iatBase: number
}): PlannedRequest[] {
  const htu = `${opts.publicUrl}/xrpc/${LIST_RECORDS}`
  const signers = new Map(opts.targets.map((t) => [t, new FastDpopSigner(t.key)]))
  const out: PlannedRequest[] = []
  for (let i = 0; i < opts.count; i++) {
    const t = opts.targets[i % opts.targets.length] as ApiTarget
    const proof = (signers.get(t) as FastDpopSigner).proof({
      htm: 'GET',
      htu,
      credential: t.credential,
      iat: opts.iatBase + i / opts.rate,
    })
    out.push({
      path: `/xrpc/${LIST_RECORDS}?space=${encodeURIComponent(t.space)}&limit=${opts.limit}`,
      headers: { authorization: `DPoP ${t.credential}`, dpop: proof },
    })
  }
  return out
}

/** The same pages from the no-ACL endpoint. */
export function planPlainRequests(spaces: string[], count: number, limit: number): PlannedRequest[] {
  return Array.from({ length: count }, (_, i) => ({
    path: `/listRecords?space=${encodeURIComponent(spaces[i % spaces.length] as string)}&limit=${limit}`,
    headers: {},
  }))
}

export interface ApiRowResult {
  offeredRate: number
  seconds: number
  sent: number
  ok: number
  errors: number
  errorsByStatus: Record<string, number>
  dropped: number
  /** Successful responses per second over the window. */
  throughput: number
  latency: LatencySummary
  /** Per-second completions and p99 (ms) for charts, by due second. */
  perSecond: Array<{ t: number; ok: number; p99: number | null }>
  /** Latencies of successful requests (ms), for the histogram chart. */
  samples: number[]
}

/** Fires `requests` at `rate` against `origin` from a worker thread. */
export async function runApiLoad(
  origin: string,
  requests: PlannedRequest[],
  rate: number,
  opts: { maxInflight?: number; timeoutMs?: number } = {},
): Promise<ApiRowResult> {
  if (requests.length === 0) throw new Error('no requests planned')
  const worker = new Worker(siblingModule(import.meta.url, 'load-worker'), {
    workerData: {
      origin,
      requests,
      rate,
      maxInflight: opts.maxInflight ?? 256,
      timeoutMs: opts.timeoutMs ?? 10_000,
    } satisfies LoadWorkerInput,
  })
  const out = await new Promise<LoadWorkerOutput>((resolve, reject) => {
    worker.once('message', resolve)
    worker.once('error', reject)
  })
  await worker.terminate()
  return summarizeApiRun(out, requests.length, rate)
}

/** Turns raw per-request results into the row's figures; the first tenth (warm-up) is not measured. */
export function summarizeApiRun(out: LoadWorkerOutput, planned: number, rate: number): ApiRowResult {
  const warmupMs = ((planned / rate) * 1000) / 10
  const ok: number[] = []
  const errorsByStatus: Record<string, number> = {}
  const seconds = new Map<number, number[]>()
  let okAll = 0
  for (let i = 0; i < out.latencyMs.length; i++) {
    const code = out.status[i] as number
    const lat = out.latencyMs[i] as number
    const due = out.dueMs[i] as number
    if (code !== 200) {
      const name = code === 0 ? 'transport error' : code === 1 ? 'timeout' : `HTTP ${code}`
      errorsByStatus[name] = (errorsByStatus[name] ?? 0) + 1
      continue
    }
    okAll++
    const s = Math.floor(due / 1000)
    let bucket = seconds.get(s)
    if (!bucket) seconds.set(s, (bucket = []))
    bucket.push(lat)
    if (due >= warmupMs) ok.push(lat)
  }
  const perSecond = [...seconds.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([t, lats]) => ({ t, ok: lats.length, p99: summarize(lats).p99 }))
  const errors = Object.values(errorsByStatus).reduce((a, b) => a + b, 0)
  return {
    offeredRate: rate,
    seconds: Math.round((planned / rate) * 10) / 10,
    sent: planned - out.dropped,
    ok: okAll,
    errors,
    errorsByStatus,
    dropped: out.dropped,
    throughput: Math.round(okAll / (out.elapsedMs / 1000)),
    latency: summarize(ok),
    perSecond,
    samples: ok,
  }
}
