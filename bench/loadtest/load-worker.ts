/**
 * Worker thread of the API load generator: fires planned GET requests open-loop at a fixed rate and reports
 * each one's latency. Runs off the orchestrator's main thread so devnet's event loop cannot delay sends.
 *
 * Open loop (no coordinated omission): request i is due at start + i/rate and its latency counts from its
 * due time, not from when it was actually sent, so a stalled server shows up as latency instead of as a
 * politely reduced rate. At most `maxInflight` requests are outstanding; a request due while the cap is
 * reached is dropped and counted (a server that cannot keep up is then visible as drops plus latency).
 * Every request has a timeout, so a window ends at most `timeoutMs` after its last request was due.
 */
import http from 'node:http'
import { parentPort, workerData } from 'node:worker_threads'

export interface LoadWorkerInput {
  origin: string
  requests: Array<{ path: string; headers: Record<string, string> }>
  rate: number
  maxInflight: number
  /** A request not answered within this is abandoned and counted with status 1 (timeout). */
  timeoutMs: number
}

export interface LoadWorkerOutput {
  /** Due time of each completed request, ms after the start. */
  dueMs: Float64Array
  /** Latency of each completed request (any status), ms. */
  latencyMs: Float64Array
  /** HTTP status of each completed request (0 = transport error, 1 = timed out). */
  status: Uint16Array
  dropped: number
  elapsedMs: number
}

function run(input: LoadWorkerInput): Promise<LoadWorkerOutput> {
  const url = new URL(input.origin)
  const agent = new http.Agent({ keepAlive: true, maxSockets: input.maxInflight })
  const n = input.requests.length
  const dueMs = new Float64Array(n)
  const latencyMs = new Float64Array(n)
  const status = new Uint16Array(n)
  let completed = 0
  let dropped = 0
  let inflight = 0
  let next = 0
  let settled = 0
  const start = performance.now() + 20
  return new Promise((resolve) => {
    const finish = () => {
      agent.destroy()
      resolve({
        dueMs: dueMs.slice(0, completed),
        latencyMs: latencyMs.slice(0, completed),
        status: status.slice(0, completed),
        dropped,
        elapsedMs: performance.now() - start,
      })
    }
    const done = (due: number, code: number) => {
      inflight--
      const i = completed++
      dueMs[i] = due - start
      latencyMs[i] = performance.now() - due
      status[i] = code
      if (++settled === n) finish()
    }
    const fire = (i: number, due: number) => {
      const req = input.requests[i] as { path: string; headers: Record<string, string> }
      inflight++
      const r = http.request(
        { host: url.hostname, port: url.port, path: req.path, headers: req.headers, agent },
        (res) => {
          res.resume()
          res.on('end', () => done(due, res.statusCode ?? 0))
          res.on('error', () => done(due, 0))
        },
      )
      let timedOut = false
      r.setTimeout(input.timeoutMs, () => {
        timedOut = true
        r.destroy(new Error('timeout'))
      })
      r.on('error', () => done(due, timedOut ? 1 : 0))
      r.end()
    }
    const tick = () => {
      const now = performance.now()
      while (next < n && start + (next * 1000) / input.rate <= now) {
        const due = start + (next * 1000) / input.rate
        if (inflight >= input.maxInflight) {
          dropped++
          if (++settled === n) finish()
        } else fire(next, due)
        next++
      }
      if (next < n) setTimeout(tick, 1)
    }
    setTimeout(tick, 20)
  })
}

if (parentPort) {
  const port = parentPort
  void run(workerData as LoadWorkerInput).then((out) =>
    // slice() above made fresh ArrayBuffers, so they can be transferred instead of copied.
    port.postMessage(out, [out.dueMs.buffer, out.latencyMs.buffer, out.status.buffer] as ArrayBuffer[]),
  )
}
