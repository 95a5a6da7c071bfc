/**
 * Summarises a V8 CPU profile (`node --cpu-prof` → .cpuprofile JSON) into where the JavaScript thread's
 * time went: self time by category (a package under node_modules, a spaceview source directory, Node's
 * core, GC, idle) and the top functions by self time.
 *
 * What a CPU profile sees: only the thread that runs JavaScript (plus GC and V8 internals it triggers).
 * Native threads — chdb's ClickHouse engine, libuv's pool — are not in it; proc-sampler.ts reports those
 * from per-thread CPU. Shares here are of non-idle profile time, so they say what the event loop was busy
 * with, not how busy it was (that is event-loop utilisation, vitals.ts).
 *
 * Node core and native-binding frames (socket writes, crypto, string encoding) say little on their own, so
 * their self time is also charged to the nearest caller above them that is a package or spaceview source
 * (`callers`): "writeUtf8String 10%" becomes "ioredis 6%, bullmq 3%".
 */
import { readFileSync } from 'node:fs'

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  children?: number[]
}

interface CpuProfile {
  nodes: ProfileNode[]
  samples?: number[]
  timeDeltas?: number[]
  startTime: number
  endTime: number
}

export interface ProfileSummary {
  file: string
  totalMs: number
  idleMs: number
  /** Non-idle time (program, GC and JavaScript). */
  busyMs: number
  categories: Array<{ name: string; ms: number; share: number }>
  functions: Array<{ name: string; category: string; ms: number; share: number }>
  /** Self time of node core and native frames by the nearest package / spaceview caller above them. */
  callers: Array<{ name: string; ms: number; share: number }>
}

/** Categories that are Node or V8 underneath someone else's call, not a caller of their own. */
const UNDERNEATH = new Set(['node core', 'native bindings (socket writes, crypto, …)'])

/** The category of a call frame: package, spaceview directory, Node core or a V8 pseudo-frame. */
export function categorize(url: string, functionName: string): string {
  if (url === '') {
    if (functionName === '(garbage collector)') return 'GC'
    if (functionName === '(idle)') return 'idle'
    if (functionName === '(program)') return 'V8/native (program)'
    if (functionName === '(root)') return 'root'
    return 'native bindings (socket writes, crypto, …)'
  }
  if (url.startsWith('node:')) return 'node core'
  const nm = url.lastIndexOf('/node_modules/')
  if (nm >= 0) {
    const rest = url.slice(nm + '/node_modules/'.length).split('/')
    return `pkg ${rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]}`
  }
  const m = /\/(src|workers|bench)\/([^/]+)\//.exec(url)
  if (m) return m[1] === 'src' ? `spaceview src/${m[2]}` : `spaceview ${m[1]}/${m[2]}`
  const file = /\/(src|workers|bench)\/([^/]+)$/.exec(url)
  if (file) return `spaceview ${file[1]}`
  return 'other'
}

function shortUrl(url: string): string {
  const nm = url.lastIndexOf('/node_modules/')
  if (nm >= 0) return url.slice(nm + '/node_modules/'.length)
  const m = /\/((?:dist\/)?(?:src|workers|bench)\/.*)$/.exec(url)
  return m ? (m[1] as string) : url.replace(/^file:\/\//, '')
}

export function summarizeProfile(profile: CpuProfile, file = '', top = 15): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  /** The category of the nearest frame above `id` that is neither node core nor native. */
  const callerOf = (id: number): string => {
    for (let p = parent.get(id); p !== undefined; p = parent.get(p)) {
      const f = byId.get(p)?.callFrame
      if (!f) break
      const c = categorize(f.url, f.functionName)
      if (!UNDERNEATH.has(c) && c !== 'root') return c
    }
    return 'node core (no caller: timers, sockets, module loading)'
  }
  const self = new Map<number, number>()
  const samples = profile.samples ?? []
  const deltas = profile.timeDeltas ?? []
  for (let i = 0; i < samples.length; i++) {
    const id = samples[i] as number
    // timeDeltas[i] is the time since the previous sample; charge it to this sample's frame.
    self.set(id, (self.get(id) ?? 0) + Math.max(0, (deltas[i] ?? 0) / 1000))
  }
  const cats = new Map<string, number>()
  const fns = new Map<string, { category: string; ms: number }>()
  const callers = new Map<string, number>()
  let total = 0
  let idle = 0
  for (const [id, ms] of self) {
    const node = byId.get(id)
    if (!node) continue
    total += ms
    const { functionName, url, lineNumber } = node.callFrame
    const category = categorize(url, functionName)
    if (category === 'idle') {
      idle += ms
      continue
    }
    cats.set(category, (cats.get(category) ?? 0) + ms)
    if (UNDERNEATH.has(category)) {
      const caller = callerOf(id)
      callers.set(caller, (callers.get(caller) ?? 0) + ms)
    }
    const name =
      url === '' ? functionName : `${functionName || '(anonymous)'} ${shortUrl(url)}:${lineNumber + 1}`
    const f = fns.get(name) ?? { category, ms: 0 }
    f.ms += ms
    fns.set(name, f)
  }
  const busy = total - idle
  const share = (ms: number) => (busy > 0 ? Math.round((ms / busy) * 1000) / 1000 : 0)
  return {
    file,
    totalMs: Math.round(total),
    idleMs: Math.round(idle),
    busyMs: Math.round(busy),
    categories: [...cats.entries()]
      .map(([name, ms]) => ({ name, ms: Math.round(ms), share: share(ms) }))
      .sort((a, b) => b.ms - a.ms)
      .slice(0, top),
    functions: [...fns.entries()]
      .map(([name, f]) => ({ name, category: f.category, ms: Math.round(f.ms), share: share(f.ms) }))
      .sort((a, b) => b.ms - a.ms)
      .slice(0, top),
    callers: [...callers.entries()]
      .map(([name, ms]) => ({ name, ms: Math.round(ms), share: share(ms) }))
      .sort((a, b) => b.ms - a.ms)
      .slice(0, top),
  }
}

export function summarizeProfileFile(file: string, top = 15): ProfileSummary {
  return summarizeProfile(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, file, top)
}
