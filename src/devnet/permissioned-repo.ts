/**
 * One permissioned repo, keyed by (space, author DID), in the compact form devnet needs at scale: an
 * optional generated history (records computed on demand, see record-generator.ts) plus the runtime
 * deltas written since — an overlay of changed paths and the oplog entries that produced them.
 *
 * Invariants:
 * - Current state = generated current records, minus paths the overlay deletes, with overlay values winning.
 * - The log is the generated ops followed by the delta ops, ordered by (rev, idx); every delta rev is newer
 *   than every generated rev (the host's TID clock is always asked for a rev after the repo's head).
 * - A write batch either applies completely or not at all (validated before anything changes), and a
 *   non-empty batch shares one rev; an empty batch changes nothing.
 * - The LtHash state is computed from the current set the first time it is needed and maintained
 *   incrementally afterwards, so it always equals the fold of the current set.
 * - An op carries `value` only while its cid is still the path's current cid.
 * - Generated current records come from the shared EncodedRecordCache (encoded-record-cache.ts): the
 *   history is immutable, so cached encodings never go stale, and the overlay is applied over them on every
 *   read, so a write needs no invalidation.
 * - Current records and their JSON values are shared between readers: treat them as read-only.
 */
import { parseCid } from '@atproto/lex-data'
import { LtHash, recordElement } from '../protocol/lthash.js'
import { decodeBlock, recordToJson } from '../protocol/record-codec.js'
import type { CarRecord } from '../protocol/repo-car-write.js'
import { byPath, EncodedRecordCache, type EncodedRecords } from './encoded-record-cache.js'
import type { GeneratedBlob, GeneratedHistory } from './record-generator.js'
import { XrpcError } from './xrpc-router.js'

export interface RepoOp {
  rev: string
  idx: number
  collection: string
  rkey: string
  cid: string | null
  prev: string | null
}

export interface CurrentRecord {
  collection: string
  rkey: string
  cid: string
  bytes: Uint8Array
  /** JSON (XRPC) form of the value. */
  value: Record<string, unknown>
  /** Rev of the write that produced this version. */
  rev: string
}

export type PreparedWrite =
  | { action: 'create' | 'update'; collection: string; rkey: string; cid: string; bytes: Uint8Array }
  | { action: 'delete'; collection: string; rkey: string }

interface OverlayEntry {
  collection: string
  rkey: string
  cid: string
  bytes: Uint8Array
  rev: string
  /** JSON form of `bytes`, decoded on first read (every syncer's listRepoOps reads new records). */
  value?: Record<string, unknown>
}

export interface RecordRef {
  collection: string
  rkey: string
  path: string
}

/** (rev, idx) strictly after the bound given by `since` (rev only) and `cursor` (rev, idx). */
export interface OpBound {
  since?: string
  cursor?: { rev: string; idx: number }
}

/** No caching: what a repo built without a cache uses (every read encodes its generated records). */
const NO_CACHE = new EncodedRecordCache(0)
const NO_RECORDS: EncodedRecords = { byIndex: [], byPath: [] }

function after(rev: string, idx: number, bound: OpBound): boolean {
  if (bound.since !== undefined && !(rev > bound.since)) return false
  const c = bound.cursor
  return c === undefined || rev > c.rev || (rev === c.rev && idx > c.idx)
}

/** First index in [0, n) whose predicate holds, for a predicate that is false…false true…true. */
function firstTrue(n: number, pred: (i: number) => boolean): number {
  let lo = 0
  let hi = n
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (pred(mid)) hi = mid
    else lo = mid + 1
  }
  return lo
}

export class PermissionedRepo {
  private readonly overlay = new Map<string, OverlayEntry | null>()
  private readonly deltas: RepoOp[] = []
  /** Current paths, indexable, for `pickPath` (built on its first call, then maintained by writes). */
  private live?: { refs: RecordRef[]; at: Map<string, number> }
  private lt: LtHash | undefined
  private digestCache: Uint8Array | undefined
  private generatedDigestCache: Uint8Array | undefined

  constructor(
    readonly space: string,
    readonly did: string,
    readonly history?: GeneratedHistory,
    private readonly cache: EncodedRecordCache = NO_CACHE,
  ) {}

  /** Every generated current record, from the cache or encoded now. */
  private generated(): EncodedRecords {
    return this.history ? this.cache.records(this.history) : NO_RECORDS
  }

  /** Rev of the last write batch; undefined for a repo that was never written. */
  get rev(): string | undefined {
    return this.deltas.at(-1)?.rev ?? this.history?.lastRev
  }

  get exists(): boolean {
    return this.rev !== undefined
  }

  get isMaterialized(): boolean {
    return this.lt !== undefined
  }

  /** The current record at a path, or undefined. */
  get(collection: string, rkey: string): CurrentRecord | undefined {
    const path = `${collection}/${rkey}`
    const o = this.overlay.get(path)
    if (o === null) return undefined
    if (o) {
      o.value ??= recordToJson(decodeBlock(o.bytes, 'malformed_op', 'stored record')) as Record<
        string,
        unknown
      >
      return {
        collection: o.collection,
        rkey: o.rkey,
        cid: o.cid,
        bytes: o.bytes,
        rev: o.rev,
        value: o.value,
      }
    }
    const h = this.history
    const i = h?.indexOf(collection, rkey)
    if (i === undefined || !h) return undefined
    const cached = this.cache.peek(h)?.byIndex[i]
    if (cached) return cached
    return { ...h.record(i), rev: h.lastWriteRev(i) }
  }

  /** The current CID at a path, or undefined (without decoding the value: every write asks). */
  currentCid(collection: string, rkey: string): string | undefined {
    const o = this.overlay.get(`${collection}/${rkey}`)
    if (o !== undefined) return o === null ? undefined : o.cid
    const h = this.history
    const i = h?.indexOf(collection, rkey)
    if (i === undefined || !h) return undefined
    return (this.cache.peek(h)?.byIndex[i] ?? h.record(i)).cid
  }

  /** Every current path, unsorted (cheap: no encoding). */
  paths(): RecordRef[] {
    const out: RecordRef[] = []
    const h = this.history
    if (h) {
      for (let i = 0; i < h.recordCount; i++) {
        const { collection, rkey } = h.recordPath(i)
        const path = `${collection}/${rkey}`
        if (!this.overlay.has(path)) out.push({ collection, rkey, path })
      }
    }
    for (const [path, o] of this.overlay) if (o) out.push({ collection: o.collection, rkey: o.rkey, path })
    return out
  }

  /**
   * A current path, `index(n)` choosing which of the n (an integer in [0, n)); undefined for an empty repo.
   * O(1) after the first call: the write driver picks a victim per write, and listing every path each time
   * made a write cost O(repo size), so devnet slowed down as its repos grew.
   */
  pickPath(index: (n: number) => number): RecordRef | undefined {
    if (!this.live) {
      const refs = this.paths()
      this.live = { refs, at: new Map(refs.map((r, i) => [r.path, i])) }
    }
    const { refs } = this.live
    return refs.length === 0 ? undefined : refs[index(refs.length)]
  }

  /** Keeps the pick index (if built) in step with a write that took `path` from `prev` to `cid`. */
  private track(collection: string, rkey: string, path: string, prev: string | null, cid: string | null) {
    const live = this.live
    if (!live || (prev === null) === (cid === null)) return
    if (cid !== null) {
      live.at.set(path, live.refs.length)
      live.refs.push({ collection, rkey, path })
      return
    }
    // Deleted: the last ref takes its place.
    const i = live.at.get(path) as number
    const last = live.refs.pop() as RecordRef
    live.at.delete(path)
    if (last.path !== path) {
      live.refs[i] = last
      live.at.set(last.path, i)
    }
  }

  /** Every current record with its bytes (generated records first, overlay records last). */
  records(): CurrentRecord[] {
    const out: CurrentRecord[] = []
    for (const r of this.generated().byIndex) if (!this.overlay.has(r.path)) out.push(r)
    for (const o of this.overlay.values()) if (o) out.push(this.get(o.collection, o.rkey) as CurrentRecord)
    return out
  }

  /** Every current record as a CAR block (path, CID, bytes), in CAR index order (getRepo). */
  blocks(): CarRecord[] {
    const out: CarRecord[] = []
    for (const r of this.generated().byPath) {
      if (!this.overlay.has(r.path)) out.push({ path: r.path, cid: r.cidObject, bytes: r.bytes })
    }
    if (this.overlay.size === 0) return out
    for (const [path, o] of this.overlay) if (o) out.push({ path, cid: parseCid(o.cid), bytes: o.bytes })
    return out.sort(byPath)
  }

  /** The LtHash of the current set (computed on first use, then maintained by writes). Do not mutate. */
  state(): LtHash {
    if (!this.lt) {
      const lt = new LtHash()
      for (const r of this.generated().byIndex)
        if (!this.overlay.has(r.path)) lt.add(recordElement(r.collection, r.rkey, r.cid))
      for (const o of this.overlay.values()) if (o) lt.add(recordElement(o.collection, o.rkey, o.cid))
      this.lt = lt
    }
    return this.lt
  }

  /** sha256 of the LtHash state: the `hash` a commit for the current head carries. */
  digest(): Uint8Array {
    this.digestCache ??= this.state().digest()
    return this.digestCache
  }

  /** Digest of the generated state alone, ignoring deltas (the writer-set hint from generation time). */
  generatedDigest(): Uint8Array | undefined {
    if (!this.history) return undefined
    if (!this.generatedDigestCache) {
      if (this.deltas.length === 0) {
        this.generatedDigestCache = this.digest()
      } else {
        const lt = new LtHash()
        for (const r of this.generated().byIndex) lt.add(recordElement(r.collection, r.rkey, r.cid))
        this.generatedDigestCache = lt.digest()
      }
    }
    return this.generatedDigestCache
  }

  /** Ops strictly after `bound`, in (rev, idx) order, at most `limit`. */
  ops(bound: OpBound, limit: number): RepoOp[] {
    const out: RepoOp[] = []
    const h = this.history
    if (h) {
      const batch = h.shape.batchSize
      for (let k = firstTrue(h.opCount, (k) => after(h.revOf(k), k % batch, bound)); k < h.opCount; k++) {
        if (out.length >= limit) return out
        out.push(h.op(k))
      }
    }
    const d = this.deltas
    for (let i = firstTrue(d.length, (i) => after(d[i]!.rev, d[i]!.idx, bound)); i < d.length; i++) {
      if (out.length >= limit) return out
      out.push(d[i]!)
    }
    return out
  }

  /**
   * Applies a batch under `rev` (which must be newer than the head). Validates every write against the
   * state as the earlier writes of the same batch leave it: create on an existing path is
   * RecordAlreadyExists, update/delete of an absent path is RecordNotFound. Returns the ops appended.
   */
  apply(writes: PreparedWrite[], rev: string): RepoOp[] {
    if (writes.length === 0) return []
    const head = this.rev
    if (head !== undefined && !(rev > head)) throw new Error(`rev ${rev} is not newer than head ${head}`)
    const view = new Map<string, string | null>()
    const cidAt = (c: string, r: string): string | null => {
      const path = `${c}/${r}`
      return view.has(path) ? (view.get(path) as string | null) : (this.currentCid(c, r) ?? null)
    }
    const ops: RepoOp[] = writes.map((w, idx) => {
      const prev = cidAt(w.collection, w.rkey)
      if (w.action === 'create' && prev !== null) {
        throw new XrpcError(400, 'RecordAlreadyExists', `Record already exists: ${w.collection}/${w.rkey}`)
      }
      if (w.action !== 'create' && prev === null) {
        throw new XrpcError(400, 'RecordNotFound', `Could not find record: ${w.collection}/${w.rkey}`)
      }
      const cid = w.action === 'delete' ? null : w.cid
      view.set(`${w.collection}/${w.rkey}`, cid)
      return { rev, idx, collection: w.collection, rkey: w.rkey, cid, prev }
    })
    writes.forEach((w, idx) => {
      const op = ops[idx] as RepoOp
      const path = `${w.collection}/${w.rkey}`
      this.track(w.collection, w.rkey, path, op.prev, op.cid)
      this.overlay.set(
        path,
        w.action === 'delete'
          ? null
          : { collection: w.collection, rkey: w.rkey, cid: w.cid, bytes: w.bytes, rev },
      )
      if (this.lt) {
        if (op.prev !== null) this.lt.remove(recordElement(op.collection, op.rkey, op.prev))
        if (op.cid !== null) this.lt.add(recordElement(op.collection, op.rkey, op.cid))
      }
      this.deltas.push(op)
    })
    this.digestCache = undefined
    return ops
  }

  /** Blob CIDs referenced by current records last written after `since`, ascending and distinct. */
  blobCids(since?: string): string[] {
    const cids = new Set<string>()
    for (const rec of this.records()) {
      if (since !== undefined && !(rec.rev > since)) continue
      for (const cid of blobRefs(rec.value)) cids.add(cid)
    }
    return [...cids].sort()
  }

  /** Bytes of a blob that a current record of this repo references (only generated blobs have bytes). */
  blob(cid: string): GeneratedBlob | undefined {
    const h = this.history
    if (!h || !this.blobCids().includes(cid)) return undefined
    const every = h.shape.blobEvery
    if (every <= 0) return undefined
    for (let i = 0; i < h.recordCount; i += every) {
      const blob = h.blobOf(i)
      if (blob?.cid === cid) return blob
    }
    return undefined
  }
}

/** CIDs of every `{"$type": "blob", "ref": {"$link"}}` inside a JSON-form value. */
export function blobRefs(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) {
    for (const v of value) blobRefs(v, out)
  } else if (value && typeof value === 'object') {
    const obj = value as Record<string, unknown>
    const ref = obj['ref'] as { $link?: unknown } | undefined
    if (obj['$type'] === 'blob' && ref && typeof ref.$link === 'string') out.push(ref.$link)
    else for (const v of Object.values(obj)) blobRefs(v, out)
  }
  return out
}
